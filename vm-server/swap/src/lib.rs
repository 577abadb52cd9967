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
//! | [`policy`] | replacement policies: CLOCK (default), 2Q, CLOCK-Pro, FIFO | `vm_pageout_scan_*` |
//! | [`targets`] | paging targets, pressure levels, shortage | `v_free_*`, `v_paging_target*` |
//! | [`trace`] | synthetic traces and the replay engine | - |
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
//! # How the VM core will use each piece (integration plan)
//!
//! Status: integrated in `vm-core` (module `swap`, `Vm::swap_on`,
//! `Vm::pageout`, `Vm::swap_poll`, `Vm::swap_off`,
//! `Vm::set_replacement_policy`) as planned below, with these
//! differences: the built-in CLOCK over the core's own active/inactive
//! queues stays the default and a [`ReplacementPolicy`] is optional;
//! faulting threads retry their fault when the tag they waited for
//! completes (the core keeps no waiter lists); pages under pageout are
//! unmapped rather than write-protected (a fault on them waits for the
//! write); chain merges, flattening at fork, mlock and swapoff page in
//! synchronously; operations that move many pages (fork, madvise,
//! truncate, mlock) first drain the I/O in flight.
//!
//! **Paging targets.** The core takes [`PagingTargets::for_pool`] (or
//! overrides from `VmConfig`, checked by [`PagingTargets::validate`]), in
//! DragonFly's order: `reserved < severe < minimum < wait < start <
//! target1 < target2` free pages, and asks [`PagingTargets::pressure`]
//! at each allocation and [`PagingTargets::shortage`] at each pageout
//! pass. An allocation that leaves fewer than `minimum` free wakes the
//! pageout work (the server runs it on its next loop turn, before
//! blocking on its endpoint); below `severe` ordinary client faults wait
//! (their reply caps saved with `CNode_SaveCaller`) until free is back
//! above `wait`, or fail with out-of-memory when nothing can be freed,
//! while the pageout path allocates with `AllocClass::System` down to
//! `reserved`. Pageout runs while free < `start` and stops at `target1`
//! (`target2` when faults are waiting, for hysteresis).
//!
//! **Scans.** The core keeps one `Box<dyn ReplacementPolicy>` (default
//! [`ClockPolicy`]; [`TwoQPolicy`] and [`ClockProPolicy`] are the
//! scan-resistant alternatives, chosen at boot) and calls `insert` when a page becomes pageable
//! (zero-fill, copy, page-in, unwire), `remove` when it is freed, wired or
//! becomes unmanaged, and `referenced` on an emulated reference fault. Its
//! [`PolicyHost`] implementation clears a page's emulated bit by removing
//! its mappings through the `Pmap` (or write-protecting it, for the
//! modified bit) and reports wired, held and busy pages as not evictable.
//! `select_victims(shortage)` yields the pages to clean; the policy's
//! counters go to [`SwapStats::sync_policy`].
//!
//! **Laundering.** Clean victims are freed at once (their swap slot, if
//! any, stays valid). Dirty victims of a swap-backed object are gathered
//! with their dirty, unbusy, not-wired neighbours of the same object (by
//! page index, up to the cluster size, default 16, BSD's
//! `vm_pageout_clean`), marked busy and write-protected, and handed to
//! [`SwapPager::start_write`], which takes one run of slots, copies the
//! pages into staging buffers through the caller's closure and submits one
//! write; on [`SwapError::NoSpace`] the core retries with the
//! `largest_run` it reports, then single pages, and stops laundering
//! anonymous pages at `largest_run == 0`. [`SwapPager::poll`] reports the
//! completion with the caller's cookie: on success the core records the
//! run in the object's [`SwapMeta`] (freeing, with
//! [`SwapPager::free_slots`], the old slots `insert` returns), clears the
//! dirty bits and frees the pages unless they were referenced meanwhile;
//! on a write error the pager has already marked the failed slot bad and
//! freed the rest, and the core leaves every page of the request dirty and
//! resident, to be retried with other slots: data is never lost.
//!
//! **Swap-backed anonymous objects.** An anonymous object gets its
//! `SwapMeta` the first time one of its pages is laundered (its pager kind
//! becomes swap). Freeing a page, overwriting it (the first write fault on
//! a page that has a slot dirties it and frees the slot, as
//! `swap_pager_unswapped`), truncation and munmap of private ranges use
//! [`SwapMeta::remove`]/[`SwapMeta::remove_range`]; object death uses
//! [`SwapMeta::clear`]; collapse and split move slots with
//! [`SwapMeta::move_range`].
//!
//! **Page-in with read-ahead.** A fault on a non-resident page with a slot
//! asks [`SwapMeta::cluster`] for the device-contiguous run around it
//! (e.g. 7 behind, 8 ahead, narrowed to non-resident, non-busy pages),
//! allocates frames for the run, marks them busy and starts one read with
//! [`SwapPager::start_read`]. The fault returns "wait for page-in": the faulting
//! thread's reply cap is saved and the server serves other clients. The
//! completion copies [`SwapPager::read_page`] into the frames, calls
//! [`SwapPager::finish_read`], validates the pages (the
//! faulted one mapped and the waiters answered; read-ahead pages go to the
//! inactive end of the policy) and keeps the slots (a clean page with a
//! valid slot is evicted for free).
//!
//! **Busy pages under I/O.** A page in a write or read is busy: a second
//! fault on it joins the waiters of that request instead of starting
//! another read; munmap or exit of a busy page defers freeing the frame
//! to the completion handler (the cookie leads back to the pages), so a
//! client exiting with pages under I/O leaks neither frames nor slots. Its
//! slots can be given back at once: [`SwapPager::free_slots`] holds a slot
//! back while a read of it is in flight, so it is never rewritten under
//! the device (the RAM disk refuses such overlapping I/O, which is how the
//! model test checks it).
//!
//! **Swap full and I/O errors.** When [`Blist::alloc`] of even one slot
//! fails (O(1) at the root), laundering of anonymous pages stops; clean
//! pages are still reclaimed; when that is not enough, the out-of-memory
//! path takes over: the faulting client gets a clear error, or a
//! configurable victim client is killed. A read error fails only the
//! faulting access (and the waiters of that request) with `VmError::Io`;
//! the pages stay non-resident, their slots remain, the rest of the
//! system is untouched.
//!
//! **Swapoff.** Walk every swap-backed object's [`SwapMeta::iter`], page
//! in (clusters as above) and dirty every page, freeing its slot, until
//! [`Blist::in_use`] is 0. Before starting, check free frames + clean
//! reclaimable pages against the slots in use and fail with a clear
//! error instead of thrashing.
//!
//! **Counters.** [`SwapStats`] (slots total/in use/bad, I/O submitted /
//! completed / errors, page-ins / page-outs and pages moved, scans) joins
//! the core's `Uvmexp` snapshot.
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
pub mod policy;
pub mod ramdisk;
pub mod swap_pager;
pub mod swapmeta;
pub mod targets;
pub mod trace;

pub use blist::{Blist, SwapSlot, BLIST_MAX_ALLOC};
pub use counters::SwapStats;
pub use device::{
    BlockDevice, BufferId, IoCompletion, IoError, IoOp, IoRequest, IoStatus, IoTag, BLOCK_SIZE,
};
pub use policy::{
    ClockConfig, ClockPolicy, ClockProPolicy, FifoPolicy, FrameId, PageKey, PolicyHost,
    PolicyStats, ReplacementPolicy, TwoQPolicy,
};
pub use ramdisk::{Delay, RamDisk, RamDiskStats};
pub use swap_pager::{SwapError, SwapEvent, SwapPager};
pub use swapmeta::{SwBlock, SwapMeta, SwapRun, SWAP_META_PAGES};
pub use targets::{PagingTargets, Pressure, TargetsError};
