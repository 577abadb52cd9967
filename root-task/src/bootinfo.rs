//! The boot-info summary the root task prints first: how much RAM and
//! device memory the kernel handed over, and which root-CNode slots are free.

use core::ops::Range;
use sel4_root_task::println;

/// Totals taken from the kernel's boot info.
pub struct BootSummary {
    pub ram_untyped: usize,
    pub ram_bytes: u64,
    pub device_untyped: usize,
    pub device_bytes: u64,
    pub empty: Range<u64>,
}

/// Adds up the untyped list and prints the summary.
pub fn summarize(bi: &sel4::BootInfo) -> BootSummary {
    let mut s = BootSummary {
        ram_untyped: 0,
        ram_bytes: 0,
        device_untyped: 0,
        device_bytes: 0,
        empty: bi.empty(),
    };
    for u in bi.untyped_list() {
        let bytes = u.size();
        if u.is_device {
            s.device_untyped += 1;
            s.device_bytes += bytes;
        } else {
            s.ram_untyped += 1;
            s.ram_bytes += bytes;
        }
    }
    println!(
        "root-task: boot info: node {} of {}",
        bi.node_id(),
        bi.num_nodes()
    );
    println!(
        "root-task:   RAM untyped:    {:4} caps, {} bytes ({})",
        s.ram_untyped,
        s.ram_bytes,
        Size(s.ram_bytes)
    );
    println!(
        "root-task:   device untyped: {:4} caps, {} bytes ({}; device regions span the physical address space)",
        s.device_untyped,
        s.device_bytes,
        Size(s.device_bytes)
    );
    println!(
        "root-task:   empty slots:    {}..{} ({} slots, CNode of 2^{})",
        s.empty.start,
        s.empty.end,
        s.empty.end - s.empty.start,
        bi.init_thread_cnode_size_bits()
    );
    s
}

/// A byte count shown in the largest binary unit that keeps it at least 1.
pub struct Size(pub u64);

impl core::fmt::Display for Size {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
        let mut unit = 0;
        while unit + 1 < UNITS.len() && self.0 >> (10 * (unit + 1)) > 0 {
            unit += 1;
        }
        write!(f, "{} {}", self.0 >> (10 * unit), UNITS[unit])
    }
}
