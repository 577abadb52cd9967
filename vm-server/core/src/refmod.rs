//! The emulated reference and modified bits (`pmap_is_referenced`, `pmap_is_modified` and their clears): the one place their rule lives.
//!
//! Locking: page flags live in the pool of the single-threaded `Vm`.
//!
//! seL4 keeps no accessed or dirty bits the server can read, so the VM
//! emulates them with mappings: a page is entered writable only when it is
//! its entry's own (front object, no pending copy) and already dirty, so
//! the first write to a clean page faults and sets `DIRTY`
//! (`Memory::enter_prot`); clearing the reference bit unmaps the page, so
//! the next access faults and sets `REFERENCED`. A pmap with hardware bits
//! opts out (`Pmap::tracks_ref_mod`) and is asked instead.

use crate::map::VmMapEntry;
use crate::page::PageFlags;
use crate::pmap::Pmap;
use crate::types::{FrameNumber, Prot};
use crate::vm::{Memory, Vm};

impl Memory {
    /// The rights to enter `f` with for `entry`, where `f` was found at
    /// `depth` of the entry's chain: the entry's rights, less write unless
    /// the page is the entry's own (front object, no pending copy) and
    /// dirty. A write fault marks the page dirty before it asks.
    pub(crate) fn enter_prot(&self, entry: &VmMapEntry, depth: usize, f: FrameNumber) -> Prot {
        let mut prot = entry.prot;
        if depth != 0 || entry.needs_copy() || !self.pool.page(f).is_dirty() {
            prot.remove(Prot::WRITE);
        }
        prot
    }

    /// Whether `f` was modified since it was last cleaned: the page's
    /// flag, or the hardware bit where the pmap tracks one.
    pub(crate) fn modified<P: Pmap + ?Sized>(&self, f: FrameNumber, pmap: &P) -> bool {
        self.pool.page(f).is_dirty() || (pmap.tracks_ref_mod() && pmap.is_modified(f))
    }

    /// Clear `f`'s modified bit. Where the bit is emulated every mapping
    /// loses write access, so the next write faults and sets it again
    /// (`pmap_clear_modify`). The caller counts `mod_clears` if it should.
    pub(crate) fn clear_modify<P: Pmap + ?Sized>(&mut self, f: FrameNumber, pmap: &mut P) {
        self.pool.clear_flags(f, PageFlags::DIRTY);
        if pmap.tracks_ref_mod() {
            pmap.clear_modify(f);
        } else {
            pmap.page_protect(f, Prot::READ | Prot::EXEC);
        }
    }

    /// Whether `f` was referenced since its bit was last cleared: the
    /// page's flag, or the hardware bit where the pmap tracks one.
    pub(crate) fn referenced<P: Pmap + ?Sized>(&self, f: FrameNumber, pmap: &P) -> bool {
        self.pool.page(f).flags().contains(PageFlags::REFERENCED)
            || (pmap.tracks_ref_mod() && pmap.is_referenced(f))
    }

    /// Clear `f`'s reference bit. Where the bit is emulated, `unmap` also
    /// takes the page's mappings away, so the next access faults and sets
    /// it again (`pmap_clear_reference`). The caller counts `ref_clears`.
    pub(crate) fn clear_reference<P: Pmap + ?Sized>(
        &mut self,
        f: FrameNumber,
        pmap: &mut P,
        unmap: bool,
    ) {
        self.pool.clear_flags(f, PageFlags::REFERENCED);
        if pmap.tracks_ref_mod() {
            pmap.clear_reference(f);
        } else if unmap {
            pmap.page_protect(f, Prot::NONE);
        }
    }
}

impl Vm {
    /// Referenced since last cleared: the emulated bit, or the hardware's
    /// if the pmap keeps one (`pmap_is_referenced`).
    pub fn page_is_referenced<P: Pmap + ?Sized>(&self, f: FrameNumber, pmap: &P) -> bool {
        self.mem.referenced(f, pmap)
    }

    /// Modified since last cleaned (`pmap_is_modified`).
    pub fn page_is_modified<P: Pmap + ?Sized>(&self, f: FrameNumber, pmap: &P) -> bool {
        self.mem.modified(f, pmap)
    }

    /// Clear the reference bit. Emulated: every mapping of the page goes,
    /// so the next access faults and sets it again. Wired pages keep
    /// their mappings (they are never reclaimed).
    pub fn page_clear_reference<P: Pmap + ?Sized>(&mut self, f: FrameNumber, pmap: &mut P) {
        // A wired page keeps its mappings.
        let unmap = !self.mem.pool.page(f).is_wired();
        self.mem.clear_reference(f, pmap, unmap);
        self.mem.stats.ref_clears += 1;
    }

    /// Clear the modified bit (after a clean write-back). Emulated: every
    /// mapping loses write access, so the next write faults and sets it.
    pub fn page_clear_modify<P: Pmap + ?Sized>(&mut self, f: FrameNumber, pmap: &mut P) {
        self.mem.clear_modify(f, pmap);
        self.mem.stats.mod_clears += 1;
    }
}
