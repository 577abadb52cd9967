//! `ipc-protocol`: the shared toolkit behind the servers' client protocols over seL4 IPC (`vm-api`, `file-api`) — one table macro, the message-word codec helpers, error codes, the transports, the client's call and the server's dispatch.
//!
//! A protocol crate declares its operations once, in a table given to
//! [`protocol!`]; that generates the `Operation`, `Request` and `Reply`
//! enums with their encoders and decoders, the server's service trait with
//! `serve` and `dispatch`, a loopback transport and the client stub, and
//! implements [`Protocol`] for the operation enum. Everything that is the
//! same for every protocol is written once here, as ordinary generic code
//! over [`Protocol`]: label lookup, the request and reply message rules
//! ([`decode_request`], [`decode_reply`], [`encode_result`]), one step of
//! the server loop ([`dispatch`]) and one client call ([`request`]).
//!
//! What differs per protocol stays in its crate: the payload types and
//! their words (each implements [`Body`], with the helpers of [`words`]),
//! the error enums (declared with [`error_codes!`]; the decode error
//! converts from [`Fault`]), and hand-written client conveniences.
//!
//! # The message rules every protocol shares
//!
//! A request is one seL4 `Call`: the label is the operation's number, the
//! message registers hold exactly the payload's words, no capabilities.
//! A reply's label is 0 for success, with the payload's words, or an
//! error code with no words. Decoding is total: every input is a value or
//! a decode error, never a panic.
// `std` only for tests and the property-test helpers.
#![cfg_attr(not(any(test, feature = "testing")), no_std)]
#![forbid(unsafe_code)]

mod client;
mod codec;
mod declare;
mod errors;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod words;

pub use client::{request, Sel4Transport, Transport};
pub use codec::{
    decode_reply, decode_request, dispatch, encode_reply, encode_request, encode_result,
    needs_reply, operation, Protocol,
};
pub use errors::ErrorCode;
pub use sel4::CPtr;
pub use words::{Body, Fault, MAX_WORDS};
