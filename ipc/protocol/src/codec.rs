//! `Protocol`, what the table macro implements for each protocol's operation enum, and the message rules over it that every protocol shares: labels to operations, request and reply messages, and one step of the server loop.

use crate::errors::ErrorCode;
use crate::words::{exactly, Fault};

/// One protocol, implemented for its operation enum by
/// [`protocol!`](crate::protocol): the per-operation matches are
/// generated, the rules in this module's functions are written once.
pub trait Protocol: Copy + Eq + core::fmt::Debug + 'static {
    /// The decoded request, one variant per operation.
    type Request;
    /// The decoded successful reply, one variant per operation.
    type Reply;
    /// The error an error reply carries.
    type Error: ErrorCode + From<Self::DecodeError>;
    /// Why a message did not decode.
    type DecodeError: From<Fault>;

    /// Every operation, in label order.
    const OPERATIONS: &'static [Self];

    /// The IPC label of requests for this operation.
    fn label(self) -> u64;

    /// Whether the server answers a successful request.
    fn replies_on_success(self) -> bool;

    /// The operation `req` asks for.
    fn of_request(req: &Self::Request) -> Self;

    /// The operation `rep` answers.
    fn of_reply(rep: &Self::Reply) -> Self;

    /// The request for this operation from exactly the message's words.
    fn decode_request_body(self, words: &[u64]) -> Result<Self::Request, Self::DecodeError>;

    /// Writes the request's words; returns their number.
    fn encode_request_body(req: &Self::Request, out: &mut [u64]) -> usize;

    /// The successful reply to this operation from exactly its words.
    fn decode_reply_body(self, words: &[u64]) -> Result<Self::Reply, Self::DecodeError>;

    /// Writes the reply's words; returns their number.
    fn encode_reply_body(rep: &Self::Reply, out: &mut [u64]) -> usize;
}

/// The operation labelled `label`; `UnknownOperation` if none.
pub fn operation<P: Protocol>(label: u64) -> Result<P, P::DecodeError> {
    P::OPERATIONS
        .iter()
        .copied()
        .find(|op| op.label() == label)
        .ok_or_else(|| Fault::UnknownOperation { label }.into())
}

/// The request a message carries: `label` and exactly its `words`.
/// Total: every input gives a request or a decode error.
pub fn decode_request<P: Protocol>(
    label: u64,
    words: &[u64],
) -> Result<P::Request, P::DecodeError> {
    operation::<P>(label)?.decode_request_body(words)
}

/// Writes `req`'s words into `out` (at least [`MAX_WORDS`] long);
/// returns its label and length.
///
/// [`MAX_WORDS`]: crate::MAX_WORDS
pub fn encode_request<P: Protocol>(req: &P::Request, out: &mut [u64]) -> (u64, usize) {
    (P::of_request(req).label(), P::encode_request_body(req, out))
}

/// The reply to an `op` request: `Ok(Ok(reply))` for label 0 and
/// well-formed words, `Ok(Err(error))` for an error code without words,
/// `Err` for anything else. Total: never panics.
#[allow(clippy::type_complexity)]
pub fn decode_reply<P: Protocol>(
    op: P,
    label: u64,
    words: &[u64],
) -> Result<Result<P::Reply, P::Error>, P::DecodeError> {
    if label == 0 {
        return op.decode_reply_body(words).map(Ok);
    }
    let error = P::Error::from_code(label).ok_or(Fault::UnknownError { code: label })?;
    exactly(words, 0)?;
    Ok(Err(error))
}

/// Writes a successful reply's words into `out`; returns its label (0)
/// and length.
pub fn encode_reply<P: Protocol>(rep: &P::Reply, out: &mut [u64]) -> (u64, usize) {
    (0, P::encode_reply_body(rep, out))
}

/// The message answering with `result`: the reply, or the error's code as
/// the label and no words.
pub fn encode_result<P: Protocol>(
    result: &Result<P::Reply, P::Error>,
    out: &mut [u64],
) -> (u64, usize) {
    match result {
        Ok(rep) => encode_reply::<P>(rep, out),
        Err(e) => (e.code(), 0),
    }
}

/// One step of a server loop: decodes the request (`label`, `words` =
/// exactly the message's words), hands it to `serve`, and encodes the
/// answer into `out` (at least [`MAX_WORDS`](crate::MAX_WORDS) long).
/// Returns the reply's label (0 or an error code) and length. A request
/// that does not decode is answered with its decode error's error and
/// `serve` is not called. Pure: no IPC, never panics on any input.
pub fn dispatch<P: Protocol>(
    label: u64,
    words: &[u64],
    out: &mut [u64],
    serve: impl FnOnce(P::Request) -> Result<P::Reply, P::Error>,
) -> (u64, usize) {
    let result = decode_request::<P>(label, words)
        .map_err(P::Error::from)
        .and_then(serve);
    encode_result::<P>(&result, out)
}

/// Whether the server sends the reply [`dispatch`] made for a request
/// labelled `request_label`: always, except for a successful request of
/// an operation that is not answered on success.
pub fn needs_reply<P: Protocol>(request_label: u64, reply_label: u64) -> bool {
    let silent = operation::<P>(request_label).is_ok_and(|op| !op.replies_on_success());
    !(silent && reply_label == 0)
}
