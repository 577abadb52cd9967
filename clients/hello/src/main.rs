//! The smallest component: started by the root task from its embedded
//! image, it checks its start-info page and reports back over IPC.
#![no_std]
#![no_main]

use sel4::MessageInfo;
use sel4_root_task::println;
use sel4_root_task::start_info::{StartInfo, START_INFO_MAGIC};

sel4_root_task::component!(main, heap_size = 16 * 1024);

/// Label of the report message the root task expects (its `supervise` phase).
const REPORT_LABEL: u64 = 1;

fn main(info: &'static StartInfo) -> ! {
    let ok = info.magic == START_INFO_MAGIC && info.name() == "client-hello";
    println!(
        "{}: started as component {} with {} named caps",
        info.name(),
        info.id,
        info.caps().len()
    );
    let Some(root) = info.cap("root") else {
        println!("TEST FAIL component-start: no 'root' capability");
        loop {
            sel4::yield_now();
        }
    };
    // Heap works (the runtime set it up).
    let v: alloc::vec::Vec<u64> = (0..1000).collect();
    let ok = ok && v.iter().sum::<u64>() == 499_500;
    sel4::set_mr(0, ok as u64);
    let reply = sel4::call(root, MessageInfo::new(REPORT_LABEL, 0, 0, 1));
    if reply.label() != 0 {
        println!("{}: root task rejected the report", info.name());
    }
    loop {
        sel4::yield_now();
    }
}

extern crate alloc;
