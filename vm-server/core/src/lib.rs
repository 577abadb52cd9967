//! VM core
