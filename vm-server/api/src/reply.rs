//! Replies: one typed struct per result, the statistics records and their word layouts (`Body`); `Reply` and its decoder are generated from the table in `protocol.rs`.

use crate::error::DecodeError;
use crate::request::handle;
use crate::types::{Handle, Mincore, ShmName};
use crate::wire::{self, *};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `Ping` reply: the request's cookie.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PingReply {
    pub cookie: u64,
}

/// `Mmap` reply: the address of the new mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MmapReply {
    pub addr: u64,
}

/// `ShmCreate`, `ShmOpen`, `HandleShare` reply: the new handle (for
/// `HandleShare`, the receiver's handle number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandleReply {
    pub handle: Handle,
}

/// `PagerChallenge` reply: the challenge the caller writes into its
/// channel's ring page before `PagerAttach` (never 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PagerChallengeReply {
    pub challenge: u64,
}

/// `PagerProgramName` reply: the name of a program clients wait for;
/// its file is `/bin/<name>` for the file server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PagerProgramNameReply {
    pub name: ShmName,
}

/// `Fork` reply. The parent's `Call` returns `Parent`; the child starts
/// life returning from the same `Call` with `Child`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForkReply {
    /// In the parent: the child's client id.
    Parent { child: u64 },
    /// In the child: the parent's client id.
    Child { parent: u64 },
}

/// Pages one `Mincore` reply reports: one byte per page in the words after
/// the count.
pub const MINCORE_MAX_PAGES: usize = (MAX_WORDS - 1) * 8;

/// `Mincore` reply: the residency of the first `count` pages of the range
/// (at most [`MINCORE_MAX_PAGES`]; the client stub asks again for the rest).
///
/// Wire: word 0 = count, then `ceil(count / 8)` words with page `i` in byte
/// `i % 8` (little-endian) of word `1 + i / 8`; unused bytes are zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MincoreReply {
    count: u16,
    pages: [Mincore; MINCORE_MAX_PAGES],
}

impl MincoreReply {
    /// An empty reply.
    pub const fn new() -> Self {
        MincoreReply {
            count: 0,
            pages: [Mincore::empty(); MINCORE_MAX_PAGES],
        }
    }

    /// The first [`MINCORE_MAX_PAGES`] of `bytes` (the VM core's
    /// `MINCORE_*` bytes; unknown bits dropped).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut r = Self::new();
        for &b in bytes.iter().take(MINCORE_MAX_PAGES) {
            r.push(Mincore::from_bits_truncate(b));
        }
        r
    }

    /// Appends a page; false (and no change) when full.
    pub fn push(&mut self, page: Mincore) -> bool {
        let n = self.count as usize;
        if n == MINCORE_MAX_PAGES {
            return false;
        }
        self.pages[n] = page;
        self.count += 1;
        true
    }

    /// The pages reported.
    pub fn pages(&self) -> &[Mincore] {
        &self.pages[..self.count as usize]
    }

    /// Number of pages reported.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when no page is reported.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The variable-length layout: the count, then the packed bytes.
impl Body<DecodeError> for MincoreReply {
    fn encode(&self, out: &mut [u64]) -> usize {
        let n = self.count as usize;
        let words = n.div_ceil(8);
        out[0] = n as u64;
        for (i, w) in out[1..=words].iter_mut().enumerate() {
            let mut b = [0u8; 8];
            for (j, p) in self.pages[i * 8..n.min(i * 8 + 8)].iter().enumerate() {
                b[j] = p.bits();
            }
            *w = u64::from_le_bytes(b);
        }
        1 + words
    }

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let Some(&count) = words.first() else {
            return Err(DecodeError::Truncated {
                expected: 1,
                got: 0,
            });
        };
        if count > MINCORE_MAX_PAGES as u64 {
            return Err(DecodeError::BadValue {
                word: 0,
                value: count,
            });
        }
        let n = count as usize;
        let expected = 1 + n.div_ceil(8);
        if words.len() < expected {
            return Err(DecodeError::Truncated {
                expected,
                got: words.len(),
            });
        }
        if words.len() > expected {
            return Err(DecodeError::TooLong {
                expected,
                got: words.len(),
            });
        }
        let mut r = Self::new();
        for (i, w) in words[1..].iter().enumerate() {
            for (j, b) in w.to_le_bytes().into_iter().enumerate() {
                let page = i * 8 + j;
                let valid = if page < n { Mincore::all().bits() } else { 0 };
                if b & !valid != 0 {
                    return Err(DecodeError::ReservedBits { word: 1 + i });
                }
                if page < n {
                    r.pages[page] = Mincore::from_bits_retain(b);
                }
            }
        }
        r.count = n as u16;
        Ok(r)
    }
}

impl Default for MincoreReply {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for MincoreReply {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MincoreReply")
            .field("pages", &self.pages())
            .finish()
    }
}

/// Global VM statistics (`struct uvmexp`): the `Stats` reply, one word per
/// field in declaration order.
///
/// Versioned by its word count: fields are only ever appended. A reply
/// shorter than [`VmStats::MIN_WORDS`] is malformed; a longer one (a newer
/// server) decodes with the unknown tail ignored. Names follow the VM
/// core's `Uvmexp`; the swap and pageout fields are zero until the server
/// has a swap pager.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct VmStats {
    /// Bytes per page.
    pub pagesize: u64,
    /// Frames in the pool.
    pub npages: u64,
    pub free: u64,
    pub active: u64,
    pub inactive: u64,
    pub wired: u64,
    /// Frames of physical (device) objects.
    pub unmanaged: u64,
    /// Free pages kept for the pageout path.
    pub reserve_pagedaemon: u64,
    /// Faults taken.
    pub faults: u64,
    /// Zero-fill faults.
    pub flt_zero: u64,
    /// Copy-on-write copies.
    pub flt_cow: u64,
    /// Lower pages mapped read-only (shared).
    pub flt_share: u64,
    /// Faults satisfied by a resident page of the front object.
    pub flt_resident: u64,
    /// Write faults that only set the emulated modified bit.
    pub flt_modify: u64,
    /// Pages entered by fault-around.
    pub flt_prefault: u64,
    /// Fault-around pages that were zero-filled.
    pub flt_prefault_zero: u64,
    /// Faults refused: no mapping.
    pub flt_nomap: u64,
    /// Faults refused: protection.
    pub flt_prot: u64,
    /// Faults that found no free page.
    pub flt_noram: u64,
    /// Pages wired by `mlock`.
    pub wire_faults: u64,
    /// Shadow objects pushed on chains.
    pub shadows: u64,
    /// Chain links removed by collapse.
    pub collapses: u64,
    /// Pages moved by collapses.
    pub collapse_pages: u64,
    /// Chain links removed by copying.
    pub chain_merges: u64,
    /// Pages copied by those merges.
    pub chain_merge_pages: u64,
    /// Pages freed by termination, truncation and `MADV_FREE`.
    pub pages_freed: u64,
    pub forks: u64,
    pub fork_shared_entries: u64,
    pub fork_copied_entries: u64,
    pub exits: u64,
    pub mmaps: u64,
    pub munmaps: u64,
    pub mprotects: u64,
    pub madvises: u64,
    /// Emulated reference bit clears.
    pub ref_clears: u64,
    /// Emulated modified bit clears.
    pub mod_clears: u64,
    /// Live objects.
    pub objects: u64,
    /// Live address spaces.
    pub spaces: u64,
    /// Live map entries.
    pub map_entries: u64,
    /// Pages read from swap.
    pub pageins: u64,
    /// Pages written to swap.
    pub pageouts: u64,
    /// Swap slots in total.
    pub swpages: u64,
    /// Swap slots in use.
    pub swpginuse: u64,
    /// Pageout daemon runs.
    pub pdwoke: u64,
    /// Pages scanned by the pageout daemon.
    pub pdscans: u64,
    /// Pages freed by the pageout daemon.
    pub pdfreed: u64,
    // Version 2 (54 words): the server's kernel-object bookkeeping, which
    // shows that exits and crashes give everything back.
    /// Kernel objects (TCBs, CNodes, paging structures, frames outside the
    /// pool) handed out now.
    pub kobj_in_use: u64,
    /// Kernel objects waiting in the server's caches for reuse.
    pub kobj_cached: u64,
    /// Kernel objects ever retyped from untyped memory.
    pub kobj_retyped: u64,
    /// Capability slots of the server's CNode in use (not counting the
    /// reserve: the idle spare mapping cap each pool frame keeps and the
    /// slots of cached objects).
    pub cap_slots_in_use: u64,
    /// Pages mapped into clients now.
    pub pmap_mappings: u64,
    /// Paging structures held by clients now.
    pub pmap_page_tables: u64,
    /// `kobj_in_use` when the server was ready, before any client: with no
    /// client left, `kobj_in_use` must be back to it.
    pub kobj_baseline: u64,
    /// `cap_slots_in_use` when the server was ready, before any client.
    pub cap_slots_baseline: u64,
    // Version 3 (57 words): what went wrong with swap.
    /// Swap slots marked bad after a failed write.
    pub swpgbad: u64,
    /// Swap reads and writes that failed.
    pub swap_io_errors: u64,
    /// Clients the OOM killer stopped (memory and swap exhausted).
    pub oom_kills: u64,
    // Version 4 (63 words): file mappings (docs/pager.md).
    /// Resident pages of pager objects: the file cache (`filepages`).
    pub filepages: u64,
    /// Page-ins asked of pagers, and the pages they brought in.
    pub pager_reads: u64,
    pub pager_pages_in: u64,
    /// Write-backs to pagers, and the pages written.
    pub pager_writes: u64,
    pub pager_pages_out: u64,
    /// Pager requests that failed (those of a dead pager included).
    pub pager_io_errors: u64,
    // Version 5 (64 words): what the server asks of the kernel.
    /// Kernel object invocations the server made (maps, unmaps, cap
    /// copies, retypes, ...; not its IPC): per fault, the cost a fault
    /// adds to the kernel's own round trip.
    pub kernel_invocations: u64,
    // Version 6 (65 words): what the server keeps.
    /// Bytes of the server's heap in live allocations: every map entry,
    /// object, page record, swap record and table it keeps.
    pub heap_bytes: u64,
    // Version 7 (67 words): where the server's time goes.
    /// TSC cycles the server spent handling messages (from the return of
    /// its receive to its reply: its own work, no IPC), and the messages.
    pub handling_cycles: u64,
    pub messages: u64,
    // Version 8 (68 words): what emulating reference bits costs.
    /// Soft faults on resident pages the pageout scan had unmapped only to
    /// learn whether they are used (the core's `flt_reference`).
    pub flt_reference: u64,
    // Version 9 (73 words): 2 MiB large pages (docs/large-pages.md).
    /// Faults resolved with one 2 MiB mapping.
    pub flt_large: u64,
    /// Large frames taken from the large pool for an object.
    pub large_allocs: u64,
    /// Pages of large frames moved to 4 KiB frames (demotions).
    pub large_demotes: u64,
    /// Large frames in all, and those holding an object's pages now.
    pub large_pages: u64,
    pub large_pages_used: u64,
    // Version 10 (76 words): large-page copies and reclaims (docs/large-pages.md).
    /// Write faults that copied a whole 2 MiB chunk (copy on write).
    pub large_cow_copies: u64,
    /// Chunks of 512 small pages copied into a large frame (promotions).
    pub large_promotes: u64,
    /// Partly used large frames broken up because a large fault found
    /// none free.
    pub large_reclaims: u64,
    // Version 11 (80 words): idle-time zeroing.
    /// Free frames zeroed ahead of need now.
    pub zeropages: u64,
    /// Zero-fill faults that found a pre-zeroed frame, and those that
    /// zeroed one themselves (UVM's `pga_zerohit`/`pga_zeromiss`).
    pub pga_zerohit: u64,
    pub pga_zeromiss: u64,
    /// Frames zeroed in idle time (DragonFly's `cnt_prezero`).
    pub prezeroed: u64,
    // Version 12 (81 words): copy-on-write that keeps the mapped frame.
    /// Copy-on-write copies that went down to the lower object, the
    /// faulting client keeping its frame (one remap, not an unmap and a map).
    pub flt_cow_trade: u64,
    // Version 13 (82 words): paging structures made ahead.
    /// Kernel objects retyped ahead of need, in idle time (paging
    /// structures put in the object cache), ever.
    pub kobj_prepared: u64,
    // Version 14 (84 words): what swap waits for.
    /// Doorbells the server rang on its swap device, and the TSC cycles
    /// it spent ringing them. With the block server polling above the
    /// VM server (bench.spec) a ring returns when the block server is
    /// through with its requests: the disk's wait inside the server's
    /// loop (`handling_cycles`).
    pub swap_doorbells: u64,
    pub swap_doorbell_cycles: u64,
}

/// Per-client statistics: the `ClientStats` reply, versioned like
/// [`VmStats`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ClientStats {
    /// The caller's client id.
    pub client: u64,
    /// Pages mapped into the client's address space now.
    pub resident_pages: u64,
    /// Pages wired by `mlock`.
    pub wired_pages: u64,
    /// Bytes covered by map entries.
    pub mapped_bytes: u64,
    /// Map entries.
    pub map_entries: u64,
    /// Open handles.
    pub handles: u64,
    /// Faults taken.
    pub faults: u64,
    /// Zero-fill faults.
    pub flt_zero: u64,
    /// Copy-on-write copies.
    pub flt_cow: u64,
    /// Read-only shares of lower pages.
    pub flt_share: u64,
    /// Pages entered by fault-around.
    pub flt_prefault: u64,
    /// Page-ins its faults started (each reads one page or more, with
    /// read-ahead).
    pub pageins: u64,
    // Version 2 (13 words).
    /// The caller's forked children still alive (a parent waits for this
    /// to reach 0 before it exits, as `wait` would).
    pub live_children: u64,
    // Version 3 (25 words): usage against limits (semantics: quota-*).
    // Limits are the caller's quota group's (it and every space forked
    // from it); `u64::MAX` is no limit. The group's usage of the counted
    // kinds follows; the per-space fields above stay this space's.
    pub resident_limit: u64,
    pub wired_limit: u64,
    /// Swap slots holding the group's pages, and the limit.
    pub swap_slots: u64,
    pub swap_limit: u64,
    /// Map entries of the whole group, and the limit.
    pub group_map_entries: u64,
    pub map_entries_limit: u64,
    /// Handles plus names of the whole group, and the limit.
    pub group_handles: u64,
    pub handles_limit: u64,
    /// Page tables of this space, and the limit (per space).
    pub page_tables: u64,
    pub page_tables_limit: u64,
    /// Forked spaces of the group alive, and the limit.
    pub group_children: u64,
    pub children_limit: u64,
    // Version 4 (26 words): 2 MiB large pages.
    /// Faults resolved with one 2 MiB mapping.
    pub flt_large: u64,
    // Version 5 (28 words): the objects quota.
    /// VM objects charged to the group, and the limit.
    pub group_objects: u64,
    pub objects_limit: u64,
}

/// The `SwapInfo` reply: one swap device's size, use and I/O counters
/// (vm-swap's `SwapStats`, counted since the server started, across
/// swapoff and swapon).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SwapDeviceInfo {
    /// The device index asked about.
    pub device: u64,
    /// Whether the VM pages to it now (false after `SwapOff`).
    pub attached: bool,
    /// Its size in slots of one page.
    pub slots: u64,
    /// Slots holding a page.
    pub in_use: u64,
    /// Slots marked bad after a failed write (never used again).
    pub bad: u64,
    /// Read requests (each one page or more, with read-ahead) and pages
    /// read.
    pub pageins: u64,
    pub pgswapin: u64,
    /// Write requests (pageout clusters) and pages written.
    pub pageouts: u64,
    pub pgswapout: u64,
    /// Read and write requests that failed.
    pub read_errors: u64,
    pub write_errors: u64,
}

/// A statistics record versioned by word count (fields only appended).
pub trait Versioned: FromBytes + IntoBytes + KnownLayout + Immutable + Default {
    /// Words of the first version; shorter replies are malformed.
    const MIN_WORDS: usize;
    /// Words of this version.
    const WORDS: usize = wire::words_of::<Self>();

    /// Decodes at least `MIN_WORDS` words; the fields past a shorter
    /// message read as zero and words past `WORDS` are ignored.
    fn decode_versioned(words: &[u64]) -> Result<Self, DecodeError> {
        if words.len() < Self::MIN_WORDS {
            return Err(DecodeError::Truncated {
                expected: Self::MIN_WORDS,
                got: words.len(),
            });
        }
        let mut s = Self::default();
        let n = words.len().min(Self::WORDS);
        s.as_mut_bytes()[..n * 8].copy_from_slice(words[..n].as_bytes());
        Ok(s)
    }
}

impl VmStats {
    /// Words of the first version.
    pub const MIN_WORDS: usize = 46;
}
impl Versioned for VmStats {
    const MIN_WORDS: usize = VmStats::MIN_WORDS;
}

// Both records fit one message.
const _: () = assert!(<VmStats as Versioned>::WORDS <= MAX_WORDS);
const _: () = assert!(<ClientStats as Versioned>::WORDS <= MAX_WORDS);

impl ClientStats {
    /// Words of the first version.
    pub const MIN_WORDS: usize = 12;
}
impl Versioned for ClientStats {
    const MIN_WORDS: usize = ClientStats::MIN_WORDS;
}

// The word layouts: each reply type to and from its `wire` struct.

impl Body<DecodeError> for PingReply {
    fn encode(&self, out: &mut [u64]) -> usize {
        wire::write(
            &PingWire {
                cookie: self.cookie,
            },
            out,
        )
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: PingWire = wire::read(words)?;
        Ok(PingReply { cookie: w.cookie })
    }
}

impl Body<DecodeError> for PagerProgramNameReply {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (name_len, name) = self.name.to_words();
        wire::write(&NameWire { name_len, name }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: NameWire = wire::read(words)?;
        Ok(PagerProgramNameReply {
            name: ShmName::from_words(w.name_len, &w.name, 0)?,
        })
    }
}

impl Body<DecodeError> for PagerChallengeReply {
    fn encode(&self, out: &mut [u64]) -> usize {
        let challenge = self.challenge;
        wire::write(&ChallengeWire { challenge }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: ChallengeWire = wire::read(words)?;
        Ok(PagerChallengeReply {
            challenge: w.challenge,
        })
    }
}

impl Body<DecodeError> for VmStats {
    fn encode(&self, out: &mut [u64]) -> usize {
        wire::write(self, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        Self::decode_versioned(words)
    }
}

impl Body<DecodeError> for ClientStats {
    fn encode(&self, out: &mut [u64]) -> usize {
        wire::write(self, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        Self::decode_versioned(words)
    }
}

impl Body<DecodeError> for MmapReply {
    fn encode(&self, out: &mut [u64]) -> usize {
        wire::write(&AddrWire { addr: self.addr }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: AddrWire = wire::read(words)?;
        Ok(MmapReply { addr: w.addr })
    }
}

impl Body<DecodeError> for HandleReply {
    fn encode(&self, out: &mut [u64]) -> usize {
        let handle = self.handle.into();
        wire::write(&HandleWire { handle }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: HandleWire = wire::read(words)?;
        Ok(HandleReply {
            handle: handle(w.handle, 0)?,
        })
    }
}

impl Body<DecodeError> for ForkReply {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (is_child, id) = match *self {
            ForkReply::Parent { child } => (0, child),
            ForkReply::Child { parent } => (1, parent),
        };
        wire::write(&ForkWire { is_child, id }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: ForkWire = wire::read(words)?;
        match w.is_child {
            0 => Ok(ForkReply::Parent { child: w.id }),
            1 => Ok(ForkReply::Child { parent: w.id }),
            value => Err(DecodeError::BadValue { word: 0, value }),
        }
    }
}

impl Body<DecodeError> for SwapDeviceInfo {
    fn encode(&self, out: &mut [u64]) -> usize {
        let w = SwapInfoWire {
            device: self.device,
            flags: u64::from(self.attached),
            slots: self.slots,
            in_use: self.in_use,
            bad: self.bad,
            pageins: self.pageins,
            pgswapin: self.pgswapin,
            pageouts: self.pageouts,
            pgswapout: self.pgswapout,
            read_errors: self.read_errors,
            write_errors: self.write_errors,
        };
        wire::write(&w, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: SwapInfoWire = wire::read(words)?;
        if w.flags > 1 {
            return Err(DecodeError::ReservedBits { word: 1 });
        }
        Ok(SwapDeviceInfo {
            device: w.device,
            attached: w.flags == 1,
            slots: w.slots,
            in_use: w.in_use,
            bad: w.bad,
            pageins: w.pageins,
            pgswapin: w.pgswapin,
            pageouts: w.pageouts,
            pgswapout: w.pgswapout,
            read_errors: w.read_errors,
            write_errors: w.write_errors,
        })
    }
}

// `Reply` itself (one variant per operation, `operation()` and the
// per-operation matches) is generated from the table in `protocol.rs`.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_list::{ClientListReply, ClientSummary, CLIENT_LIST_MAX};
    use crate::error::ApiError;
    use crate::protocol::{Operation, Reply};
    use crate::types::ClientName;

    #[test]
    fn stats_word_counts() {
        // Version 2 appended eight words to the first version's 46.
        assert_eq!(<VmStats as Versioned>::WORDS, 84);
        assert_eq!(VmStats::MIN_WORDS, 46);
        assert_eq!(<ClientStats as Versioned>::WORDS, 28);
        assert_eq!(ClientStats::MIN_WORDS, 12);
    }

    #[test]
    fn stats_versioning() {
        let s = VmStats {
            pagesize: 4096,
            free: 7,
            pdfreed: 9,
            ..Default::default()
        };
        let mut w = [0u64; MAX_WORDS];
        let (label, len) = Reply::Stats(s).encode(&mut w);
        assert_eq!((label, len), (0, 84));
        assert_eq!(w[0], 4096);
        assert_eq!(w[2], 7);
        assert_eq!(w[45], 9);
        assert_eq!(
            Reply::decode(Operation::Stats, 0, &w[..len]),
            Ok(Ok(Reply::Stats(s)))
        );
        // A newer server's longer reply.
        w[84] = 123;
        assert_eq!(
            Reply::decode(Operation::Stats, 0, &w[..len + 1]),
            Ok(Ok(Reply::Stats(s)))
        );
        // An older (first version) server's reply: the new fields read 0.
        assert_eq!(
            Reply::decode(Operation::Stats, 0, &w[..46]),
            Ok(Ok(Reply::Stats(s)))
        );
        assert_eq!(
            Reply::decode(Operation::Stats, 0, &w[..45]),
            Err(DecodeError::Truncated {
                expected: 46,
                got: 45
            })
        );
    }

    #[test]
    fn mincore_packing() {
        let mut r = MincoreReply::new();
        for i in 0..10u8 {
            assert!(r.push(Mincore::from_bits_truncate(i)));
        }
        let mut w = [0u64; MAX_WORDS];
        assert_eq!(Reply::Mincore(r).encode(&mut w), (0, 3));
        assert_eq!(w[0], 10);
        assert_eq!(w[1], u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]));
        assert_eq!(w[2], u64::from_le_bytes([0, 1, 0, 0, 0, 0, 0, 0]));
        assert_eq!(
            Reply::decode(Operation::Mincore, 0, &w[..3]),
            Ok(Ok(Reply::Mincore(r)))
        );
        let mut bad = w;
        bad[2] |= 1 << 16; // page 10 of 10
        assert_eq!(
            Reply::decode(Operation::Mincore, 0, &bad[..3]),
            Err(DecodeError::ReservedBits { word: 2 })
        );
        bad = w;
        bad[1] |= 0x80;
        assert_eq!(
            Reply::decode(Operation::Mincore, 0, &bad[..3]),
            Err(DecodeError::ReservedBits { word: 1 })
        );
        let full = MincoreReply::from_bytes(&[1u8; 2000]);
        assert_eq!(full.len(), MINCORE_MAX_PAGES);
        assert_eq!(Reply::Mincore(full).encode(&mut w), (0, MAX_WORDS));
        assert_eq!(
            Reply::decode(Operation::Mincore, 0, &[953]),
            Err(DecodeError::BadValue {
                word: 0,
                value: 953
            })
        );
    }

    #[test]
    fn client_list_layout_and_refusals() {
        assert_eq!(CLIENT_LIST_MAX, 9);
        let entry = |client| ClientSummary {
            client,
            name: ClientName::truncated("vmstat"),
            resident_pages: 3,
            faults: 7,
            pageins: 2,
            ..Default::default()
        };
        let mut r = ClientListReply::new();
        assert!(!r.set_next(50), "not full");
        assert!(r.push(entry(4)) && r.push(entry(7)));
        assert!(!r.push(entry(7)), "ids strictly increase");
        let mut w = [0u64; MAX_WORDS];
        assert_eq!(Reply::ClientList(r).encode(&mut w), (0, 28));
        assert_eq!(&w[..4], &[2, 0, 4, 6]);
        assert_eq!(w[4], u64::from_le_bytes(*b"vmstat\0\0"));
        assert_eq!(&w[7..14], &[3, 0, 7, 0, 0, 0, 2]);
        assert_eq!(w[15], 7);
        let ok = |w: &[u64]| Reply::decode(Operation::ClientList, 0, w);
        assert_eq!(ok(&w[..28]), Ok(Ok(Reply::ClientList(r))));
        assert_eq!(
            ok(&w[..27]),
            Err(DecodeError::Truncated {
                expected: 28,
                got: 27
            })
        );
        assert_eq!(
            ok(&w[..1]),
            Err(DecodeError::Truncated {
                expected: 2,
                got: 1
            })
        );
        let bad = |i: usize, v: u64| {
            let mut b = w;
            b[i] = v;
            ok(&b[..28])
        };
        assert_eq!(
            bad(0, 10),
            Err(DecodeError::BadValue { word: 0, value: 10 })
        );
        assert_eq!(bad(1, 9), Err(DecodeError::BadValue { word: 1, value: 9 }));
        assert_eq!(
            bad(15, 4),
            Err(DecodeError::BadValue { word: 15, value: 4 })
        );
        assert_eq!(
            bad(3, 25),
            Err(DecodeError::BadValue { word: 3, value: 25 })
        );
        assert_eq!(bad(6, 1), Err(DecodeError::ReservedBits { word: 6 }));
        // A full reply may say where the rest starts, above its last id.
        let mut full = ClientListReply::new();
        for id in 1..=9 {
            assert!(full.push(entry(id * 2)));
        }
        assert!(!full.push(entry(30)));
        assert!(!full.set_next(18), "not above the last id");
        assert!(full.set_next(19));
        assert_eq!(full.next(), Some(19));
        let (_, len) = Reply::ClientList(full).encode(&mut w);
        assert_eq!((len, w[1]), (119, 19));
        assert_eq!(ok(&w[..len]), Ok(Ok(Reply::ClientList(full))));
        w[1] = 18;
        assert_eq!(
            ok(&w[..len]),
            Err(DecodeError::BadValue { word: 1, value: 18 })
        );
    }

    #[test]
    fn swap_info_layout() {
        let info = SwapDeviceInfo {
            device: 0,
            attached: true,
            slots: 100,
            in_use: 7,
            bad: 1,
            pgswapout: 9,
            ..Default::default()
        };
        let mut w = [0u64; MAX_WORDS];
        assert_eq!(Reply::SwapInfo(info).encode(&mut w), (0, 11));
        assert_eq!(&w[..5], &[0, 1, 100, 7, 1]);
        assert_eq!(w[8], 9);
        assert_eq!(
            Reply::decode(Operation::SwapInfo, 0, &w[..11]),
            Ok(Ok(Reply::SwapInfo(info)))
        );
        w[1] = 2;
        assert_eq!(
            Reply::decode(Operation::SwapInfo, 0, &w[..11]),
            Err(DecodeError::ReservedBits { word: 1 })
        );
    }

    #[test]
    fn errors_and_fork() {
        assert_eq!(
            Reply::decode(Operation::Mmap, 8, &[]),
            Ok(Err(ApiError::Protection))
        );
        assert_eq!(
            Reply::decode(Operation::Mmap, 8, &[1]),
            Err(DecodeError::TooLong {
                expected: 0,
                got: 1
            })
        );
        assert_eq!(
            Reply::decode(Operation::Mmap, 0x999, &[]),
            Err(DecodeError::UnknownError { code: 0x999 })
        );
        let mut w = [0u64; 2];
        Reply::Fork(ForkReply::Child { parent: 4 }).encode(&mut w);
        assert_eq!(w, [1, 4]);
        assert_eq!(
            Reply::decode(Operation::Fork, 0, &[2, 4]),
            Err(DecodeError::BadValue { word: 0, value: 2 })
        );
        assert_eq!(
            Reply::encode_result(&Err(ApiError::NoSpace), &mut w),
            (6, 0)
        );
    }
}
