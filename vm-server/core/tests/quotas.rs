//! Quotas and shared-memory names: each limit driven to its end (objects too), refused with the limit it hit and nothing changed; fork charging the family; exit giving everything back; names scoped to groups, opened with at most the creator's rights, unlinked by the creator's family only; handles pushed only with consent (semantics: quota-*, names-*, handle-share).

use vm_core::sim::Sim;
use vm_core::*;

const P: u64 = PAGE_SIZE;

fn sim() -> (Sim, SpaceId) {
    let mut s = Sim::new(VmConfig::default(), 256);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    (s, sp)
}

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::UNLIMITED;
    f(&mut l);
    l
}

fn ok(s: &Sim) {
    s.check().unwrap();
    s.vm.check_page_queues().unwrap();
}

/// Alternating rights so neighbours cannot merge: one entry each.
fn one_entry(s: &mut Sim, sp: SpaceId, i: u64) -> Result<u64, VmError> {
    let prot = if i.is_multiple_of(2) {
        Prot::READ
    } else {
        Prot::RW
    };
    s.vm.mmap(
        sp,
        &MmapArgs::anon(P, prot).fixed(0x1000_0000 + i * P),
        &mut s.pmap,
    )
}

// semantics: quota-map-entries
#[test]
fn map_entries_stop_at_the_limit_and_splits_count() {
    let (mut s, sp) = sim();
    s.vm.set_limits(sp, limits(|l| l.map_entries = 8), &mut s.pmap)
        .unwrap();
    for i in 0..8 {
        one_entry(&mut s, sp, i).unwrap();
    }
    let before = s.vm.usage(sp).unwrap();
    assert_eq!(before.map_entries, 8);
    assert_eq!(
        one_entry(&mut s, sp, 8),
        Err(VmError::QuotaExceeded(Quota::MapEntries))
    );
    // Replacing an entry exactly changes nothing in the count: allowed.
    one_entry(&mut s, sp, 3).unwrap();
    // Splitting the middle of an entry would add one: refused, unchanged.
    s.vm.munmap(sp, 0x1000_0000, 8 * P, &mut s.pmap).unwrap();
    let big =
        s.vm.mmap(sp, &MmapArgs::anon(4 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    for i in 0..7 {
        one_entry(&mut s, sp, 100 + i).unwrap();
    }
    assert_eq!(s.vm.usage(sp).unwrap().map_entries, 8);
    assert_eq!(
        s.vm.munmap(sp, big + P, P, &mut s.pmap),
        Err(VmError::QuotaExceeded(Quota::MapEntries))
    );
    assert_eq!(
        s.vm.mprotect(sp, big + P, P, Prot::READ, &mut s.pmap),
        Err(VmError::QuotaExceeded(Quota::MapEntries))
    );
    assert_eq!(s.vm.space(sp).unwrap().map().size(), 11 * P);
    // Whole entries can still go.
    s.vm.munmap(sp, big, 4 * P, &mut s.pmap).unwrap();
    ok(&s);
}

// semantics: quota-fork, quota-children
#[test]
fn fork_charges_the_child_to_the_family() {
    let (mut s, parent) = sim();
    s.vm.set_limits(
        parent,
        limits(|l| {
            l.map_entries = 10;
            l.children = 2;
        }),
        &mut s.pmap,
    )
    .unwrap();
    for i in 0..4 {
        one_entry(&mut s, parent, i).unwrap();
    }
    let c1 = s.vm.fork(parent, &mut s.pmap).unwrap();
    assert_eq!(s.vm.usage(parent).unwrap().map_entries, 8);
    assert_eq!(s.vm.usage(c1).unwrap(), s.vm.usage(parent).unwrap());
    // A third copy of four entries would make 12 > 10.
    assert_eq!(
        s.vm.fork(c1, &mut s.pmap),
        Err(VmError::QuotaExceeded(Quota::MapEntries))
    );
    s.vm.munmap(c1, 0x1000_0000, 3 * P, &mut s.pmap).unwrap();
    let c2 = s.vm.fork(c1, &mut s.pmap).unwrap();
    assert_eq!(s.vm.usage(parent).unwrap().children, 2);
    assert_eq!(
        s.vm.fork(parent, &mut s.pmap),
        Err(VmError::QuotaExceeded(Quota::Children))
    );
    // Exit gives it back.
    s.vm.exit(c2, &mut s.pmap).unwrap();
    s.vm.fork(parent, &mut s.pmap).unwrap();
    ok(&s);
}

// semantics: quota-wired
#[test]
fn wired_pages_stop_at_the_limit() {
    let (mut s, sp) = sim();
    s.vm.set_limits(sp, limits(|l| l.wired_pages = 8), &mut s.pmap)
        .unwrap();
    let a =
        s.vm.mmap(sp, &MmapArgs::anon(16 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    s.vm.mlock(sp, a, 6 * P, &mut s.pmap).unwrap();
    assert_eq!(
        s.vm.mlock(sp, a + 6 * P, 3 * P, &mut s.pmap),
        Err(VmError::QuotaExceeded(Quota::Wired))
    );
    assert_eq!(s.vm.stats().wired, 6);
    // Locked pages are not counted twice.
    s.vm.mlock(sp, a, 8 * P, &mut s.pmap).unwrap();
    assert_eq!(s.vm.usage(sp).unwrap().wired_pages, 8);
    s.vm.munlock(sp, a, 8 * P).unwrap();
    s.vm.mlock(sp, a + 8 * P, 8 * P, &mut s.pmap).unwrap();
    ok(&s);
}

/// A pmap that refuses page tables past a limit: one "table" per 512
/// pages of address space, counted per space.
struct Tables {
    sim: vm_core::sim::SimPmap,
    limit: std::collections::BTreeMap<SpaceId, u64>,
    held: std::collections::BTreeMap<SpaceId, std::collections::BTreeSet<u64>>,
}

impl Pmap for Tables {
    fn create_space(&mut self, s: SpaceId) -> Result<(), PmapError> {
        self.sim.create_space(s)
    }
    fn destroy_space(&mut self, s: SpaceId) {
        self.held.remove(&s);
        self.sim.destroy_space(s)
    }
    fn set_table_limit(&mut self, s: SpaceId, limit: u64) {
        self.limit.insert(s, limit);
    }
    fn enter(&mut self, s: SpaceId, va: u64, f: FrameNumber, p: Prot) -> Result<(), PmapError> {
        let held = self.held.entry(s).or_default();
        let table = va >> 21;
        if !held.contains(&table) {
            if held.len() as u64 >= self.limit.get(&s).copied().unwrap_or(u64::MAX) {
                return Err(PmapError::TableLimit);
            }
            held.insert(table);
        }
        self.sim.enter(s, va, f, p)
    }
    fn remove(&mut self, s: SpaceId, a: u64, b: u64) {
        self.sim.remove(s, a, b)
    }
    fn protect(&mut self, s: SpaceId, a: u64, b: u64, p: Prot) {
        self.sim.protect(s, a, b, p)
    }
    fn page_protect(&mut self, f: FrameNumber, p: Prot) {
        self.sim.page_protect(f, p)
    }
    fn is_mapped(&self, s: SpaceId, va: u64) -> bool {
        self.sim.is_mapped(s, va)
    }
    fn zero_page(&mut self, f: FrameNumber) {
        self.sim.zero_page(f)
    }
    fn copy_page(&mut self, a: FrameNumber, b: FrameNumber) {
        self.sim.copy_page(a, b)
    }
    fn read_frame(&self, f: FrameNumber, buf: &mut [u8]) {
        self.sim.read_frame(f, buf)
    }
    fn write_frame(&mut self, f: FrameNumber, data: &[u8]) {
        self.sim.write_frame(f, data)
    }
}

// semantics: quota-page-tables
#[test]
fn sparse_touches_stop_at_the_page_table_limit() {
    let mut pm = Tables {
        sim: vm_core::sim::SimPmap::new(64),
        limit: Default::default(),
        held: Default::default(),
    };
    let mut vm = Vm::new(
        VmConfig {
            prefault_ahead: 0,
            prefault_behind: 0,
            ..VmConfig::default()
        },
        64,
    )
    .unwrap();
    let sp = vm.space_create(&mut pm).unwrap();
    vm.set_limits(sp, limits(|l| l.page_tables = 3), &mut pm)
        .unwrap();
    let a = vm
        .mmap(sp, &MmapArgs::anon(64 << 21, Prot::RW), &mut pm)
        .unwrap();
    for i in 0..3 {
        vm.fault(sp, a + (i << 21), Access::Write, &mut pm).unwrap();
    }
    assert_eq!(
        vm.fault(sp, a + (3 << 21), Access::Write, &mut pm),
        Err(VmError::QuotaExceeded(Quota::PageTables))
    );
    // Within the tables it has, it goes on.
    vm.fault(sp, a + P, Access::Write, &mut pm).unwrap();
    vm.check_invariants().unwrap();
    // A fork child gets the family's limit too.
    let c = vm.fork(sp, &mut pm).unwrap();
    assert_eq!(pm.limit[&c], 3);
}

// semantics: quota-handles, names-group, names-rights, names-unlink
#[test]
fn names_are_scoped_rights_limited_and_unlinked_by_their_creator() {
    let (mut s, a) = sim();
    let b = s.vm.space_create(&mut s.pmap).unwrap();
    let outsider = s.vm.space_create(&mut s.pmap).unwrap();
    s.vm.set_name_group(a, 7).unwrap();
    s.vm.set_name_group(b, 7).unwrap();
    let h = s.vm.shm_create(a, Some("log"), P, Prot::READ).unwrap();
    // Another group does not see it, even by guessing.
    assert_eq!(
        s.vm.shm_open(outsider, "log", Prot::READ),
        Err(VmError::NoSuchName)
    );
    assert_eq!(s.vm.shm_unlink(outsider, "log"), Err(VmError::NoSuchName));
    // The same name in another group is another object.
    s.vm.shm_create(outsider, Some("log"), P, Prot::ALL)
        .unwrap();
    // Within the group: at most the creator's rights, no unlink.
    assert_eq!(s.vm.shm_open(b, "log", Prot::RW), Err(VmError::Protection));
    let hb = s.vm.shm_open(b, "log", Prot::READ).unwrap();
    assert_eq!(s.vm.shm_unlink(b, "log"), Err(VmError::Protection));
    // The creator's fork family may unlink.
    let child = s.vm.fork(a, &mut s.pmap).unwrap();
    s.vm.shm_unlink(child, "log").unwrap();
    assert_eq!(
        s.vm.shm_open(b, "log", Prot::READ),
        Err(VmError::NoSuchName)
    );
    // Handles stay.
    s.vm.handle_close(b, hb).unwrap();
    s.vm.handle_close(a, h).unwrap();
    ok(&s);
}

// semantics: names-lifetime
#[test]
fn names_go_with_the_last_of_their_creators_family() {
    let (mut s, a) = sim();
    let b = s.vm.space_create(&mut s.pmap).unwrap();
    s.vm.set_name_group(a, 3).unwrap();
    s.vm.set_name_group(b, 3).unwrap();
    s.vm.shm_create(a, Some("x"), P, Prot::ALL).unwrap();
    let hb = s.vm.shm_open(b, "x", Prot::RW).unwrap();
    let child = s.vm.fork(a, &mut s.pmap).unwrap();
    s.vm.exit(a, &mut s.pmap).unwrap();
    s.vm.shm_open(b, "x", Prot::READ).unwrap();
    s.vm.exit(child, &mut s.pmap).unwrap();
    assert_eq!(s.vm.shm_open(b, "x", Prot::READ), Err(VmError::NoSuchName));
    // The object lives while a handle holds it.
    let va =
        s.vm.mmap(b, &MmapArgs::object(hb, 0, P, Prot::RW), &mut s.pmap)
            .unwrap();
    s.write(b, va, b"still").unwrap();
    ok(&s);
    s.vm.exit(b, &mut s.pmap).unwrap();
    assert_eq!(s.vm.stats().objects, 0);
}

// semantics: quota-handles, handle-share
#[test]
fn handles_stop_at_the_limit_and_pushing_needs_consent() {
    let (mut s, a) = sim();
    let b = s.vm.space_create(&mut s.pmap).unwrap();
    s.vm.set_limits(a, limits(|l| l.handles = 3), &mut s.pmap)
        .unwrap();
    s.vm.set_limits(b, limits(|l| l.handles = 1), &mut s.pmap)
        .unwrap();
    let h = s.vm.shm_create(a, Some("n"), P, Prot::ALL).unwrap();
    s.vm.shm_create(a, None, P, Prot::ALL).unwrap();
    // Name plus handle, two anonymous handles: 3 used.
    assert_eq!(
        s.vm.shm_create(a, None, P, Prot::ALL),
        Err(VmError::QuotaExceeded(Quota::Handles))
    );
    assert_eq!(
        s.vm.shm_open(a, "n", Prot::READ),
        Err(VmError::QuotaExceeded(Quota::Handles))
    );
    // No consent: refused; consent for one: one.
    assert_eq!(
        s.vm.handle_share(a, h, b, Prot::READ),
        Err(VmError::Protection)
    );
    s.vm.handle_accept(b, a, 5).unwrap();
    s.vm.handle_share(a, h, b, Prot::READ).unwrap();
    // b's own quota is full now, whatever it accepted.
    assert_eq!(
        s.vm.handle_share(a, h, b, Prot::READ),
        Err(VmError::QuotaExceeded(Quota::Handles))
    );
    // Forking a copies its handles: the family's quota is full.
    assert_eq!(
        s.vm.fork(a, &mut s.pmap),
        Err(VmError::QuotaExceeded(Quota::Handles))
    );
    ok(&s);
}

#[test]
fn errors_name_the_quota_on_the_wire() {
    for (i, q) in Quota::ALL.iter().enumerate() {
        // The eighth kind came after the pager errors had 27 and 28.
        let want = if *q == Quota::Objects {
            29
        } else {
            20 + i as u16
        };
        assert_eq!(VmError::QuotaExceeded(*q).code(), want);
    }
}

/// The group's objects now.
fn objects(s: &Sim, sp: SpaceId) -> u64 {
    s.vm.usage(sp).unwrap().objects
}

// semantics: quota-objects
#[test]
fn objects_stop_at_the_limit_and_exit_gives_them_back() {
    let (mut s, a) = sim();
    s.vm.set_limits(a, limits(|l| l.objects = 3), &mut s.pmap)
        .unwrap();
    let va = |i: u64| 0x1000_0000 + i * P;
    for i in 0..4 {
        s.vm.mmap(
            a,
            &MmapArgs::anon(P, Prot::RW).fixed(va(2 * i)),
            &mut s.pmap,
        )
        .unwrap();
    }
    assert_eq!(
        objects(&s, a),
        0,
        "an entry's object comes with its first touch"
    );
    for i in 0..3 {
        s.write(a, va(2 * i), &[i as u8 + 1]).unwrap();
    }
    assert_eq!(objects(&s, a), 3);
    // A fourth first touch, an anonymous shared mapping, a shared-memory
    // object and a fork (room for two objects an entry) are refused.
    let over = Err(VmError::QuotaExceeded(Quota::Objects));
    assert_eq!(s.write(a, va(6), &[9]), over);
    assert_eq!(s.read_u8(a, va(6)).map(|_| ()), over);
    let entries = s.vm.usage(a).unwrap().map_entries;
    assert_eq!(
        s.vm.mmap(a, &MmapArgs::anon_shared(P, Prot::RW), &mut s.pmap)
            .map(|_| ()),
        over
    );
    assert_eq!(
        s.vm.usage(a).unwrap().map_entries,
        entries,
        "nothing mapped"
    );
    assert_eq!(s.vm.shm_create(a, None, P, Prot::RW).map(|_| ()), over);
    assert_eq!(s.vm.fork(a, &mut s.pmap).map(|_| ()), over);
    assert_eq!(objects(&s, a), 3);
    ok(&s);
    // An unmapped entry gives its object back.
    s.vm.munmap(a, va(0), P, &mut s.pmap).unwrap();
    assert_eq!(objects(&s, a), 2);
    s.write(a, va(6), &[4]).unwrap();
    assert_eq!(objects(&s, a), 3);
    // Room for the fork (two an entry); the lazily copied entries make
    // none until written.
    s.vm.set_limits(a, limits(|l| l.objects = 3 + 2 * 3), &mut s.pmap)
        .unwrap();
    let child = s.vm.fork(a, &mut s.pmap).unwrap();
    assert_eq!(objects(&s, a), 3);
    // The child's write pushes a shadow; at the limit the parent's is
    // refused and its page keeps its contents.
    s.write(child, va(2), &[7]).unwrap();
    assert_eq!(objects(&s, a), 4);
    s.vm.set_limits(a, limits(|l| l.objects = 4), &mut s.pmap)
        .unwrap();
    assert_eq!(s.write(a, va(4), &[8]), over);
    assert_eq!(s.read_u8(a, va(4)).unwrap(), 3);
    assert_eq!(s.read_u8(child, va(4)).unwrap(), 3);
    ok(&s);
    // mlock asks room for the objects its faults make before it faults
    // any: with room for one of two, nothing is made resident.
    let (w1, w2) = (va(20), va(21));
    for (v, prot) in [(w1, Prot::RW), (w2, Prot::READ)] {
        s.vm.mmap(a, &MmapArgs::anon(P, prot).fixed(v), &mut s.pmap)
            .unwrap();
    }
    s.vm.set_limits(a, limits(|l| l.objects = objects(&s, a) + 1), &mut s.pmap)
        .unwrap();
    let (before, resident) = (objects(&s, a), s.vm.usage(a).unwrap().resident_pages);
    assert_eq!(s.vm.mlock(a, w1, w2 + P - w1, &mut s.pmap), over);
    assert_eq!(objects(&s, a), before);
    assert_eq!(s.vm.usage(a).unwrap().resident_pages, resident);
    s.vm.mlock(a, w1, P, &mut s.pmap).unwrap();
    assert_eq!(objects(&s, a), before + 1);
    s.vm.set_limits(a, limits(|l| l.objects = 4), &mut s.pmap)
        .unwrap();
    s.vm.munmap(a, w1, w2 + P - w1, &mut s.pmap).unwrap();
    ok(&s);
    // The child's exit gives its shadow back.
    s.vm.exit(child, &mut s.pmap).unwrap();
    assert_eq!(objects(&s, a), 3);
    s.write(a, va(4), &[8]).unwrap();
    assert_eq!(s.read_u8(a, va(4)).unwrap(), 8);
    ok(&s);
}

fn sim_with_swap(frames: u32) -> (Sim, SpaceId) {
    let mut s = Sim::new(VmConfig::default(), frames);
    s.vm.swap_on(Box::new(vm_swap::SwapPager::new(
        vm_swap::RamDisk::new(1024, 64),
        16,
    )))
    .unwrap();
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    (s, sp)
}

// semantics: quota-resident
#[test]
fn past_its_resident_quota_a_group_pages_out_its_own_pages() {
    let (mut s, a) = sim_with_swap(256);
    let b = s.vm.space_create(&mut s.pmap).unwrap();
    s.vm.set_limits(a, limits(|l| l.resident_pages = 16), &mut s.pmap)
        .unwrap();
    let vb =
        s.vm.mmap(b, &MmapArgs::anon(32 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    for i in 0..32 {
        s.write(b, vb + i * P, &[7]).unwrap();
    }
    let va =
        s.vm.mmap(a, &MmapArgs::anon(64 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    for i in 0..64 {
        s.write(a, va + i * P, &[i as u8 + 1]).unwrap();
        assert!(s.vm.usage(a).unwrap().resident_pages <= 16);
    }
    for i in 0..64 {
        assert_eq!(s.read_u8(a, va + i * P).unwrap(), i as u8 + 1, "page {i}");
    }
    assert!(s.vm.usage(a).unwrap().swap_slots > 0);
    // The other group's pages were not touched by a's pageout.
    for i in 0..32 {
        assert!(s.vm.extract(b, vb + i * P).unwrap().is_some(), "b page {i}");
    }
    ok(&s);
    s.vm.check_swap().unwrap();
}

// semantics: quota-swap
#[test]
fn with_resident_and_swap_quotas_full_a_fault_fails_naming_swap() {
    let (mut s, a) = sim_with_swap(256);
    s.vm.set_limits(
        a,
        limits(|l| {
            l.resident_pages = 16;
            l.swap_slots = 32;
        }),
        &mut s.pmap,
    )
    .unwrap();
    let va =
        s.vm.mmap(a, &MmapArgs::anon(64 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    let mut written = 0;
    let err = loop {
        match s.write(a, va + written * P, &[1]) {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
        assert!(written < 64, "never refused");
    };
    assert_eq!(err, VmError::QuotaExceeded(Quota::Swap));
    assert_eq!(written, 48, "16 resident + 32 on swap");
    let u = s.vm.usage(a).unwrap();
    assert!(u.resident_pages <= 16 && u.swap_slots <= 32, "{u:?}");
    ok(&s);
    s.vm.check_swap().unwrap();
}

// semantics: quota-resident
#[test]
fn without_swap_the_resident_quota_is_a_hard_limit() {
    let (mut s, a) = sim();
    s.vm.set_limits(a, limits(|l| l.resident_pages = 16), &mut s.pmap)
        .unwrap();
    let va =
        s.vm.mmap(a, &MmapArgs::anon(64 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    for i in 0..16 {
        s.write(a, va + i * P, &[1]).unwrap();
    }
    assert_eq!(
        s.write(a, va + 16 * P, &[1]),
        Err(VmError::QuotaExceeded(Quota::Resident))
    );
    // A fork that would copy past it fails and changes nothing.
    s.vm.minherit(a, va, 64 * P, Inheritance::Share).unwrap();
    let c = s.vm.fork(a, &mut s.pmap).unwrap();
    s.vm.exit(c, &mut s.pmap).unwrap();
    ok(&s);
}
