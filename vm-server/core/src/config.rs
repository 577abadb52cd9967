//! Tunables of the VM (`VmConfig`), fixed at `Vm::new`, with the OOM policy and the derivation of the paging targets from the pool size.
//!
//! A leaf: nothing here knows the `Vm`, so every other module may read the
//! configuration without an import circle.

use vm_swap::PagingTargets;

/// Tunables, fixed at `Vm::new`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmConfig {
    /// Lowest user address (page aligned).
    pub user_min: u64,
    /// End of the user range (exclusive, page aligned).
    pub user_max: u64,
    /// Free pages normal allocations may not take, kept for the pageout
    /// path (`uvmexp.reserve_pagedaemon`).
    pub reserved_pages: u32,
    /// Longest backing chain (DragonFly's limit is 5; at least 3).
    pub max_chain_depth: usize,
    /// Fault-around pages after the faulting one.
    pub prefault_ahead: u32,
    /// Fault-around pages before the faulting one.
    pub prefault_behind: u32,
    /// Let fault-around zero-fill after a zero-fill fault.
    pub prefault_zero_fill: bool,
    /// Fault-around never zero-fills when free pages are at or below this.
    pub prefault_min_free: u32,
    /// Paging targets (`v_free_*`, `v_paging_*`); `None` derives them from
    /// the pool size with [`PagingTargets::for_pool`], shifted so that
    /// `reserved` equals `reserved_pages`. An override must have
    /// `reserved == reserved_pages` and pass [`PagingTargets::validate`].
    pub paging_targets: Option<PagingTargets>,
    /// Most dirty pages of one object laundered in one write (BSD's
    /// `vm_pageout_clean` cluster), at least 1.
    pub pageout_cluster: u32,
    /// Page-in read-ahead: slots read before and after the faulting page
    /// when they are device-contiguous (`swap_pager_haspage`).
    pub pagein_behind: u32,
    pub pagein_ahead: u32,
    /// Adaptive swap read-ahead (`pagein::ReadAhead`): the window, at most
    /// `pagein_window` pages, grows with read-ahead hits and halves
    /// without them, and touching a window's marker page reads the next
    /// one asynchronously, twice as large. A window spans resident pages
    /// and may take several requests, all under one doorbell. Off: every
    /// page-in reads, in one request and synchronously, the pages up to
    /// `pagein_behind` before and `pagein_ahead` after the faulting one,
    /// or `pagein_behind + pagein_ahead` in a scan's direction (a resident
    /// page just behind or just ahead of it).
    pub pagein_adaptive: bool,
    /// The largest adaptive read-ahead window, in pages (at least 1).
    /// Not bounded by the device's request limit: a window is split into
    /// requests. A fault's first window stays within `pagein_behind` and
    /// `pagein_ahead` of it unless the scan's direction is known.
    pub pagein_window: u32,
    /// Which client to stop when memory and swap are exhausted
    /// (`Vm::oom_victim`, the server's OOM killer).
    pub oom_policy: OomPolicy,
    /// 2 MiB large frames kept beside the pool of `frame_count` small
    /// frames (docs/large-pages.md). Large region `r` is frame numbers
    /// `large_region_base(frame_count) + 512 * r ..+ 512`; its frames are
    /// only ever mapped whole, with `Pmap::enter_large`.
    pub large_pages: u32,
    /// A write fault in a 2 MiB chunk whose 512 pages are all resident in
    /// a lower object copies all 2 MiB into a fresh region of the front
    /// object and maps it writable at once (`large.rs`). On seL4 every 4
    /// KiB copy-on-write fault is an IPC round trip to this server, so
    /// one 2 MiB copy beats up to 512 faults plus the demotions of the
    /// shared region; FreeBSD and Linux demote instead and copy 4 KiB per
    /// fault, where a fault is cheap. Off: such writes copy 4 KiB.
    pub large_cow_copy: bool,
    /// Transparent large pages (FreeBSD's default reservations, Linux's
    /// THP `always` with khugepaged): a 2 MiB chunk of any private
    /// anonymous entry not advised `NoHugePage` is promoted to a large
    /// page by copy once its 512 pages are resident (`promote.rs`). Off:
    /// only `HugePage` entries get large pages. Either way, only
    /// `HugePage` entries take a whole region at their first fault.
    pub large_transparent: bool,
    /// Copy-on-write keeps the faulting space's frame when that space's
    /// read-only mapping is the frame's only one and its object is private
    /// anonymous memory: the copy goes down to the lower object instead
    /// (`cow_trade.rs`), and the fault raises the mapping's rights with
    /// one `Remap`. seL4 maps no frame over a present entry, so the usual
    /// copy up costs an `Unmap` and a `Map` (docs/performance.md, "Copy on
    /// write: the frame stays"). Contents are the same either way.
    pub cow_trade: bool,
}

/// How `Vm::oom_victim` picks the space to kill when a fault cannot get a
/// page (`OutOfMemory`/`NoSwap`) and pageout can free nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OomPolicy {
    /// The space charged with the most private pages, resident or on
    /// swap (Linux's badness without the tuning knobs).
    Largest,
    /// The most recently created space (the newest fork child).
    Newest,
    /// Never pick: the faulting client gets the error and nobody dies.
    None,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            user_min: 0x1000_0000,
            user_max: 0x7fff_ffff_f000,
            reserved_pages: 16,
            max_chain_depth: 5,
            prefault_ahead: 4,
            prefault_behind: 3,
            prefault_zero_fill: true,
            prefault_min_free: 64,
            paging_targets: None,
            pageout_cluster: 16,
            pagein_behind: 7,
            pagein_ahead: 8,
            pagein_adaptive: false,
            pagein_window: 16,
            oom_policy: OomPolicy::Largest,
            large_pages: 0,
            large_cow_copy: true,
            large_transparent: false,
            cow_trade: true,
        }
    }
}

/// 4 KiB frames in one 2 MiB large page.
pub const LARGE_PAGE_FRAMES: u32 = 512;

/// The first frame number of large region 0 beside a pool of
/// `frame_count` small frames: the next multiple of 512, so every
/// region's frame numbers are 2 MiB-aligned as the server's window needs.
pub const fn large_region_base(frame_count: u32) -> u32 {
    frame_count.div_ceil(LARGE_PAGE_FRAMES) * LARGE_PAGE_FRAMES
}

/// One past the last frame number of RAM (the small pool, then
/// `large_pages` large regions): device regions are numbered from here.
pub const fn ram_frame_end(frame_count: u32, large_pages: u32) -> u32 {
    if large_pages == 0 {
        frame_count
    } else {
        large_region_base(frame_count) + LARGE_PAGE_FRAMES * large_pages
    }
}

/// The default targets for a pool of `frames` with `reserved` pages held
/// back: vm-swap's derivation shifted up so its `reserved` level is the
/// pool's reserve (the server's reserve predates the targets and keeps
/// its meaning). `None` when the shifted levels no longer fit the pool.
pub(crate) fn derive_targets(frames: u32, reserved: u32) -> Option<PagingTargets> {
    let t = PagingTargets::for_pool(frames).ok()?;
    let Some(up) = reserved.checked_sub(t.reserved) else {
        // A smaller reserve than derived: the other levels stay.
        let s = PagingTargets { reserved, ..t };
        return s.validate(frames).ok().map(|_| s);
    };
    let s = PagingTargets {
        reserved,
        severe: t.severe + up,
        minimum: t.minimum + up,
        wait: t.wait + up,
        start: t.start + up,
        target1: t.target1 + up,
        target2: t.target2 + up,
    };
    s.validate(frames).ok().map(|_| s)
}
