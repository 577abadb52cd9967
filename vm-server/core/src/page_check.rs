//! The page pool's self-check (`PagePool::check`): queue links and counts, wiring, device and large-region frames, and the replacement policy's tracking, against every page record.

use super::{pageable_queue, PagePool, PageQueue, NIL};

impl PagePool {
    /// Check queue links and counts against the page records.
    /// Cost is O(pool size): tests call it, not the server loop.
    pub fn check(&self) -> Result<(), alloc::string::String> {
        use alloc::format;
        let mut counts = [0u32; 4];
        let mut wired = 0;
        let mut unmanaged = 0;
        let mut device = 0;
        let mut held = alloc::vec![0u32; self.large.count() as usize];
        for (i, p) in self.pages.iter().enumerate() {
            let i32 = i as u32;
            if p.is_device() != (i32 >= self.ram_end) || (p.is_device() && !p.is_unmanaged()) {
                return Err(format!("page {i}: device flag against the pool's RAM"));
            }
            let region = self.large.region_of(i32);
            if i32 >= self.ram && i32 < self.ram_end && region.is_none() {
                continue; // between the small pool and region 0: unused
            }
            if let Some(r) = region {
                if p.queue() == PageQueue::Free || p.is_unmanaged() {
                    return Err(format!(
                        "region frame {i} on the small free queue or unmanaged"
                    ));
                }
                if p.queue() != PageQueue::Region {
                    held[r as usize] += 1;
                }
            } else if p.queue() == PageQueue::Region {
                return Err(format!("small frame {i} marked free in a region"));
            }
            if p.is_unmanaged() {
                if p.is_device() {
                    device += 1;
                } else {
                    unmanaged += 1;
                }
                if p.queue() != PageQueue::None {
                    return Err(format!("unmanaged page {i} on a queue"));
                }
                continue;
            }
            if p.is_wired() != self.wirings.contains_key(&i32) {
                return Err(format!("page {i}: wired mark against the wirings"));
            }
            if p.is_wired() {
                wired += 1;
                if p.queue() != PageQueue::None {
                    return Err(format!("wired page {i} on queue {:?}", p.queue()));
                }
                continue;
            }
            counts[p.queue() as usize] += 1;
            let free = matches!(p.queue(), PageQueue::Free | PageQueue::Region);
            if free != (p.object == NIL) {
                return Err(format!("page {i}: free queue vs owner mismatch"));
            }
        }
        self.check_zeroed()?;
        let free = PageQueue::Free as usize;
        let walked = self.free_iter().count() as u32;
        if walked != counts[free] || walked != self.queues[free].count {
            return Err(format!(
                "free queue: walked {walked}, records {}, head count {}",
                counts[free], self.queues[free].count
            ));
        }
        for (r, &h) in held.iter().enumerate() {
            if h != self.large.held(r as u32) {
                return Err(format!(
                    "large region {r}: {h} frames held, pool says {}",
                    self.large.held(r as u32)
                ));
            }
        }
        self.large.check()?;
        for q in [PageQueue::None, PageQueue::Paging, PageQueue::Region] {
            if counts[q as usize] != self.queues[q as usize].count {
                return Err(format!(
                    "queue {q:?}: records {} vs count {}",
                    counts[q as usize], self.queues[q as usize].count
                ));
            }
        }
        if wired != self.wired || unmanaged != self.unmanaged || device != self.device {
            return Err(format!(
                "wired/unmanaged/device counts {wired}/{unmanaged}/{device}"
            ));
        }
        {
            let pol = self.policy();
            let mut n = 0;
            for (i, p) in self.pages.iter().enumerate() {
                if p.tracked() {
                    n += 1;
                    if !pageable_queue(p.queue()) {
                        return Err(format!("policy tracks page {i} on {:?}", p.queue()));
                    }
                } else if pageable_queue(p.queue()) {
                    return Err(format!("pageable page {i} not tracked by the policy"));
                }
            }
            let (hot, cold) = pol.hot_cold();
            if hot + cold != n {
                return Err(format!("policy: {hot} hot + {cold} cold, tracks {n}"));
            }
            if pol.resident() != n {
                return Err(format!(
                    "policy tracks {} pages, pool says {n}",
                    pol.resident()
                ));
            }
        }
        Ok(())
    }

    /// Pre-zeroed frames: free, the free queue's tail from `zero_head`,
    /// and counted.
    fn check_zeroed(&self) -> Result<(), alloc::string::String> {
        use super::PageFlags;
        use alloc::format;
        let marked = |f: u32| self.pages[f as usize].flags.contains(PageFlags::ZERO);
        for (i, p) in self.pages.iter().enumerate() {
            if p.flags.contains(PageFlags::ZERO) && p.queue() != PageQueue::Free {
                return Err(format!("page {i}: pre-zeroed but not free"));
            }
        }
        let mut seen = 0u32;
        let mut first = NIL;
        for f in self.free_iter() {
            if marked(f.0) {
                if first == NIL {
                    first = f.0;
                }
                seen += 1;
            } else if first != NIL {
                return Err(format!("free frame {} after the pre-zeroed tail", f.0));
            }
        }
        if first != self.zero_head || seen != self.zeroed {
            return Err(format!(
                "pre-zeroed tail: first {first}, {seen} frames; pool says {}, {}",
                self.zero_head, self.zeroed
            ));
        }
        Ok(())
    }
}
