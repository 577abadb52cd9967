//! The pmap boundary: the only way the core touches translation hardware or frame contents.
//!
//! The core decides; a `Pmap` carries it out. On seL4 the implementation
//! copies a frame cap per mapping and invokes `X86Page_Map`/`Unmap`/`Remap`;
//! on the host the simulator (`sim.rs`) keeps page tables and real bytes.
//!
//! Reference and modified bits: seL4 on x86_64 cannot read the accessed and
//! dirty bits, so the default is *emulation*, as BSD does on machines
//! without them: the core maps a clean page read-only, learns "modified"
//! from the write fault, and clears "referenced" by unmapping the page
//! everywhere (the next access faults). A pmap that can read hardware bits
//! says so with `tracks_ref_mod` and answers the queries itself.

use crate::types::{FrameNumber, Prot, SpaceId};

/// Why the pmap could not carry out an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmapError {
    /// No memory for page tables or capability slots.
    ResourceShortage,
    /// The space has as many page tables as its limit allows
    /// (`set_table_limit`).
    TableLimit,
}

impl From<PmapError> for crate::VmError {
    fn from(e: PmapError) -> Self {
        match e {
            PmapError::ResourceShortage => crate::VmError::OutOfMemory,
            PmapError::TableLimit => crate::VmError::QuotaExceeded(crate::Quota::PageTables),
        }
    }
}

/// Machine-dependent mapping layer (`pmap(9)`). Called only from the
/// single-threaded `Vm`; implementations need no locking of their own.
pub trait Pmap {
    /// Prepare the translation structures of a new space (`pmap_pinit`).
    fn create_space(&mut self, space: SpaceId) -> Result<(), PmapError>;
    /// Tear down a space whose mappings have all been removed (`pmap_release`).
    fn destroy_space(&mut self, space: SpaceId);
    /// Refuse (`TableLimit`) page tables of `space` beyond `limit`
    /// (semantics: quota-page-tables); `u64::MAX` is no limit. A pmap
    /// without a notion of tables may ignore it.
    fn set_table_limit(&mut self, _space: SpaceId, _limit: u64) {}
    /// Map `frame` at `va` with `prot`, replacing any mapping there (`pmap_enter`).
    fn enter(
        &mut self,
        space: SpaceId,
        va: u64,
        frame: FrameNumber,
        prot: Prot,
    ) -> Result<(), PmapError>;
    /// Map the 2 MiB large frame whose first 4 KiB frame is `base` (a
    /// large region's first frame, see `VmConfig::large_pages`) at the
    /// 2 MiB-aligned `va` with `prot`, replacing every mapping in
    /// `[va, va + 2 MiB)` (FreeBSD's `pmap_enter` with `PMAP_ENTER_LARGEPAGE`).
    ///
    /// Large-mapping contract, for every pmap that accepts this call:
    /// `remove`, `protect` and `page_protect` that reach any part of a
    /// large mapping act on the whole 2 MiB (they may remove it: the core
    /// re-enters what it needs on the next fault); `enter` over any part
    /// of one removes it first; `is_mapped` answers for every 4 KiB page it
    /// covers. The core never `enter`s a 4 KiB mapping of a large region's
    /// frame. The default refuses, and the core then maps 4 KiB pages.
    fn enter_large(
        &mut self,
        _space: SpaceId,
        _va: u64,
        _base: FrameNumber,
        _prot: Prot,
    ) -> Result<(), PmapError> {
        Err(PmapError::ResourceShortage)
    }
    /// Remove every mapping in `[start, end)` (`pmap_remove`).
    fn remove(&mut self, space: SpaceId, start: u64, end: u64);
    /// Reduce the rights of every mapping in `[start, end)` to at most
    /// `prot`; `Prot::NONE` removes them (`pmap_protect`).
    fn protect(&mut self, space: SpaceId, start: u64, end: u64, prot: Prot);
    /// Reduce the rights of every mapping of `frame`, in every space, to at
    /// most `prot`; `Prot::NONE` removes them (`pmap_page_protect`).
    fn page_protect(&mut self, frame: FrameNumber, prot: Prot);
    /// True when `va` is mapped in `space` (`pmap_prefault_ok`'s question).
    fn is_mapped(&self, space: SpaceId, va: u64) -> bool;
    /// The one place `frame` is mapped at with a 4 KiB mapping, when it
    /// has exactly one. `None` (the default) also means "not known": the
    /// core then never trades frames on copy-on-write (`VmConfig::cow_trade`).
    fn sole_mapping(&self, _frame: FrameNumber) -> Option<(SpaceId, u64)> {
        None
    }
    /// Fill a frame with zeros (`pmap_zero_page`).
    fn zero_page(&mut self, frame: FrameNumber);
    /// Copy a frame's contents (`pmap_copy_page`).
    fn copy_page(&mut self, src: FrameNumber, dst: FrameNumber);

    /// Copy a frame's contents out into `buf` (one page), for a swap
    /// write's staging buffer. Only called with a swap device attached.
    fn read_frame(&self, frame: FrameNumber, buf: &mut [u8]);
    /// Copy one page from `data` into a frame, for a completed swap read.
    /// Only called with a swap device attached.
    fn write_frame(&mut self, frame: FrameNumber, data: &[u8]);

    /// True when the hardware keeps reference/modified bits this pmap can
    /// read; false (the default) makes the core emulate them.
    fn tracks_ref_mod(&self) -> bool {
        false
    }
    /// Hardware reference bit of any mapping of `frame` (`pmap_is_referenced`).
    fn is_referenced(&self, _frame: FrameNumber) -> bool {
        false
    }
    /// Hardware modified bit of any mapping of `frame` (`pmap_is_modified`).
    fn is_modified(&self, _frame: FrameNumber) -> bool {
        false
    }
    /// Clear the hardware reference bits of `frame` (`pmap_clear_reference`).
    fn clear_reference(&mut self, _frame: FrameNumber) {}
    /// Clear the hardware modified bits of `frame` (`pmap_clear_modify`).
    fn clear_modify(&mut self, _frame: FrameNumber) {}
}
