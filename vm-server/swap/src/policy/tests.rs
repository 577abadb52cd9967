//! Tests of every policy against the contract in `mod.rs`, and of the policies' own behaviour.

use super::queues::Queues;
use super::two_q::{Ghosts, A1IN, AM};
use super::*;
use alloc::collections::BTreeSet;

/// Reference bits and evictability set by hand.
#[derive(Default)]
struct Host {
    referenced: BTreeSet<FrameId>,
    pinned: BTreeSet<FrameId>,
    asked: Vec<FrameId>,
}

impl PolicyHost for Host {
    fn test_and_clear_referenced(&mut self, f: FrameId) -> bool {
        self.asked.push(f);
        self.referenced.remove(&f)
    }
    fn evictable(&mut self, f: FrameId) -> bool {
        !self.pinned.contains(&f)
    }
}

fn victims(p: &mut dyn ReplacementPolicy, want: u32, h: &mut Host) -> Vec<FrameId> {
    let mut v = Vec::new();
    assert_eq!(p.select_victims(want, h, &mut v) as usize, v.len());
    v
}

#[test]
fn page_keys_separate_objects() {
    assert_ne!(PageKey::of(1, 5), PageKey::of(2, 5));
    assert_eq!(PageKey::of(3, 7).0, (3 << 40) | 7);
    assert_eq!(PageKey::of(0, (1 << 40) + 9), PageKey::of(0, 9));
}

#[test]
fn queues_link_and_unlink() {
    let mut q: Queues<2> = Queues::new(8);
    for f in [3, 1, 4] {
        q.push_tail(0, f);
    }
    q.push_tail(1, 5);
    assert_eq!(q.remove(1), Some(0));
    assert_eq!(q.remove(1), None);
    assert_eq!(q.pop_head(0), Some(3));
    assert_eq!(q.pop_head(0), Some(4));
    assert_eq!(q.pop_head(0), None);
    assert_eq!((q.len, q.total()), ([0, 1], 1));
    assert_eq!(q.queue_of(5), Some(1));
}

#[test]
fn clock_ages_active_pages_before_evicting() {
    let mut p = ClockPolicy::with_config(
        8,
        ClockConfig {
            act_init: 2,
            ..ClockConfig::default()
        },
    );
    let mut h = Host::default();
    for f in 0..4 {
        p.insert(f, PageKey(u64::from(f)));
    }
    // Nothing is referenced: two active passes bring every count from
    // 2 to 0, in queue order, then the inactive scan evicts frame 0.
    assert_eq!(victims(&mut p, 1, &mut h), [0]);
    assert!(p.stats().deactivated >= 2);
    // Frame 1 is inactive now; a reference fault reactivates it.
    let (_, inactive) = p.queue_lengths();
    assert!(inactive >= 1);
    p.referenced(1);
    assert!(p.stats().reactivated >= 1);
    // A referenced inactive page found by the scan goes back too.
    h.referenced.insert(2);
    let v = victims(&mut p, 1, &mut h);
    assert_ne!(v, [1]);
    assert_ne!(v, [2]);
    assert_eq!(p.resident(), 2);
}

#[test]
fn clock_skips_unevictable_and_gives_up_when_all_are() {
    let mut p = ClockPolicy::new(4);
    let mut h = Host::default();
    for f in 0..4 {
        p.insert(f, PageKey(0));
        h.pinned.insert(f);
    }
    assert!(victims(&mut p, 1, &mut h).is_empty());
    assert_eq!(p.resident(), 4);
    h.pinned.remove(&2);
    assert_eq!(victims(&mut p, 2, &mut h), [2]);
    p.remove(3);
    assert_eq!(p.resident(), 2);
}

#[test]
fn clock_deactivates_past_pinned_inactive_pages() {
    let mut p = ClockPolicy::with_config(
        8,
        ClockConfig {
            act_init: 1,
            inactive_pct: 50,
            ..ClockConfig::default()
        },
    );
    let mut h = Host::default();
    for f in 0..8 {
        p.insert(f, PageKey(0));
    }
    // Target 8/2 + 1: frames 0..5 are deactivated, 0 is evicted.
    assert_eq!(victims(&mut p, 1, &mut h), [0]);
    assert_eq!(p.queue_lengths(), (3, 4));
    // The inactive queue is full of busy pages: the scan must still
    // deactivate and evict an active one.
    for f in 1..5 {
        h.pinned.insert(f);
    }
    assert_eq!(victims(&mut p, 1, &mut h), [5]);
}

#[test]
fn clock_keeps_a_page_referenced_at_every_scan() {
    let mut p = ClockPolicy::new(4);
    let mut h = Host::default();
    for f in 0..4 {
        p.insert(f, PageKey(0));
    }
    for _ in 0..20 {
        h.referenced.insert(0);
        let v = victims(&mut p, 1, &mut h);
        assert_eq!(v.len(), 1);
        assert_ne!(v[0], 0);
        p.insert(v[0], PageKey(1));
    }
}

#[test]
fn two_q_promotes_on_ghost_hit_only() {
    let mut p = TwoQPolicy::with_sizes(4, 1, 4);
    let mut h = Host::default();
    for f in 0..4 {
        p.insert(f, PageKey(100 + u64::from(f)));
    }
    // A1in is over kin: it evicts in FIFO order, references ignored.
    h.referenced.insert(0);
    assert_eq!(victims(&mut p, 2, &mut h), [0, 1]);
    // Key 100 is a ghost: coming back it enters Am.
    p.insert(0, PageKey(100));
    p.insert(1, PageKey(999));
    assert_eq!(p.q.queue_of(0), Some(AM));
    assert_eq!(p.q.queue_of(1), Some(A1IN));
    // A1in (2, 3, 1) is kept down to kin = 1, then Am pays: page 0's
    // bit was cleared when it left A1in, so CLOCK takes it.
    assert_eq!(victims(&mut p, 3, &mut h), [2, 3, 0]);
    // Key 101 is still a ghost: it enters Am. Referenced, it gets a
    // second chance and is taken on the next sweep, while A1in stays
    // at kin.
    p.insert(2, PageKey(101));
    h.referenced.insert(2);
    assert_eq!(victims(&mut p, 1, &mut h), [2]);
    assert_eq!(victims(&mut p, 1, &mut h), [1]);
    assert_eq!(p.resident(), 0);
}

#[test]
fn ghosts_are_bounded() {
    let mut g = Ghosts {
        cap: 3,
        ..Ghosts::default()
    };
    for k in 0..10 {
        g.push(PageKey(k));
    }
    assert!(!g.take(PageKey(6)));
    assert!(g.take(PageKey(8)));
    assert!(!g.take(PageKey(8)));
    for _ in 0..100 {
        g.push(PageKey(1));
        g.take(PageKey(1));
    }
    assert!(g.fifo.len() <= 6 && g.live.len() <= 3);
}

#[test]
fn clock_pro_structure_survives_random_use() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    for frames in [1u32, 2, 5, 40] {
        let mut p = ClockProPolicy::new(frames);
        let mut h = Host::default();
        let mut tracked = BTreeSet::new();
        for _ in 0..3000 {
            let f = rng.gen_range(0..frames);
            match rng.gen_range(0..10) {
                0..=3 => {
                    if tracked.insert(f) {
                        p.insert(f, PageKey(rng.gen_range(0..3 * u64::from(frames))));
                    }
                }
                4 => {
                    if tracked.remove(&f) {
                        p.remove(f);
                    }
                }
                5..=6 => {
                    h.referenced.insert(f);
                }
                7 => {
                    if !h.pinned.remove(&f) {
                        h.pinned.insert(f);
                    }
                }
                _ => {
                    for v in victims(&mut p, rng.gen_range(1..4), &mut h) {
                        assert!(tracked.remove(&v));
                    }
                }
            }
            p.check().unwrap();
            assert_eq!(p.resident() as usize, tracked.len());
        }
    }
}

#[test]
fn clock_pro_promotes_pages_reused_within_their_test_period() {
    let mut p = ClockProPolicy::new(4);
    let mut h = Host::default();
    for f in 0..4 {
        p.insert(f, PageKey(u64::from(f)));
    }
    // New pages are cold in their test period; the faulting access
    // does not count, so the first one is evicted and leaves a ghost.
    assert_eq!(victims(&mut p, 1, &mut h), [0]);
    assert_eq!(p.populations(), (0, 3, 1, 1));
    // Key 0 comes back while its ghost lives: hot, and m_c grows.
    p.insert(0, PageKey(0));
    assert_eq!(p.populations(), (1, 3, 0, 2));
    // A cold page in its test period found referenced turns hot as
    // well. (Page 1's learning lap, which cleared its fault's bit, was
    // in the first scan.)
    assert_eq!(p.next_reading[1], NextReading::Use);
    h.referenced.insert(1);
    let v = victims(&mut p, 1, &mut h);
    assert_eq!(v, [2]);
    assert_eq!(p.populations().0, 2);
    p.check().unwrap();
}

#[test]
fn fifo_is_insertion_order() {
    let mut p = FifoPolicy::new(4);
    let mut h = Host::default();
    for f in [2, 0, 3] {
        p.insert(f, PageKey(0));
    }
    h.pinned.insert(0);
    assert_eq!(victims(&mut p, 3, &mut h), [2, 3]);
    assert!(h.asked.is_empty(), "fifo never reads reference bits");
}
