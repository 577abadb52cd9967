//! The block server: a virtio-blk driver on seL4 that serves the disk's
//! Linux-swap partition to its clients over `block-api` channels.
//!
//! `main` reads top to bottom: `init()` builds the state from what the
//! root task handed over (IOPort caps for PCI configuration space and the
//! device's BAR, an untyped grant for DMA memory, the IRQ, the channels),
//! then the server loops `receive -> dispatch -> reply` forever. Every
//! decision is `block-driver`'s (pure, host-tested): finding the device,
//! placing its I/O BAR at the ports the spec grants, negotiating, the
//! virtqueue, the GPT, and turning channel requests into disk requests
//! and back ([`block_driver::Service`]). This binary is the seL4 glue:
//! caps, the notification, the IRQ, frames (`hw.rs`).
//!
//! One notification carries the device interrupt (badge bit
//! [`block_api::IRQ_BADGE`]) and every client's doorbell (other bits).
//! When the spec grants an `irq` (q35 routes slot 4 INTA -> PIRQE ->
//! IOAPIC pin 20, level-triggered), the server sleeps until the device
//! interrupts, and reports whether the first request's interrupt came as
//! the test `block-server/interrupts`. Without a grant, or if that
//! interrupt never comes, it polls the used ring (yielding between polls)
//! while requests are in flight and sleeps on the notification otherwise.
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
use block_api::{Ring, ServerChannel, BLOCK_SIZE, DONE_SUFFIX, IRQ_BADGE, SHM_SUFFIX};
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
/// The virtqueue, request headers, status bytes and the bounce page.
const DMA_VA: u64 = 0x2_0000_0000;
/// Yields to wait for the first request's interrupt before giving up on it.
const IRQ_PROBE_YIELDS: u32 = 20_000;

type Service = block_driver::Service<Ports, DmaRegion>;

/// The server: the service and the kernel objects around it.
struct Server {
    ntfn: CPtr,
    irq: Option<cap::IrqHandler>,
    /// Each channel's `done` notification, by channel index.
    done: Vec<CPtr>,
    /// Poll the used ring while requests are in flight (no IRQ).
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

/// Brings up the device (or not) and maps every channel.
fn init(info: &StartInfo) -> Option<Server> {
    let ntfn = info.cap("blk_ntfn")?;
    let mut objs = Objects::new(info);
    let irq = info
        .caps()
        .iter()
        .find(|c| c.name().starts_with("irq:"))
        .map(|c| cap::IrqHandler::from_bits(c.slot));
    let mut server = Server {
        ntfn,
        irq,
        done: Vec::new(),
        polling: irq.is_none(),
        service: Service::new(None),
    };
    match bring_up(info, &mut objs, &mut server) {
        Ok(v) => server.service = Service::new(Some(v)),
        Err(e) => println!("block-server: device not available ({e}); every request fails with Io"),
    }
    if let Err(e) = channels(info, &mut objs, &mut server) {
        println!("block-server: channels: {e}");
    }
    Some(server)
}

/// Finds the disk, places its BAR, brings it up and finds the swap
/// partition (checking on the way whether interrupts arrive).
fn bring_up(
    info: &StartInfo,
    objs: &mut Objects,
    server: &mut Server,
) -> Result<Volume<Ports, DmaRegion>, String> {
    let cfg = Mechanism1(
        hw::io_ports(info, |p| p == pci::CONFIG_ADDRESS).ok_or("no IOPort cap for 0xcf8")?,
    );
    let bar = hw::io_ports(info, |p| p != pci::CONFIG_ADDRESS)
        .ok_or("no IOPort cap for the device BAR")?;
    let (bdf, device) = pci::find(
        &cfg,
        virtio::VENDOR,
        &[virtio::BLK_TRANSITIONAL, virtio::BLK_MODERN],
    )
    .ok_or("no virtio-blk device on PCI bus 0")?;
    if device == virtio::BLK_MODERN {
        return Err(format!(
            "virtio-blk at {bdf} is modern-only (0x1042): needs the legacy interface"
        ));
    }
    pci::place_io_bar(&cfg, bdf, bar.first, bar.last).map_err(|e| format!("{e}"))?;
    let regs = Legacy {
        io: bar,
        base: bar.first,
    };
    let mut disk = Disk::bring_up(regs, virtio::BLK_FEATURES, |bytes| {
        DmaRegion::allocate(objs, bytes, DMA_VA)
    })
    .map_err(|e| format!("{e}"))?;
    println!(
        "block-server: virtio-blk {bdf} (legacy), I/O {:#x}-{:#x}, {} MiB, queue {}, flush {}",
        bar.first,
        bar.last,
        (disk.capacity() * SECTOR) >> 20,
        disk.queue_size(),
        if disk.flush_supported() { "yes" } else { "no" }
    );
    // A copy of the registers for reading the ISR while `disk` waits.
    let isr = *disk.regs();
    let mut irqs = 0;
    let mut probed = false;
    let part = gpt::find_swap(disk.capacity(), |lba, sector| {
        let r = disk.read_sync(lba, sector, || {
            irqs += take_irq(server, &isr) as u64;
            sel4::yield_now();
            true
        });
        if !core::mem::replace(&mut probed, true) {
            probe_interrupt(server, &isr, &mut irqs);
        }
        r
    })
    .map_err(|e| format!("{e}"))?;
    let v = Volume::new(disk, part);
    println!(
        "block-server: swap partition: sectors {}..={}, {} blocks of 4K ({} MiB); interrupts: {}",
        part.first_lba,
        part.last_lba,
        v.blocks,
        (v.blocks * BLOCK_SIZE as u64) >> 20,
        if server.polling {
            "none, polling"
        } else {
            "IOAPIC"
        }
    );
    Ok(v)
}

/// After the first request: with an IRQ granted, waits a while for its
/// interrupt (raised with the used-ring update) and reports the test
/// `block-server/interrupts`; granted but silent would quietly cost the
/// CPU, so it is a failure, and the server polls instead.
fn probe_interrupt(server: &mut Server, isr: &Legacy<Ports>, irqs: &mut u64) {
    if server.polling || *irqs > 0 {
        return;
    }
    for _ in 0..IRQ_PROBE_YIELDS {
        if take_irq(server, isr) {
            *irqs += 1;
            break;
        }
        sel4::yield_now();
    }
    println!("TEST PLAN 1");
    if *irqs == 0 {
        println!(
            "TEST FAIL block-server/interrupts: none after the first request; polling instead"
        );
        server.polling = true;
    } else {
        println!("TEST PASS block-server/interrupts");
    }
}

/// Start-up only: takes a pending device interrupt, if any (the ISR read
/// lowers the line, then the kernel's handler is re-armed).
fn take_irq(server: &Server, isr: &Legacy<Ports>) -> bool {
    let Some(irq) = server.irq else { return false };
    if sel4::poll(server.ntfn) & IRQ_BADGE == 0 {
        return false;
    }
    isr.isr();
    let _ = irq.irq_handler_ack();
    true
}

/// Maps every channel the spec gives us (`X_shm` frames + `X_done`).
fn channels(info: &StartInfo, objs: &mut Objects, server: &mut Server) -> Result<(), String> {
    let blocks = server.service.blocks();
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
        let mut window = objs
            .map_frames(c.slot, frames, va)
            .map_err(|e| format!("{prefix}: {e}"))?;
        window.remove(0);
        // SAFETY: the ring page is mapped read-write at `va` for good (page
        // aligned), shared only with the channel's client, and accessed
        // only through `Ring` views.
        let ring = unsafe { Ring::new(va as *mut u8) };
        println!(
            "block-server: channel {prefix}: {} buffers of 4K",
            window.len()
        );
        let chan = ServerChannel::new(ring, blocks, window.len() as u64);
        server.service.add_channel(chan, window);
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

/// Sleeps on the notification; while requests are in flight without an
/// IRQ, polls it instead (yielding when nothing came).
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

/// Takes the interrupt (ISR read, then the kernel's ack), reaps the used
/// ring and takes new requests.
fn dispatch(server: &mut Server, bits: u64) {
    if bits & IRQ_BADGE != 0 {
        server.service.interrupt();
        if let Some(irq) = server.irq {
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
