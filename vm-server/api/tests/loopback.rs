//! The client stub against `dispatch` and an in-memory fake VM service, through a loopback transport.

use std::collections::{BTreeMap, HashMap};
use vm_api::*;

const BASE: u64 = 0x1000_0000;

/// A tiny model of the server: bump-allocated mappings, named objects and
/// per-client handle tables; counts the requests it serves.
#[derive(Default)]
struct Fake {
    calls: usize,
    next_addr: u64,
    maps: BTreeMap<(u64, u64), (u64, Prot)>,
    names: HashMap<String, u32>,
    objects: u32,
    handles: HashMap<(u64, u32), (u32, Prot)>,
    next_handle: u32,
    next_client: u64,
    exited: Vec<(u64, u64)>,
    last_mmap: Option<MmapRequest>,
    /// Device 0 is detached (a swap model: client 1 alone may switch it).
    swap_off: bool,
}

fn check(addr: u64, len: u64) -> Result<(), ApiError> {
    if len == 0 {
        return Err(ApiError::ZeroLength);
    }
    if !addr.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
        return Err(ApiError::Unaligned);
    }
    addr.checked_add(len).map(drop).ok_or(ApiError::Overflow)
}

impl Fake {
    fn new_handle(&mut self, client: u64, object: u32, rights: Prot) -> Handle {
        self.next_handle += 1;
        self.handles
            .insert((client, self.next_handle), (object, rights));
        Handle(self.next_handle)
    }
    fn mapped(&self, client: u64, addr: u64) -> Option<Prot> {
        self.maps
            .range(..=(client, addr))
            .next_back()
            .filter(|((c, a), (len, _))| *c == client && addr < a + len)
            .map(|(_, (_, p))| *p)
    }
}

impl VmService for Fake {
    fn ping(&mut self, _: u64, r: PingRequest) -> Result<PingReply, ApiError> {
        self.calls += 1;
        Ok(PingReply {
            cookie: r.cookie ^ 0xff,
        })
    }
    /// Twenty clients of odd ids 1..=39, each with `faults` = its id;
    /// client 1 alone may list them (the `observe` model).
    fn client_list(
        &mut self,
        client: u64,
        r: ClientListRequest,
    ) -> Result<ClientListReply, ApiError> {
        self.calls += 1;
        if client != 1 {
            return Err(ApiError::NotPermitted);
        }
        let mut list = ClientListReply::new();
        for id in (1..=39u64).step_by(2).filter(|&id| id >= r.from) {
            let entry = ClientSummary {
                client: id,
                name: ClientName::truncated(&format!("client-{id}")),
                faults: id,
                ..Default::default()
            };
            if !list.push(entry) {
                assert!(list.set_next(id));
                break;
            }
        }
        Ok(list)
    }
    fn stats(&mut self, _: u64) -> Result<VmStats, ApiError> {
        self.calls += 1;
        Ok(VmStats {
            pagesize: PAGE_SIZE,
            mmaps: self.maps.len() as u64,
            forks: self.next_client,
            ..Default::default()
        })
    }
    fn client_stats(&mut self, client: u64) -> Result<ClientStats, ApiError> {
        self.calls += 1;
        let mapped = self
            .maps
            .iter()
            .filter(|((c, _), _)| *c == client)
            .map(|(_, (len, _))| len)
            .sum();
        Ok(ClientStats {
            client,
            mapped_bytes: mapped,
            ..Default::default()
        })
    }
    fn mmap(&mut self, client: u64, r: MmapRequest) -> Result<MmapReply, ApiError> {
        self.calls += 1;
        self.last_mmap = Some(r);
        if !r.max_prot.contains(r.prot) {
            return Err(ApiError::MaxProtection);
        }
        if let MapSource::Handle { handle, .. } = r.source {
            self.handles
                .get(&(client, handle.0))
                .ok_or(ApiError::BadHandle)?;
        }
        let addr = if r.flags.contains(MapFlags::FIXED) {
            r.addr
        } else {
            BASE + self.next_addr
        };
        check(addr, r.len)?;
        self.next_addr = addr + r.len - BASE;
        self.maps.insert((client, addr), (r.len, r.prot));
        Ok(MmapReply { addr })
    }
    fn munmap(&mut self, client: u64, r: RangeRequest) -> Result<(), ApiError> {
        self.calls += 1;
        check(r.addr, r.len)?;
        self.maps.remove(&(client, r.addr));
        Ok(())
    }
    fn mprotect(&mut self, client: u64, r: MprotectRequest) -> Result<(), ApiError> {
        self.calls += 1;
        check(r.addr, r.len)?;
        let e = self
            .maps
            .get_mut(&(client, r.addr))
            .ok_or(ApiError::NoMapping)?;
        e.1 = r.prot;
        Ok(())
    }
    fn minherit(&mut self, _: u64, r: MinheritRequest) -> Result<(), ApiError> {
        self.calls += 1;
        check(r.addr, r.len)?;
        (r.inheritance != Inheritance::None)
            .then_some(())
            .ok_or(ApiError::NotSupported)
    }
    fn madvise(&mut self, _: u64, r: MadviseRequest) -> Result<(), ApiError> {
        self.calls += 1;
        check(r.addr, r.len)
    }
    fn msync(&mut self, _: u64, r: MsyncRequest) -> Result<(), ApiError> {
        self.calls += 1;
        if r.flags.contains(MsyncFlags::ASYNC | MsyncFlags::SYNC) {
            return Err(ApiError::InvalidArgument);
        }
        check(r.addr, r.len)
    }
    /// Page p (absolute page number) reports `p % 8` if mapped.
    fn mincore(&mut self, client: u64, r: RangeRequest) -> Result<MincoreReply, ApiError> {
        self.calls += 1;
        check(r.addr, r.len)?;
        let mut out = MincoreReply::new();
        let mut a = r.addr;
        while a < r.addr + r.len && out.push(Mincore::empty()) {
            self.mapped(client, a).ok_or(ApiError::NoMapping)?;
            a += PAGE_SIZE;
        }
        let bytes: Vec<u8> = (0..out.len() as u64)
            .map(|i| ((r.addr / PAGE_SIZE + i) % 8) as u8)
            .collect();
        Ok(MincoreReply::from_bytes(&bytes))
    }
    fn mlock(&mut self, _: u64, r: RangeRequest) -> Result<(), ApiError> {
        self.calls += 1;
        check(r.addr, r.len)
    }
    fn munlock(&mut self, _: u64, r: RangeRequest) -> Result<(), ApiError> {
        self.calls += 1;
        check(r.addr, r.len)
    }
    fn shm_create(&mut self, client: u64, r: ShmCreateRequest) -> Result<HandleReply, ApiError> {
        self.calls += 1;
        self.objects += 1;
        if let Some(n) = r.name.as_option() {
            if self.names.contains_key(n) {
                return Err(ApiError::NameExists);
            }
            self.names.insert(n.to_string(), self.objects);
        }
        let o = self.objects;
        Ok(HandleReply {
            handle: self.new_handle(client, o, Prot::ALL),
        })
    }
    fn shm_open(&mut self, client: u64, r: ShmOpenRequest) -> Result<HandleReply, ApiError> {
        self.calls += 1;
        let o = *self
            .names
            .get(r.name.as_str())
            .ok_or(ApiError::NoSuchName)?;
        Ok(HandleReply {
            handle: self.new_handle(client, o, r.rights),
        })
    }
    fn shm_unlink(&mut self, _: u64, r: ShmUnlinkRequest) -> Result<(), ApiError> {
        self.calls += 1;
        self.names
            .remove(r.name.as_str())
            .map(drop)
            .ok_or(ApiError::NoSuchName)
    }
    fn shm_truncate(&mut self, client: u64, r: ShmTruncateRequest) -> Result<(), ApiError> {
        self.calls += 1;
        let (_, rights) = self
            .handles
            .get(&(client, r.handle.0))
            .ok_or(ApiError::BadHandle)?;
        if !rights.contains(Prot::WRITE) {
            return Err(ApiError::Protection);
        }
        Ok(())
    }
    fn handle_close(&mut self, client: u64, r: HandleCloseRequest) -> Result<(), ApiError> {
        self.calls += 1;
        self.handles
            .remove(&(client, r.handle.0))
            .map(drop)
            .ok_or(ApiError::BadHandle)
    }
    fn handle_accept(&mut self, _: u64, _: HandleAcceptRequest) -> Result<(), ApiError> {
        self.calls += 1;
        Ok(())
    }
    fn handle_share(
        &mut self,
        client: u64,
        r: HandleShareRequest,
    ) -> Result<HandleReply, ApiError> {
        self.calls += 1;
        let (o, rights) = *self
            .handles
            .get(&(client, r.handle.0))
            .ok_or(ApiError::BadHandle)?;
        // Clients 1 and 2 exist from the start, forks add more.
        if r.to == 0 || r.to > self.next_client + 2 {
            return Err(ApiError::BadClient);
        }
        if !rights.contains(r.rights) {
            return Err(ApiError::Protection);
        }
        Ok(HandleReply {
            handle: self.new_handle(r.to, o, r.rights),
        })
    }
    fn fork(&mut self, _: u64) -> Result<ForkReply, ApiError> {
        self.calls += 1;
        self.next_client += 1;
        Ok(ForkReply::Parent {
            child: self.next_client + 1,
        })
    }
    fn exit(&mut self, client: u64, r: ExitRequest) -> Result<(), ApiError> {
        self.calls += 1;
        if self.exited.iter().any(|(c, _)| *c == client) {
            return Err(ApiError::BadClient);
        }
        self.exited.push((client, r.status));
        Ok(())
    }
    fn swap_info(&mut self, _: u64, r: SwapDeviceRequest) -> Result<SwapDeviceInfo, ApiError> {
        self.calls += 1;
        if r.device != 0 {
            return Err(ApiError::NoSuchDevice);
        }
        Ok(SwapDeviceInfo {
            attached: !self.swap_off,
            slots: 1024,
            in_use: if self.swap_off { 0 } else { 5 },
            ..Default::default()
        })
    }
    fn swap_off(&mut self, client: u64, r: SwapDeviceRequest) -> Result<(), ApiError> {
        self.swap_switch(client, r, true)
    }
    fn swap_on(&mut self, client: u64, r: SwapDeviceRequest) -> Result<(), ApiError> {
        self.swap_switch(client, r, false)
    }
}

impl Fake {
    fn swap_switch(
        &mut self,
        client: u64,
        r: SwapDeviceRequest,
        off: bool,
    ) -> Result<(), ApiError> {
        self.calls += 1;
        if client != 1 {
            return Err(ApiError::NotPermitted);
        }
        if r.device != 0 {
            return Err(ApiError::NoSuchDevice);
        }
        match (self.swap_off, off) {
            (true, true) => Err(ApiError::AlreadyOff),
            (false, false) => Err(ApiError::AlreadyOn),
            _ => {
                self.swap_off = off;
                Ok(())
            }
        }
    }
}

fn client(fake: &mut Fake, id: u64) -> VmClient<Loopback<'_, Fake>> {
    VmClient::with_transport(Loopback {
        service: fake,
        client: id,
    })
}

#[test]
fn ping_and_stats() {
    let mut fake = Fake::default();
    let mut c = client(&mut fake, 1);
    assert_eq!(c.ping(0x1234), Ok(0x12cb));
    c.mmap(&MmapRequest::anon(0x3000, Prot::RW)).unwrap();
    let s = c.stats().unwrap();
    assert_eq!((s.pagesize, s.mmaps), (PAGE_SIZE, 1));
    let cs = c.client_stats().unwrap();
    assert_eq!((cs.client, cs.mapped_bytes), (1, 0x3000));
    assert_eq!(fake.calls, 4);
}

#[test]
fn swap_control_through_the_stub() {
    let mut fake = Fake::default();
    let info = client(&mut fake, 2).swap_info(0).unwrap();
    assert!(info.attached && info.slots == 1024 && info.in_use == 5);
    assert_eq!(
        client(&mut fake, 2).swap_info(1),
        Err(ApiError::NoSuchDevice)
    );
    assert_eq!(
        client(&mut fake, 2).swap_off(0),
        Err(ApiError::NotPermitted)
    );
    let mut c = client(&mut fake, 1);
    assert_eq!(c.swap_on(0), Err(ApiError::AlreadyOn));
    assert_eq!(c.swap_off(0), Ok(()));
    assert_eq!(c.swap_off(0), Err(ApiError::AlreadyOff));
    let info = c.swap_info(0).unwrap();
    assert!(!info.attached && info.in_use == 0);
    assert_eq!(c.swap_on(0), Ok(()));
    assert_eq!(c.swap_off(3), Err(ApiError::NoSuchDevice));
    assert_eq!(fake.calls, 9);
}

#[test]
fn memory_operations() {
    let mut fake = Fake::default();
    let mut c = client(&mut fake, 1);
    let a = c.mmap(&MmapRequest::anon(0x4000, Prot::RW)).unwrap();
    assert_eq!(a, BASE);
    let b = c
        .mmap(&MmapRequest::anon(0x1000, Prot::READ).fixed(BASE + 0x10_0000))
        .unwrap();
    assert_eq!(b, BASE + 0x10_0000);
    let mut req = MmapRequest::anon(0x1000, Prot::ALL);
    req.max_prot = Prot::READ;
    assert_eq!(c.mmap(&req), Err(ApiError::MaxProtection));
    assert_eq!(
        c.mmap(&MmapRequest::anon(0x1001, Prot::RW)),
        Err(ApiError::Unaligned)
    );
    assert_eq!(
        c.mmap(&MmapRequest::object(Handle(9), 0, 0x1000, Prot::READ)),
        Err(ApiError::BadHandle)
    );
    assert_eq!(c.mprotect(a, 0x4000, Prot::READ), Ok(()));
    assert_eq!(
        c.mprotect(a + 0x8000, 0x1000, Prot::READ),
        Err(ApiError::NoMapping)
    );
    assert_eq!(c.minherit(a, 0x4000, Inheritance::Share), Ok(()));
    assert_eq!(
        c.minherit(a, 0x4000, Inheritance::None),
        Err(ApiError::NotSupported)
    );
    for adv in Advice::ALL {
        assert_eq!(c.madvise(a, 0x4000, adv), Ok(()));
    }
    assert_eq!(
        c.msync(a, 0x4000, MsyncFlags::SYNC | MsyncFlags::INVALIDATE),
        Ok(())
    );
    assert_eq!(
        c.msync(a, 0x4000, MsyncFlags::SYNC | MsyncFlags::ASYNC),
        Err(ApiError::InvalidArgument)
    );
    assert_eq!(c.mlock(a, 0x4000), Ok(()));
    assert_eq!(c.munlock(a, 0), Err(ApiError::ZeroLength));
    assert_eq!(c.munlock(a, 0x4000), Ok(()));
    assert_eq!(c.munmap(a, 0x4000), Ok(()));
    assert_eq!(c.munmap(!0xfff, 0x2000), Err(ApiError::Overflow));
    assert_eq!(fake.maps.len(), 1);
    let last = fake.last_mmap.unwrap();
    assert_eq!(
        last.source,
        MapSource::Handle {
            handle: Handle(9),
            offset: 0
        }
    );
    assert_eq!(last.flags, MapFlags::SHARED);
}

#[test]
fn mincore_loops_over_large_ranges() {
    let mut fake = Fake::default();
    let mut c = client(&mut fake, 1);
    let pages = 3 * MINCORE_MAX_PAGES + 5;
    let len = pages as u64 * PAGE_SIZE;
    let a = c.mmap(&MmapRequest::anon(len, Prot::RW)).unwrap();
    let mut out = vec![Mincore::all(); pages];
    assert_eq!(c.mincore(a, len, &mut out), Ok(pages));
    for (i, m) in out.iter().enumerate() {
        assert_eq!(m.bits() as u64, (a / PAGE_SIZE + i as u64) % 8, "page {i}");
    }
    // Too small an output buffer is refused before any call.
    let before = fake.calls;
    let mut c = client(&mut fake, 1);
    assert_eq!(
        c.mincore(a, len, &mut out[..10]),
        Err(ApiError::InvalidArgument)
    );
    // Errors of a later run come back as they are.
    let mut big = vec![Mincore::empty(); pages + 1000];
    assert_eq!(
        c.mincore(a, len + 1000 * PAGE_SIZE, &mut big),
        Err(ApiError::NoMapping)
    );
    assert_eq!(fake.calls, before + 4);
    // One page.
    let mut c = client(&mut fake, 1);
    let mut one = [Mincore::empty()];
    assert_eq!(c.mincore(a + PAGE_SIZE, PAGE_SIZE, &mut one), Ok(1));
    assert_eq!(one[0].bits() as u64, (a / PAGE_SIZE + 1) % 8);
}

#[test]
fn shared_memory_and_handles() {
    let mut fake = Fake::default();
    let mut c = client(&mut fake, 1);
    let h = c.shm_create("buffer", 0x4000, Prot::ALL).unwrap();
    assert_eq!(
        c.shm_create("buffer", 0x4000, Prot::ALL),
        Err(ApiError::NameExists)
    );
    let anon = c.shm_create("", 0x1000, Prot::ALL).unwrap();
    assert_ne!(h, anon);
    let ro = c.shm_open("buffer", Prot::READ).unwrap();
    assert_eq!(c.shm_truncate(ro, 0x1000), Err(ApiError::Protection));
    assert_eq!(c.shm_truncate(h, 0x1000), Ok(()));
    assert_eq!(c.shm_open("nothing", Prot::READ), Err(ApiError::NoSuchName));
    let name64 = "n".repeat(64);
    assert!(c.shm_create(&name64, 0, Prot::ALL).is_ok());
    assert!(c.shm_open(&name64, Prot::ALL).is_ok());
    let calls = fake.calls;
    let mut c = client(&mut fake, 1);
    let name65 = "n".repeat(65);
    assert_eq!(
        c.shm_create(&name65, 0, Prot::ALL),
        Err(ApiError::NameTooLong)
    );
    assert_eq!(c.shm_open(&name65, Prot::READ), Err(ApiError::NameTooLong));
    assert_eq!(c.shm_unlink(&name65), Err(ApiError::NameTooLong));
    assert_eq!(fake.calls, calls, "too-long names are refused locally");
    let mut c = client(&mut fake, 1);
    assert_eq!(c.shm_unlink("buffer"), Ok(()));
    assert_eq!(c.shm_unlink("buffer"), Err(ApiError::NoSuchName));
    let unicode = "μ-объект-共有";
    c.shm_create(unicode, 0, Prot::ALL).unwrap();
    assert!(fake.names.contains_key(unicode));
    // Share with client 2, which can map it.
    let mut c = client(&mut fake, 1);
    assert_eq!(c.handle_share(h, 2, Prot::ALL).map(|_| ()), Ok(()));
    assert_eq!(c.handle_share(ro, 2, Prot::RW), Err(ApiError::Protection));
    assert_eq!(c.handle_share(h, 99, Prot::READ), Err(ApiError::BadClient));
    let theirs = c.handle_share(h, 2, Prot::READ).unwrap();
    let mut c2 = client(&mut fake, 2);
    let a = c2
        .mmap(&MmapRequest::object(theirs, 0, 0x1000, Prot::READ))
        .unwrap();
    assert!(a >= BASE);
    assert_eq!(c2.handle_close(theirs), Ok(()));
    assert_eq!(c2.handle_close(theirs), Err(ApiError::BadHandle));
}

#[test]
fn fork_and_exit() {
    let mut fake = Fake::default();
    let mut c = client(&mut fake, 1);
    assert_eq!(c.fork(), Ok(ForkReply::Parent { child: 2 }));
    assert_eq!(c.fork(), Ok(ForkReply::Parent { child: 3 }));
    assert_eq!(c.exit(7), Ok(()));
    assert_eq!(c.exit(7), Err(ApiError::BadClient));
    assert_eq!(fake.exited, vec![(1, 7)]);
}

/// What the server writes into a forked child's IPC buffer decodes, in the
/// child, as the child's answer to its `Fork` call.
#[test]
fn fork_child_reply_decodes() {
    let mut w = [0u64; MAX_WORDS];
    let (label, len) = Reply::Fork(ForkReply::Child { parent: 1 }).encode(&mut w);
    assert!(len <= 4, "fits the register message registers");
    struct Canned(u64, Vec<u64>);
    impl Transport for Canned {
        fn call(&mut self, _: u64, _: &[u64], reply: &mut [u64]) -> (u64, usize) {
            reply[..self.1.len()].copy_from_slice(&self.1);
            (self.0, self.1.len())
        }
    }
    let mut c = VmClient::with_transport(Canned(label, w[..len].to_vec()));
    assert_eq!(c.fork(), Ok(ForkReply::Child { parent: 1 }));
}

/// `clients` asks page after page (9 clients each) until the list
/// ends or `out` is full; a client without the privilege is refused.
#[test]
fn client_list_pages_through_the_stub() {
    let mut fake = Fake::default();
    let mut out = [ClientSummary::default(); 32];
    assert_eq!(client(&mut fake, 1).clients(&mut out), Ok(20));
    assert_eq!(fake.calls, 3, "9 + 9 + 2");
    let ids: Vec<u64> = out[..20].iter().map(|e| e.client).collect();
    assert_eq!(ids, (1..=39).step_by(2).collect::<Vec<u64>>());
    assert!(out[..20].iter().all(|e| e.faults == e.client));
    assert_eq!(out[19].name.as_str(), "client-39");
    // A short `out`: the first clients, no more calls than needed.
    let mut few = [ClientSummary::default(); 10];
    fake.calls = 0;
    assert_eq!(client(&mut fake, 1).clients(&mut few), Ok(10));
    assert_eq!((fake.calls, few[9].client), (2, 19));
    let page = client(&mut fake, 1).client_list_page(36).unwrap();
    assert_eq!(
        (page.entries().len(), page.entries()[0].client, page.next()),
        (2, 37, None)
    );
    assert_eq!(
        client(&mut fake, 3).clients(&mut out),
        Err(ApiError::NotPermitted)
    );
}

/// A server answering with garbage gives `MalformedReply`, never a panic
/// or a wrong value.
#[test]
fn malformed_replies() {
    struct Canned(u64, Vec<u64>);
    impl Transport for Canned {
        fn call(&mut self, _: u64, _: &[u64], reply: &mut [u64]) -> (u64, usize) {
            let n = self.1.len().min(reply.len());
            reply[..n].copy_from_slice(&self.1[..n]);
            (self.0, self.1.len())
        }
    }
    let cases: [(u64, Vec<u64>); 6] = [
        (0, vec![]),                 // mmap reply without its address
        (0, vec![1, 2]),             // one word too many
        (0x777, vec![]),             // unknown error code
        (8, vec![1]),                // an error with words
        (0, vec![0; MAX_WORDS]),     // too long
        (0, vec![0; MAX_WORDS + 5]), // longer than a message
    ];
    for (label, words) in cases {
        let mut c = VmClient::with_transport(Canned(label, words));
        assert_eq!(
            c.mmap(&MmapRequest::anon(0x1000, Prot::RW)),
            Err(ApiError::MalformedReply)
        );
    }
    // mincore: a server that reports no pages would loop forever.
    let mut c = VmClient::with_transport(Canned(0, vec![0]));
    let mut out = [Mincore::empty(); 4];
    assert_eq!(
        c.mincore(BASE, 0x4000, &mut out),
        Err(ApiError::MalformedReply)
    );
    // ... or more pages than asked for.
    let mut c = VmClient::with_transport(Canned(0, vec![9, 0, 0]));
    assert_eq!(
        c.mincore(BASE, 0x4000, &mut out),
        Err(ApiError::MalformedReply)
    );
    let mut c = VmClient::with_transport(Canned(ApiError::NoMapping.code(), vec![]));
    assert_eq!(c.mincore(BASE, 0x4000, &mut out), Err(ApiError::NoMapping));
    // clients: a full page whose `next` leads back to the first id would
    // loop forever; the stub sees the second page list below `from`.
    let mut full = vec![CLIENT_LIST_MAX as u64, 100];
    for id in 1..=CLIENT_LIST_MAX as u64 {
        full.extend([id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
    let mut c = VmClient::with_transport(Canned(0, full));
    let mut list = [ClientSummary::default(); 64];
    assert_eq!(c.clients(&mut list), Err(ApiError::MalformedReply));
    // A `next` with a reply that is not full does not decode.
    let mut c = VmClient::with_transport(Canned(0, vec![0, 5]));
    assert_eq!(c.clients(&mut list), Err(ApiError::MalformedReply));
}

/// The exact words the stub puts on the wire for one request.
#[test]
fn stub_sends_the_documented_layout() {
    struct Record(Vec<(u64, Vec<u64>)>);
    impl Transport for Record {
        fn call(&mut self, label: u64, words: &[u64], _: &mut [u64]) -> (u64, usize) {
            self.0.push((label, words.to_vec()));
            (0, 0)
        }
    }
    let mut c = VmClient::with_transport(Record(vec![]));
    c.madvise(0x2000, 0x3000, Advice::DontNeed).unwrap();
    c.shm_unlink("ab").unwrap();
    c.handle_close(Handle(5)).unwrap();
    c.exit(3).unwrap();
    let sent = c.transport.0;
    assert_eq!(sent[0], (0x114, vec![0x2000, 0x3000, 4]));
    assert_eq!(sent[1].0, 0x122);
    assert_eq!(sent[1].1.len(), 9);
    assert_eq!(sent[1].1[..2], [2, u64::from_le_bytes(*b"ab\0\0\0\0\0\0")]);
    assert_eq!(sent[2], (0x124, vec![5]));
    assert_eq!(sent[3], (0x131, vec![3]));
}
