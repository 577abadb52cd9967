//! capdl: the system spec — its text language, parser and validator (used on
//! the host by `cargo qemu`), and the compact binary form the root task
//! decodes at boot (`no_std` + `alloc`).
//!
//! The flow is: `system.spec` text --[`load`]--> [`Spec`] --[`encode`]-->
//! bytes embedded in the root task --[`decode`]--> [`Spec`] at boot.
//! Everything the root task must do is explicit in [`Spec`], including the
//! slot of every capability in every component's CSpace (see [`slots`]), so
//! the root task never has to make a layout decision of its own.
//!
//! The language is documented in this crate's `README.md`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod compact;
pub mod error;
pub mod spec;
pub mod syntax;
pub mod text;
pub mod validate;

pub use compact::{decode, encode, DecodeError, DecodeErrorKind};
pub use error::{Error, ErrorKind, Errors, Pos};
pub use spec::*;
pub use syntax::parse;
pub use validate::validate;

/// Parses and validates spec text in one step; `images` lists the program
/// images that exist (the binary crates built for seL4).
pub fn load(src: &str, images: &[&str]) -> Result<Spec, Errors> {
    let ast = parse(src).map_err(|e| Errors(alloc::vec![e]))?;
    validate(&ast, images)
}
