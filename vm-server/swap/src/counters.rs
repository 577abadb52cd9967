//! Swap and pageout counters in the style of NetBSD UVM's `uvmexp`: slot populations are read from the allocator, events are counted as they happen.
//!
//! Locking: none. Owned by the single-threaded VM server loop (the swap
//! pager bumps it in place; `Vm::stats` will copy it into the snapshot).

use crate::blist::Blist;
use crate::device::{IoCompletion, IoOp, IoRequest, IoStatus};
use crate::policy::PolicyStats;

/// Swap-side statistics (the `swp*`, `pgswap*` and `pd*` fields of
/// `struct uvmexp`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwapStats {
    /// Swap slots on the device (`swpages`).
    pub swpages: u64,
    /// Slots holding a page (`swpginuse`).
    pub swpginuse: u64,
    /// Slots marked bad after a write error (`swpgbad`, NetBSD's
    /// `swpgonly` is the VM core's business).
    pub swpgbad: u64,

    /// Requests handed to the device.
    pub io_submitted: u64,
    /// Requests whose completion came back.
    pub io_completed: u64,
    /// Requests the device refused at submit (queue full and such).
    pub io_rejected: u64,
    /// Read requests that completed with an error.
    pub io_read_errors: u64,
    /// Write requests that completed with an error.
    pub io_write_errors: u64,

    /// Page-in requests (`pageins`).
    pub pageins: u64,
    /// Pages read from swap (`pgswapin`).
    pub pgswapin: u64,
    /// Pageout requests (`pdpageouts`).
    pub pageouts: u64,
    /// Pages written to swap (`pgswapout`).
    pub pgswapout: u64,

    /// Pages examined by the pageout scans (`pdscans`).
    pub pdscans: u64,
    /// Pages moved from active to inactive (`pddeact`).
    pub pddeact: u64,
    /// Pages found referenced and reactivated (`pdreact`).
    pub pdreact: u64,
    /// Pages chosen for eviction (`pdfreed` before laundering).
    pub pdvictims: u64,
}

impl SwapStats {
    /// Refreshes the slot populations from the allocator.
    pub fn sync_slots(&mut self, bl: &Blist) {
        self.swpages = bl.blocks();
        self.swpginuse = bl.in_use();
        self.swpgbad = bl.bad_count();
    }

    /// Counts an accepted submission.
    pub fn submitted(&mut self, req: &IoRequest) {
        self.io_submitted += 1;
        match req.op {
            IoOp::Read => self.pageins += 1,
            IoOp::Write => self.pageouts += 1,
        }
    }

    /// Counts a completion: pages moved and errors.
    pub fn completed(&mut self, c: &IoCompletion) {
        self.io_completed += 1;
        let done = match c.status {
            IoStatus::Ok => u64::from(c.request.count),
            IoStatus::Error { block } => block - c.request.block,
        };
        match (c.request.op, c.is_ok()) {
            (IoOp::Read, ok) => {
                self.pgswapin += done;
                self.io_read_errors += u64::from(!ok);
            }
            (IoOp::Write, ok) => {
                self.pgswapout += done;
                self.io_write_errors += u64::from(!ok);
            }
        }
    }

    /// Replaces the scan counters with a policy's totals.
    pub fn sync_policy(&mut self, p: PolicyStats) {
        self.pdscans = p.scanned;
        self.pddeact = p.deactivated;
        self.pdreact = p.reactivated;
        self.pdvictims = p.victims;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blist::SwapSlot;
    use crate::device::{BufferId, IoTag};

    #[test]
    fn counts_slots_and_io() {
        let mut bl = Blist::new_free(100);
        let s = bl.alloc(8).unwrap();
        bl.mark_bad(SwapSlot(s.0 + 2), 1);
        bl.mark_bad(SwapSlot(90), 1);
        let mut st = SwapStats::default();
        st.sync_slots(&bl);
        assert_eq!((st.swpages, st.swpginuse, st.swpgbad), (100, 7, 2));
        let request = IoRequest::staged(IoOp::Write, 10, 4, BufferId(0));
        st.submitted(&request);
        st.completed(&IoCompletion {
            tag: IoTag(1),
            request,
            status: IoStatus::Error { block: 12 },
        });
        assert_eq!((st.pageouts, st.pgswapout, st.io_write_errors), (1, 2, 1));
    }
}
