//! Realising the system spec: the shared objects, every component with its
//! CSpace laid out as the spec says, the images (loaded by the root task,
//! or handed to the component's pager), and the start of every thread.
//! Then supervision: the root task waits on its control endpoint until
//! every paged client has ended and every `awaited` component has reported
//! `DONE`, and reports each as a test outcome; a component that reports a
//! panic ends the run at once, as a failure.

use crate::component::{self, object, Component, PAGE};
use crate::{images, RootState};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use capdl::{slots, IrqSource, ObjectKind, Spec};
use sel4::{cap, CPtr, CapData, CapRights, MessageInfo, ObjectType};
use sel4_root_task::control::{
    CONSOLE, DONE, EXIT_REPORT, EXPECT_EXIT, FLOOR_FAULT, FLOOR_IPC, FLOOR_MAP_UNMAP, FLOOR_ROUND,
    OBSERVER_BADGE, PANIC, ROOT_SLOT, STATUS_KILLED, STATUS_PANICKED, TEXT_MAX,
};
use sel4_root_task::println;
use sel4_root_task::start_info::{
    encode_name, PagerClientInfo, PagerInfo, NAME_LEN, PAGER_INFO_MAGIC, PAGER_INFO_VADDR,
};

/// Where a pager finds its clients' program files.
const IMAGE_STORE_VADDR: u64 = 0x20_0000_0000;

/// The embedded spec (`cargo qemu` encodes `capdl/system.spec`).
static SPEC: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/system.capdl"));

/// A spec object as created: the first cap (frames: one per page).
struct Made {
    first: CPtr,
    count: u64,
}

/// The running system as the root task sees it.
pub struct System {
    spec: Spec,
    control: CPtr,
    /// Per component: (pager id, fault badge) when it is a paged client.
    paged: BTreeMap<usize, (usize, u32)>,
    /// Per pager: the root task's observer cap to its endpoint.
    observers: Vec<(usize, CPtr)>,
    /// Components the spec marks `awaited` (they report `DONE`).
    awaited: Vec<usize>,
}

/// Decodes the embedded spec.
pub fn load_spec() -> Result<Spec, String> {
    let spec = capdl::decode(SPEC).map_err(|e| format!("embedded spec: {e:?}"))?;
    println!(
        "root-task:   spec: {} objects, {} components",
        spec.objects.len(),
        spec.components.len()
    );
    Ok(spec)
}

/// Creates the spec's shared objects.
fn create_objects(state: &mut RootState, spec: &Spec) -> Result<Vec<Made>, String> {
    let mut made = Vec::new();
    for o in &spec.objects {
        let m = match o.kind {
            ObjectKind::Endpoint => Made {
                first: object(state, ObjectType::Endpoint, 0)?,
                count: 1,
            },
            ObjectKind::Notification => Made {
                first: object(state, ObjectType::Notification, 0)?,
                count: 1,
            },
            ObjectKind::Frame { size } => {
                // Physically contiguous: all frames from one untyped of the rounded size.
                let n = size / PAGE;
                let bits = size.next_power_of_two().trailing_zeros() as u8;
                let ut: cap::Untyped = object(state, ObjectType::Untyped, bits)?.cast();
                let first = state.slots.alloc_range(n).ok_or("root CNode full")?;
                ut.untyped_retype(
                    ObjectType::X86_4K,
                    0,
                    sel4::init_cap::INIT_THREAD_CNODE,
                    0,
                    0,
                    first.bits(),
                    n,
                )
                .map_err(|e| format!("frames of {}: {e:?}", o.name))?;
                Made { first, count: n }
            }
            ObjectKind::DeviceFrame { size, paddr, pci } => {
                // The PCI BAR first, at the spec's address (docs/devices.md).
                if let Some(bar) = pci {
                    crate::devices::place_bar(&o.name, bar, paddr, size)?;
                }
                let first = state
                    .devices
                    .frames(&mut state.slots, paddr, size)
                    .map_err(|e| format!("device {}: {e}", o.name))?;
                Made {
                    first,
                    count: size / PAGE,
                }
            }
        };
        made.push(m);
    }
    Ok(made)
}

/// Builds every component and starts the system.
pub fn realise(state: &mut RootState, spec: Spec) -> Result<System, String> {
    let objects = create_objects(state, &spec)?;
    let control = object(state, ObjectType::Endpoint, 0)?;
    let mut comps = Vec::new();
    for (id, c) in spec.components.iter().enumerate() {
        let comp =
            Component::create(state, id as u64, c).map_err(|e| format!("{}: {e}", c.name))?;
        comps.push(comp);
    }
    let mut paged = BTreeMap::new();
    for (id, c) in spec.components.iter().enumerate() {
        grant(state, &spec, &objects, &mut comps, id, control)
            .map_err(|e| format!("{}: {e}", c.name))?;
        if let (Some(pager), Some(f)) = (c.pager, c.fault) {
            paged.insert(id, (pager as usize, f.badge));
        }
    }
    // Images: the root task loads components without a pager; a pager
    // gets its clients' files and loads them itself.
    let mut image_of = Vec::new();
    for (id, c) in spec.components.iter().enumerate() {
        if c.image_from_files {
            // Not in the boot image: its pager maps /bin/<image> from its
            // file pager and sets the entry point (docs/pager.md).
            image_of.push(&[][..]);
            continue;
        }
        let image = images::find(&c.image)
            .ok_or_else(|| format!("{}: image {} not embedded", c.name, c.image))?;
        image_of.push(image);
        if c.pager.is_none() {
            comps[id]
                .load_elf(state, image)
                .map_err(|e| format!("{}: {e}", c.name))?;
        } else {
            comps[id].entry = Component::entry_of(image)?;
        }
    }
    // Clients first (not resumed: their pager starts them), then pager
    // info pages, then everyone else, resumed.
    let mut info_frames = BTreeMap::new();
    for (id, c) in spec
        .components
        .iter()
        .enumerate()
        .filter(|(_, c)| c.pager.is_some())
    {
        let f = comps[id]
            .configure(state, c, false)
            .map_err(|e| format!("{}: {e}", c.name))?;
        info_frames.insert(id, f);
    }
    for (id, c) in spec
        .components
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.clients.is_empty())
    {
        pager_info(state, &spec, &mut comps[id], &image_of, &info_frames)
            .map_err(|e| format!("{}: {e}", c.name))?;
    }
    for (id, c) in spec
        .components
        .iter()
        .enumerate()
        .filter(|(_, c)| c.pager.is_none())
    {
        comps[id]
            .configure(state, c, true)
            .map_err(|e| format!("{}: {e}", c.name))?;
        println!("root-task:   started {} (priority {})", c.name, c.priority);
    }
    // An observer cap per pager, to check its bookkeeping after the run.
    let mut observers = Vec::new();
    for (id, c) in spec
        .components
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.clients.is_empty())
    {
        let Some(cap) = c.caps.iter().find(|cap| cap.rights.read()) else {
            continue;
        };
        let ep = objects[cap.object as usize].first;
        let slot = component::badged(state, ep, CapRights::new(true, false, true), OBSERVER_BADGE)?;
        observers.push((id, slot));
    }
    let awaited = (0..spec.components.len())
        .filter(|&id| spec.components[id].awaited)
        .collect();
    Ok(System {
        spec,
        control,
        paged,
        observers,
        awaited,
    })
}

/// Fills component `id`'s CSpace: fault endpoint, ASID pool, control
/// endpoint, caps table, untyped, I/O ports, IRQs, and its clients' caps.
fn grant(
    state: &mut RootState,
    spec: &Spec,
    objects: &[Made],
    comps: &mut [Component],
    id: usize,
    control: CPtr,
) -> Result<(), String> {
    let c = &spec.components[id];
    let clients: Vec<(u64, CPtr, CPtr, CPtr)> = c
        .clients
        .iter()
        .map(|cl| {
            let k = &comps[cl.client as usize];
            (
                cl.slot as u64,
                k.tcb.cptr(),
                k.cnode.cptr(),
                k.vspace.cptr(),
            )
        })
        .collect();
    let me = &mut comps[id];
    let mut names: Vec<(String, u64, u64)> = Vec::new();
    if let Some(f) = c.fault {
        // seL4 5.0 sends a fault only through a cap with Write and Grant.
        me.put(
            slots::FAULT_EP as u64,
            objects[f.object as usize].first,
            CapRights::new(true, false, true),
            CapData::badge(f.badge as u64),
        )?;
    }
    if c.asid_pool {
        let ut = object(state, ObjectType::Untyped, 12)?;
        let slot = state.slots.alloc().ok_or("root CNode full")?;
        sel4::init_cap::ASID_CONTROL
            .x86_asid_control_make_pool(
                ut.cast(),
                sel4::init_cap::INIT_THREAD_CNODE,
                slot.bits(),
                64,
            )
            .map_err(|e| format!("ASID pool: {e:?}"))?;
        me.move_in(slots::ASID_POOL as u64, slot)?;
    }
    me.put(
        ROOT_SLOT,
        control,
        CapRights::new(true, false, true),
        CapData::badge(id as u64 + 1),
    )?;
    for cap in &c.caps {
        let m = &objects[cap.object as usize];
        let obj = &spec.objects[cap.object as usize];
        let data = if cap.badge != 0 {
            CapData::badge(cap.badge as u64)
        } else {
            CapData::NONE
        };
        for i in 0..m.count {
            let src = CPtr::from_bits(m.first.bits() + i);
            me.put(
                cap.slot as u64 + i,
                src,
                component::rights(cap.rights),
                data,
            )?;
        }
        // The data word: the badge, or a frame object's page count (frame
        // caps carry no badge), so the holder knows how many slots it fills.
        let data = match obj.kind {
            ObjectKind::Frame { size } | ObjectKind::DeviceFrame { size, .. } => size / PAGE,
            _ => cap.badge as u64,
        };
        names.push((obj.name.clone(), cap.slot as u64, data));
    }
    if let Some(u) = c.untyped {
        let large = u64::from(c.large_pages.unwrap_or(0)) * capdl::LARGE_PAGE_SIZE;
        grant_untyped(state, me, u.size, large, u.slot as u64)?;
    }
    for p in &c.io_ports {
        me.put(
            p.slot as u64,
            sel4::init_cap::IO_PORT.cptr(),
            CapRights::all(),
            CapData::io_port_range(p.first, p.last),
        )?;
        names.push((format!("io:{:#x}", p.first), p.slot as u64, p.last as u64));
    }
    for irq in &c.irqs {
        let slot = state.slots.alloc().ok_or("root CNode full")?;
        let root = sel4::init_cap::INIT_THREAD_CNODE;
        match irq.source {
            IrqSource::Ioapic {
                ioapic,
                pin,
                level,
                active_low,
            } => sel4::init_cap::IRQ_CONTROL.irq_control_get_ioapic(
                root,
                slot.bits(),
                64,
                ioapic as u64,
                pin as u64,
                level as u64,
                active_low as u64,
                irq.vector as u64,
            ),
            IrqSource::Msi {
                bus,
                dev,
                func,
                handle,
            } => sel4::init_cap::IRQ_CONTROL.irq_control_get_msi(
                root,
                slot.bits(),
                64,
                bus as u64,
                dev as u64,
                func as u64,
                handle as u64,
                irq.vector as u64,
            ),
        }
        .map_err(|e| format!("IRQ vector {}: {e:?}", irq.vector))?;
        let ntfn = objects[irq.notification as usize].first;
        let badged = component::badged(state, ntfn, CapRights::all(), irq.badge as u64)?;
        slot.cast::<sel4::cap_type::IrqHandler>()
            .irq_handler_set_notification(badged.cast())
            .map_err(|e| format!("IRQ notification: {e:?}"))?;
        me.move_in(irq.slot as u64, slot)?;
        names.push((
            format!("irq:{}", irq.vector),
            irq.slot as u64,
            irq.vector as u64,
        ));
    }
    for m in &c.device_memory {
        let first = state.devices.frames(&mut state.slots, m.paddr, m.size)?;
        for i in 0..m.pages() {
            me.move_in(m.slot as u64 + i, CPtr::from_bits(first.bits() + i))?;
        }
        names.push((format!("dev:{:#x}", m.paddr), m.slot as u64, m.pages()));
    }
    // A pager's device regions: its clients map them through it.
    for d in &c.device_regions {
        let m = &objects[d.object as usize];
        for i in 0..m.count {
            let src = CPtr::from_bits(m.first.bits() + i);
            me.put(
                d.slot as u64 + i,
                src,
                CapRights::read_write(),
                CapData::NONE,
            )?;
        }
    }
    for (base, tcb, cnode, vspace) in clients {
        me.put(
            base + slots::CLIENT_TCB as u64,
            tcb,
            CapRights::all(),
            CapData::NONE,
        )?;
        me.put(
            base + slots::CLIENT_CNODE as u64,
            cnode,
            CapRights::all(),
            CapData::NONE,
        )?;
        me.put(
            base + slots::CLIENT_VSPACE as u64,
            vspace,
            CapRights::all(),
            CapData::NONE,
        )?;
    }
    if let Some(n) = c.bound_notification {
        me.tcb
            .tcb_bind_notification(objects[n as usize].first.cast())
            .map_err(|e| format!("bind notification: {e:?}"))?;
    }
    for (name, slot, data) in names {
        if !me.info.push(&name, slot, data) {
            return Err("too many named caps for the start-info page".into());
        }
    }
    me.info.push("root", ROOT_SLOT, 0);
    Ok(())
}

/// Gives `size` bytes of untyped RAM as power-of-two chunks from `slot` on,
/// at least `large` bytes of them in chunks of 2 MiB or more (the
/// pager's `large_pages`: a large frame is retyped 2 MiB-aligned from one
/// chunk, so smaller chunks cannot hold one).
fn grant_untyped(
    state: &mut RootState,
    me: &mut Component,
    size: u64,
    large: u64,
    slot: u64,
) -> Result<(), String> {
    const LARGE_BITS: u8 = 21;
    let mut large_left = large;
    let mut left = size;
    let mut n = 0usize;
    let mut info_bits = Vec::new();
    while left >= 1 << 12 {
        // The largest chunk that fits what is left and that an untyped can still give.
        let mut bits = 63 - left.leading_zeros() as u8;
        let cap = loop {
            match state
                .untyped
                .allocate(&mut state.slots, ObjectType::Untyped, bits)
            {
                Ok(c) => break c,
                Err(_) if bits > LARGE_BITS || (bits > 12 && large_left == 0) => bits -= 1,
                Err(_) if large_left > 0 => {
                    return Err(format!(
                        "untyped grant: no untyped of 2 MiB or more left for large_pages \
                         ({} MiB of {} MiB still to place)",
                        large_left >> 20,
                        large >> 20
                    ))
                }
                Err(e) => return Err(format!("untyped grant: {e}")),
            }
        };
        if bits >= LARGE_BITS {
            large_left = large_left.saturating_sub(1 << bits);
        }
        if n >= slots::UNTYPED_REGION as usize || n >= sel4_root_task::start_info::MAX_UNTYPED {
            return Err("untyped grant needs more chunks than its region has".into());
        }
        me.move_in(slot + n as u64, cap)?;
        info_bits.push(bits);
        left -= 1 << bits;
        n += 1;
    }
    let info = &mut me.info;
    info.untyped_first_slot = slot;
    info.untyped_count = n as u64;
    info.untyped_size_bits[..n].copy_from_slice(&info_bits);
    Ok(())
}

/// Maps component `id`'s clients' images and its pager-info page.
fn pager_info(
    state: &mut RootState,
    spec: &Spec,
    me: &mut Component,
    image_of: &[&[u8]],
    info_frames: &BTreeMap<usize, cap::Granule>,
) -> Result<(), String> {
    let id = me.info.id as usize;
    let c = &spec.components[id];
    // SAFETY: PagerInfo is plain old data; all zeros is its empty value.
    let mut pinfo: alloc::boxed::Box<PagerInfo> =
        alloc::boxed::Box::new(unsafe { core::mem::zeroed() });
    pinfo.magic = PAGER_INFO_MAGIC;
    if let Some(p) = &c.pageout_policy {
        pinfo.pageout_policy = encode_name(p);
    }
    pinfo.trace_ring = c.trace_ring.unwrap_or(0);
    pinfo.large_pages = c.large_pages.unwrap_or(0);
    pinfo.transparent_large_pages = u32::from(c.transparent_large_pages);
    let mut vaddr = IMAGE_STORE_VADDR;
    let groups = spec.name_groups();
    let vm_ep = spec.components[id]
        .caps
        .iter()
        .find(|cap| cap.rights.read())
        .map(|cap| cap.object);
    for (i, cl) in c.clients.iter().enumerate() {
        if i >= pinfo.clients.len() {
            return Err("more clients than the pager-info page holds".into());
        }
        let client = &spec.components[cl.client as usize];
        let image = image_of[cl.client as usize];
        component::map_bytes(state, me.vspace, vaddr, image, CapRights::read_only())?;
        // The pager keeps the client's start-info frame to copy it for
        // forks, in its first free slot (which moves past it).
        let info_slot = me.info.first_free_slot;
        me.put(
            info_slot,
            info_frames[&(cl.client as usize)].cptr(),
            CapRights::all(),
            CapData::NONE,
        )?;
        me.info.first_free_slot += 1;
        let request_slot = client
            .caps
            .iter()
            .find(|cap| Some(cap.object) == vm_ep && cap.badge != 0)
            .map(|cap| cap.slot as u64)
            .unwrap_or(0);
        pinfo.clients[i] = PagerClientInfo {
            name: encode_name(&client.name),
            badge: client.fault.map(|f| f.badge as u64).unwrap_or(0),
            tcb: cl.slot as u64 + slots::CLIENT_TCB as u64,
            cnode: cl.slot as u64 + slots::CLIENT_CNODE as u64,
            vspace: cl.slot as u64 + slots::CLIENT_VSPACE as u64,
            start_info_frame: info_slot,
            request_slot,
            cnode_bits: client.cnode_bits as u64,
            priority: client.priority as u64,
            image_vaddr: vaddr,
            image_len: image.len() as u64,
            limits: client.limits.unwrap_or_default().into(),
            name_group: u16::try_from(groups[cl.client as usize])
                .map_err(|_| String::from("more name groups than the pager-info page numbers"))?,
            privileges: client.privileges.0,
        };
        if client.image_from_files {
            if client.image.len() > NAME_LEN {
                return Err(format!(
                    "{}: image name {} longer than {NAME_LEN} bytes",
                    client.name, client.image
                ));
            }
            pinfo.programs[i] = encode_name(&client.image);
        }
        vaddr += (image.len() as u64).next_multiple_of(PAGE) + PAGE;
    }
    pinfo.count = c.clients.len() as u64;
    // SAFETY: PagerInfo is plain old data and fits in one page.
    let bytes = unsafe {
        core::slice::from_raw_parts(
            (&*pinfo as *const PagerInfo).cast::<u8>(),
            core::mem::size_of::<PagerInfo>(),
        )
    };
    component::map_bytes(
        state,
        me.vspace,
        PAGER_INFO_VADDR,
        bytes,
        CapRights::read_only(),
    )?;
    // Its clients' device regions (docs/devices.md).
    let info = crate::devices::device_info(spec, id);
    // SAFETY: DeviceInfo is plain old data and fits in one page.
    let bytes = unsafe {
        core::slice::from_raw_parts(
            (&*info as *const sel4_root_task::device_info::DeviceInfo).cast::<u8>(),
            core::mem::size_of::<sel4_root_task::device_info::DeviceInfo>(),
        )
    };
    let va = sel4_root_task::device_info::DEVICE_INFO_VADDR;
    component::map_bytes(state, me.vspace, va, bytes, CapRights::read_only())
}

/// Waits until every paged client has ended and every `awaited` component
/// has reported `DONE`; one test outcome per client (it passes when its
/// exit status is the one it announced, 0 by default) and per awaited
/// component (it passes when it reports 0). A `PANIC` report fails the
/// panicking component and returns at once: a pager or driver that
/// panicked leaves the others unable to finish.
pub fn supervise(
    system: &mut System,
    state: &mut RootState,
    mut floors: Option<&mut crate::floor::Floors>,
) -> bool {
    let spec = &system.spec;
    println!(
        "TEST PLAN {}",
        system.paged.len() + system.observers.len() + system.awaited.len()
    );
    let mut expected: BTreeMap<usize, u64> = system.paged.keys().map(|&id| (id, 0)).collect();
    let mut awaited = system.awaited.clone();
    let mut pending = system.paged.len() + awaited.len();
    let mut all_ok = true;
    let mut floor_rounds: BTreeMap<usize, u32> = BTreeMap::new();
    while pending > 0 {
        let (info, badge) = sel4::recv(system.control);
        let sender = badge as usize - 1;
        if info.label() == CONSOLE {
            // A Send: print the line whole, nobody to reply to.
            sel4_root_task::print_routed_line(info);
            continue;
        }
        if info.label() == FLOOR_ROUND {
            // A bounded number per component: a round keeps the root task
            // busy, and console lines sent meanwhile would be dropped.
            let used = floor_rounds.entry(sender).or_insert(0u32);
            *used += 1;
            let floors = floors.as_deref_mut().filter(|_| *used <= MAX_FLOOR_ROUNDS);
            floor_round(state, floors, sel4::get_mr(0));
            continue;
        }
        match info.label() {
            PANIC => {
                // The sender has stopped itself; it gets no reply.
                let mut buf = [0u8; TEXT_MAX];
                let message = sel4_root_task::received_text(info, &mut buf);
                let name = spec.components.get(sender).map_or("?", |c| c.name.as_str());
                println!("TEST FAIL {name}: panicked: {message}");
                return false;
            }
            EXPECT_EXIT if expected.contains_key(&sender) => {
                expected.insert(sender, sel4::get_mr(0));
            }
            DONE if awaited.contains(&sender) => {
                awaited.retain(|&id| id != sender);
                let (name, status) = (&spec.components[sender].name, sel4::get_mr(0));
                if status == 0 {
                    println!("TEST PASS {name}");
                } else {
                    println!("TEST FAIL {name}: reported status {status}");
                    all_ok = false;
                }
                pending -= 1;
            }
            EXIT_REPORT => {
                let (client_badge, status) = (sel4::get_mr(0), sel4::get_mr(1));
                let Some((&client, _)) = system
                    .paged
                    .iter()
                    .find(|(_, &(pager, b))| pager == sender && b as u64 == client_badge)
                else {
                    println!("root-task: exit report for unknown client badge {client_badge}");
                    sel4::reply(MessageInfo::new(0, 0, 0, 0));
                    continue;
                };
                let name = &spec.components[client].name;
                let want = expected[&client];
                if status == want {
                    println!("TEST PASS {name}");
                } else {
                    println!(
                        "TEST FAIL {name}: exit status {}, expected {}",
                        describe(status),
                        describe(want)
                    );
                    all_ok = false;
                }
                pending -= 1;
            }
            other => {
                println!("root-task: unexpected control message {other:#x} from component {sender}")
            }
        }
        sel4::reply(MessageInfo::new(0, 0, 0, 0));
    }
    for &(pager, cap) in &system.observers {
        all_ok &= check_cleanup(&spec.components[pager].name, cap);
    }
    all_ok
}

/// Floor rounds one component may ask for: `bench-fault` asks 62, 9 for
/// each of its five fault and request rows and its page-in row and 4
/// for each swap pass's map-unmap bound; room for a few rows more.
const MAX_FLOOR_ROUNDS: u32 = 96;

/// Answers a `FLOOR_ROUND` Call: one round of floor benchmark `kind`,
/// its median in MR0. The caller's reply cap is saved first: the floor's
/// own threads Call the root task during the round.
fn floor_round(state: &mut RootState, floors: Option<&mut crate::floor::Floors>, kind: u64) {
    let Some(slot) = state.slots.alloc() else {
        sel4::reply(MessageInfo::new(1, 0, 0, 0));
        return;
    };
    let root = sel4::init_cap::INIT_THREAD_CNODE;
    if root.cnode_save_caller(slot.bits(), 64).is_err() {
        state.slots.free(slot);
        return;
    }
    let median = floors.and_then(|f| {
        let r = match kind {
            FLOOR_IPC => f.ipc_round(state),
            FLOOR_FAULT => f.fault_round(state),
            FLOOR_MAP_UNMAP => f.map_unmap_round(),
            _ => Err(format!("no floor of kind {kind}")),
        };
        r.map_err(|e| println!("root-task: floor round: {e}")).ok()
    });
    match median {
        Some(m) => {
            sel4::set_mr(0, m);
            sel4::send(slot, MessageInfo::new(0, 0, 0, 1));
        }
        None => sel4::send(slot, MessageInfo::new(1, 0, 0, 0)),
    }
    // The send used the reply cap up; the slot is empty again.
    state.slots.free(slot);
}

/// With every client gone, a pager must hold no space, mapping, page table
/// or swap slot, and exactly the kernel objects and slots it held before
/// its first client: exits, crashes, forks and paging gave everything back.
fn check_cleanup(pager: &str, observer: CPtr) -> bool {
    let name = format!("{pager}-gives-everything-back");
    let stats = vm_api::VmClient::new(observer).stats();
    let Ok(s) = stats else {
        println!("TEST FAIL {name}: stats: {stats:?}");
        return false;
    };
    let now = (
        s.spaces,
        s.pmap_mappings,
        s.pmap_page_tables,
        s.kobj_in_use,
        s.cap_slots_in_use,
        s.swpginuse,
    );
    let want = (0, 0, 0, s.kobj_baseline, s.cap_slots_baseline, 0);
    println!(
        "root-task:   {pager}: {} faults, {} forks, {} pages paged out, {} paged in, {} objects retyped ({} ahead of need), {} cached for reuse, {} pages zeroed in idle time ({} zero-fills found one, {} zeroed their own)",
        s.faults, s.forks, s.pageouts, s.pageins, s.kobj_retyped, s.kobj_prepared, s.kobj_cached, s.prezeroed, s.pga_zerohit, s.pga_zeromiss
    );
    if now == want {
        println!("TEST PASS {name}");
        true
    } else {
        println!("TEST FAIL {name}: (spaces, mappings, page tables, kernel objects, cap slots, swap slots) = {now:?}, expected {want:?}");
        false
    }
}

fn describe(status: u64) -> String {
    if status == STATUS_PANICKED {
        format!("{status:#x} (panicked)")
    } else if (STATUS_KILLED..STATUS_PANICKED).contains(&status) {
        format!(
            "{status:#x} (stopped by its pager, reason {})",
            status - STATUS_KILLED
        )
    } else {
        format!("{status}")
    }
}
