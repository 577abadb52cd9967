//! The client's side of a call: `Transport`, a request-reply channel to a server (`Sel4Transport` in the system), and `request`, the one generic call every generated stub method makes.

use crate::codec::{decode_reply, encode_request, Protocol};
use crate::errors::ErrorCode;
use crate::words::MAX_WORDS;

/// A request-reply channel to a server.
pub trait Transport {
    /// Sends the request (`label`, `words`) and waits for the reply; the
    /// reply's words are written to `reply` (of [`MAX_WORDS`]), and its
    /// label and length (at most `reply.len()`) are returned.
    fn call(&mut self, label: u64, words: &[u64], reply: &mut [u64]) -> (u64, usize);

    /// One call, the request encoded by `encode` into a message of
    /// [`MAX_WORDS`] words (it returns the label and length) and the reply
    /// handed to `decode` (its label and words); `None` for a reply longer
    /// than a message. The default encodes and decodes in two buffers of
    /// its own around `call`; a transport whose message has a place of its
    /// own (`Sel4Transport`: the IPC buffer) encodes and decodes there, so
    /// a call neither zeroes nor copies a message's worth of words.
    fn exchange<R>(
        &mut self,
        encode: impl FnOnce(&mut [u64]) -> (u64, usize),
        decode: impl FnOnce(u64, &[u64]) -> R,
    ) -> Option<R> {
        let mut msg = [0u64; MAX_WORDS];
        let (label, len) = encode(&mut msg);
        let mut reply = [0u64; MAX_WORDS];
        let (rlabel, rlen) = self.call(label, &msg[..len], &mut reply);
        reply.get(..rlen).map(|words| decode(rlabel, words))
    }
}

/// The system transport: `seL4_Call` on an endpoint capability, with the
/// message in the calling thread's IPC buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sel4Transport {
    pub endpoint: sel4::CPtr,
}

impl Transport for Sel4Transport {
    fn call(&mut self, label: u64, words: &[u64], reply: &mut [u64]) -> (u64, usize) {
        let n = words.len().min(MAX_WORDS);
        self.exchange(
            |msg| {
                msg[..n].copy_from_slice(&words[..n]);
                (label, n)
            },
            |rlabel, got| {
                let len = got.len().min(reply.len());
                reply[..len].copy_from_slice(&got[..len]);
                (rlabel, len)
            },
        )
        .expect("a reply within a message")
    }

    fn exchange<R>(
        &mut self,
        encode: impl FnOnce(&mut [u64]) -> (u64, usize),
        decode: impl FnOnce(u64, &[u64]) -> R,
    ) -> Option<R> {
        // The codec neither prints nor calls: nothing else uses the IPC
        // buffer while it is borrowed.
        let (label, len) = sel4::with_ipc_buffer_mut(|b| encode(&mut b.msg[..MAX_WORDS]));
        let info = sel4::call(
            self.endpoint,
            sel4::MessageInfo::new(label, 0, 0, len as u64),
        );
        let rlen = (info.length() as usize).min(MAX_WORDS);
        Some(sel4::with_ipc_buffer_mut(|b| {
            decode(info.label(), &b.msg[..rlen])
        }))
    }
}

/// Sends `req` over `transport` and decodes the reply as the answer to
/// `req`'s operation; a reply that does not decode is the protocol's
/// malformed-reply error.
pub fn request<P: Protocol, T: Transport + ?Sized>(
    transport: &mut T,
    req: &P::Request,
) -> Result<P::Reply, P::Error> {
    let malformed = P::Error::MALFORMED_REPLY;
    transport
        .exchange(
            |msg| encode_request::<P>(req, msg),
            |rlabel, words| decode_reply::<P>(P::of_request(req), rlabel, words),
        )
        .ok_or(malformed)?
        .map_err(|_| malformed)?
}
