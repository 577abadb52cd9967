//! The server side: `dispatch`, the pure decode-call-encode step of the file server's loop.

use crate::error::FileError;
use crate::protocol::{serve, FileService, Reply, Request};

/// One step of the server loop: decodes the request (`label`, `words` =
/// exactly the message's words), calls `svc`, and encodes the reply into
/// `out` (at least [`crate::MAX_WORDS`] long). Returns the reply's label
/// (0 or a [`FileError`] code) and length. A request that does not decode
/// is answered with its `DecodeError`'s `FileError` and `svc` is not
/// called. Pure: no IPC, never panics on any input.
pub fn dispatch<S: FileService + ?Sized>(
    svc: &mut S,
    client: u64,
    label: u64,
    words: &[u64],
    out: &mut [u64],
) -> (u64, usize) {
    let result = Request::decode(label, words)
        .map_err(FileError::from)
        .and_then(|req| serve(svc, client, req));
    Reply::encode_result(&result, out)
}
