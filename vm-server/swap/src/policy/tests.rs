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

// ---- Defining behaviours from the papers, through the replay ----

use crate::opt::opt;
use crate::trace::{looping, replay, TraceOp};

fn read(p: u64) -> TraceOp {
    TraceOp::Read(PageKey(p))
}

/// A hot set of `hot` pages read in rounds while one-time pages trickle
/// through (so there is pressure, and the policies can learn the hot
/// set), then a one-time scan of `scan` pages, then `after` rounds of the
/// hot set alone. Returns the trace and the length of its prefix before
/// the last phase.
fn hot_set_then_scan(hot: u64, scan: u64, after: usize) -> (Vec<TraceOp>, usize) {
    let mut t = Vec::new();
    let mut next = 1_000_000;
    for _ in 0..30 {
        t.extend((0..hot).map(read));
        t.extend((next..next + hot / 2).map(read));
        next += hot / 2;
    }
    t.extend((next..next + scan).map(read));
    let prefix = t.len();
    for _ in 0..after {
        t.extend((0..hot).map(read));
    }
    (t, prefix)
}

/// Faults of policy `name` in the steps after `prefix`.
fn faults_after(name: &str, frames: u32, t: &[TraceOp], prefix: usize) -> u64 {
    let run = |steps: &[TraceOp]| {
        let mut p = policy_by_name(name, frames).expect("registered policy");
        replay(steps, p.as_mut(), frames).faults
    };
    run(t) - run(&t[..prefix])
}

#[test]
fn scan_resistant_policies_keep_the_hot_set_through_a_long_scan() {
    // 40 hot pages in 64 frames, then a one-time scan of 10x memory.
    let (t, prefix) = hot_set_then_scan(40, 640, 3);
    let fifo = faults_after("fifo", 64, &t, prefix);
    // FIFO has nothing to hold the hot set with: all of it is gone.
    assert_eq!(fifo, 40, "fifo");
    for name in ["2q", "clock-pro", "s3-fifo"] {
        let misses = faults_after(name, 64, &t, prefix);
        assert!(
            misses * 8 <= fifo,
            "{name}: {misses} hot-set misses vs fifo {fifo}"
        );
    }
}

#[test]
fn lru_like_clock_and_fifo_miss_every_access_on_a_loop_just_over_memory() {
    // 110 pages in a loop over 100 frames: the page LRU evicts is always
    // the next one wanted. OPT keeps most of the loop.
    let t = looping(110, 11_000, false);
    for name in ["clock", "fifo"] {
        let mut p = policy_by_name(name, 100).unwrap();
        let r = replay(&t, p.as_mut(), 100);
        assert_eq!(r.faults, r.accesses, "{name}: {r:?}");
    }
    let o = opt(&t, 100);
    assert!(o.faults * 5 < o.accesses, "{o:?}");
    // The scan-resistant policies keep part of the loop, as OPT does.
    for name in ["2q", "clock-pro", "s3-fifo"] {
        let mut p = policy_by_name(name, 100).unwrap();
        let r = replay(&t, p.as_mut(), 100);
        assert!(r.faults * 2 < r.accesses, "{name}: {r:?}");
    }
}

#[test]
fn s3_fifo_sends_one_hit_wonders_out_of_the_small_queue_and_ghost_hits_to_main() {
    // 20 frames: S holds 2, G 18 keys.
    let mut p = S3FifoPolicy::new(20);
    let mut h = Host::default();
    for f in 0..20 {
        p.insert(f, PageKey(u64::from(f)));
    }
    assert_eq!(p.populations(), (20, 0, 0));
    // The first scan spends a learning lap on every page (their bits are
    // the faults' own), then judges frame 0: unused, evicted to G.
    assert_eq!(victims(&mut p, 1, &mut h), [0]);
    assert_eq!(h.asked.len(), 21);
    // Frames 1..10 are used since (reference faults); 10..19 are not.
    for f in 1..10 {
        p.referenced(f);
    }
    assert_eq!(victims(&mut p, 9, &mut h), (10..19).collect::<Vec<_>>());
    assert_eq!(p.populations(), (1, 9, 10));
    assert_eq!(p.hot_cold(), (9, 1));
    // Key 10 is a ghost: back in frame 0 it enters M; key 100 is new.
    p.insert(0, PageKey(10));
    p.insert(10, PageKey(100));
    assert_eq!(p.populations(), (2, 10, 9));
    // A stream of one-time pages: each leaves S within three rounds of
    // its arrival, and M (frames 0..10) loses nothing.
    let mut arrived = std::collections::HashMap::new();
    arrived.insert(10, 0);
    arrived.insert(19, 0);
    for round in 1..=60u64 {
        let v = victims(&mut p, 1, &mut h);
        assert_eq!(v.len(), 1);
        let f = v[0];
        let since = arrived
            .remove(&f)
            .unwrap_or_else(|| panic!("M page {f} evicted"));
        assert!(
            round - since <= 3,
            "frame {f} stayed {} rounds",
            round - since
        );
        p.insert(f, PageKey(1000 + round));
        arrived.insert(f, round);
    }
    assert_eq!(p.populations().1, 10);
}

#[test]
fn s3_fifo_main_queue_reinserts_pages_used_since_the_last_lap() {
    // S of 1 frame, no ghosts: frames 0..4 go to M through S.
    let mut p = S3FifoPolicy::with_sizes(5, 1, 0);
    let mut h = Host::default();
    for f in 0..5 {
        p.insert(f, PageKey(u64::from(f)));
    }
    // Learning laps, then every page used once: all promoted, and with
    // S empty the scan turns to M, where frame 0 (unused in M) goes.
    for f in 0..5 {
        h.referenced.insert(f);
    }
    let _ = victims(&mut p, 0, &mut h);
    for f in 0..5 {
        p.referenced(f);
    }
    assert_eq!(victims(&mut p, 1, &mut h), [0]);
    assert_eq!(p.populations(), (0, 4, 0));
    // Frame 1 is used in each of three laps; the others never again.
    // Its count climbs to 3, so it outlives the rest.
    let mut order = Vec::new();
    for lap in 0..3 {
        p.referenced(1);
        order.extend(victims(&mut p, 1, &mut h));
        if lap < 2 {
            p.insert(order[lap], PageKey(50 + lap as u64));
            p.referenced(order[lap]);
        }
    }
    assert!(!order.contains(&1), "{order:?}");
}

#[test]
fn s3_fifo_ghosts_never_allocate_after_construction() {
    let mut p = S3FifoPolicy::new(100);
    let cap = p.ghosts.map_capacity();
    for k in 0..100_000u64 {
        p.ghosts.push(PageKey(k));
        if k % 3 == 0 {
            p.ghosts.take(PageKey(k - k / 2));
        }
    }
    assert!(p.ghosts.len() <= 90);
    // hashbrown's capacity() dips with tombstones; growing would double it.
    assert!(
        p.ghosts.map_capacity() <= cap,
        "{} > {cap}",
        p.ghosts.map_capacity()
    );
    // The most recent keys are the ones remembered.
    assert!(p.ghosts.take(PageKey(99_999)));
    assert!(!p.ghosts.take(PageKey(1_000)));
}

#[test]
fn deactivated_pages_go_next_for_every_policy() {
    for (name, _) in POLICIES {
        let mut p = policy_by_name(name, 9).unwrap();
        let mut h = Host::default();
        for f in 0..8 {
            p.insert(f, PageKey(u64::from(f)));
            h.referenced.insert(f);
        }
        p.deactivate(5);
        p.deactivate(8); // untracked: ignored
        assert_eq!(victims(p.as_mut(), 1, &mut h), [5], "{name}");
        let (hot, cold) = p.hot_cold();
        assert_eq!(hot + cold, 7, "{name}");
    }
}

#[test]
fn hot_and_cold_sides() {
    // 2Q: a ghost hit lands in Am (hot).
    let mut q = TwoQPolicy::with_sizes(4, 1, 4);
    let mut h = Host::default();
    for f in 0..4 {
        q.insert(f, PageKey(u64::from(f)));
    }
    assert_eq!(victims(&mut q, 1, &mut h), [0]);
    q.insert(0, PageKey(0));
    assert_eq!(q.hot_cold(), (1, 3));
    // CLOCK-Pro: new pages are cold, a ghost hit is hot.
    let mut c = ClockProPolicy::new(4);
    for f in 0..4 {
        c.insert(f, PageKey(u64::from(f)));
    }
    assert_eq!(c.hot_cold(), (0, 4));
    assert_eq!(victims(&mut c, 1, &mut h), [0]);
    c.insert(0, PageKey(0));
    assert_eq!(c.hot_cold(), (1, 3));
    c.deactivate(0);
    assert_eq!(c.hot_cold(), (0, 4));
    c.check().unwrap();
    // FIFO: nothing is protected.
    let mut f = FifoPolicy::new(4);
    f.insert(2, PageKey(0));
    assert_eq!(f.hot_cold(), (0, 1));
}

#[test]
fn a_page_moved_to_another_frame_keeps_its_place_for_every_policy() {
    for (name, _) in POLICIES {
        let (mut a, mut b) = (
            policy_by_name(name, 10).unwrap(),
            policy_by_name(name, 10).unwrap(),
        );
        for f in 0..8 {
            a.insert(f, PageKey(u64::from(f)));
            b.insert(f, PageKey(u64::from(f)));
        }
        a.deactivate(5);
        b.deactivate(5);
        b.replace(2, 9, PageKey(2));
        assert_eq!(b.resident(), 8, "{name}");
        let va = victims(a.as_mut(), 8, &mut Host::default());
        let vb = victims(b.as_mut(), 8, &mut Host::default());
        let mut moved: Vec<FrameId> = va.iter().map(|&f| if f == 2 { 9 } else { f }).collect();
        if *name == "clock-pro" {
            // The default: the page starts over in its new frame.
            let mut vb = vb;
            vb.sort_unstable();
            moved.sort_unstable();
            assert_eq!(vb, moved, "{name}");
        } else {
            assert_eq!(vb, moved, "{name}");
        }
        assert_eq!(b.resident(), 0, "{name}");
    }
}
