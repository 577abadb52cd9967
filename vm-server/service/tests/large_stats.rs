//! The large-page counters through the service and the wire: a fault in
//! a `HugePage` range is one large fault, counted in the client's
//! `ClientStats`, its `ClientList` entry and the global `Stats` (with the
//! large pool's size and use), and it maps all 512 pages.

mod common;

use common::{client, Svc, TestPlatform};
use vm_api::{Advice, ClientSummary, MmapRequest, Prot, PAGE_SIZE};
use vm_core::sim::SimPmap;
use vm_core::{Access, Vm, VmConfig};
use vm_service::{ClientId, Message, Outcome, Privileges, Service};

const FRAMES: u32 = 256;
const LARGE_PAGES: u32 = 2;
const CHUNK: u64 = 2 << 20;
const ME: ClientId = 1;

fn service() -> Svc {
    let config = VmConfig {
        large_pages: LARGE_PAGES,
        ..VmConfig::default()
    };
    let vm = Vm::new(config, FRAMES).unwrap();
    let mut platform = TestPlatform::new(FRAMES);
    platform.pmap = SimPmap::with_large(FRAMES, LARGE_PAGES);
    platform.requests_wait = false;
    let mut svc = Service::new(vm, platform);
    let space = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
    let privileges = Privileges {
        observe: true,
        ..Privileges::default()
    };
    svc.add_client(ME, "large".into(), space, privileges);
    svc
}

#[test]
fn a_huge_page_fault_is_counted_everywhere() {
    let mut svc = service();
    let base = {
        let mut c = client(&mut svc, ME);
        let req = MmapRequest {
            align: CHUNK,
            ..MmapRequest::anon(2 * CHUNK, Prot::RW)
        };
        let base = c.mmap(&req).unwrap();
        c.madvise(base, 2 * CHUNK, Advice::HugePage).unwrap();
        base
    };
    assert_eq!(base % CHUNK, 0);
    let out = svc.handle(Message::Fault {
        client: ME,
        addr: base + 5 * PAGE_SIZE,
        access: Access::Write,
        ip: 0,
    });
    assert!(matches!(out, Outcome::Reply(_)), "{out:?}");
    let mut c = client(&mut svc, ME);
    let own = c.client_stats().unwrap();
    assert_eq!((own.faults, own.flt_large), (1, 1), "{own:?}");
    assert!(own.resident_pages >= 512, "{own:?}");
    let global = c.stats().unwrap();
    assert_eq!(
        (
            global.flt_large,
            global.large_allocs,
            global.large_pages,
            global.large_pages_used
        ),
        (1, 1, u64::from(LARGE_PAGES), 1),
        "{global:?}"
    );
    let mut entries = [ClientSummary::default(); 4];
    let n = c.clients(&mut entries).unwrap();
    assert_eq!(n, 1);
    assert_eq!(entries[0].flt_large, 1);
}
