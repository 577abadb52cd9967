//! The kernel configuration (`autoconf.h`) the crate was generated from:
//! every `CONFIG_X` as `config::X` (numbers as `Word`, strings as `&str`).

#![allow(dead_code)]

use crate::Word;

include!(concat!(env!("OUT_DIR"), "/config.rs"));
