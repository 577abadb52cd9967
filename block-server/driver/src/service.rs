//! The block server's decisions: block-api requests from every channel
//! become virtio-blk requests on the channel's volume (the swap partition
//! or the files disk, [`VolumeKind`]) or answers at once, and finished
//! device requests become completions on their channels.
//!
//! A transfer's data moves between the disk and the pages [`transfer_pages`]
//! names: the channel's window buffers, or, for a frame-list request
//! ([`block_api::FLAG_FRAME_LIST`], on channels allowed it), the physical
//! pages its list names, read once from the window and checked before any
//! I/O; [`plan`] turns either into virtio-blk segments.
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
    BlockError, Completion, Incoming, Request, RequestKind, ServerChannel, VolumeKind, Window,
    BLOCK_SIZE, FLAG_INJECT_IO_ERROR,
};
use core::ops::Range;

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

/// Whether the page at physical address `addr`, named by a frame list, may
/// be handed to the device: [`BLOCK_SIZE`] aligned, `addr + BLOCK_SIZE`
/// not overflowing, and overlapping none of the `reserved` ranges (the
/// server's own DMA memory).
pub fn frame_ok(addr: u64, reserved: &[Range<u64>]) -> bool {
    if !addr.is_multiple_of(BLOCK_SIZE as u64) {
        return false;
    }
    let Some(end) = addr.checked_add(BLOCK_SIZE as u64) else {
        return false;
    };
    reserved
        .iter()
        .all(|r| r.is_empty() || end <= r.start || r.end <= addr)
}

/// The physical address of each page of transfer `r` (decoded and checked
/// by [`ServerChannel::take`]), in block order, written to `out`; returns
/// how many (0 for `Info`/`Flush`).
///
/// * A window request's pages are its buffers': `window[i]` is the
///   physical address of data-window buffer `i`.
/// * A frame-list request's pages are its list's entries: `read_list(buf,
///   out)` copies the list out of window buffer `buf` once (false: no
///   such buffer), and only that copy is checked ([`frame_ok`] against
///   `reserved`) and used, so a client scribbling on the list meanwhile
///   changes nothing. One bad entry fails the request with `BadBuffer`.
///
/// Whether the channel may send lists at all is the caller's check.
pub fn transfer_pages(
    r: &Request,
    window: &[u64],
    read_list: impl FnOnce(u64, &mut [u64]) -> bool,
    reserved: &[Range<u64>],
    out: &mut [u64; MAX_SEGMENTS],
) -> Result<usize, BlockError> {
    let Some((_, count, buf)) = r.kind.transfer() else {
        return Ok(0);
    };
    let n = usize::try_from(count)
        .ok()
        .filter(|&n| n <= MAX_SEGMENTS)
        .ok_or(BlockError::Malformed)?;
    if r.frame_list() {
        if !read_list(buf, &mut out[..n]) {
            return Err(BlockError::BadBuffer);
        }
        if !out[..n].iter().all(|&a| frame_ok(a, reserved)) {
            return Err(BlockError::BadBuffer);
        }
    } else {
        let pages = usize::try_from(buf)
            .ok()
            .and_then(|b| window.get(b..b.checked_add(n)?))
            .ok_or(BlockError::BadBuffer)?;
        out[..n].copy_from_slice(pages);
    }
    Ok(n)
}

/// Decides what request `r` (decoded and checked against the partition
/// and the window by [`ServerChannel::take`]) needs; `pages` is the
/// physical address of each page of its transfer, in block order
/// ([`transfer_pages`]: window buffers or a checked frame list; empty for
/// `Info`/`Flush`); `geometry` is `None` without a device.
pub fn plan(r: &Request, pages: &[u64], geometry: Option<Geometry>) -> Plan {
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
        RequestKind::Read { block, count, .. } | RequestKind::Write { block, count, .. } => {
            if r.flags & FLAG_INJECT_IO_ERROR != 0 {
                return answer(Err(BlockError::Io), block);
            }
            if pages.len() as u64 != count {
                return answer(Err(BlockError::BadBuffer), 0);
            }
            let mut n = 0;
            for &pa in pages {
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

/// One client's channel: its rings, its data window (the physical address
/// of each buffer, and a view of the bytes for reading frame lists), the
/// volume it serves, and whether it may send frame lists.
#[derive(Debug)]
struct Channel {
    chan: ServerChannel,
    phys: Vec<u64>,
    window: Window,
    volume: VolumeKind,
    frame_lists: bool,
    signal: bool,
}

/// A request's physical pages: the first `.1` of `.0`.
type Pages = ([u64; MAX_SEGMENTS], usize);

impl Channel {
    /// The request `inc` names and the physical pages of its transfer, or
    /// its completion if it fails before any I/O (refused by the channel,
    /// a frame list where none is allowed, a bad buffer or list entry).
    fn admit(
        &self,
        inc: Incoming,
        reserved: &[Range<u64>],
    ) -> Result<(Request, Pages), Completion> {
        let fail = |tag, error| Completion {
            tag,
            result: Err(error),
            failed_block: 0,
        };
        let r = match inc {
            Incoming::Refused { tag, error } => return Err(fail(tag, error)),
            Incoming::Request(r) => r,
        };
        if r.frame_list() && !self.frame_lists {
            return Err(fail(r.tag, BlockError::Unsupported));
        }
        let mut pages = [0; MAX_SEGMENTS];
        let read_list = |buf, out: &mut [u64]| {
            let ok = self.window.contains(buf, 1);
            if ok {
                self.window.read_u64s(buf, out);
            }
            ok
        };
        match transfer_pages(&r, &self.phys, read_list, reserved, &mut pages) {
            Ok(n) => Ok((r, (pages, n))),
            Err(e) => Err(fail(r.tag, e)),
        }
    }
}

/// The server's state: the channels and the volumes (the disks that came
/// up, at most one of each kind).
///
/// Locking note: owned by the server's single thread.
#[derive(Debug)]
pub struct Service<P, M> {
    channels: Vec<Channel>,
    volumes: Vec<Volume<P, M>>,
    /// Every volume's queue memory: no frame list may name it.
    reserved: Vec<Range<u64>>,
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
            reserved: served.iter().map(|v| v.disk.queue_range()).collect(),
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

    /// Serves `chan` on the `volume` volume; its data window is `window`
    /// (the server's view, for reading frame lists), and its buffer `i` is
    /// at physical address `phys[i]`. With `frame_lists`
    /// ([`block_api::frame_lists_allowed`]) it may send frame-list
    /// requests; otherwise they fail with `Unsupported`. Returns its index.
    pub fn add_channel(
        &mut self,
        chan: ServerChannel,
        phys: Vec<u64>,
        window: Window,
        volume: VolumeKind,
        frame_lists: bool,
    ) -> usize {
        self.channels.push(Channel {
            chan,
            phys,
            window,
            volume,
            frame_lists,
            signal: false,
        });
        self.channels.len() - 1
    }

    /// The physical ranges no frame list may name: every volume's queue
    /// memory (descriptor table, rings, request headers, status bytes,
    /// indirect tables, bounce page).
    pub fn reserved(&self) -> &[Range<u64>] {
        &self.reserved
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
    /// largest ([`Disk::ring_slots_for`]: one descriptor with indirect
    /// tables), and notifies the device if it got any.
    pub fn dispatch(&mut self) {
        self.reap();
        self.take_requests();
    }

    /// Channels that got completions since the last call (each once) and
    /// want a signal for them: not one whose client is awake and asked
    /// for quiet completions (block-api's `ring` docs, "Quiet
    /// completions"). Call it after `dispatch`, which published them.
    pub fn take_signals(&mut self) -> impl Iterator<Item = usize> + '_ {
        self.channels.iter_mut().enumerate().filter_map(|(i, c)| {
            (core::mem::take(&mut c.signal) && c.chan.signal_wanted()).then_some(i)
        })
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
                // Room for the largest request: MAX_SEGMENTS + 2 ring
                // descriptors, or one with indirect tables.
                if let Some(i) = vi {
                    let disk = &self.volumes[i].disk;
                    if disk.free_descriptors() < disk.ring_slots_for(MAX_SEGMENTS) {
                        break;
                    }
                }
                let Some(inc) = c.chan.take() else { break };
                let (r, (pages, n)) = match c.admit(inc, &self.reserved) {
                    Ok(admitted) => admitted,
                    Err(done) => {
                        c.chan.complete(done);
                        c.signal = true;
                        continue;
                    }
                };
                let done = match (plan(&r, &pages[..n], geometry), vi) {
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
