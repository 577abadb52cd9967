//! Swap-side building blocks of the VM server: the swap-slot allocator, per-object swap metadata, the asynchronous block-device boundary, a fault-injecting RAM disk, replacement policies, trace replay and counters (pure `no_std` library).
//!
//! The VM core (`vm-core`) owns pages, objects and the pageout decisions
//! that need them; this crate owns everything on the swap side of that
//! line, with no dependency on the core, so each piece is tested alone and
//! the core's pageout path composes them. Names follow DragonFly BSD's
//! `swap_pager.c`/`subr_blist.c`/`vm_pageout.c` and NetBSD UVM's `uvmexp`.
//!
//! | module | owns | BSD counterpart |
//! | --- | --- | --- |
//! | [`blist`] | swap-slot allocation: runs, free, fill, bad slots | `subr_blist.c` |
//! | [`swapmeta`] | per-object page index -> slot | `struct swblock`, `swp_pager_meta_*` |
//! | [`device`] | the async block-device trait, staging buffers | `struct buf` + `swp_pager_async_iodone` |
//! | [`ramdisk`] | host device with fault injection | `md(4)` |
//! | [`swap_pager`] | slot runs + staging + async I/O + completion handling | `swap_pager.c` (I/O half) |
//! | [`policy`] | replacement policies: CLOCK (default), 2Q, CLOCK-Pro, S3-FIFO, FIFO | `vm_pageout_scan_*` |
//! | [`targets`] | paging targets, pressure levels, shortage | `v_free_*`, `v_paging_target*` |
//! | [`trace`] | synthetic traces and the replay engine | - |
//! | [`trace_file`] | the binary format of traces recorded on the live system, replay of them | - |
//! | [`trace_line`] | the console lines a recording is printed in (`TRACE`, base64) | - |
//! | [`opt`] | Belady's OPT (MIN), the floor every replay is compared to | - |
//! | [`counters`] | swap and pageout statistics | `uvmexp` |
//!
//! # Design decisions
//!
//! * **Single owner, no locks.** Like `vm-core`, every structure is owned
//!   by the VM server's one loop and mutated through `&mut self`; each
//!   module says so in its locking note. Concurrency with the device is by
//!   message, not by shared state: see [`device`].
//! * **Exact hints in the blist.** BSD's `bm_bighint` is an upper bound
//!   lowered by failing searches; ours is the exact longest free run per
//!   subtree (runs stay inside a 64-slot leaf, as in DragonFly), kept by a
//!   bottom-up update that stops at the first unchanged node. An allocation
//!   therefore descends without backtracking, and a failing one returns at
//!   the root in O(1) (about 5 ns): a full swap device costs the pageout
//!   scan nothing per page. The tree is implicit (one array per level):
//!   about 1.1 bits per slot, 520 KiB for 16 GiB of swap; bad slots sit
//!   in a sparse per-leaf map beside it.
//! * **Bad slots are separate from allocation.** A slot whose write failed
//!   is marked bad and stays allocated forever; freeing it later (when the
//!   page is freed or re-laundered elsewhere) does not return it. `swpgbad`
//!   counts them.
//! * **Sparse per-object metadata in an ordered map.** `BTreeMap<base,
//!   SwBlock>` of 16-slot blocks (DragonFly's per-object RB tree of
//!   `swblock`s): truncate, collapse, split and swapoff walk ranges in
//!   order, and read-ahead finds device-contiguous neighbours
//!   ([`SwapMeta::cluster`]). The map never frees slots: it hands every
//!   dropped slot back, and the caller returns it through
//!   [`SwapPager::free_slots`], which holds it back while a read of it is
//!   still in flight. Lookup costs about 45 ns in a 4096-page object and is
//!   cache-miss bound (0.5–2 µs) at 2^20 pages.
//! * **Device-owned staging buffers.** The device boundary moves bytes
//!   through a fixed window of page buffers that on seL4 is memory shared
//!   with block-server (a frame object the system spec maps into both):
//!   the pager copies a page in before a write and out after a read,
//!   requests carry only numbers, and block-server never holds frame caps
//!   of clients' pages. One 4 KiB copy per page is cheap next to the IPC round trip.
//! * **Asynchronous by construction.** `submit` never blocks and
//!   completions come back in any order, later; the RAM disk moves data
//!   only when it delivers a completion and can delay, reorder and fail
//!   requests, so host tests see the orderings block-server can produce.
//! * **Policies behind a small object-safe trait** that sees frames, a
//!   logical key per page and a host callback for reference bits; page
//!   state stays in the core. No crate fits: the crates.io cache crates
//!   (`lru`, `quick_cache`, ...) own keys and values and see every hit,
//!   while a pager sees only emulated reference bits and must let the core
//!   veto victims (wired, busy).
//! * **Written here rather than taken from crates.io**, and why: no
//!   `no_std` crate we know of offers a blist-style run allocator with
//!   bad-slot tracking (the bitmap allocators hand out single bits or scan
//!   linearly for runs); the
//!   Zipf generator needs `ln`/`exp`, which `core` lacks and no math crate
//!   is among the workspace's dependencies, so [`trace`] carries 20-line
//!   series versions. `hashbrown` (maps, ghost sets) and `rand`'s
//!   `SmallRng` (seeded fault injection, traces) are used as they are.
//!
//! # How the VM core uses each piece
//!
//! The core's side lives in one file per concept (`vm-server/core/src`):
//! `pageout.rs`, `launder.rs`, `pagein.rs`, `swap_io.rs` and
//! `swap_backend.rs`, which holds a [`SwapPager`] behind an object-safe
//! trait.
//!
//! * **Paging targets.** The core takes [`PagingTargets::for_pool`] (or an
//!   override from `VmConfig`, checked by [`PagingTargets::validate`]):
//!   `reserved < severe < minimum < wait < start < target1 < target2`
//!   free pages. The server asks `Vm::pageout_shortage` before each
//!   message and runs pageout while it is non-zero (towards `target2`
//!   while faults wait). Client faults allocate down to `severe` with
//!   swap attached (`reserved` without) and then wait for a pageout write
//!   in flight or fail `OutOfMemory`; the pageout path allocates down to
//!   `reserved`.
//! * **Scans.** By default the core runs CLOCK over its own active and
//!   inactive queues. `Vm::set_replacement_policy` installs one of the
//!   [`ReplacementPolicy`]s here instead; the core then tells it about
//!   pages becoming pageable, freed, wired or referenced, and its
//!   [`PolicyHost`] clears a page's emulated reference bit by unmapping
//!   it and reports wired, held and busy pages as not evictable.
//! * **Laundering.** Clean victims whose contents are on swap are freed at
//!   once. A dirty victim is written with its dirty neighbours of the
//!   same object (up to `VmConfig::pageout_cluster`, BSD's
//!   `vm_pageout_clean`), busy and unmapped, through
//!   [`SwapPager::start_write`]. On [`SwapError::NoSpace`] laundering of
//!   anonymous pages stops for the pass. At the completion the core
//!   records the run in the object's [`SwapMeta`] and frees the pages; a
//!   write error leaves them dirty and resident (the pager has marked
//!   the failed slot bad), so no data is lost.
//! * **Page-in with read-ahead.** A fault on a page with a slot reads the
//!   device-contiguous run around it ([`SwapMeta::cluster`], narrowed to
//!   pages that are not resident) into busy frames with
//!   [`SwapPager::start_read`] and returns `FaultOutcome::Wait(tag)`; the
//!   server keeps the reply and retries the fault when `Vm::swap_poll`
//!   reports the tag. A second fault on a busy page gets the same tag.
//!   Read-ahead pages go to the inactive queue and keep their slots, so a
//!   clean page is evicted for free; the first write frees the slot.
//! * **Busy pages and dead objects.** munmap and exit of a page under I/O
//!   leave it an orphan the completion frees; slots of dead objects go
//!   back through [`SwapPager::free_slots`], which holds a slot back while
//!   a read of it is in flight.
//! * **Errors and a full device.** A read error fails only the fault that
//!   wanted the page (`VmError::Io`), once; its slot stays. With the
//!   device full and nothing clean left, `Vm::out_of_swap` tells the
//!   server to call its OOM killer.
//! * **Swapoff.** `Vm::swap_off` pages every slot in and fails cleanly up
//!   front when memory cannot hold them.
//! * **Counters.** [`SwapStats`] joins the core's `Uvmexp` in the server's
//!   `Stats` reply.
//!
//! # Tests and benchmarks
//!
//! * `tests/blist_prop.rs`: random alloc/free/fill/mark-bad sequences
//!   against a `Vec<bool>` first-fit model, on small devices and on a
//!   three-level device seeded with holes: every result, the counters and
//!   the root hint agree; runs are in range, inside a leaf and were free.
//! * `tests/swapmeta_prop.rs`: insert/remove/range removal/lookup/cluster/
//!   move between two objects against `BTreeMap` models.
//! * `tests/pager_model.rs`: one object's pages through the
//!   [`SwapPager`] over a RAM disk with random delays, reordering and read
//!   and write errors (plus a persistently bad block): clustered pageouts,
//!   read-ahead page-ins, clean evictions, overwrites and frees under I/O,
//!   half the seeds with swap half the object's size (full swap, clusters
//!   cut to the largest free run);
//!   every page read back matches its last written contents, every slot in
//!   use is accounted for after every step, each failed write leaves
//!   exactly one bad slot, and after all pages die no slot is in use.
//!   128,000 operations by default (`VM_SWAP_SEEDS`, `VM_SWAP_OPS`).
//! * `tests/policy_prop.rs`: the policy contract for every policy (victims
//!   tracked, evictable, distinct; no shortfall while anything is
//!   evictable; everything drains).
//! * unit tests per module, among them one per RAM-disk injection kind
//!   and the hand-checked replay tables (Belady's anomaly under FIFO, an
//!   exact page-in/page-out case).
//! * `cargo bench -p vm-swap`: blist on a 16 GiB device, swap metadata,
//!   RAM-disk and swap-pager pages/s (pageout and page-in), policy
//!   decision cost, replay per policy.
//! * `cargo run --release -p vm-swap --example trace_replay`: the table
//!   per policy for every synthetic workload, or for a recorded trace.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod blist;
pub mod counters;
pub mod device;
pub mod opt;
pub mod policy;
pub mod ramdisk;
pub mod swap_pager;
pub mod swapmeta;
pub mod targets;
pub mod trace;
pub mod trace_file;
pub mod trace_line;

pub use blist::{Blist, SwapSlot, BLIST_MAX_ALLOC};
pub use counters::SwapStats;
pub use device::{
    BlockDevice, BufferId, IoCompletion, IoError, IoOp, IoRequest, IoStatus, IoTag, BLOCK_SIZE,
};
pub use policy::policy_by_name;
pub use policy::{
    ClockConfig, ClockPolicy, ClockProPolicy, FifoPolicy, FrameId, PageKey, PolicyHost,
    PolicyStats, ReplacementPolicy, S3FifoPolicy, TwoQPolicy, POLICIES,
};
pub use ramdisk::{Delay, PhysMemory, RamDisk, RamDiskStats};
pub use swap_pager::{SwapError, SwapEvent, SwapPager};
pub use swapmeta::{SwBlock, SwapMeta, SwapRun, SWAP_META_PAGES};
pub use targets::{PagingTargets, Pressure, TargetsError};
