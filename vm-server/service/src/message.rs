//! The loop's boundary: a received `Message` in, an `Answer` out (its words in the loop's own buffer), fixed-size so no message allocates; `Outcome` carries the whole `ReplyMsg`, for callers without a buffer.

use crate::platform::ClientId;
use vm_api::MAX_WORDS;
use vm_core::Access;

/// One message the server received.
#[derive(Clone, Copy, Debug)]
pub enum Message<'a> {
    /// A page fault of `client`'s thread at `addr`.
    Fault {
        client: ClientId,
        addr: u64,
        access: Access,
        ip: u64,
    },
    /// Any other fault: the thread cannot go on, the client is stopped.
    OtherFault { client: ClientId, what: &'a str },
    /// A `vm-api` request.
    Request {
        client: ClientId,
        label: u64,
        words: &'a [u64],
    },
    /// The root task's read-only view: `Stats` and nothing else.
    Observe { label: u64 },
    /// The swap channel signalled completions.
    SwapSignal,
    /// The server's idle thread: nothing else can run (`idle.rs`).
    Idle,
}

impl Message<'_> {
    /// The client that sent it, if a client did.
    pub fn client(&self) -> Option<ClientId> {
        match *self {
            Message::Fault { client, .. }
            | Message::OtherFault { client, .. }
            | Message::Request { client, .. } => Some(client),
            Message::Observe { .. } | Message::SwapSignal | Message::Idle => None,
        }
    }
}

/// A reply message: label and words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyMsg {
    pub label: u64,
    pub len: usize,
    pub words: [u64; MAX_WORDS],
}

impl ReplyMsg {
    /// An empty reply with `label` (0 resumes a faulting thread).
    pub const fn empty(label: u64) -> Self {
        ReplyMsg {
            label,
            len: 0,
            words: [0; MAX_WORDS],
        }
    }
    /// The words sent.
    pub fn words(&self) -> &[u64] {
        &self.words[..self.len]
    }
}

/// What the loop does after a message, the reply's words already written
/// into the buffer the loop passed (`Service::handle_into`). Two words:
/// under QEMU a 976-byte reply zeroed and moved through every return on
/// the way out cost about 2,500 cycles a message (docs/performance.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Reply with `label` and the buffer's first `len` words.
    Reply { label: u64, len: usize },
    /// Send nothing: the sender waits, is gone, or was stopped.
    NoReply,
}

impl Answer {
    /// A reply of no words with `label` (0 resumes a faulting thread).
    pub const fn empty(label: u64) -> Self {
        Answer::Reply { label, len: 0 }
    }
}

/// An `Answer` with its reply words (`Service::handle`): host tests and
/// the simulation, which keep no buffer of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// Reply to the sender with this message.
    Reply(ReplyMsg),
    /// Send nothing: the sender waits, is gone, or was stopped.
    NoReply,
}
