//! The VM server: the pager of every client in the system.
//!
//! `main` reads top to bottom: `init()` builds the state from what the root
//! task handed over (untyped memory, an ASID pool, its endpoint, and each
//! client's TCB, CNode, VSpace and program image), `start_clients()` loads
//! and starts the clients, then the server loops `receive -> dispatch ->
//! reply` forever: page faults arrive as kernel fault messages, requests
//! as `vm-api` calls, both on one endpoint, told apart by label.
#![no_std]
#![no_main]

extern crate alloc;

mod convert;
mod frames;
mod kernel;
mod loader;
mod pmap;
mod server;
mod stats;
mod swapdev;

use alloc::format;
use alloc::string::{String, ToString};
use frames::FramePool;
use kernel::Kernel;
use pmap::Sel4Pmap;
use sel4::cap;
use sel4_objects::{SlotAllocator, UntypedAllocator};
use sel4_root_task::println;
use sel4_root_task::start_info::{PagerInfo, StartInfo, PAGER_INFO_MAGIC, PAGER_INFO_VADDR};
use server::{slots, ClientSetup, Outcome, Server};
use vm_core::{Vm, VmConfig};

sel4_root_task::component!(main, heap_size = 24 << 20);

/// A page of the server's VSpace for filling frames outside the pool.
const SCRATCH_VADDR: u64 = 0x0e_0000_0000;
/// Client address spaces: from 1 MiB (programs link at 4 MiB) to below
/// the IPC buffer and start-info pages every component has at the top.
const USER_MIN: u64 = 0x10_0000;
const USER_MAX: u64 = 0x7fff_0000_0000;
/// Share of the untyped grant that becomes pool frames; the rest pays for
/// paging structures, forked children's TCBs and CNodes.
const POOL_PERCENT: u64 = 70;

fn main(info: &'static StartInfo) -> ! {
    println!("vm-server: starting");
    let mut server = match init(info) {
        Ok(s) => s,
        Err(e) => halt(&format!("init failed: {e}")),
    };
    start_clients(&mut server);
    serve(&mut server)
}

/// Builds the frame pool, the pmap and the VM from the start-info page.
fn init(info: &StartInfo) -> Result<Server, String> {
    let bits = info.cnode_size_bits as u8;
    let cnode = cap::CNode::from_bits(slots::CNODE);
    let own_vspace = cap::VSpace::from_bits(slots::VSPACE);
    let slots = SlotAllocator::new(info.first_free_slot, 1 << bits);
    let untyped = UntypedAllocator::new(info.untyped());
    let mut kernel = Kernel::new(cnode, slots, untyped);
    let endpoint = info.cap("vm_ep").ok_or("no 'vm_ep' capability")?;
    let asid_pool = cap::AsidPool::from_bits(slots::ASID_POOL);

    let by_memory = kernel.untyped_free() * POOL_PERCENT / 100 / 4096;
    // Every resident page may also be mapped once or twice: keep slots for that.
    let by_slots = ((1u64 << bits) - info.first_free_slot) / 4;
    let frames = by_memory.min(by_slots) as u32;
    println!(
        "vm-server: {} MiB untyped, pool of {frames} frames ({} MiB)",
        kernel.untyped_free() >> 20,
        (frames as u64 * 4096) >> 20
    );
    let pool = FramePool::new(&mut kernel, own_vspace, frames)?;
    let config = VmConfig {
        user_min: USER_MIN,
        user_max: USER_MAX,
        ..VmConfig::default()
    };
    let vm = Vm::new(config, frames).map_err(|e| format!("VM: {e:?}"))?;
    let pmap = Sel4Pmap::new(kernel, pool, asid_pool);
    let root = Some(sel4::CPtr::from_bits(sel4_root_task::control::ROOT_SLOT));
    let mut server = Server::new(vm, pmap, endpoint, root, SCRATCH_VADDR);
    if let Err(e) = attach_swap(info, &mut server) {
        println!("vm-server: no swap: {e}");
    }
    Ok(server)
}

/// Where the swap channel (ring page + data window) is mapped.
const SWAP_CHANNEL_VADDR: u64 = 0x30_0000_0000;
/// Pages per pageout write and page-in read-ahead at most.
const SWAP_CLUSTER: u32 = 16;

/// Maps the channel to the block server the spec gives (`swap_shm`
/// frames, `swap_done` notification bound to us, `blk_ntfn` doorbell) and
/// makes the swap partition the VM's swap device.
fn attach_swap(info: &StartInfo, server: &mut Server) -> Result<(), String> {
    let Some(shm) = info.named("swap_shm") else {
        return Err("the spec gives no swap_shm channel".into());
    };
    let pages = shm.data;
    if pages < 2 {
        return Err(format!(
            "swap_shm has {pages} pages, need a ring page and buffers"
        ));
    }
    let done = info.cap("swap_done").ok_or("no swap_done notification")?;
    let doorbell = info.cap("blk_ntfn").ok_or("no blk_ntfn doorbell")?;
    let own = cap::VSpace::from_bits(slots::VSPACE);
    for i in 0..pages {
        let frame = cap::Granule::from_bits(shm.slot + i);
        let k = &mut server.pmap.kernel;
        let mut make = |ty| k.object(ty, 0);
        sel4_objects::map_page(
            own,
            frame,
            SWAP_CHANNEL_VADDR + i * 4096,
            sel4::CapRights::read_write(),
            &mut make,
        )
        .map_err(|e| format!("swap channel page {i}: {e}"))?;
    }
    let bell = block_api::Sel4Notifier { doorbell, done };
    // SAFETY: just mapped read-write for good; shared only with the block server.
    let disk = unsafe { swapdev::SwapDisk::open(SWAP_CHANNEL_VADDR as *mut u8, pages - 1, bell)? };
    let blocks = vm_swap::BlockDevice::block_count(&disk);
    let pager = vm_swap::SwapPager::new(disk, SWAP_CLUSTER);
    server
        .vm
        .swap_on(alloc::boxed::Box::new(pager))
        .map_err(|e| format!("swap on: {e:?}"))?;
    println!(
        "vm-server: swapping to the block server: {blocks} blocks ({} MiB)",
        blocks >> 8
    );
    // The channel's mappings are the server's own, like the pool.
    server.baseline = stats::kernel_use(server);
    Ok(())
}

/// Loads every client the root task described and starts it.
fn start_clients(server: &mut Server) {
    // SAFETY: the root task maps the pager-info page read-only at this
    // address in every component it makes a pager.
    let pinfo = unsafe { &*(PAGER_INFO_VADDR as *const PagerInfo) };
    if pinfo.magic != PAGER_INFO_MAGIC {
        println!("vm-server: no pager-info page; no clients");
        return;
    }
    for c in pinfo.clients() {
        let name = c.name().to_string();
        // SAFETY: the root task mapped the client's ELF file read-only here.
        let image = unsafe {
            core::slice::from_raw_parts(c.image_vaddr as *const u8, c.image_len as usize)
        };
        let setup = ClientSetup {
            name: name.clone(),
            tcb: cap::Tcb::from_bits(c.tcb),
            cnode: cap::CNode::from_bits(c.cnode),
            vspace: cap::VSpace::from_bits(c.vspace),
            start_info: cap::Granule::from_bits(c.start_info_frame),
            cnode_bits: c.cnode_bits as u8,
            priority: c.priority as u8,
            request_slot: c.request_slot,
        };
        match server.add_client(c.badge, setup, image) {
            Ok(()) => {
                if let Err(e) = cap::Tcb::from_bits(c.tcb).tcb_resume() {
                    server.kill(c.badge, &format!("resume: {e:?}"), server::STATUS_KILLED);
                } else {
                    println!("vm-server: started client {name} (badge {})", c.badge);
                }
            }
            Err(e) => println!("vm-server: cannot load client {name}: {e}"),
        }
    }
}

/// The server loop: receive, dispatch, reply.
fn serve(server: &mut Server) -> ! {
    let ep = server.endpoint;
    let (mut info, mut badge) = sel4::recv(ep);
    loop {
        (info, badge) = match server.handle(info, badge) {
            Outcome::Reply(reply) => sel4::reply_recv(ep, reply),
            Outcome::NoReply => sel4::recv(ep),
        };
    }
}

fn halt(why: &str) -> ! {
    println!("vm-server: {why}");
    panic!("vm-server cannot continue");
}
