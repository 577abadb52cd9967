//! The block server: a virtio-blk driver on seL4 that serves its disks to
//! its clients over `block-api` channels: the Linux-swap partition of the
//! disk with a GPT, and the files disk (a disk without a partition
//! table) whole. A channel's name says which (`block_api::VolumeKind`).
//!
//! `main` reads top to bottom: `init()` builds the state from what the
//! root task handed over (IOPort caps for PCI configuration space and one
//! BAR range per disk, in slot order; an untyped grant for DMA memory;
//! one IRQ per disk, in the same order; the channels),
//! then the server loops `receive -> dispatch -> reply` forever. Every
//! decision is `block-driver`'s (pure, host-tested): finding the device,
//! placing its I/O BAR at the ports the spec grants, negotiating, the
//! virtqueue, the GPT, and turning channel requests into disk requests
//! and back ([`block_driver::Service`]). This binary is the seL4 glue:
//! caps, the notification, the IRQ, frames (`hw.rs`).
//!
//! One notification carries the device interrupts (badge bit
//! [`block_api::IRQ_BADGE`], shared by every disk: on it the server reads
//! every disk's ISR and acknowledges every IRQ) and every client's
//! doorbell (other bits). When the spec grants an `irq` for a disk (q35
//! routes slot 4 INTA -> PIRQE -> IOAPIC pin 20, slot 5 INTA -> PIRQF ->
//! pin 21, level-triggered), the server sleeps until a device interrupts,
//! and reports whether each disk's first interrupt came as the test
//! `block-server/interrupts` (the swap disk) or
//! `block-server/interrupts-files`. Without a grant, or if that interrupt
//! never comes, it polls the used rings (yielding between polls) while
//! requests are in flight and sleeps on the notification otherwise.
//! (The disk IRQ needs our kernel patch 0004; see docs/block-server.md.)
//!
//! If the device cannot be brought up, the server still answers every
//! request (with `Io`), so clients fail instead of hanging.
#![no_std]
#![no_main]

extern crate alloc;

mod hw;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use block_api::{
    frame_lists_allowed, Ring, ServerChannel, VolumeKind, Window, BLOCK_SIZE, DONE_SUFFIX,
    IRQ_BADGE, SHM_SUFFIX,
};
use block_driver::pci::{self, Mechanism1};
use block_driver::virtio::{self, Legacy};
use block_driver::{gpt, Disk, Volume, SECTOR};
use hw::{DmaRegion, Objects, Ports};
use sel4::{cap, CPtr};
use sel4_root_task::println;
use sel4_root_task::start_info::StartInfo;

sel4_root_task::component!(main, heap_size = 256 << 10);

/// Channel `i` is mapped at `CHANNEL_VA + i * CHANNEL_STRIDE`.
const CHANNEL_VA: u64 = 0x1_0000_0000;
const CHANNEL_STRIDE: u64 = 0x1000_0000;
/// Disk `i`'s virtqueue, request headers, status bytes, indirect tables
/// and bounce page are mapped at `DMA_VA + i * DMA_STRIDE`. With indirect
/// tables that is 160 KiB for QEMU's 256 entries, which
/// [`DmaRegion::allocate`] rounds up to one 256 KiB untyped (without
/// them 24 KiB, rounded to 32 KiB): the specs' `untyped` grants are sized
/// for it.
const DMA_VA: u64 = 0x2_0000_0000;
const DMA_STRIDE: u64 = 0x1000_0000;
/// Yields to wait for the first request's interrupt before giving up on it.
const IRQ_PROBE_YIELDS: u32 = 20_000;

type Service = block_driver::Service<Ports, DmaRegion>;

/// The server: the service and the kernel objects around it.
struct Server {
    ntfn: CPtr,
    /// The IRQ grants, in spec order: disk `i` (in slot order) has `irqs[i]`.
    irqs: Vec<cap::IrqHandler>,
    /// Each channel's `done` notification, by channel index.
    done: Vec<CPtr>,
    /// Poll the used rings while requests are in flight (some disk has
    /// no working IRQ).
    polling: bool,
    service: Service,
}

fn main(info: &'static StartInfo) -> ! {
    let Some(mut server) = init(info) else {
        println!("block-server: no blk_ntfn cap; stopping");
        loop {
            sel4::yield_now();
        }
    };
    serve(&mut server)
}

/// Brings up every disk (or not) and maps every channel.
fn init(info: &StartInfo) -> Option<Server> {
    let ntfn = info.cap("blk_ntfn")?;
    let mut objs = Objects::new(info);
    let irqs = info
        .caps()
        .iter()
        .filter(|c| c.name().starts_with("irq:"))
        .map(|c| cap::IrqHandler::from_bits(c.slot))
        .collect();
    let mut server = Server {
        ntfn,
        irqs,
        done: Vec::new(),
        polling: false,
        service: Service::new(Vec::new()),
    };
    let volumes = match bring_up_all(info, &mut objs, &mut server) {
        Ok(v) => v,
        Err(e) => {
            println!("block-server: no disk available ({e}); every request fails with Io");
            Vec::new()
        }
    };
    server.service = Service::new(volumes);
    if let Err(e) = channels(info, &mut objs, &mut server) {
        println!("block-server: channels: {e}");
    }
    Some(server)
}

/// Finds every virtio-blk disk on bus 0 and brings up each one that has
/// an I/O port grant (disk `i` in slot order takes the `i`-th grant after
/// the configuration ports). A disk that fails is reported and left out.
fn bring_up_all(
    info: &StartInfo,
    objs: &mut Objects,
    server: &mut Server,
) -> Result<Vec<Volume<Ports, DmaRegion>>, String> {
    let cfg = Mechanism1(
        hw::io_ports(info, |p| p == pci::CONFIG_ADDRESS).ok_or("no IOPort cap for 0xcf8")?,
    );
    let bars = hw::all_io_ports(info, |p| p != pci::CONFIG_ADDRESS);
    if bars.is_empty() {
        return Err("no IOPort cap for a device BAR".into());
    }
    let disks = pci::find_all(
        &cfg,
        virtio::VENDOR,
        &[virtio::BLK_TRANSITIONAL, virtio::BLK_MODERN],
    );
    if disks.is_empty() {
        return Err("no virtio-blk device on PCI bus 0".into());
    }
    let mut volumes = Vec::new();
    for (i, &(bdf, device)) in disks.iter().enumerate() {
        let Some(&bar) = bars.get(i) else {
            println!("block-server: virtio-blk {bdf}: no I/O port grant left for it; not used");
            continue;
        };
        match bring_up(&cfg, bdf, device, bar, i, objs, server) {
            Ok(v) => volumes.push(v),
            Err(e) => println!("block-server: virtio-blk {bdf}: {e}; not used"),
        }
    }
    Ok(volumes)
}

/// Places disk `index`'s BAR at `bar`, brings it up and finds its volume
/// (checking on the way whether its interrupt arrives).
fn bring_up(
    cfg: &Mechanism1<Ports>,
    bdf: pci::Bdf,
    device: u16,
    bar: Ports,
    index: usize,
    objs: &mut Objects,
    server: &mut Server,
) -> Result<Volume<Ports, DmaRegion>, String> {
    if device == virtio::BLK_MODERN {
        return Err("modern-only (0x1042): needs the legacy interface".into());
    }
    pci::place_io_bar(cfg, bdf, bar.first, bar.last).map_err(|e| format!("{e}"))?;
    let regs = Legacy {
        io: bar,
        base: bar.first,
    };
    let dma_va = DMA_VA + index as u64 * DMA_STRIDE;
    let mut disk = Disk::bring_up(regs, virtio::BLK_FEATURES, |bytes| {
        DmaRegion::allocate(objs, bytes, dma_va)
    })
    .map_err(|e| format!("{e}"))?;
    println!(
        "block-server: virtio-blk {bdf} (legacy), I/O {:#x}-{:#x}, {} MiB, queue {}, flush {}, indirect {}",
        bar.first,
        bar.last,
        (disk.capacity() * SECTOR) >> 20,
        disk.queue_size(),
        if disk.flush_supported() { "yes" } else { "no" },
        if disk.indirect() { "yes" } else { "no" }
    );
    // A copy of the registers for reading the ISR while `disk` waits.
    let isr = *disk.regs();
    let irq = server.irqs.get(index).copied();
    let mut irqs = 0;
    let mut probed = false;
    let found = gpt::identify(disk.capacity(), |lba, sector| {
        let r = disk.read_sync(lba, sector, || {
            irqs += take_irq(server, &isr, irq) as u64;
            sel4::yield_now();
            true
        });
        if !core::mem::replace(&mut probed, true) {
            probe_interrupt(server, &isr, irq, &mut irqs);
        }
        r
    });
    let interrupts = irq.is_some() && irqs > 0;
    if irq.is_some() {
        let name = match found {
            Ok((VolumeKind::Files, _)) => "block-server/interrupts-files",
            _ => "block-server/interrupts",
        };
        println!("TEST PLAN 1");
        if interrupts {
            println!("TEST PASS {name}");
        } else {
            println!("TEST FAIL {name}: none after the first request; polling instead");
        }
    }
    if !interrupts {
        server.polling = true;
    }
    let (kind, part) = found.map_err(|e| format!("{e}"))?;
    let v = Volume::new(kind, disk, part);
    let what = match kind {
        VolumeKind::Swap => format!(
            "swap partition: sectors {}..={}",
            part.first_lba, part.last_lba
        ),
        VolumeKind::Files => "files disk (no partition table): the whole disk".into(),
    };
    println!(
        "block-server: {bdf}: {what}, {} blocks of 4K ({} MiB); interrupts: {}",
        v.blocks,
        (v.blocks * BLOCK_SIZE as u64) >> 20,
        if interrupts {
            "IOAPIC"
        } else {
            "none, polling"
        }
    );
    Ok(v)
}

/// After a disk's first request: with an IRQ granted, waits a while for
/// its interrupt (raised with the used-ring update). Granted but silent
/// would quietly cost the CPU, so the caller reports it as a failure and
/// the server polls instead.
fn probe_interrupt(
    server: &Server,
    isr: &Legacy<Ports>,
    irq: Option<cap::IrqHandler>,
    irqs: &mut u64,
) {
    if irq.is_none() || *irqs > 0 {
        return;
    }
    for _ in 0..IRQ_PROBE_YIELDS {
        if take_irq(server, isr, irq) {
            *irqs += 1;
            break;
        }
        sel4::yield_now();
    }
}

/// Start-up only: takes a pending device interrupt, if any (the ISR read
/// lowers the line, then the kernel's handler is re-armed).
fn take_irq(server: &Server, isr: &Legacy<Ports>, irq: Option<cap::IrqHandler>) -> bool {
    let Some(irq) = irq else { return false };
    if sel4::poll(server.ntfn) & IRQ_BADGE == 0 {
        return false;
    }
    isr.isr();
    let _ = irq.irq_handler_ack();
    true
}

/// Maps every channel the spec gives us (`X_shm` frames + `X_done`): the
/// ring page at `va`, buffer `i` at `va + (1 + i) * 4096`. Only the
/// channels `block_api::frame_lists_allowed` names may send frame lists.
fn channels(info: &StartInfo, objs: &mut Objects, server: &mut Server) -> Result<(), String> {
    for c in info.caps() {
        let Some(prefix) = c.name().strip_suffix(SHM_SUFFIX) else {
            continue;
        };
        let frames = c.data;
        if frames < 2 {
            return Err(format!(
                "{}: {frames} frames, need a ring page and buffers",
                c.name()
            ));
        }
        let done = info
            .cap(&format!("{prefix}{DONE_SUFFIX}"))
            .ok_or_else(|| format!("{prefix}: no {prefix}{DONE_SUFFIX} notification"))?;
        let va = CHANNEL_VA + server.done.len() as u64 * CHANNEL_STRIDE;
        let mut phys = objs
            .map_frames(c.slot, frames, va)
            .map_err(|e| format!("{prefix}: {e}"))?;
        phys.remove(0);
        let buffers = phys.len() as u64;
        // SAFETY: the ring page is mapped read-write at `va` for good (page
        // aligned), shared only with the channel's client, and accessed
        // only through `Ring` views.
        let ring = unsafe { Ring::new(va as *mut u8) };
        // SAFETY: the data window's `buffers` pages are mapped read-write
        // right after the ring page (page aligned) for good, shared only with
        // the channel's client, and this is the server's only view of them
        // (the service reads frame lists through it; the device reaches the
        // buffers by physical address).
        let window = unsafe { Window::new((va + BLOCK_SIZE as u64) as *mut u8, buffers) };
        let kind = VolumeKind::of_channel(prefix);
        let lists = frame_lists_allowed(prefix);
        println!(
            "block-server: channel {prefix} ({} volume): {buffers} buffers of 4K, frame lists {}",
            kind.name(),
            if lists { "allowed" } else { "refused" }
        );
        let blocks = server.service.blocks(kind);
        let chan = ServerChannel::new(ring, blocks, buffers);
        server.service.add_channel(chan, phys, window, kind, lists);
        server.done.push(done);
    }
    Ok(())
}

/// `receive -> dispatch -> reply`, forever.
fn serve(server: &mut Server) -> ! {
    // Requests queued before we started are served before the first wait.
    let mut bits = 0;
    loop {
        dispatch(server, bits);
        reply(server);
        bits = receive(server);
    }
}

/// Sleeps on the notification; while requests are in flight and some disk
/// has no working IRQ, polls it instead (yielding when nothing came).
fn receive(server: &Server) -> u64 {
    if server.polling && server.service.in_flight() > 0 {
        let b = sel4::poll(server.ntfn);
        if b == 0 {
            sel4::yield_now();
        }
        b
    } else {
        sel4::wait(server.ntfn)
    }
}

/// Takes the interrupts (every disk's ISR read, then the kernel's ack of
/// every IRQ: they share the badge), reaps the used rings and takes new
/// requests.
fn dispatch(server: &mut Server, bits: u64) {
    if bits & IRQ_BADGE != 0 {
        server.service.interrupt();
        for irq in &server.irqs {
            let _ = irq.irq_handler_ack();
        }
    }
    server.service.dispatch();
    let (errors, last) = server.service.take_error();
    if let Some(e) = last {
        println!("block-server: device error ({e}); {} so far", errors);
    }
}

/// Signals every channel that got completions.
fn reply(server: &mut Server) {
    for i in server.service.take_signals() {
        sel4::signal(server.done[i]);
    }
}
