//! The server side: `dispatch`, the pure decode-call-encode step of the server loop, and the default bodies of the `VmService` methods a server may leave out.
//!
//! The `VmService` trait (one method per operation) and `serve` (the
//! call of the method a request names) are generated from the table in
//! `protocol.rs`.

use crate::error::ApiError;
use crate::protocol::{serve, Operation, Reply, Request, VmService};
use crate::reply::PingReply;
use crate::request::PingRequest;

/// One step of the server loop: decodes the request (`label`, `words` =
/// exactly the message's words), calls `svc`, and encodes the reply into
/// `out` (at least [`crate::MAX_WORDS`] long). Returns the reply's label
/// (0 or an [`ApiError`] code) and length. A request that does not decode
/// is answered with its `DecodeError`'s `ApiError` and `svc` is not
/// called. Pure: no IPC, never panics on any input.
pub fn dispatch<S: VmService + ?Sized>(
    svc: &mut S,
    client: u64,
    label: u64,
    words: &[u64],
    out: &mut [u64],
) -> (u64, usize) {
    let result = Request::decode(label, words)
        .map_err(ApiError::from)
        .and_then(|req| serve(svc, client, req));
    Reply::encode_result(&result, out)
}

/// Whether the server sends the reply `dispatch` made for a request
/// labelled `request_label`: always, except for a successful request of
/// an operation that is not answered on success (`Exit`, see
/// [`Operation::replies_on_success`]).
pub fn needs_reply(request_label: u64, reply_label: u64) -> bool {
    let silent = Operation::try_from(request_label).is_ok_and(|op| !op.replies_on_success());
    !(silent && reply_label == 0)
}

/// [`VmService::ping`]'s default: echoes the cookie.
pub(crate) fn echo_ping(_client: u64, req: PingRequest) -> Result<PingReply, ApiError> {
    Ok(PingReply { cookie: req.cookie })
}

/// [`VmService::fail_next_pagein`]'s default: refused, as if the operation
/// did not exist (a server without swap has nothing to fail).
pub(crate) fn refuse_test_hook(_client: u64) -> Result<(), ApiError> {
    Err(ApiError::UnknownOperation)
}
