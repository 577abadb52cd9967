//! The VM server: the pager of every client in the system.
//!
//! `main` reads top to bottom: `init()` builds the state from what the root
//! task handed over (untyped memory, an ASID pool, its endpoint, and each
//! client's TCB, CNode, VSpace and program image), `start_clients()` loads
//! and starts the clients, then the server loops `receive -> dispatch ->
//! reply` forever: page faults arrive as kernel fault messages, requests
//! as `vm-api` calls, both on one endpoint, told apart by label.
//!
//! Every decision is `vm-service`'s (pure, host-tested); this binary turns
//! a received message into a `vm_service::Message`, sends the `Answer`,
//! and carries out the kernel side (`platform.rs`).
//!
//! | file | owns |
//! | --- | --- |
//! | `main.rs` | init, starting clients, the receive/dispatch/reply loop |
//! | `platform.rs` | `vm_service::Platform` as seL4 invocations |
//! | `fork.rs` | a forked child's CNode, IPC buffer, TCB and registers |
//! | `pmap.rs` | the pmap: frame caps mapped into clients' VSpaces |
//! | `pmap_large.rs` | 2 MiB mappings of the large regions (`enter_large`) |
//! | `frames.rs` | the frame pool and the physmap |
//! | `kernel.rs` | kernel objects and slots, with per-type caches |
//! | `loader.rs` | loading a client's ELF image into its space |
//! | `swapdev.rs` | the swap channel to the block server as a `BlockDevice` |
//! | `pagers.rs` | the pager channels (`*_pager` frames) as the VM's external pagers |
//! | `devices.rs` | the device regions of the device-info page, mapped uncacheable |
//!
//! A client is known by the badge of its endpoint caps (the same badge on
//! its fault endpoint and its request endpoint: fault messages carry
//! kernel fault labels, requests labels from `0x100`). A forged "fault"
//! from a client can only ask for what touching its own memory would do.
#![no_std]
#![no_main]

extern crate alloc;

mod devices;
mod fork;
mod frames;
mod idle;
mod kernel;
mod loader;
mod pagers;
mod platform;
mod pmap;
mod swapdev;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use frames::FramePool;
use kernel::Kernel;
use platform::{slots, ClientCaps, Sel4Platform};
use pmap::Sel4Pmap;
use sel4::cap;
use sel4::{Fault, MessageInfo, Word};
use sel4_objects::{SlotAllocator, UntypedAllocator};
use sel4_root_task::control::OBSERVER_BADGE;
use sel4_root_task::println;
use sel4_root_task::start_info::{
    ClientLimits, PagerInfo, StartInfo, PAGER_INFO_MAGIC, PAGER_INFO_VADDR,
};
use vm_core::{Access, Limits, Vm, VmConfig};
use vm_service::{Answer, ExitStatus, Message, Privileges};

/// The service over the seL4 platform.
type Server = vm_service::Service<Sel4Platform>;

/// Requests are labelled from here on (`vm-api`); lower labels are kernel
/// fault messages.
const FIRST_REQUEST_LABEL: Word = 0x100;

/// Badge bit of the server's bound notification (the block server's
/// completion signal). Client badges never have it (spec badges are small,
/// forked children count up from 2^20); the observer badge has every bit
/// and is checked first.
const NOTIFY_BADGE: Word = 1 << 27;

/// The server's heap: enough for `vm_service::heap::bound` of the system
/// spec's clients at their limits and of the bench spec's 100,000 map
/// entries (docs/isolation.md has the arithmetic); at start the server
/// checks the bound for the clients it was given and lowers their
/// map-entry, handle and object limits if it would not hold (48 MiB
/// until the bench's curve reached 100,000 entries).
const HEAP_BYTES: usize = 64 << 20;
sel4_root_task::component!(main, heap_size = HEAP_BYTES);

/// Most mappings the pmap holds at once (past it, older ones are dropped
/// and fault back in): their records are the largest global term of the
/// heap bound.
const MAPPING_BUDGET: u64 = 65536;

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
    // The loop's message buffers, allocated first: at the heap's start
    // they share a page with the end of `.data`, where the libcalls'
    // addresses are (`memcpy` for a reply's words among them), so a
    // request touches one page for both (docs/performance.md, "The
    // floors' own code, the recent client, and what swap waits for").
    let words = Box::new(Words {
        request: [0; sel4::MSG_MAX_LENGTH],
        reply: [0; vm_api::MAX_WORDS],
    });
    println!("vm-server: starting");
    let mut server = boot(info);
    start_clients(&mut server.0);
    // Starting them may have paged out (a group's resident quota); here,
    // not in `serve`, whose code shares the loop's page.
    server.0.settle_completions();
    serve(&mut server.0, words)
}

/// `init`'s state, boxed on a page of its own, or the halt its error
/// calls for. Out of line so that `main`'s frame, which stays under the
/// loop's for the server's life, holds no `Server` (2.5 KiB): the loop's
/// frames then start near the stack's top, and a request's fit in one
/// stack page (docs/performance.md, "The stack's pages").
#[inline(never)]
fn boot(info: &'static StartInfo) -> Box<PageAligned> {
    match init(info) {
        Ok(s) => Box::new(PageAligned(s)),
        Err(e) => halt(&format!("init failed: {e}")),
    }
}

/// The server's state on a page of its own: every message reads fields
/// all over it (2.5 KiB), and in `main`'s frame it straddled one more
/// page or one fewer as its size or the frame's other locals changed
/// (docs/performance.md, "Copy on write: the frame stays").
#[repr(C, align(4096))]
struct PageAligned(Server);

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

    // Large frames first, while the grant's chunks are whole (each needs
    // 2 MiB aligned); the pool is a share of what is left.
    let (large_pages, large_transparent) = spec_large_pages();
    let large = frames::retype_large(&mut kernel, large_pages)?;
    let by_memory = kernel.untyped_free() * POOL_PERCENT / 100 / 4096;
    // Every resident page may also be mapped once or twice: keep slots for that.
    let by_slots = ((1u64 << bits) - info.first_free_slot) / 4;
    let frames = by_memory.min(by_slots) as u32;
    let large_note = if large_pages > 0 {
        let mode = if large_transparent {
            ", transparent"
        } else {
            ""
        };
        format!(", {large_pages} large pages of 2 MiB{mode}")
    } else {
        String::new()
    };
    println!(
        "vm-server: {} MiB untyped, pool of {frames} frames ({} MiB){large_note}",
        kernel.untyped_free() >> 20,
        (frames as u64 * 4096) >> 20
    );
    let pool = FramePool::new(&mut kernel, own_vspace, frames, large)?;
    let config = VmConfig {
        large_pages,
        large_transparent,
        user_min: USER_MIN,
        user_max: USER_MAX,
        pageout_cluster: SWAP_CLUSTER,
        // Adaptive read-ahead (Linux's window, DragonFly's marker): a
        // scattered page-in reads about one page, not 16, and frees as
        // few; in order the window doubles at each marker up to
        // [`PAGEIN_WINDOW`] (docs/performance.md, "Swap page-in",
        // "Read-ahead across resident pages").
        pagein_adaptive: true,
        pagein_window: PAGEIN_WINDOW,
        ..VmConfig::default()
    };
    let mut vm = Vm::new(config, frames).map_err(|e| format!("VM: {e:?}"))?;
    choose_policy(&mut vm)?;
    let pmap = Sel4Pmap::new(kernel, pool, asid_pool, MAPPING_BUDGET);
    let root = Some(sel4::CPtr::from_bits(sel4_root_task::control::ROOT_SLOT));
    let platform = Sel4Platform::new(pmap, endpoint, root, SCRATCH_VADDR);
    let mut server = Server::new(vm, platform);
    start_trace(&mut server);
    if let Err(e) = attach_swap(info, &mut server) {
        println!("vm-server: no swap: {e}");
    }
    pagers::attach_pagers(info, &mut server);
    devices::attach_devices(&mut server);
    let endpoint = server.platform.endpoint;
    match idle::start(&mut server.platform.pmap.kernel, endpoint) {
        Ok(()) => server.set_idle_thread(true),
        Err(e) => println!("vm-server: no idle thread (no idle-time zeroing): {e}"),
    }
    // The swap and pager channels' mappings are the server's own, like
    // the pool, also when attaching failed after mapping them.
    server.platform.baseline = server.platform.kernel_use();
    Ok(server)
}

/// The spec's `large_pages` and `transparent_large_pages` for this
/// server (none without a pager-info page).
fn spec_large_pages() -> (u32, bool) {
    // SAFETY: as in `choose_policy`: mapped read-only, checked by magic.
    let pinfo = unsafe { &*(PAGER_INFO_VADDR as *const PagerInfo) };
    if pinfo.magic == PAGER_INFO_MAGIC {
        (pinfo.large_pages(), pinfo.transparent_large_pages())
    } else {
        (0, false)
    }
}

/// Installs the replacement policy the spec names (`pageout_policy`), or
/// keeps the default (CLOCK). An unknown name is an error: the host tool
/// checks names before the boot, so it means a mismatched build.
fn choose_policy(vm: &mut Vm) -> Result<(), String> {
    // SAFETY: the root task maps the pager-info pages read-only at this
    // address in every component it makes a pager; their magic says so.
    let pinfo = unsafe { &*(PAGER_INFO_VADDR as *const PagerInfo) };
    if pinfo.magic == PAGER_INFO_MAGIC {
        if let Some(name) = pinfo.pageout_policy() {
            // Sized for every pageable frame: the pool's and the large regions'.
            let policy = vm_swap::policy_by_name(name, vm.policy_frames()).ok_or_else(|| {
                let known: alloc::vec::Vec<&str> = vm_swap::POLICIES.iter().map(|p| p.0).collect();
                format!(
                    "unknown pageout_policy {name:?} (known: {})",
                    known.join(", ")
                )
            })?;
            vm.set_replacement_policy(policy);
        }
    }
    println!("vm-server: pageout policy {}", vm.replacement_policy());
    Ok(())
}

/// Starts the live trace if the spec asks for one (`trace_ring`): the
/// ring is allocated now, before the clients are added.
fn start_trace(server: &mut Server) {
    // SAFETY: as in `choose_policy`: mapped read-only, checked by magic.
    let pinfo = unsafe { &*(PAGER_INFO_VADDR as *const PagerInfo) };
    if pinfo.magic == PAGER_INFO_MAGIC {
        if let Some(n) = pinfo.trace_ring() {
            server.trace_start(n);
        }
    }
}

/// Where the swap channel (ring page + data window) is mapped.
const SWAP_CHANNEL_VADDR: u64 = 0x30_0000_0000;
/// Pages per pageout write at most, and the device's request limit:
/// block-api's `MAX_BLOCKS`. With frame lists a request holds one window
/// buffer and one virtqueue descriptor whatever its size, so 32-page
/// requests no longer cost requests in flight (docs/performance.md, "Swap
/// throughput"). The madvise test that failed with 32 once expected
/// residency the semantics do not promise; it checks the semantics row now.
const SWAP_CLUSTER: u32 = block_api::MAX_BLOCKS as u32;
/// The largest adaptive swap read-ahead window, in pages (128 KiB): a
/// doorbell costs the disk's latency whatever it carries, so a scan in
/// order reads up to this many pages a doorbell, in requests split where
/// pages are resident. Against 16, bench-fault's timed swap-in pass took
/// a quarter less time with 32 and with 64, but 64 read a third more
/// pages than the pass needed (read ahead and evicted before the scan
/// came), and 128 twice as many, and was slower than 16
/// (docs/performance.md, "Read-ahead across resident pages").
const PAGEIN_WINDOW: u32 = 32;

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
        let k = &mut server.platform.pmap.kernel;
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
    server.platform.completion_signal = Some(done);
    let frames = server.platform.pmap.pool.physical_addresses()?;
    // SAFETY: just mapped read-write for good; shared only with the block server.
    let disk =
        unsafe { swapdev::SwapDisk::open(SWAP_CHANNEL_VADDR as *mut u8, pages - 1, bell, frames)? };
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
    let mut limits: alloc::vec::Vec<Limits> = pinfo
        .clients()
        .iter()
        .map(|c| limits_of(&c.limits))
        .collect();
    fit_heap(server, &mut limits);
    for (i, (c, &limits)) in pinfo.clients().iter().zip(&limits).enumerate() {
        let name = c.name().to_string();
        // SAFETY: the root task mapped the client's ELF file read-only here.
        let image = unsafe {
            core::slice::from_raw_parts(c.image_vaddr as *const u8, c.image_len as usize)
        };
        let caps = ClientCaps {
            tcb: cap::Tcb::from_bits(c.tcb),
            cnode: cap::CNode::from_bits(c.cnode),
            cnode_bits: c.cnode_bits as u8,
            priority: c.priority as u8,
            start_info: cap::Granule::from_bits(c.start_info_frame),
            request_slot: c.request_slot,
            forked: None,
        };
        let vspace = cap::VSpace::from_bits(c.vspace);
        let privileges = Privileges {
            devices: devices::grants(i),
            ..privileges_of(c.privileges)
        };
        let setup = (caps, vspace, limits, u64::from(c.name_group), privileges);
        let program = match pinfo.program(i) {
            // Started once its file pager answers (docs/pager.md,
            // "Programs paged from files").
            Some(file) => Program::File(file),
            None => Program::Image(image),
        };
        match add_client(server, c.badge, name.clone(), setup, program) {
            Ok(()) if matches!(program, Program::File(_)) => println!(
                "vm-server: client {name} (badge {}) waits for its program /bin/{}",
                c.badge,
                pinfo.program(i).unwrap_or("?")
            ),
            Ok(()) => {
                if let Err(e) = cap::Tcb::from_bits(c.tcb).tcb_resume() {
                    let why = format!("resume: {e:?}");
                    server.kill(c.badge, &why, ExitStatus::Killed(None));
                } else {
                    println!("vm-server: started client {name} (badge {})", c.badge);
                }
            }
            Err(e) => println!("vm-server: cannot load client {name}: {e}"),
        }
    }
}

/// Where a client's program comes from.
#[derive(Clone, Copy)]
enum Program<'a> {
    /// Its ELF file, which the root task mapped here: loaded now.
    Image(&'a [u8]),
    /// `/bin/<name>` of the file pager: mapped when the pager answers.
    File(&'a str),
}

/// Registers a client the root task built, in a new space over its
/// VSpace with the spec's quotas and name group, and loads its program
/// (or starts the launch that will, for a program file).
fn add_client(
    server: &mut Server,
    badge: u64,
    name: String,
    (caps, vspace, limits, name_group, privileges): (
        ClientCaps,
        cap::VSpace,
        Limits,
        u64,
        Privileges,
    ),
    program: Program,
) -> Result<(), String> {
    if badge >= vm_service::CLIENT_ID_END {
        return Err(format!(
            "{name}: badge {badge:#x} is the server's own, not a client's (below {:#x})",
            vm_service::CLIENT_ID_END
        ));
    }
    let pmap = &mut server.platform.pmap;
    pmap.adopt_next(vspace);
    let space = server
        .vm
        .space_create(pmap)
        .map_err(|e| format!("space: {e:?}"))?;
    // Its quotas and name group from the spec (the loader's own mappings
    // count against them too).
    let set = server
        .vm
        .set_limits(space, limits, pmap)
        .and_then(|()| server.vm.set_name_group(space, name_group))
        .map_err(|e| format!("limits: {e:?}"));
    let loaded = match program {
        Program::Image(image) => {
            set.and_then(|()| loader::load(&mut server.vm, pmap, space, image).map(drop))
        }
        Program::File(_) => set,
    };
    if let Err(e) = loaded {
        // Give back what the partial load took.
        let _ = server.vm.exit(space, pmap);
        return Err(format!("{name}: {e}"));
    }
    server.platform.clients.insert(badge, caps);
    if privileges.swapctl {
        println!("vm-server: client {name} may switch swap off and on (swapctl)");
    }
    if privileges.observe {
        println!("vm-server: client {name} may read every client's counters (observe)");
    }
    match program {
        Program::Image(_) => server.add_client(badge, name, space, privileges),
        Program::File(file) => {
            if let Err(e) = server.add_program_client(badge, name, space, privileges, file) {
                server.kill(badge, "bad program name", ExitStatus::Killed(Some(e)));
                return Err(format!("program {file}: {e}"));
            }
        }
    }
    Ok(())
}

/// The spec's privileges of a client (capdl's `Privileges` bits) as the
/// service's.
fn privileges_of(bits: u16) -> Privileges {
    let spec = capdl::Privileges(bits);
    Privileges {
        swapctl: spec.contains(capdl::Privilege::Swapctl),
        observe: spec.contains(capdl::Privilege::Observe),
        ..Privileges::default()
    }
}

/// Checks the heap bound for `limits` (one per client) with this pool,
/// swap and mapping budget, and lowers the limits until it holds
/// (`heap::fit`), so no request of any client can make an allocation fail
/// (docs/isolation.md); says so if even the smallest limits do not fit.
fn fit_heap(server: &Server, limits: &mut [Limits]) {
    use vm_service::heap;
    // Device pages and the large regions' frames have records like pool
    // frames (docs/devices.md, docs/large-pages.md).
    let large = server.platform.pmap.pool.large_count();
    let ram = vm_core::ram_frame_end(server.vm.pool().len(), large);
    let frames = u64::from(ram + server.vm.pool().device_count());
    let slots = server.vm.swap().map_or(0, |s| s.blist().blocks());
    let global = heap::bound(&[], frames, slots, MAPPING_BUDGET).unwrap_or(0);
    let room = (HEAP_BYTES as u64).saturating_sub(global);
    let clients = heap::clients_bound(limits.iter());
    let fit = heap::fit(limits, room);
    if fit.lowered {
        println!(
            "vm-server: the clients' limits would need {} MiB of heap, {} MiB left: \
             map-entry, handle and object limits lowered to fit",
            clients >> 20,
            room >> 20
        );
    }
    if !fit.fits {
        println!(
            "vm-server: WARNING: the clients' heap bound passes the heap even at the \
             smallest limits; a client at its limits may exhaust it"
        );
    }
    let all = heap::clients_bound(limits.iter());
    println!(
        "vm-server: heap bound {} MiB of {} MiB ({} clients, {frames} frames, {slots} swap slots, {MAPPING_BUDGET} mappings)",
        (global + all) >> 20,
        HEAP_BYTES >> 20,
        limits.len()
    );
}

/// The spec's limits of a client (`u32::MAX`: none) as the VM's.
fn limits_of(l: &ClientLimits) -> Limits {
    let v = |x: u32| {
        if x == ClientLimits::UNLIMITED {
            u64::MAX
        } else {
            u64::from(x)
        }
    };
    Limits {
        resident_pages: v(l.resident_pages),
        wired_pages: v(l.wired_pages),
        swap_slots: v(l.swap_slots),
        map_entries: v(l.map_entries),
        handles: v(l.handles),
        page_tables: v(l.page_tables),
        children: v(l.children),
        objects: v(l.objects),
    }
}

/// The server loop: receive, dispatch, reply. `words` holds the
/// request's and the reply's words, kept across messages so no message
/// zeroes or moves a whole message's worth (about 1,000 cycles a time
/// under QEMU: docs/performance.md). On the heap, not in this frame: a
/// fault uses neither, and without their 1.9 KiB the fault path's frames
/// fit on fewer stack pages (docs/performance.md, "Data pages of a
/// fault").
fn serve(server: &mut Server, mut words: Box<Words>) -> ! {
    let ep = server.platform.endpoint;
    let (mut info, mut badge) = sel4::recv(ep);
    loop {
        // The server's own time per message, for `Stats` (docs/performance.md).
        let t0 = rdtsc();
        let answer = dispatch(server, info, badge, &mut words);
        server.platform.loop_time.0 += rdtsc() - t0;
        server.platform.loop_time.1 += 1;
        // Between messages: print the trace ring once it is half full.
        server.trace_drain(false);
        (info, badge) = match answer {
            Answer::Reply { label, len } => {
                // A fault's reply is empty: no call to `memcpy` (through
                // the GOT, a page of its own) for nothing.
                if len > 0 {
                    sel4::with_ipc_buffer_mut(|b| {
                        b.msg[..len].copy_from_slice(&words.reply[..len])
                    });
                }
                sel4::reply_recv(ep, MessageInfo::new(label, 0, 0, len as Word))
            }
            Answer::NoReply => sel4::recv(ep),
        };
    }
}

/// The loop's message buffers: a request's words are copied out of the
/// IPC buffer (the kernel invocations handling it overwrite that), a
/// reply's are written here and copied in just before the reply.
struct Words {
    request: [Word; sel4::MSG_MAX_LENGTH],
    reply: [u64; vm_api::MAX_WORDS],
}

fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions in user mode on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Turns the message just received (its words still in the IPC buffer)
/// into the service's `Message` and handles it, the reply's words into
/// `words.reply`.
fn dispatch(server: &mut Server, info: MessageInfo, badge: Word, words: &mut Words) -> Answer {
    let reply = &mut words.reply;
    if badge == OBSERVER_BADGE {
        let label = info.label();
        return server.handle_into(Message::Observe { label }, reply);
    }
    if badge == idle::IDLE_BADGE {
        return server.handle_into(Message::Idle, reply);
    }
    if badge & NOTIFY_BADGE != 0 {
        return server.handle_into(Message::SwapSignal, reply);
    }
    if info.label() < FIRST_REQUEST_LABEL {
        match Fault::get_from_ipc_buffer(info) {
            Some(Fault::VmFault(f)) => {
                let access = if f.is_instruction_fetch() {
                    Access::Execute
                } else if f.is_write() {
                    Access::Write
                } else {
                    Access::Read
                };
                let fault = Message::Fault {
                    client: badge,
                    addr: f.addr,
                    access,
                    ip: f.ip,
                };
                return server.handle_into(fault, reply);
            }
            Some(other) => {
                let what = format!("{other:?}");
                let fault = Message::OtherFault {
                    client: badge,
                    what: &what,
                };
                return server.handle_into(fault, reply);
            }
            // Not a fault the kernel sends: answered as an unknown request.
            None => {}
        }
    }
    let len = (info.length() as usize).min(sel4::MSG_MAX_LENGTH);
    let request = &mut words.request[..len];
    sel4::with_ipc_buffer_mut(|b| request.copy_from_slice(&b.msg[..len]));
    let msg = Message::Request {
        client: badge,
        label: info.label(),
        words: request,
    };
    server.handle_into(msg, reply)
}

fn halt(why: &str) -> ! {
    println!("vm-server: {why}");
    panic!("vm-server cannot continue");
}
