//! The `ClientList` reply (`observe` privilege): every client's id, name and per-client counters, a page of [`CLIENT_LIST_MAX`] at a time, and its word layout.

use crate::error::DecodeError;
use crate::types::ClientName;
use crate::wire::{self, *};

/// One client in a `ClientList` reply: its id, name and the counters
/// `vmstat` shows per client (the same numbers as its own
/// [`ClientStats`] fields of those names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClientSummary {
    /// Its client id (the badge of its endpoint capability; a forked
    /// child's id is the server's).
    pub client: u64,
    /// Its name in the spec (a fork: `parent+N`), cut to 24 bytes.
    pub name: ClientName,
    /// Pages mapped into its address space now.
    pub resident_pages: u64,
    /// Pages wired by `mlock`.
    pub wired_pages: u64,
    /// Page faults it took (each fault message once, however often it
    /// waited).
    pub faults: u64,
    /// Zero-fill faults, copy-on-write copies, pages entered by
    /// fault-around.
    pub flt_zero: u64,
    pub flt_cow: u64,
    pub flt_prefault: u64,
    /// Page-in reads (swap or file pager) its faults started, each one
    /// page or more with read-ahead.
    pub pageins: u64,
    /// Faults resolved with one 2 MiB mapping.
    pub flt_large: u64,
}

/// Entries one `ClientList` reply carries: as many as fit a message
/// after its two header words (9).
pub const CLIENT_LIST_MAX: usize =
    (MAX_WORDS - words_of::<ClientListHeaderWire>()) / words_of::<ClientSummaryWire>();

/// `ClientList` reply: up to [`CLIENT_LIST_MAX`] clients in increasing
/// id order from the request's `from`, and, when more follow, the id to
/// ask from next.
///
/// Wire: word 0 = count, word 1 = next (0: none follow), then `count`
/// entries of 13 words ([`ClientSummaryWire`]). A `next` is sent only
/// with a full reply and is above every id listed.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClientListReply {
    count: u8,
    next: u64,
    entries: [ClientSummary; CLIENT_LIST_MAX],
}

impl ClientListReply {
    /// An empty reply: no client, none follow.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a client; false (and no change) when full or when its id
    /// is not above the last one's.
    pub fn push(&mut self, entry: ClientSummary) -> bool {
        let n = self.count as usize;
        if n == CLIENT_LIST_MAX
            || self
                .entries()
                .last()
                .is_some_and(|l| l.client >= entry.client)
        {
            return false;
        }
        self.entries[n] = entry;
        self.count += 1;
        true
    }

    /// Says more clients follow, from id `next`; false (and no change)
    /// unless the reply is full and `next` is above every id in it.
    pub fn set_next(&mut self, next: u64) -> bool {
        let full = self.count as usize == CLIENT_LIST_MAX;
        if !full || self.entries().last().is_some_and(|l| l.client >= next) {
            return false;
        }
        self.next = next;
        true
    }

    /// The clients listed.
    pub fn entries(&self) -> &[ClientSummary] {
        &self.entries[..self.count as usize]
    }

    /// The id to ask from for the rest; `None` when this reply ends the
    /// list.
    pub fn next(&self) -> Option<u64> {
        (self.next != 0).then_some(self.next)
    }
}

impl core::fmt::Debug for ClientListReply {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientListReply")
            .field("entries", &self.entries())
            .field("next", &self.next())
            .finish()
    }
}

/// The header, then one [`ClientSummaryWire`] per entry.
impl Body<DecodeError> for ClientListReply {
    fn encode(&self, out: &mut [u64]) -> usize {
        let header = ClientListHeaderWire {
            count: self.count as u64,
            next: self.next,
        };
        let mut n = wire::write(&header, out);
        for e in self.entries() {
            let (name_len, name) = e.name.to_words();
            let w = ClientSummaryWire {
                client: e.client,
                name_len,
                name,
                resident_pages: e.resident_pages,
                wired_pages: e.wired_pages,
                faults: e.faults,
                flt_zero: e.flt_zero,
                flt_cow: e.flt_cow,
                flt_prefault: e.flt_prefault,
                pageins: e.pageins,
                flt_large: e.flt_large,
            };
            n += wire::write(&w, &mut out[n..]);
        }
        n
    }

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        const HEADER: usize = words_of::<ClientListHeaderWire>();
        const ENTRY: usize = words_of::<ClientSummaryWire>();
        let Some(head) = words.get(..HEADER) else {
            return Err(DecodeError::Truncated {
                expected: HEADER,
                got: words.len(),
            });
        };
        let header: ClientListHeaderWire = wire::read(head)?;
        if header.count > CLIENT_LIST_MAX as u64 {
            return Err(DecodeError::BadValue {
                word: 0,
                value: header.count,
            });
        }
        let n = header.count as usize;
        let body = &ipc_protocol::words::exactly(words, HEADER + n * ENTRY)?[HEADER..];
        let mut r = ClientListReply::new();
        for (i, chunk) in body.chunks_exact(ENTRY).enumerate() {
            let at = HEADER + i * ENTRY;
            let w: ClientSummaryWire = wire::read(chunk)?;
            let entry = ClientSummary {
                client: w.client,
                name: ClientName::from_words(w.name_len, &w.name, at + 1)?,
                resident_pages: w.resident_pages,
                wired_pages: w.wired_pages,
                faults: w.faults,
                flt_zero: w.flt_zero,
                flt_cow: w.flt_cow,
                flt_prefault: w.flt_prefault,
                pageins: w.pageins,
                flt_large: w.flt_large,
            };
            // Ids strictly increase.
            if !r.push(entry) {
                return Err(DecodeError::BadValue {
                    word: at,
                    value: w.client,
                });
            }
        }
        if header.next != 0 && !r.set_next(header.next) {
            return Err(DecodeError::BadValue {
                word: 1,
                value: header.next,
            });
        }
        Ok(r)
    }
}
