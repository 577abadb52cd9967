//! The frame pool: the 4 KiB frames the VM server hands out to clients,
//! retyped from its untyped at start, and its window onto their contents.
//!
//! Frame `n` of the pool is `FrameNumber(n)` in the VM core. Every pool
//! frame stays mapped in the server's own VSpace at `PHYSMAP_BASE + n*4K`
//! (a direct map, as BSD kernels have), so zeroing, copying and loading
//! pages is a memory access, not a map/unmap pair. The pool cap itself
//! backs that window; each client mapping uses a copy of it.

use crate::kernel::Kernel;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use sel4::{cap, CapRights, ObjectType};
use sel4_objects::map_page;
use vm_core::FrameNumber;

/// Where the pool is mapped in the server's own VSpace.
pub const PHYSMAP_BASE: u64 = 0x10_0000_0000;
pub const PAGE_SIZE: usize = 4096;

/// The pool's frame caps, then the caps of device regions' frames (frame
/// numbers past the pool, as the VM core numbers them). Owned by the
/// server's single thread.
pub struct FramePool {
    caps: Vec<cap::Granule>,
    /// Frames of RAM: `caps[..ram]` are the pool's, mapped in the physmap.
    ram: u32,
}

impl FramePool {
    /// Retypes `count` frames and maps each into the server's window.
    pub fn new(
        kernel: &mut Kernel,
        own_vspace: cap::VSpace,
        count: u32,
    ) -> Result<FramePool, String> {
        let mut caps = Vec::with_capacity(count as usize);
        for n in 0..count {
            let frame: cap::Granule = kernel
                .object(ObjectType::X86_4K, 0)
                .map_err(|e| format!("frame {n}: {e}"))?
                .cast();
            let mut make = |ty| kernel.object(ty, 0);
            map_page(
                own_vspace,
                frame,
                PHYSMAP_BASE + n as u64 * PAGE_SIZE as u64,
                CapRights::read_write(),
                &mut make,
            )
            .map_err(|e| format!("physmap frame {n}: {e}"))?;
            caps.push(frame);
        }
        Ok(FramePool { caps, ram: count })
    }

    /// Frames with a cap: the pool's and the device regions'.
    pub fn len(&self) -> u32 {
        self.caps.len() as u32
    }

    /// Gives the next `pages` frame numbers to a device region whose
    /// frame caps are in `first_slot..` of the server's CNode; returns the
    /// first number. Never in the physmap: the server never touches a
    /// device page's bytes (docs/devices.md).
    pub fn add_device(&mut self, first_slot: u64, pages: u32) -> FrameNumber {
        let base = FrameNumber(self.len());
        for i in 0..u64::from(pages) {
            self.caps.push(cap::Granule::from_bits(first_slot + i));
        }
        base
    }

    /// True for a device region's frame (mapped uncacheable).
    pub fn is_device(&self, f: FrameNumber) -> bool {
        f.0 >= self.ram
    }

    /// The pool cap of frame `f` (the one backing the server's window).
    pub fn cap(&self, f: FrameNumber) -> cap::Granule {
        self.caps[f.0 as usize]
    }

    /// The contents of frame `f`.
    pub fn bytes(&mut self, f: FrameNumber) -> &mut [u8] {
        assert!(f.0 < self.ram, "frame {f:?} outside the pool");
        // SAFETY: every pool frame is mapped read-write at its window
        // address for the server's lifetime, and `&mut self` makes the
        // borrow exclusive.
        unsafe { core::slice::from_raw_parts_mut(Self::window(f) as *mut u8, PAGE_SIZE) }
    }

    /// The contents of frame `f`, read-only.
    pub fn bytes_ref(&self, f: FrameNumber) -> &[u8] {
        assert!(f.0 < self.ram, "frame {f:?} outside the pool");
        // SAFETY: as in `bytes`; `&self` keeps writers out.
        unsafe { core::slice::from_raw_parts(Self::window(f) as *const u8, PAGE_SIZE) }
    }

    /// Contents of two distinct frames at once (for copying).
    pub fn pair(&mut self, src: FrameNumber, dst: FrameNumber) -> (&[u8], &mut [u8]) {
        assert!(src != dst, "copy of a frame onto itself");
        assert!(
            src.0 < self.ram && dst.0 < self.ram,
            "copy outside the pool"
        );
        // SAFETY: as in `bytes`; the frames are distinct, so the slices do not overlap.
        unsafe {
            (
                core::slice::from_raw_parts(Self::window(src) as *const u8, PAGE_SIZE),
                core::slice::from_raw_parts_mut(Self::window(dst) as *mut u8, PAGE_SIZE),
            )
        }
    }

    fn window(f: FrameNumber) -> u64 {
        PHYSMAP_BASE + f.0 as u64 * PAGE_SIZE as u64
    }
}
