//! Device regions through the service (`DeviceOpen`, docs/devices.md): only the regions the spec grants a client, with at most the granted rights, hostile names and probing answered alike, handles counted against the quota, a forked child with its parent's grants, and a shared mapping of the handle that reaches the device's frames.

use vm_api::{ApiError, ForkReply, MapFlags, MmapRequest, Prot};
use vm_core::{FrameNumber, Limits, Vm, VmConfig, PAGE_SIZE};
use vm_service::{ClientId, DeviceGrants, Privileges, Service, FIRST_CHILD};

mod common;
use common::{client, with_sim, Svc, TestPlatform};

const P: u64 = PAGE_SIZE;
const FRAMES: u32 = 64;
/// Granted `ivshmem` read-write and `fb` read-only.
const OWNER: ClientId = 1;
/// Granted `fb` read-only.
const VIEWER: ClientId = 2;
/// Granted nothing.
const STRANGER: ClientId = 3;

/// A service holding two regions (`ivshmem`, 4 pages; `fb`, 2 pages)
/// and three clients; returns it with the regions' first frames.
fn service() -> (Svc, FrameNumber, FrameNumber) {
    let vm = Vm::new(VmConfig::default(), FRAMES).unwrap();
    let mut svc = Service::new(vm, TestPlatform::new(FRAMES));
    let mut regions = Vec::new();
    for (name, pages) in [("ivshmem", 4), ("fb", 2)] {
        let (o, base) = svc.vm.device_create(pages).unwrap();
        svc.platform.pmap.add_device_frames(pages);
        assert_eq!(svc.add_device(name, o), Some(regions.len()));
        regions.push(base);
    }
    let grants = [
        (
            OWNER,
            DeviceGrants {
                read: 0b11,
                write: 0b01,
            },
        ),
        (
            VIEWER,
            DeviceGrants {
                read: 0b10,
                write: 0,
            },
        ),
        (STRANGER, DeviceGrants::default()),
    ];
    for (id, devices) in grants {
        let sp = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
        let privileges = Privileges {
            devices,
            ..Privileges::default()
        };
        svc.add_client(id, format!("c{id}"), sp, privileges);
    }
    (svc, regions[0], regions[1])
}

fn map(
    svc: &mut Svc,
    id: ClientId,
    h: vm_api::Handle,
    pages: u64,
    prot: Prot,
) -> Result<u64, ApiError> {
    client(svc, id).mmap(&MmapRequest::object(h, 0, pages * P, prot))
}

#[test]
fn a_granted_region_opens_and_maps_onto_the_device() {
    // semantics: device-open, device-map
    let (mut svc, ivshmem, _) = service();
    let h = client(&mut svc, OWNER)
        .device_open("ivshmem", Prot::RW)
        .unwrap();
    let va = map(&mut svc, OWNER, h, 4, Prot::RW).unwrap();
    let sp = svc.client(OWNER).unwrap().space;
    with_sim(&mut svc, |s| {
        for i in 0..4u64 {
            s.write(sp, va + i * P, &[0xa0 + i as u8]).unwrap();
        }
        for i in 0..4u32 {
            let f = FrameNumber(ivshmem.0 + i);
            assert_eq!(s.pmap.frame(f)[0], 0xa0 + i as u8);
        }
        s.check().unwrap();
    });
    // A private mapping of it is refused.
    let private = MmapRequest {
        flags: MapFlags::PRIVATE,
        ..MmapRequest::object(h, 0, P, Prot::READ)
    };
    assert_eq!(
        client(&mut svc, OWNER).mmap(&private),
        Err(ApiError::InvalidArgument)
    );
}

#[test]
fn names_not_granted_do_not_exist_for_the_caller() {
    // semantics: device-open
    let (mut svc, _, _) = service();
    let hostile = [
        "",
        "ivshmem\0",
        "IVSHMEM",
        "ivshmem ",
        "../ivshmem",
        "fb/../ivshmem",
        "no-such-device",
        "a-name-of-exactly-sixty-four-bytes-the-longest-one-request-holds",
    ];
    for name in hostile {
        for id in [OWNER, VIEWER, STRANGER] {
            let got = client(&mut svc, id).device_open(name, Prot::READ);
            assert!(
                matches!(got, Err(ApiError::NoSuchName | ApiError::InvalidArgument)),
                "{name:?} by {id}: {got:?}"
            );
        }
    }
    assert_eq!(
        client(&mut svc, OWNER).device_open(&"i".repeat(65), Prot::READ),
        Err(ApiError::NameTooLong)
    );
    // Granted to someone else: the same answer as a region that does not exist.
    assert_eq!(
        client(&mut svc, VIEWER).device_open("ivshmem", Prot::READ),
        Err(ApiError::NoSuchName)
    );
    assert_eq!(
        client(&mut svc, STRANGER).device_open("fb", Prot::READ),
        Err(ApiError::NoSuchName)
    );
    // Nothing was opened by any of it.
    for id in [OWNER, VIEWER, STRANGER] {
        let sp = svc.client(id).unwrap().space;
        assert_eq!(svc.vm.space(sp).unwrap().handle_count(), 0);
    }
}

#[test]
fn rights_are_at_most_the_grant() {
    // semantics: device-open, device-mprotect
    let (mut svc, _, _) = service();
    assert_eq!(
        client(&mut svc, VIEWER).device_open("fb", Prot::RW),
        Err(ApiError::Protection)
    );
    assert_eq!(
        client(&mut svc, OWNER).device_open("fb", Prot::READ | Prot::EXEC),
        Err(ApiError::Protection)
    );
    assert_eq!(
        client(&mut svc, OWNER).device_open("ivshmem", Prot::EXEC),
        Err(ApiError::Protection)
    );
    let h = client(&mut svc, VIEWER)
        .device_open("fb", Prot::READ)
        .unwrap();
    assert_eq!(
        map(&mut svc, VIEWER, h, 2, Prot::RW),
        Err(ApiError::Protection)
    );
    let va = map(&mut svc, VIEWER, h, 2, Prot::READ).unwrap();
    assert_eq!(
        client(&mut svc, VIEWER).mprotect(va, P, Prot::RW),
        Err(ApiError::MaxProtection)
    );
}

#[test]
fn each_open_handle_counts_against_the_quota() {
    // semantics: device-open, quota-handles
    let (mut svc, _, _) = service();
    let sp = svc.client(OWNER).unwrap().space;
    let limits = Limits {
        handles: 2,
        ..Limits::UNLIMITED
    };
    svc.vm
        .set_limits(sp, limits, &mut svc.platform.pmap)
        .unwrap();
    let a = client(&mut svc, OWNER)
        .device_open("ivshmem", Prot::READ)
        .unwrap();
    client(&mut svc, OWNER)
        .device_open("fb", Prot::READ)
        .unwrap();
    assert_eq!(
        client(&mut svc, OWNER).device_open("ivshmem", Prot::READ),
        Err(ApiError::QuotaHandles)
    );
    client(&mut svc, OWNER).handle_close(a).unwrap();
    client(&mut svc, OWNER)
        .device_open("ivshmem", Prot::RW)
        .unwrap();
}

#[test]
fn a_forked_child_has_its_parents_grants_and_shares_the_mapping() {
    // semantics: device-open, device-fork
    let (mut svc, ivshmem, _) = service();
    let h = client(&mut svc, OWNER)
        .device_open("ivshmem", Prot::RW)
        .unwrap();
    let va = map(&mut svc, OWNER, h, 4, Prot::RW).unwrap();
    let ForkReply::Parent { child } = client(&mut svc, OWNER).fork().unwrap() else {
        panic!("the parent's reply");
    };
    assert_eq!(child, FIRST_CHILD);
    // The child opens what its parent may, and no more.
    client(&mut svc, child)
        .device_open("fb", Prot::READ)
        .unwrap();
    assert_eq!(
        client(&mut svc, child).device_open("fb", Prot::RW),
        Err(ApiError::Protection)
    );
    let (psp, csp) = (
        svc.client(OWNER).unwrap().space,
        svc.client(child).unwrap().space,
    );
    with_sim(&mut svc, |s| {
        s.write(csp, va + 2 * P, &[0x77]).unwrap();
        assert_eq!(s.read_u8(psp, va + 2 * P).unwrap(), 0x77);
        assert_eq!(s.pmap.frame(FrameNumber(ivshmem.0 + 2))[0], 0x77);
    });
    assert_eq!(
        client(&mut svc, OWNER).minherit(va, P, vm_api::Inheritance::Copy),
        Err(ApiError::InvalidArgument)
    );
}

#[test]
fn registering_regions() {
    let (mut svc, _, _) = service();
    let (o, _) = svc.vm.device_create(1).unwrap();
    assert_eq!(svc.add_device("fb", o), None, "a name registered twice");
    for i in 2..16 {
        assert_eq!(svc.add_device(&format!("r{i}"), o), Some(i));
    }
    assert_eq!(svc.add_device("r16", o), None, "grants are 16-bit masks");
    assert_eq!(svc.devices().len(), 16);
    let g = DeviceGrants {
        read: 1 << 15,
        write: 1 << 15,
    };
    assert_eq!(g.rights(15), Prot::RW);
    assert!(g.rights(16).is_empty());
}
