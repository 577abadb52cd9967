//! `seL4_Error`: what a failed invocation returns (generated from errors.h).

use crate::Word;
use core::fmt;

include!(concat!(env!("OUT_DIR"), "/errors.rs"));

/// The result of a kernel invocation.
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// The error a reply label stands for; `None` for 0 (success).
    pub const fn from_label(label: Word) -> Option<Self> {
        if label == 0 {
            return None;
        }
        match Self::from_raw(label) {
            Some(e) => Some(e),
            None => Some(Self::Unknown),
        }
    }

    /// `Ok(())` for reply label 0, the error otherwise.
    pub const fn check(label: Word) -> Result<()> {
        match Self::from_label(label) {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.c_name().trim_start_matches("seL4_"))
    }
}

impl core::error::Error for Error {}
