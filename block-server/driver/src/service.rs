//! The block server's decisions: block-api requests from every channel
//! become virtio-blk requests on the channel's volume (the swap partition
//! or the files disk, [`VolumeKind`]) or answers at once, and finished
//! device requests become completions on their channels.
//!
//! The binary calls [`Service::interrupt`] when the device's IRQ badge
//! arrives, [`Service::dispatch`] after every wake-up, and then signals
//! each channel [`Service::take_signals`] names. Everything between the
//! shared ring pages and the virtqueue happens here.

use crate::blk::{BlkOp, Disk, DiskError, MAX_SEGMENTS};
use crate::gpt::Partition;
use crate::queue::{QueueError, Segment};
use crate::{DmaMemory, PortIo, SECTORS_PER_BLOCK};
use alloc::vec::Vec;
use block_api::{
    BlockError, Completion, Incoming, Request, RequestKind, ServerChannel, VolumeKind, BLOCK_SIZE,
    FLAG_INJECT_IO_ERROR,
};

/// A device request in flight: where its completion goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub channel: usize,
    pub tag: u64,
    /// First block (partition-relative), reported on an `Io` error.
    pub block: u64,
}

/// The served part of a brought-up disk: its swap partition, or the
/// whole disk ([`crate::gpt::identify`]).
#[derive(Debug)]
pub struct Volume<P, M> {
    pub kind: VolumeKind,
    pub disk: Disk<P, M, Pending>,
    /// Its first sector on the disk.
    pub first_sector: u64,
    /// Its size in [`BLOCK_SIZE`] blocks (a partial last block is not served).
    pub blocks: u64,
}

impl<P: PortIo, M: DmaMemory> Volume<P, M> {
    pub fn new(kind: VolumeKind, disk: Disk<P, M, Pending>, part: Partition) -> Self {
        Volume {
            kind,
            disk,
            first_sector: part.first_lba,
            blocks: part.sectors() / SECTORS_PER_BLOCK,
        }
    }
}

/// What the served partition looks like to [`plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub first_sector: u64,
    pub blocks: u64,
    pub flush: bool,
}

/// What to do with a request.
// Built on the stack for one request and consumed at once: boxing the
// segments would cost an allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Answer at once (info, an unsupported flush, an injected error, no
    /// device).
    Answer(Completion),
    /// Send to the device; `segments[..count]` is the data (physically
    /// contiguous buffers merged).
    Device {
        op: BlkOp,
        sector: u64,
        segments: [Segment; MAX_SEGMENTS],
        count: usize,
        block: u64,
    },
}

/// Decides what request `r` (decoded and checked against the partition
/// and the window by [`ServerChannel::take`]) needs; `window` is the
/// physical address of each data-window buffer; `geometry` is `None`
/// without a device.
pub fn plan(r: &Request, window: &[u64], geometry: Option<Geometry>) -> Plan {
    let answer = |result, failed_block| {
        Plan::Answer(Completion {
            tag: r.tag,
            result,
            failed_block,
        })
    };
    let Some(g) = geometry else {
        return answer(Err(BlockError::Io), 0);
    };
    let mut segments = [Segment::default(); MAX_SEGMENTS];
    match r.kind {
        RequestKind::Info => answer(Ok(g.blocks), 0),
        RequestKind::Flush if !g.flush => answer(Ok(0), 0),
        RequestKind::Flush => Plan::Device {
            op: BlkOp::Flush,
            sector: 0,
            segments,
            count: 0,
            block: 0,
        },
        RequestKind::Read { block, count, buf } | RequestKind::Write { block, count, buf } => {
            if r.flags & FLAG_INJECT_IO_ERROR != 0 {
                return answer(Err(BlockError::Io), block);
            }
            let mut n = 0;
            for i in 0..count {
                let Some(&pa) = window.get((buf + i) as usize) else {
                    return answer(Err(BlockError::BadBuffer), 0);
                };
                if n > 0 && segments[n - 1].phys + segments[n - 1].len as u64 == pa {
                    segments[n - 1].len += BLOCK_SIZE as u32;
                } else if n < MAX_SEGMENTS {
                    segments[n] = Segment {
                        phys: pa,
                        len: BLOCK_SIZE as u32,
                    };
                    n += 1;
                } else {
                    return answer(Err(BlockError::Malformed), 0);
                }
            }
            let op = if matches!(r.kind, RequestKind::Read { .. }) {
                BlkOp::Read
            } else {
                BlkOp::Write
            };
            Plan::Device {
                op,
                sector: g.first_sector + block * SECTORS_PER_BLOCK,
                segments,
                count: n,
                block,
            }
        }
    }
}

/// One client's channel: its rings, the physical address of each buffer
/// of its data window, and the volume it serves.
#[derive(Debug)]
struct Channel {
    chan: ServerChannel,
    window: Vec<u64>,
    volume: VolumeKind,
    signal: bool,
}

/// The server's state: the channels and the volumes (the disks that came
/// up, at most one of each kind).
///
/// Locking note: owned by the server's single thread.
#[derive(Debug)]
pub struct Service<P, M> {
    channels: Vec<Channel>,
    volumes: Vec<Volume<P, M>>,
    errors: u64,
    last_error: Option<QueueError>,
    irqs: u64,
}

impl<P: PortIo, M: DmaMemory> Service<P, M> {
    /// A service without channels over `volumes` (at most one of each
    /// kind: a later one of a kind already served is dropped). A channel
    /// whose volume is missing fails every request with `Io`, so clients
    /// fail instead of hanging.
    pub fn new(volumes: Vec<Volume<P, M>>) -> Self {
        let mut served: Vec<Volume<P, M>> = Vec::new();
        for v in volumes {
            if served.iter().all(|s| s.kind != v.kind) {
                served.push(v);
            }
        }
        Service {
            channels: Vec::new(),
            volumes: served,
            errors: 0,
            last_error: None,
            irqs: 0,
        }
    }

    /// The size of the `kind` volume in blocks (0 without one).
    pub fn blocks(&self, kind: VolumeKind) -> u64 {
        self.volume(kind).map_or(0, |v| v.blocks)
    }

    /// The `kind` volume, if its disk came up.
    pub fn volume(&self, kind: VolumeKind) -> Option<&Volume<P, M>> {
        self.volumes.iter().find(|v| v.kind == kind)
    }

    /// Every volume served.
    pub fn volumes(&self) -> &[Volume<P, M>] {
        &self.volumes
    }

    /// Serves `chan` on the `volume` volume; its buffer `i` is at physical
    /// address `window[i]`. Returns its index.
    pub fn add_channel(
        &mut self,
        chan: ServerChannel,
        window: Vec<u64>,
        volume: VolumeKind,
    ) -> usize {
        self.channels.push(Channel {
            chan,
            window,
            volume,
            signal: false,
        });
        self.channels.len() - 1
    }

    pub fn channels(&self) -> usize {
        self.channels.len()
    }

    /// Device requests in flight, on every disk.
    pub fn in_flight(&self) -> usize {
        self.volumes.iter().map(|v| v.disk.in_flight()).sum()
    }

    /// Device interrupts taken.
    pub fn irqs(&self) -> u64 {
        self.irqs
    }

    /// A disk interrupted (every disk's IRQ has the same badge): reads
    /// every disk's ISR, which lowers its line (the caller then
    /// acknowledges the IRQs to the kernel, then dispatches). Returns the
    /// ISR bits of all disks together.
    pub fn interrupt(&mut self) -> u8 {
        if self.volumes.is_empty() {
            return 0;
        }
        self.irqs += 1;
        self.volumes.iter().fold(0, |isr, v| isr | v.disk.isr())
    }

    /// Hands finished device requests back to their channels, then takes
    /// new requests from every channel while the queue has room for the
    /// largest, and notifies the device if it got any.
    pub fn dispatch(&mut self) {
        self.reap();
        self.take_requests();
    }

    /// Channels that got completions since the last call (each once).
    pub fn take_signals(&mut self) -> impl Iterator<Item = usize> + '_ {
        self.channels
            .iter_mut()
            .enumerate()
            .filter_map(|(i, c)| core::mem::take(&mut c.signal).then_some(i))
    }

    /// Used-ring entries the device got wrong so far, and the last one
    /// (taken, so each is reported once).
    pub fn take_error(&mut self) -> (u64, Option<QueueError>) {
        (self.errors, self.last_error.take())
    }

    fn reap(&mut self) {
        for v in &mut self.volumes {
            while let Some(r) = v.disk.reap() {
                let done = match r {
                    Ok(d) => d,
                    Err(e) => {
                        self.errors += 1;
                        self.last_error = Some(e);
                        continue;
                    }
                };
                let p = done.token;
                let ok = done.ok();
                let c = &mut self.channels[p.channel];
                c.chan.complete(Completion {
                    tag: p.tag,
                    result: if ok { Ok(0) } else { Err(BlockError::Io) },
                    failed_block: if ok { 0 } else { p.block },
                });
                c.signal = true;
            }
        }
    }

    fn take_requests(&mut self) {
        let room = Disk::<P, M, Pending>::descriptors_for(MAX_SEGMENTS);
        let mut notify = alloc::vec![false; self.volumes.len()];
        for (ci, c) in self.channels.iter_mut().enumerate() {
            let vi = self.volumes.iter().position(|v| v.kind == c.volume);
            let geometry = vi.map(|i| {
                let v = &self.volumes[i];
                Geometry {
                    first_sector: v.first_sector,
                    blocks: v.blocks,
                    flush: v.disk.flush_supported(),
                }
            });
            loop {
                if let Some(i) = vi {
                    if self.volumes[i].disk.free_descriptors() < room {
                        break;
                    }
                }
                let Some(inc) = c.chan.take() else { break };
                let r = match inc {
                    Incoming::Refused { tag, error } => {
                        c.chan.complete(Completion {
                            tag,
                            result: Err(error),
                            failed_block: 0,
                        });
                        c.signal = true;
                        continue;
                    }
                    Incoming::Request(r) => r,
                };
                let done = match (plan(&r, &c.window, geometry), vi) {
                    (Plan::Answer(done), _) => done,
                    // Cannot happen: without a volume, plan answers.
                    (Plan::Device { .. }, None) => Completion {
                        tag: r.tag,
                        result: Err(BlockError::Io),
                        failed_block: 0,
                    },
                    (
                        Plan::Device {
                            op,
                            sector,
                            segments,
                            count,
                            block,
                        },
                        Some(i),
                    ) => {
                        let token = Pending {
                            channel: ci,
                            tag: r.tag,
                            block,
                        };
                        let disk = &mut self.volumes[i].disk;
                        match disk.submit(op, sector, &segments[..count], token) {
                            Ok(_) => {
                                notify[i] = true;
                                continue;
                            }
                            // Cannot happen: the loop checked for room.
                            Err(DiskError::Queue(QueueError::Full { .. })) => Completion {
                                tag: r.tag,
                                result: Err(BlockError::Busy),
                                failed_block: 0,
                            },
                            Err(_) => Completion {
                                tag: r.tag,
                                result: Err(BlockError::Io),
                                failed_block: block,
                            },
                        }
                    }
                };
                c.chan.complete(done);
                c.signal = true;
            }
        }
        for (v, n) in self.volumes.iter().zip(notify) {
            if n {
                v.disk.notify();
            }
        }
    }
}
