//! The frame pool: the 4 KiB frames the VM server hands out to clients,
//! retyped from its untyped at start, and its window onto their contents.
//!
//! Frame `n` of the pool is `FrameNumber(n)` in the VM core. Every pool
//! frame stays mapped in the server's own VSpace at `PHYSMAP_BASE + n*4K`
//! (a direct map, as BSD kernels have), so zeroing, copying and loading
//! pages is a memory access, not a map/unmap pair. The pool cap itself
//! backs that window; each client mapping uses a copy of it.
//!
//! Beside the pool are the large regions (`VmConfig::large_pages`): region
//! `r` is one 2 MiB frame with frame numbers `large_region_base(pool) +
//! 512 * r ..+ 512`, mapped with one page-directory entry at the window
//! address of its first frame, so the core's 4 KiB frame numbers of a
//! region address its bytes like any pool frame's. Device regions are
//! numbered from `ram_frame_end`, as the core numbers them.

use crate::kernel::Kernel;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use sel4::{cap, CapRights, ObjectType};
use sel4_objects::{map_large_page_attrs, map_page};
use vm_core::{large_region_base, ram_frame_end, FrameNumber, LARGE_PAGE_FRAMES};

/// Where the pool is mapped in the server's own VSpace.
pub const PHYSMAP_BASE: u64 = 0x10_0000_0000;
pub const PAGE_SIZE: usize = 4096;

/// The pool's frame caps, then the caps of device regions' frames (frame
/// numbers past the pool, as the VM core numbers them). Owned by the
/// server's single thread.
pub struct FramePool {
    /// The pool's 4 KiB frame caps, mapped in the physmap, as slot
    /// numbers: 4 bytes a frame, as the server's CNode has at most 2^20
    /// slots (`capdl::MAX_CNODE_BITS`).
    caps: Vec<u32>,
    /// The large regions' 2 MiB frame caps, mapped in the physmap.
    large: Vec<cap::LargePage>,
    /// The frame number of large region 0's first frame.
    large_base: u32,
    /// The device regions' frame caps, numbered from `device_base`.
    devices: Vec<cap::Granule>,
    /// One past the last frame number of RAM (`ram_frame_end`).
    device_base: u32,
}

/// The physical address of every RAM frame the VM may page: the pool's
/// 4 KiB frames (as page numbers, 4 bytes a frame) and the large
/// regions'. Device frames have none: they are never paged.
pub struct FrameAddresses {
    small: Vec<u32>,
    large_base: u32,
    large: Vec<u64>,
}

impl FrameAddresses {
    /// Frame `f`'s physical address, if it is RAM.
    pub fn get(&self, f: u32) -> Option<u64> {
        if let Some(&pn) = self.small.get(f as usize) {
            return Some(u64::from(pn) << 12);
        }
        let off = f.checked_sub(self.large_base)?;
        let base = self.large.get((off / LARGE_PAGE_FRAMES) as usize)?;
        Some(base + u64::from(off % LARGE_PAGE_FRAMES) * PAGE_SIZE as u64)
    }
}

/// Retypes `count` 2 MiB large frames. Done before anything else is
/// carved from the untyped grant, so each lands 2 MiB-aligned in a chunk
/// of its own size or larger (the root task hands enough of those).
pub fn retype_large(kernel: &mut Kernel, count: u32) -> Result<Vec<cap::LargePage>, String> {
    (0..count)
        .map(|r| {
            kernel
                .object(ObjectType::X86LargePage, 0)
                .map(|c| c.cast())
                .map_err(|e| format!("large page {r} of {count}: {e}"))
        })
        .collect()
}

impl FramePool {
    /// Retypes `count` frames and maps each into the server's window,
    /// then maps the `large` frames (from `retype_large`) there too.
    pub fn new(
        kernel: &mut Kernel,
        own_vspace: cap::VSpace,
        count: u32,
        large: Vec<cap::LargePage>,
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
            caps.push(
                u32::try_from(frame.bits()).map_err(|_| format!("frame {n}: slot past 32 bits"))?,
            );
        }
        let large_base = large_region_base(count);
        for (r, &frame) in large.iter().enumerate() {
            let first = large_base + r as u32 * LARGE_PAGE_FRAMES;
            let mut make = |ty| kernel.object(ty, 0);
            map_large_page_attrs(
                own_vspace,
                frame,
                Self::window(FrameNumber(first)),
                CapRights::read_write(),
                sel4::VmAttributes::default(),
                &mut make,
            )
            .map_err(|e| format!("physmap large page {r}: {e}"))?;
        }
        let device_base = ram_frame_end(count, large.len() as u32);
        Ok(FramePool {
            caps,
            large,
            large_base,
            devices: Vec::new(),
            device_base,
        })
    }

    /// One past the last frame number (RAM, then the device regions).
    pub fn len(&self) -> u32 {
        self.device_base + self.devices.len() as u32
    }

    /// The large regions.
    pub fn large_count(&self) -> u32 {
        self.large.len() as u32
    }

    /// The large region frame `f` belongs to, if any.
    pub fn large_region(&self, f: FrameNumber) -> Option<usize> {
        let r = f.0.checked_sub(self.large_base)? / LARGE_PAGE_FRAMES;
        (f.0 < self.device_base && (r as usize) < self.large.len()).then_some(r as usize)
    }

    /// The first frame number of large region `r`.
    pub fn large_first(&self, r: usize) -> FrameNumber {
        FrameNumber(self.large_base + r as u32 * LARGE_PAGE_FRAMES)
    }

    /// The 2 MiB cap of large region `r` (the one backing the window).
    pub fn large_cap(&self, r: usize) -> cap::LargePage {
        self.large[r]
    }

    /// Gives the next `pages` frame numbers to a device region whose
    /// frame caps are in `first_slot..` of the server's CNode; returns the
    /// first number. Never in the physmap: the server never touches a
    /// device page's bytes (docs/devices.md).
    pub fn add_device(&mut self, first_slot: u64, pages: u32) -> FrameNumber {
        let base = FrameNumber(self.len());
        for i in 0..u64::from(pages) {
            self.devices.push(cap::Granule::from_bits(first_slot + i));
        }
        base
    }

    /// Frames a 4 KiB mapping may use: the pool's, then the device
    /// regions'. The pmap keeps its per-frame records for these only, not
    /// for the large regions' frames, which are mapped only whole.
    pub fn mappable(&self) -> usize {
        self.caps.len() + self.devices.len()
    }

    /// Frame `f`'s index among the `mappable` frames, if it is one.
    pub fn mappable_index(&self, f: FrameNumber) -> Option<usize> {
        let small = self.caps.len();
        if (f.0 as usize) < small {
            return Some(f.0 as usize);
        }
        let d = f.0.checked_sub(self.device_base)? as usize;
        (d < self.devices.len()).then_some(small + d)
    }

    /// True for a device region's frame (mapped uncacheable).
    pub fn is_device(&self, f: FrameNumber) -> bool {
        f.0 >= self.device_base
    }

    /// The 4 KiB cap of frame `f` (the one backing the server's window):
    /// a pool or device frame. A large region's frames have none (the
    /// core maps them only whole, `Pmap::enter_large`).
    pub fn cap(&self, f: FrameNumber) -> Option<cap::Granule> {
        if let Some(&c) = self.caps.get(f.0 as usize) {
            return Some(cap::Granule::from_bits(u64::from(c)));
        }
        let d = f.0.checked_sub(self.device_base)?;
        self.devices.get(d as usize).copied()
    }

    /// True for a frame of RAM the window maps (pool or large region).
    fn in_window(&self, f: FrameNumber) -> bool {
        (f.0 as usize) < self.caps.len() || self.large_region(f).is_some()
    }

    /// The contents of frame `f`.
    pub fn bytes(&mut self, f: FrameNumber) -> &mut [u8] {
        assert!(self.in_window(f), "frame {f:?} outside the pool");
        // SAFETY: every pool frame and every large region is mapped
        // read-write at its window address for the server's lifetime, and `&mut self` makes the
        // borrow exclusive.
        unsafe { core::slice::from_raw_parts_mut(Self::window(f) as *mut u8, PAGE_SIZE) }
    }

    /// The contents of frame `f`, read-only.
    pub fn bytes_ref(&self, f: FrameNumber) -> &[u8] {
        assert!(self.in_window(f), "frame {f:?} outside the pool");
        // SAFETY: as in `bytes`; `&self` keeps writers out.
        unsafe { core::slice::from_raw_parts(Self::window(f) as *const u8, PAGE_SIZE) }
    }

    /// Contents of two distinct frames at once (for copying).
    pub fn pair(&mut self, src: FrameNumber, dst: FrameNumber) -> (&[u8], &mut [u8]) {
        assert!(src != dst, "copy of a frame onto itself");
        assert!(
            self.in_window(src) && self.in_window(dst),
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

    /// Every RAM frame's physical address, for the swap device's frame
    /// lists: one `GetAddress` per 4 KiB cap and per large region, at
    /// start.
    pub fn physical_addresses(&self) -> Result<FrameAddresses, String> {
        let small = self
            .caps
            .iter()
            .map(|&c| {
                let pa = cap::Granule::from_bits(u64::from(c))
                    .x86_page_get_address()
                    .map_err(|e| format!("frame address: {e:?}"))?;
                u32::try_from(pa >> 12).map_err(|_| format!("frame at {pa:#x}: past 16 TiB"))
            })
            .collect::<Result<Vec<u32>, String>>()?;
        let large = self
            .large
            .iter()
            .map(|c| {
                c.x86_page_get_address()
                    .map_err(|e| format!("large frame address: {e:?}"))
            })
            .collect::<Result<Vec<u64>, String>>()?;
        Ok(FrameAddresses {
            small,
            large_base: self.large_base,
            large,
        })
    }

    fn window(f: FrameNumber) -> u64 {
        PHYSMAP_BASE + f.0 as u64 * PAGE_SIZE as u64
    }
}
