//! Paging targets in DragonFly's order (reserved < severe < minimum < wait < start < target1 < target2 free pages): derivation from the pool size, overrides, validation, and the pageout daemon's questions about a free count.
//!
//! DragonFly derives its `v_free_*` and `v_paging_*` thresholds from the
//! page count with constants tuned for gigabytes of RAM; the VM server's
//! pools are often a few hundred frames (tests run with 64), so the
//! fractions here are kept but every gap has a small floor, which keeps
//! the seven levels distinct and ordered down to a 64-frame pool.
//!
//! | level | default | meaning |
//! | --- | --- | --- |
//! | `reserved` | n/128, ≥ 4 | only the pageout path may allocate below it |
//! | `severe` | + n/256, ≥ 2 | ordinary faults wait (or fail with OOM) below it |
//! | `minimum` | + n/128, ≥ 4 | an allocation below it wakes the pageout work |
//! | `wait` | + n/256, ≥ 2 | a waiting fault is resumed above it |
//! | `start` | + n/128, ≥ 4 | pageout runs while free is below it |
//! | `target1` | + n/64, ≥ 8 | a normal pageout pass stops here |
//! | `target2` | + n/64, ≥ 8 | a pass woken by waiting faults frees up to here |
//!
//! Locking: none; a plain value owned by the VM's configuration.

/// The seven thresholds, in free pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagingTargets {
    pub reserved: u32,
    pub severe: u32,
    pub minimum: u32,
    pub wait: u32,
    pub start: u32,
    pub target1: u32,
    pub target2: u32,
}

/// Why a set of targets is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetsError {
    /// The levels are not strictly increasing in the documented order.
    Unordered,
    /// `target2` is not below the pool size: pageout could never reach it.
    TooLarge,
}

/// How short of memory a free count is, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pressure {
    /// Below `reserved`: only the pageout path may allocate.
    Reserved,
    /// Below `severe`: ordinary faults wait or fail.
    Severe,
    /// Below `minimum`: wake the pageout work now.
    Minimum,
    /// Below `wait`: waiting faults stay waiting.
    Wait,
    /// Below `start`: pageout keeps running.
    Start,
    /// At or above `start`: nothing to do.
    Plenty,
}

impl PagingTargets {
    /// The default targets for a pool of `pages` frames.
    pub fn for_pool(pages: u32) -> Result<Self, TargetsError> {
        let reserved = (pages / 128).max(4);
        let severe = reserved + (pages / 256).max(2);
        let minimum = severe + (pages / 128).max(4);
        let wait = minimum + (pages / 256).max(2);
        let start = wait + (pages / 128).max(4);
        let target1 = start + (pages / 64).max(8);
        let target2 = target1 + (pages / 64).max(8);
        let t = PagingTargets {
            reserved,
            severe,
            minimum,
            wait,
            start,
            target1,
            target2,
        };
        t.validate(pages)?;
        Ok(t)
    }

    /// Checks the order and that `target2` is below `pages`.
    pub fn validate(&self, pages: u32) -> Result<(), TargetsError> {
        let l = [
            self.reserved,
            self.severe,
            self.minimum,
            self.wait,
            self.start,
            self.target1,
            self.target2,
        ];
        if l.windows(2).any(|w| w[0] >= w[1]) {
            return Err(TargetsError::Unordered);
        }
        if self.target2 >= pages {
            return Err(TargetsError::TooLarge);
        }
        Ok(())
    }

    /// Classifies a free-page count.
    pub fn pressure(&self, free: u32) -> Pressure {
        if free < self.reserved {
            Pressure::Reserved
        } else if free < self.severe {
            Pressure::Severe
        } else if free < self.minimum {
            Pressure::Minimum
        } else if free < self.wait {
            Pressure::Wait
        } else if free < self.start {
            Pressure::Start
        } else {
            Pressure::Plenty
        }
    }

    /// Pages a pageout pass should free, starting from `free`: up to
    /// `target2` when faults are waiting for memory (hysteresis, so they
    /// are not woken into another shortage), else up to `target1`; zero
    /// while free is at or above `start`.
    pub fn shortage(&self, free: u32, faults_waiting: bool) -> u32 {
        if free >= self.start && !faults_waiting {
            return 0;
        }
        let goal = if faults_waiting {
            self.target2
        } else {
            self.target1
        };
        goal.saturating_sub(free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ordered_for_every_pool_size() {
        assert_eq!(PagingTargets::for_pool(63).unwrap().target2, 32);
        for pages in 33..200_000 {
            PagingTargets::for_pool(pages).unwrap();
        }
        assert_eq!(PagingTargets::for_pool(32), Err(TargetsError::TooLarge));
        let t = PagingTargets::for_pool(64).unwrap();
        assert_eq!(
            [t.reserved, t.severe, t.minimum, t.wait, t.start, t.target1, t.target2],
            [4, 6, 10, 12, 16, 24, 32]
        );
        let t = PagingTargets::for_pool(1 << 17).unwrap(); // 512 MiB
        assert_eq!((t.reserved, t.start, t.target2), (1024, 4096, 8192));
    }

    #[test]
    fn overrides_are_validated() {
        let mut t = PagingTargets::for_pool(1000).unwrap();
        t.wait = t.minimum;
        assert_eq!(t.validate(1000), Err(TargetsError::Unordered));
        let t = PagingTargets::for_pool(1000).unwrap();
        assert_eq!(t.validate(t.target2), Err(TargetsError::TooLarge));
    }

    #[test]
    fn pressure_and_shortage() {
        let t = PagingTargets::for_pool(64).unwrap();
        let p: Vec<_> = [0, 4, 6, 10, 12, 16, 63]
            .iter()
            .map(|&f| t.pressure(f))
            .collect();
        use Pressure::*;
        assert_eq!(p, [Reserved, Severe, Minimum, Wait, Start, Plenty, Plenty]);
        assert!(Reserved < Severe && Start < Plenty);
        assert_eq!(t.shortage(16, false), 0);
        assert_eq!(t.shortage(15, false), 24 - 15);
        assert_eq!(t.shortage(20, true), 32 - 20);
        assert_eq!(t.shortage(40, true), 0);
    }
}
