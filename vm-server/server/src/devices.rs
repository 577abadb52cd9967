//! Device regions (docs/devices.md): the regions the root task's device-info page lists, each made a physical object of the VM core over frame numbers past the pool, its frame caps given to the pmap (which maps them uncacheable), and registered with the service by name; and each client's grants from the same page.

use crate::Server;
use sel4_root_task::device_info::{DeviceInfo, DEVICE_INFO_MAGIC, DEVICE_INFO_VADDR};
use sel4_root_task::println;
use vm_service::DeviceGrants;

/// The device-info page, if the root task wrote one.
fn page() -> Option<&'static DeviceInfo> {
    // SAFETY: the root task maps a device-info page read-only at this
    // address in every pager it starts (`root-task/src/devices.rs`), for
    // the pager's lifetime.
    let info = unsafe { &*(DEVICE_INFO_VADDR as *const DeviceInfo) };
    (info.magic == DEVICE_INFO_MAGIC).then_some(info)
}

/// Makes every region of the device-info page a device region of the VM
/// and registers it with the service. Before the clients start, and
/// before the server records its kernel-object baseline.
pub fn attach_devices(server: &mut Server) {
    let Some(info) = page() else {
        println!("vm-server: no device-info page; no device regions");
        return;
    };
    for r in info.regions() {
        let pages = r.pages as u32;
        let (object, base) = match server.vm.device_create(pages) {
            Ok(x) => x,
            Err(e) => {
                println!("vm-server: device {}: {e:?}", r.name());
                continue;
            }
        };
        let got = server.platform.pmap.add_device_frames(r.first_slot, pages);
        assert_eq!(got, base, "the pmap and the VM number device frames alike");
        if server.add_device(r.name(), object).is_none() {
            println!("vm-server: device {}: not registered", r.name());
            continue;
        }
        println!(
            "vm-server: device {}: {} KiB at {:#x}, frames {}..{} (uncacheable)",
            r.name(),
            u64::from(pages) * 4,
            r.paddr,
            base.0,
            base.0 + pages
        );
    }
}

/// The device regions client `index` of the pager-info page may open.
pub fn grants(index: usize) -> DeviceGrants {
    page()
        .and_then(|p| p.grants.get(index))
        .map(|g| DeviceGrants {
            read: g.read,
            write: g.write & g.read,
        })
        .unwrap_or_default()
}
