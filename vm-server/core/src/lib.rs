//! The VM server's core: address-space maps, VM objects, backing (shadow) chains, fault resolution and fork, as a pure `no_std` library.
//!
//! It follows DragonFly BSD's `sys/vm`; a reader of `vm_map.c`,
//! `vm_object.c` and `vm_fault.c` finds the same concepts under Rust names:
//!
//! | module | owns | BSD counterpart |
//! | --- | --- | --- |
//! | [`types`], [`error`], [`config`] | ids, rights, errors, tunables | `vm_param.h` |
//! | [`page`] | frame records, queues, wiring, the reserve; idle-time zeroing (`page/zero_idle`) | `vm_page.c`, `vm_zeroidle.c` |
//! | [`object`] | anonymous, shared-memory, physical objects | `vm_object.c` |
//! | [`device`] | device regions past the pool, opening one | `dev_pager.c`, `OBJT_DEVICE` |
//! | [`chain`] | per-entry backing chains and walks over them | `vm_map_backing` |
//! | [`collapse`] | shadow on first write, collapse, merge, flatten | `vm_map_entry_shadow`, `vm_object_collapse` |
//! | [`map`] | entries, lookup, findspace, clip, simplify | `vm_map.c` |
//! | [`space`] | one address space: map, handles, counters | `struct vmspace` |
//! | [`vm`] | the `Vm` (spaces + `Memory`), space creation | `vm_mmap.c`, `uvm_init` |
//! | [`mmap`] | mmap, munmap, mprotect, minherit, msync, mincore | `vm_mmap.c`, `uvm_map` |
//! | [`madvise`] | advice, `WILLNEED`, `DONTNEED`, `FREE` | `vm_map_madvise` |
//! | [`wire`] | mlock, munlock, fault-wire | `vm_map_wire`, `vm_fault_wire` |
//! | [`fork`] | fork and exit | `vmspace_fork`, `vmspace_exit` |
//! | [`fault`] | fault resolution, copy on write, zero fill | `vm_fault.c` |
//! | [`fault_around`] | entering a fault's neighbours | `vm_prefault` |
//! | [`refmod`] | emulated reference and modified bits | `pmap_is_referenced`, `pmap_is_modified` |
//! | [`pageout`] | paging targets, queue scans, reclaim | `vm_pageout.c` |
//! | [`launder`] | clustered writes of dirty pages to swap | `vm_pageout_clean`, `swap_pager_putpages` |
//! | [`pagein`] | page-in with read-ahead, swapoff | `swap_pager_getpages`, `swapoff` |
//! | [`swap_io`] | attaching swap, completions, waits, dead slots | `swap_pager_iodone` |
//! | [`pager_backend`] | an external pager behind a trait object | `struct pagerops` |
//! | [`pager_io`] | pager objects: page-in, write-back, pager death | `vnode_pager.c` |
//! | [`swap_backend`] | the device side behind a trait object | `swap_pager.c` (device half) |
//! | [`oom`] | choosing the client to stop | `vm_pageout_oom` |
//! | [`limits`], [`quota`] | per-family limits and their checks | `RLIMIT_*`, cgroups |
//! | [`shm`] | shared-memory names and handles | `shm_open`, `uvm_aobj` |
//! | [`invariants`] | structural checks for tests | `vm_map_check`-style asserts |
//! | [`pmap`] | the machine-dependent boundary | `pmap.h` |
//! | [`pv_list`] | where one frame is mapped (a pmap's reverse map) | `pv_entry` |
//! | [`counters`] | statistics | UVM `uvmexp` |
//! | [`trace`] | the live trace's ring of faults, page-ins, page-outs, frees | `ktrace`-like |
//! | `sim` | a host pmap with real bytes (tests, benches) | - |
//! | `ram_pager` | a host external pager with files in memory (tests) | - |
//!
//! # Design decisions
//!
//! * **Single owner, no locks.** The seL4 server runs one loop that owns
//!   one [`Vm`]; every operation takes `&mut Vm`. BSD's locking notes become
//!   one sentence per structure ("owned by the single-threaded `Vm`").
//! * **Indices, not pointers.** Frames are `FrameNumber`s into the pool the
//!   server hands in at `Vm::new(config, frame_count)`; the core never sees
//!   a physical address or a capability. Objects live in a slab indexed by
//!   `ObjectId`, spaces by never-reused `SpaceId`s. The page record is 32
//!   bytes (DragonFly: 128) because links and owners are 32-bit indices.
//! * **Chains live in entries** (DragonFly's `vm_map_backing`): an object
//!   does not point at its backing object. Each link carries its own offset
//!   of the entry start, so a fault computes the page index at any depth
//!   with one add, and clipping shifts all links alike.
//! * **Lazy copy.** Fork marks copy entries `NEEDS_COPY` in parent and
//!   child and write-protects the parent; the first write pushes a front
//!   object (`vm_map_entry_shadow`), or reuses the front if no other chain
//!   holds it. Private anonymous memory gets its object at the first fault.
//! * **Bounded depth.** Two mechanisms, both at the points where chains
//!   change: a *collapse* moves pages up when a deeper private object is
//!   held by this chain only (checked on every fault that walks a chain of
//!   two or more: objects keep no list of the chains holding them, so a
//!   collapse made possible by an exit happens when the survivor next
//!   faults, not at the exit); and when a fork leaves an entry at
//!   `max_chain_depth` (default 5, as DragonFly) with a push to come, its
//!   two front links are first *merged* into one private copy of what the
//!   entry sees through them. Chains only grow by pushes, one per side
//!   after a fork, so no sequence of forks and exits exceeds the bound;
//!   `check_invariants` asserts it. The merge copies pages, trading memory
//!   for depth; it only runs when siblings still share every link, and at
//!   fork, so running short of memory for it fails the fork (a clear
//!   error), never a later write fault (which would stop the client).
//! * **Where a zero page goes.** A write zero-fills in the front object; a
//!   read zero-fills in the deepest object, which owns the contents for
//!   every chain through it, so reads never create private copies.
//!   Fault-around follows the same rule, and only zero-fills a private
//!   neighbour for a write when nothing below it can change (no shared
//!   base), so a speculative page never hides a later shared write.
//! * **Shared memory stays a base.** Only private anonymous objects sit
//!   above another link. Sharing a copy-on-write entry at fork first folds
//!   its chain into one object (copying), which is then marked `SHARED`;
//!   if clipped siblings in the same space still use the object
//!   privately, the entry's pages are first moved to an object of their
//!   own (`vm_object_split`), so a private sibling never writes a shared
//!   object.
//!   A copy-inherited entry whose object is shared elsewhere (and a
//!   private mapping of a shared-memory object) sees other sharers' writes
//!   to pages it has not written itself, as in BSD.
//! * **Emulated reference and modified bits.** A page is entered writable
//!   only on a write or when already dirty, so the first write to a clean
//!   page faults and sets `DIRTY`; clearing the reference bit unmaps the
//!   page everywhere. A pmap with hardware bits opts out
//!   (`Pmap::tracks_ref_mod`).
//! * **Wiring** follows visibility: each page of a wired entry holds one
//!   wiring of the page visible at its address; a copy-on-write copy or a
//!   chain merge moves the wiring to the new page. Wiring is not inherited.
//! * **Reserve and paging targets.** Faults allocate with
//!   `AllocClass::Normal` and fail with `OutOfMemory` at `reserved_pages`
//!   free pages (at the `severe` target while swap is attached, where
//!   they wait for pageout writes instead when there are any); the
//!   pageout path allocates with `AllocClass::System`.
//!   The seven paging targets (reserved < severe < minimum < wait < start
//!   < target1 < target2) come from `VmConfig::paging_targets` or are
//!   derived by vm-swap's `PagingTargets::for_pool` and shifted so their
//!   `reserved` is the pool's reserve (which keeps its meaning from before
//!   the targets); `Vm::pressure` and `Vm::pageout_shortage` answer the
//!   server loop's "run pageout now?" question. A pool too small for seven
//!   distinct levels has no targets and never asks for pageout.
//! * **The swap pager lives behind a trait object.** `Vm::swap_on` takes a
//!   `Box<dyn SwapBackend>` (implemented for vm-swap's `SwapPager<D>` over
//!   any `BlockDevice`). A generic `Vm<S = NoSwap>` would need type
//!   annotations where the server writes `Vm::new(..)`, and passing
//!   `&mut SwapPager` into calls would leave munmap, exit and truncation
//!   without a way to free slots; the boxed pager keeps `Vm` non-generic
//!   and reachable from every operation, for one virtual call per I/O
//!   request. Without a device nothing of the swap path runs: behaviour
//!   is exactly that of the core before swap.
//! * **Pages on swap hide what lies below.** An object's `SwapMeta` maps
//!   page index -> slot; the chain walk treats a slot like a resident page
//!   (`Lookup::Swapped`), so a swapped-out copy-on-write copy is never
//!   replaced by the original below it. A resident page with a slot is
//!   clean (the slot holds its contents and it is freed for nothing); the
//!   first write frees the slot (`swap_pager_unswapped`). Slots dropped
//!   where the pager is out of reach (object death inside `ObjectTable`)
//!   queue up and go back at the next fault, pageout or poll.
//! * **Asynchronous I/O, retried faults.** A page under swap I/O is
//!   `BUSY`, unmapped and on no queue; a fault that needs it, or starts
//!   its page-in, returns `FaultOutcome::Wait(tag)` and the server retries
//!   it once the tag is no longer in flight (`Vm::io_pending`), with
//!   `Vm::refault` when a client's fault waited for its page's I/O, not
//!   for memory (fault-around then only on a touch in order).
//!   A second fault on the page gets the same tag, so no page is read
//!   twice. Exit and munmap do not wait: pages of a dead object under I/O
//!   become orphans the completion frees. Operations that move many pages
//!   (fork, madvise, truncate, mlock) and the rare copying paths (chain
//!   merge at the depth limit, flattening at fork) first drain the I/O in
//!   flight and page in what they copy synchronously; on seL4 that waits
//!   for the block server, a documented simplification.
//! * **Pageout carries out a replacement policy's choice** with the
//!   emulated reference bit: `Vm::pageout(pmap, want)` asks the policy
//!   for victims, frees clean ones whose contents are on swap and
//!   launders the rest in clusters of contiguous pages of one object, up
//!   to `pageout_cluster`. A write error leaves the pages dirty and
//!   resident (the pager marks the slot bad); a full device stops
//!   laundering and allocation failures become `NoSwap`; with writes in
//!   flight a fault out of memory waits for one (`Wait`) instead of
//!   failing. `OomPolicy` picks the client to stop when nothing helps.
//! * **One replacement interface.** The page pool orders nothing itself:
//!   its pageable pages (the `Paging` queue) belong to a vm-swap
//!   `ReplacementPolicy`, BSD's active/inactive CLOCK (`ClockPolicy`)
//!   unless `Vm::set_replacement_policy` installs another from
//!   `vm_swap::POLICIES` (2Q, CLOCK-Pro, FIFO, ...; the server takes the
//!   name from its spec). The pool keeps it tracking exactly the
//!   pageable pages (inserted when a page becomes pageable, removed when
//!   freed, wired or busy), tells it about reference faults and passes
//!   on `vm_page_deactivate` hints (`MADV_DONTNEED`, read-ahead pages,
//!   pages just cleaned); `pageout` asks it for victims through a host
//!   that reads and clears the emulated reference bit, and gives back
//!   victims it cannot evict now. There is no second, built-in CLOCK.
//! * **Semantics are decided in `docs/semantics.md`** (row ids cited in
//!   the code and the tests as `semantics: <id>`). `MADV_DONTNEED`
//!   follows Linux: private memory starts over from what it was mapped
//!   from (zero-fill, or the object under a private view), whatever the
//!   fork history; shared memory is only unmapped and deactivated.
//!   `MADV_FREE` is lazy where nothing lies below the front object: the
//!   pages turn clean and `FREED`, pageout frees them unwritten (they then
//!   read as zero) and a write keeps them; where a backing object lies
//!   below (after fork) it does nothing, as FreeBSD, so a page never
//!   reads as what lies below it. Locks do not stack (POSIX).
//! * **Device memory is a physical object past the pool.** A device
//!   region's pages get frame numbers after the pool's RAM
//!   (`Vm::device_create`), always resident, on no queue, never free,
//!   zeroed or copied, counted apart (`Uvmexp::device`); physical objects
//!   are mapped shared only and `minherit(Copy)` over them is refused, so
//!   fork shares them or leaves them out (semantics: device-*,
//!   docs/devices.md).
//! * **Large pages are ordinary pages on a region's frames.** With
//!   `VmConfig::large_pages` the pool keeps 2 MiB regions beside its
//!   small frames (`large_pool.rs`, FreeBSD's `vm_reserv`); a fault in a
//!   `MADV_HUGEPAGE` entry takes a whole region and maps it with one
//!   `Pmap::enter_large`, and a page that must be mapped alone is first
//!   moved to a small frame by copy (`large.rs`: seL4 cannot split a
//!   large frame). Everything else sees 512 ordinary pages
//!   (semantics: large-pages, docs/large-pages.md).
//! * **Deviations.** `msync` has nothing to write back yet (no object kind
//!   has a store) and only honours `INVALIDATE`. Shared-memory truncation
//!   refuses to drop wired pages (`Busy`) rather than unwiring them.

//!
//! # How the server uses it
//!
//! `vm-service` (the server's pure decision layer) does all of this; the
//! paragraph below is the contract it follows.
//!
//! The server creates one `Vm::new(config, frame_count)` over the frames it
//! owns, and a `Pmap` that maps frame numbers to frame caps. A VMFault IPC
//! becomes `vm.fault(space, addr, access, &mut pmap)`: `Ok(Mapped)` means
//! reply, an error means the client gets a fault signal. Client calls map
//! one to one onto `mmap`, `munmap`, `mprotect`, `minherit`, `madvise`,
//! `mincore`, `mlock`, `munlock`, `msync`, `fork`, `exit`, the `shm_*` and
//! `handle_*` calls and `stats`; `VmError::code` is the wire error.
//!
//! With a swap device (`vm.swap_on(Box::new(SwapPager::new(dev, 16)))`,
//! and a pmap implementing `read_frame`/`write_frame`) the loop also:
//! answers `Ok(FaultOutcome::Wait(tag))` by saving the reply cap; on the
//! block server's notification calls `vm.swap_poll(&mut pmap)` and, when
//! it reports anything, retries every waiting fault (`vm.refault` for a
//! fault that waited for its page's I/O, not memory; a failed page-in
//! fails it with `Err(Io)`), and a fault about to wait whose tag a poll
//! completed already (`vm.io_pending`) — before any pageout, which could
//! evict a page just read in for them; before blocking, runs
//! `vm.pageout(&mut pmap, want)` while
//! `vm.pageout_shortage(faults_waiting)` is non-zero; and on
//! `OutOfMemory`/`NoSwap` with nothing left to page out stops
//! `vm.oom_victim()`. Without a device none of this happens and no
//! outcome but `Mapped` occurs.
//!
//! With `config.large_pages = n` the server backs frame numbers
//! `large_region_base(frame_count) + 512 * r + i` (`i < 512`) with byte
//! `4096 * i` of its `r`-th 2 MiB frame, in its window like every small
//! frame, so `zero_page`, `copy_page`, `read_frame` and `write_frame` of
//! any region frame work as usual; implements `Pmap::enter_large` (one
//! mapping of region `r`'s 2 MiB frame, `base` being its first frame
//! number) under the contract in `pmap.rs`; builds a replacement
//! policy for `vm.policy_frames()` frames (`ram_frame_end`), not
//! `frame_count`; and numbers device regions from `ram_frame_end` (the
//! core's `device_create` does).
//!
//! # Tests
//!
//! * `tests/model.rs`: random operation sequences (mmap anonymous and
//!   shared memory, private and shared, fixed/no-replace/hinted, munmap,
//!   mprotect, minherit, madvise, mlock, msync, shm create/share/close/
//!   truncate, fork, exit, clearing emulated bits, reads and writes) on up
//!   to four spaces, checked byte for byte against a map-of-pages model,
//!   with `check_invariants` and every pmap mapping checked after each
//!   step. Over 100,000 operations by default; `VM_MODEL_SEED`,
//!   `VM_MODEL_OPS` and `VM_MODEL_SWEEP` reproduce and narrow a failure.
//!   `model_under_memory_pressure` runs the same operations (less mlock)
//!   on 40 frames (32 pageable, at most an eighth of the mapped working
//!   set, asserted) with a RAM-disk swap device that delays, reorders and
//!   fails requests: 100,000 operations over ten seeds, pageout run by the
//!   harness as the server loop would, byte-for-byte comparison, swap
//!   accounting (`check_swap`) after every step, and every frame and slot
//!   free after the last exit (`VM_MODEL_PRESSURE=1` reruns one seed;
//!   `VM_MODEL_PEEK=1` compares resident pages every step).
//! * `tests/swap.rs`: pageout and swap boundaries: clusters, clean
//!   eviction, a second fault waiting on the same read, write and read
//!   errors, swap exactly full (`NoSwap`), swapoff with and without room,
//!   exit with pages under I/O, fork with pages on swap, leak checks.
//! * `tests/large.rs`: large pages: one fault per 2 MiB, and every
//!   operation that takes part of one (munmap, mprotect, fork, pageout,
//!   NoHugePage, quotas, no free region) keeps every byte; the model's
//!   seeds with `seed % 4 == 3` run with large regions too.
//! * `tests/device.rs`: device regions: never paged out under pressure,
//!   shared or left out at fork, refused copies, the pool whole at exit.
//! * `tests/pressure.rs`: the same under a 64-frame pool, where every
//!   allocation path runs out; failures must be clean.
//! * `tests/map_prop.rs`: proptest of maps and `findspace`.
//! * unit tests in `src/tests.rs`: each operation's edge cases and errors.
//! * `cargo bench -p vm-core`: divan benchmarks of fault kinds, chain
//!   walks at depth 1 to 5 and lookup among 10 to 100,000 entries
//!   (`benches/fault.rs`), and pageout/page-in/clean-eviction pages per
//!   second through the RAM disk (`benches/swap.rs`); numbers in
//!   `BENCHMARKS.md`.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod block_map;
pub mod chain;
pub mod collapse;
pub mod config;
pub mod counters;
pub mod device;
pub mod error;
pub mod fault;
pub mod fault_around;
pub mod fork;
pub mod invariants;
pub mod large;
pub mod large_pool;
pub mod large_reclaim;
pub mod launder;
pub mod limits;
pub mod madvise;
pub mod map;
pub mod mmap;
pub mod object;
pub mod oom;
pub mod page;
pub mod pagein;
pub mod pageout;
pub mod pager_backend;
pub mod pager_io;
pub mod pmap;
pub mod policy;
pub mod promote;
pub mod pv_list;
pub mod quota;
#[cfg(any(test, feature = "sim"))]
pub mod ram_pager;
pub mod refmod;
pub mod shm;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod space;
pub mod swap_backend;
pub mod swap_io;
pub mod trace;
pub mod types;
pub mod vm;
pub mod wire;

pub use chain::{BackingChain, BackingLink, Lookup};
pub use config::{large_region_base, ram_frame_end, OomPolicy, VmConfig, LARGE_PAGE_FRAMES};
pub use counters::Uvmexp;
pub use error::VmError;
pub use fault::{FaultKind, FaultMapping, FaultOutcome};
pub use limits::{Limits, Quota, Usage};
pub use mmap::{
    MapFlags, MapSource, MmapArgs, MsyncFlags, MINCORE_INCORE, MINCORE_MODIFIED, MINCORE_REFERENCED,
};
pub use pageout::PageoutReport;
pub use pager_backend::{PagerBackend, PagerEvent, PagerRefusal, PagerResult, PAGER_TAG};
pub use pmap::{Pmap, PmapError};
pub use pv_list::PvList;
pub use space::{HandleEntry, VmSpace};
pub use swap_backend::{IoDone, SwapBackend};
pub use types::*;
pub use vm::Vm;
pub use vm_swap::{IoOp, IoTag, PagingTargets, Pressure};
#[cfg(test)]
mod tests;
