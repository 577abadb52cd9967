//! The server's decisions end to end: a block-api client stub on a real
//! ring page, the service, the virtqueue and the fake device, with data
//! moving by "DMA" between the fake disk and the channel windows.

mod common;

use block_api::{
    BlockClient, BlockError, Completion, Notifier, Request, RequestKind, Ring, ServerChannel,
    VolumeKind, Window, BLOCK_SIZE, FLAG_FRAME_LIST, FLAG_INJECT_IO_ERROR,
};
use block_driver::blk::Disk;
use block_driver::queue::{QueueError, Segment};
use block_driver::service::{frame_ok, plan, transfer_pages, Geometry, Plan};
use block_driver::virtio::{self, Legacy, BLK_FEATURES};
use block_driver::{BlkOp, Partition, Service, Volume};
use common::{captured, Device, FakeDma, PhysMem, BAR};
use std::cell::Cell;
use std::rc::Rc;

/// The test drives the server itself, so a client's wait only checks
/// that the client is not in a quiet stretch (it would sleep through its
/// completions), counts, and returns (a wait may return early).
struct NoBell {
    ring: Ring,
    waits: Rc<Cell<u32>>,
}

impl NoBell {
    fn new(ring: Ring) -> NoBell {
        NoBell {
            ring,
            waits: Rc::default(),
        }
    }
}

impl Notifier for NoBell {
    fn kick(&mut self) {}
    fn wait(&mut self) {
        assert!(!self.ring.quiet(), "a client waits in a quiet stretch");
        self.waits.set(self.waits.get() + 1);
    }
}

const BLOCKS: u64 = 256;
const FIRST: u64 = 2048;
const BUFFERS: u64 = 32;

struct Client {
    stub: BlockClient<NoBell>,
    /// The channel's ring page (tests of a confused server, of a new
    /// client), and where it is.
    ring: Ring,
    page: *mut u8,
    /// Physical address of each buffer, as the server knows them.
    window: Vec<u64>,
}

struct World {
    mem: Rc<PhysMem>,
    dev: Device,
    service: Service<Device, FakeDma>,
    clients: Vec<Client>,
}

/// How the world is set up.
#[derive(Clone, Copy)]
struct Opts {
    queue_size: u16,
    flush: bool,
    device: bool,
    /// The window's pages in reverse physical order (no two contiguous).
    scattered: bool,
    channels: usize,
    /// The channels may send frame lists.
    frame_lists: bool,
    /// The device offers indirect descriptor tables (QEMU's does).
    indirect: bool,
}

const DEFAULT: Opts = Opts {
    queue_size: 256,
    flush: true,
    device: true,
    scattered: false,
    channels: 1,
    frame_lists: false,
    indirect: true,
};

/// The server's view of the data window of the channel at `base`.
fn server_window(mem: &PhysMem, base: u64) -> Window {
    let ptr = mem.ptr(base + 4096, BUFFERS as usize * BLOCK_SIZE);
    // SAFETY: fake RAM lives as long as the test; this is the server's end
    // of the window (the stub's is the other), and the test writes
    // buffers by physical address only between requests.
    unsafe { Window::new(ptr, BUFFERS) }
}

fn world(o: Opts) -> World {
    let mem = PhysMem::new(0x100_0000, 128);
    let sectors = FIRST + BLOCKS * 8 + 64;
    let dev = Device::new(&mem, vec![0xee; sectors as usize * 512]);
    dev.state().queue_size = o.queue_size;
    if !o.flush {
        dev.state().offered = captured::LEGACY_FEATURES & !virtio::BLK_F_FLUSH;
    }
    if !o.indirect {
        dev.state().offered &= !virtio::RING_F_INDIRECT_DESC;
    }
    let volume = o.device.then(|| {
        let regs = Legacy {
            io: dev.clone(),
            base: BAR,
        };
        let disk = Disk::bring_up(regs, BLK_FEATURES, |b| Ok(FakeDma::new(&mem, b))).unwrap();
        let part = Partition {
            first_lba: FIRST,
            // A partial last block is not served.
            last_lba: FIRST + BLOCKS * 8 + 3,
        };
        Volume::new(VolumeKind::Swap, disk, part)
    });
    let mut service = Service::new(volume.into_iter().collect());
    let mut clients = Vec::new();
    for _ in 0..o.channels {
        let base = mem.alloc(1 + BUFFERS);
        let mut window: Vec<u64> = (1..=BUFFERS).map(|i| base + i * 4096).collect();
        if o.scattered {
            window.reverse();
        }
        let ptr = mem.ptr(base, (1 + BUFFERS as usize) * BLOCK_SIZE);
        // SAFETY: fake RAM lives as long as the world; the ring page is used
        // only through Ring views (client stub and server channel).
        let ring = unsafe { Ring::new(ptr) };
        service.add_channel(
            ServerChannel::new(ring, service.blocks(VolumeKind::Swap), BUFFERS),
            window.clone(),
            server_window(&mem, base),
            VolumeKind::Swap,
            o.frame_lists,
        );
        // SAFETY: as above; the stub's window view is never used (the test
        // reaches buffers by physical address).
        let stub = unsafe { BlockClient::new(ptr, BUFFERS, NoBell::new(ring)) };
        clients.push(Client {
            stub,
            ring,
            page: ptr,
            window,
        });
    }
    World {
        mem,
        dev,
        service,
        clients,
    }
}

impl World {
    /// Runs the server until nothing moves; returns the channels signalled.
    fn pump(&mut self) -> Vec<usize> {
        let mut signals = Vec::new();
        for _ in 0..3 {
            self.service.dispatch();
            signals.extend(self.service.take_signals());
        }
        signals.sort();
        signals.dedup();
        signals
    }

    fn fill(&self, c: usize, buf: u64, count: u64, seed: u8) {
        for i in 0..count {
            let data: Vec<u8> = (0..BLOCK_SIZE)
                .map(|k| seed ^ (i as u8) ^ (k as u8))
                .collect();
            self.mem
                .write(self.clients[c].window[(buf + i) as usize], &data);
        }
    }

    fn buffer(&self, c: usize, buf: u64) -> Vec<u8> {
        self.mem
            .bytes(self.clients[c].window[buf as usize], BLOCK_SIZE)
    }

    fn submit(&mut self, c: usize, kind: RequestKind, flags: u64) -> u64 {
        self.clients[c].stub.submit(kind, flags).unwrap()
    }

    fn completions(&mut self, c: usize) -> Vec<Completion> {
        std::iter::from_fn(|| self.clients[c].stub.poll()).collect()
    }

    /// Submits one request, runs the server, returns its completion.
    fn call(&mut self, c: usize, kind: RequestKind, flags: u64) -> Completion {
        let tag = self.submit(c, kind, flags);
        self.pump();
        let done = self.completions(c);
        assert_eq!(done.len(), 1, "{done:?}");
        assert_eq!(done[0].tag, tag);
        done[0]
    }
}

fn read(block: u64, count: u64, buf: u64) -> RequestKind {
    RequestKind::Read { block, count, buf }
}

fn write(block: u64, count: u64, buf: u64) -> RequestKind {
    RequestKind::Write { block, count, buf }
}

#[test]
fn blocks_go_to_the_partition_and_come_back() {
    let mut w = world(DEFAULT);
    w.fill(0, 0, 32, 7);
    for k in 0..4 {
        let done = w.call(0, write(10 + 8 * k, 8, 8 * k), 0);
        assert_eq!(done.result, Ok(0));
    }
    // On disk at the partition's offset, block by block.
    let disk = w.dev.state().disk.clone();
    for i in 0..32u64 {
        let at = ((FIRST + (10 + i) * 8) * 512) as usize;
        assert_eq!(disk[at..at + BLOCK_SIZE], w.buffer(0, i)[..], "block {i}");
    }
    assert_eq!(disk[((FIRST + 10 * 8) * 512) as usize - 1], 0xee);
    // Read back in one request of 32 blocks into cleared buffers.
    let before: Vec<Vec<u8>> = (0..32).map(|i| w.buffer(0, i)).collect();
    w.fill(0, 0, 32, 0);
    assert_eq!(w.call(0, read(10, 32, 0), 0).result, Ok(0));
    for i in 0..32 {
        assert_eq!(w.buffer(0, i), before[i as usize], "block {i}");
    }
    // Contiguous windows: one data descriptor per request.
    assert!(w.dev.state().seen.iter().all(|s| s.descriptors == 3));
    assert_eq!(w.dev.state().seen[4].bytes, 32 * 4096);
    assert_eq!(w.service.in_flight(), 0);
}

#[test]
fn scattered_windows_take_a_segment_per_page() {
    let mut w = world(Opts {
        scattered: true,
        ..DEFAULT
    });
    w.fill(0, 0, 32, 3);
    assert_eq!(w.call(0, write(0, 32, 0), 0).result, Ok(0));
    assert_eq!(w.dev.state().seen[0].descriptors, 34);
    let expect: Vec<Vec<u8>> = (0..32).map(|i| w.buffer(0, i)).collect();
    w.fill(0, 0, 32, 0);
    assert_eq!(w.call(0, read(0, 32, 0), 0).result, Ok(0));
    for i in 0..32 {
        assert_eq!(w.buffer(0, i), expect[i as usize]);
    }
}

#[test]
fn completions_may_come_in_any_order() {
    let mut w = world(DEFAULT);
    w.dev.state().immediate = false;
    let tags: Vec<u64> = (0..8).map(|k| w.submit(0, read(k, 1, k), 0)).collect();
    assert!(w.pump().is_empty(), "nothing finished yet");
    assert_eq!(w.service.in_flight(), 8);
    w.dev.complete(true);
    assert_eq!(w.pump(), [0]);
    let done: Vec<u64> = w.completions(0).iter().map(|c| c.tag).collect();
    let mut rev = tags.clone();
    rev.reverse();
    assert_eq!(done, rev);
    assert_eq!(w.service.in_flight(), 0);
}

#[test]
fn a_device_error_fails_its_request_only() {
    let mut w = world(DEFAULT);
    w.dev.state().fail_sector = Some(FIRST + 5 * 8 + 3);
    let bad = w.call(0, read(4, 4, 0), 0);
    assert_eq!(bad.result, Err(BlockError::Io));
    assert_eq!(bad.failed_block, 4, "the request's first block");
    assert_eq!(w.call(0, read(8, 4, 0), 0).result, Ok(0));
}

#[test]
fn an_injected_error_never_reaches_the_device() {
    let mut w = world(DEFAULT);
    let done = w.call(0, write(17, 2, 0), FLAG_INJECT_IO_ERROR);
    assert_eq!(done.result, Err(BlockError::Io));
    assert_eq!(done.failed_block, 17);
    assert!(w.dev.state().seen.is_empty());
}

#[test]
fn info_and_flush() {
    let mut w = world(DEFAULT);
    assert_eq!(w.call(0, RequestKind::Info, 0).result, Ok(BLOCKS));
    assert!(w.dev.state().seen.is_empty());
    assert_eq!(w.call(0, RequestKind::Flush, 0).result, Ok(0));
    assert_eq!(w.dev.state().seen[0].kind, 4);
    assert_eq!(w.dev.state().seen[0].descriptors, 2);

    let mut w = world(Opts {
        flush: false,
        ..DEFAULT
    });
    assert_eq!(w.call(0, RequestKind::Flush, 0).result, Ok(0));
    assert!(w.dev.state().seen.is_empty(), "answered without the device");
}

#[test]
fn without_a_device_everything_fails() {
    let mut w = world(Opts {
        device: false,
        ..DEFAULT
    });
    assert_eq!(w.service.blocks(VolumeKind::Swap), 0);
    assert_eq!(w.call(0, RequestKind::Info, 0).result, Err(BlockError::Io));
    assert_eq!(w.call(0, RequestKind::Flush, 0).result, Err(BlockError::Io));
    // A partition of 0 blocks: every transfer is out of range.
    assert_eq!(
        w.call(0, read(0, 1, 0), 0).result,
        Err(BlockError::OutOfRange)
    );
    assert_eq!(w.service.interrupt(), 0);
}

#[test]
fn refused_requests_are_answered_at_once() {
    let mut w = world(DEFAULT);
    assert_eq!(
        w.call(0, read(BLOCKS, 1, 0), 0).result,
        Err(BlockError::OutOfRange)
    );
    assert_eq!(
        w.call(0, read(BLOCKS - 1, 2, 0), 0).result,
        Err(BlockError::OutOfRange)
    );
    assert_eq!(
        w.call(0, read(0, 2, BUFFERS - 1), 0).result,
        Err(BlockError::BadBuffer)
    );
    assert_eq!(
        w.call(0, read(0, 1, 0), 1 << 5).result,
        Err(BlockError::Malformed)
    );
    assert!(w.dev.state().seen.is_empty());
    // The last block is served.
    assert_eq!(w.call(0, read(BLOCKS - 1, 1, 0), 0).result, Ok(0));
}

#[test]
fn a_full_virtqueue_leaves_requests_in_the_channel() {
    let mut w = world(Opts {
        queue_size: 64,
        indirect: false,
        ..DEFAULT
    });
    w.dev.state().immediate = false;
    let tags: Vec<u64> = (0..32).map(|k| w.submit(0, read(k, 1, k), 0)).collect();
    w.pump();
    // Room for the largest request (34 descriptors) is kept before each
    // take: 11 requests of 3 descriptors fit in 64.
    assert_eq!(w.dev.state().seen.len(), 11);
    assert_eq!(w.service.in_flight(), 11);
    let mut done = Vec::new();
    for _ in 0..10 {
        w.dev.complete(false);
        w.pump();
        done.extend(w.completions(0));
    }
    assert_eq!(done.len(), 32);
    assert!(done.iter().all(|c| c.result == Ok(0)), "no Busy: {done:?}");
    let mut got: Vec<u64> = done.iter().map(|c| c.tag).collect();
    got.sort();
    assert_eq!(got, tags);
}

#[test]
fn a_bogus_used_entry_is_reported_and_skipped() {
    let mut w = world(DEFAULT);
    w.dev.state().immediate = false;
    let tag = w.submit(0, read(0, 1, 0), 0);
    w.pump();
    w.dev.push_used(200, 0);
    w.dev.push_used(7, 0);
    w.dev.complete(false);
    w.pump();
    let done = w.completions(0);
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].tag, done[0].result), (tag, Ok(0)));
    assert_eq!(w.service.take_error(), (2, Some(QueueError::BadUsedId(7))));
    assert_eq!(w.service.take_error(), (2, None), "reported once");
}

#[test]
fn only_channels_with_completions_are_signalled() {
    let mut w = world(Opts {
        channels: 2,
        ..DEFAULT
    });
    w.fill(1, 0, 1, 9);
    w.submit(1, write(3, 1, 0), 0);
    assert_eq!(w.pump(), [1]);
    assert!(w.pump().is_empty());
    w.submit(0, read(3, 1, 5), 0);
    w.submit(1, RequestKind::Info, 0);
    assert_eq!(w.pump(), [0, 1]);
    assert_eq!(
        w.buffer(0, 5),
        w.buffer(1, 0),
        "channel 0 read channel 1's write"
    );
}

#[test]
fn a_quiet_channel_completes_without_a_signal_until_quiet_ends() {
    let mut w = world(Opts {
        channels: 2,
        ..DEFAULT
    });
    w.clients[0].stub.quiet_completions(true);
    let quiet = w.submit(0, RequestKind::Info, 0);
    assert!(w.clients[0].stub.quiet(), "the submit started a stretch");
    w.submit(1, RequestKind::Info, 0);
    // Both published; only the channel that did not ask for quiet is
    // signalled.
    assert_eq!(w.pump(), [1]);
    assert_eq!(w.completions(1).len(), 1);
    // The quiet client's last look before it sleeps finds its completion.
    assert!(w.clients[0].stub.end_quiet());
    assert!(!w.clients[0].stub.quiet());
    let done = w.completions(0);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].tag, quiet);
    assert!(!w.clients[0].stub.end_quiet(), "no stretch on");
    // The next submit starts another stretch.
    let tag = w.submit(0, read(3, 1, 0), 0);
    assert!(w.pump().is_empty());
    // Quiet completions off: the stretch ends, and what waits is taken.
    w.clients[0].stub.quiet_completions(false);
    assert_eq!(w.completions(0)[0].tag, tag);
    let tag = w.submit(0, read(3, 1, 0), 0);
    assert_eq!(w.pump(), [0]);
    assert_eq!(w.completions(0)[0].tag, tag);
}

#[test]
fn a_quiet_client_ends_its_stretch_before_it_waits() {
    let mut w = world(DEFAULT);
    let waits = w.clients[0].stub.notifier.waits.clone();
    w.clients[0].stub.quiet_completions(true);
    // Nothing published yet: the wait ends the stretch, then sleeps (the
    // bell checks the quiet word is clear).
    let first = w.submit(0, read(3, 1, 0), 0);
    w.clients[0].stub.wait();
    assert_eq!(waits.get(), 1);
    // The server signals it now; the wait-for-one takes it.
    assert_eq!(w.pump(), [0]);
    assert_eq!(w.clients[0].stub.wait_one().tag, first);
    // Published during a stretch: the wait finds it waiting and does not
    // sleep.
    let second = w.submit(0, read(4, 1, 0), 0);
    assert!(w.pump().is_empty());
    w.clients[0].stub.wait();
    assert_eq!(waits.get(), 1);
    assert_eq!(w.clients[0].stub.wait_one().tag, second);
}

#[test]
fn a_quiet_word_with_nothing_in_flight_is_nothing_to_take() {
    let mut w = world(DEFAULT);
    w.clients[0].stub.quiet_completions(true);
    assert!(!w.clients[0].stub.end_quiet(), "no stretch before a submit");
    let done = w.call(0, RequestKind::Info, 0);
    assert_eq!(done.result, Ok(BLOCKS));
    assert!(w.clients[0].stub.quiet());
    // A completion index moved by a confused server, with nothing in
    // flight, is not work.
    w.clients[0].ring.poke_index(block_api::ring::CQ_PROD, 3);
    assert!(!w.clients[0].stub.end_quiet());
}

#[test]
fn a_new_client_starts_signalled() {
    let mut w = world(DEFAULT);
    w.clients[0].stub.quiet_completions(true);
    w.call(0, RequestKind::Info, 0);
    assert!(w.clients[0].ring.quiet());
    let ring = w.clients[0].ring;
    // SAFETY: the world's fake RAM holds the ring page; the old stub is
    // not used again.
    let mut stub = unsafe { BlockClient::new(w.clients[0].page, BUFFERS, NoBell::new(ring)) };
    assert!(!ring.quiet());
    stub.submit(RequestKind::Info, 0).unwrap();
    assert_eq!(w.pump(), [0]);
}

#[test]
fn interrupts_read_the_isr() {
    let mut w = world(DEFAULT);
    w.submit(0, read(0, 1, 0), 0);
    w.pump();
    assert_eq!(w.service.interrupt(), 1);
    assert_eq!(w.service.interrupt(), 0, "the read lowered it");
    assert_eq!(w.service.irqs(), 2);
}

/// A second disk served whole (the files disk) beside the swap
/// partition: each channel reaches its own volume only.
#[test]
fn each_channel_reaches_its_own_volume() {
    use block_driver::gpt::identify;
    let mem = PhysMem::new(0x100_0000, 256);
    let swap_dev = Device::new(&mem, vec![0xee; (FIRST + BLOCKS * 8) as usize * 512]);
    let files_sectors = 64 * 8;
    let files_dev = Device::new(&mem, vec![0x55; files_sectors * 512]);
    let spare_dev = Device::new(&mem, vec![0x77; files_sectors * 512]);
    for dev in [&swap_dev, &files_dev, &spare_dev] {
        dev.state().queue_size = 256;
    }
    let bring_up = |dev: &Device| {
        let regs = Legacy {
            io: dev.clone(),
            base: BAR,
        };
        Disk::bring_up(regs, BLK_FEATURES, |b| Ok(FakeDma::new(&mem, b))).unwrap()
    };
    let swap_part = Partition {
        first_lba: FIRST,
        last_lba: FIRST + BLOCKS * 8 - 1,
    };
    // No GPT on the files disk: served whole.
    let files_image = files_dev.state().disk.clone();
    let (kind, files_part) = identify(files_sectors as u64, |lba, s: &mut [u8; 512]| {
        let at = lba as usize * 512;
        s.copy_from_slice(&files_image[at..at + 512]);
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(kind, VolumeKind::Files);
    let mut service = Service::new(vec![
        Volume::new(VolumeKind::Swap, bring_up(&swap_dev), swap_part),
        Volume::new(VolumeKind::Files, bring_up(&files_dev), files_part),
        // A second disk of a kind already served is dropped.
        Volume::new(VolumeKind::Files, bring_up(&spare_dev), files_part),
    ]);
    assert_eq!(service.volumes().len(), 2);
    assert_eq!(service.blocks(VolumeKind::Swap), BLOCKS);
    assert_eq!(service.blocks(VolumeKind::Files), 64);
    let mut stubs = Vec::new();
    let mut windows = Vec::new();
    for kind in [VolumeKind::Swap, VolumeKind::Files] {
        let base = mem.alloc(1 + BUFFERS);
        let window: Vec<u64> = (1..=BUFFERS).map(|i| base + i * 4096).collect();
        let ptr = mem.ptr(base, (1 + BUFFERS as usize) * BLOCK_SIZE);
        // SAFETY: fake RAM lives as long as the test; the ring page is used
        // only through Ring views.
        let ring = unsafe { Ring::new(ptr) };
        service.add_channel(
            ServerChannel::new(ring, service.blocks(kind), BUFFERS),
            window.clone(),
            server_window(&mem, base),
            kind,
            false,
        );
        // SAFETY: as above; buffers are reached by physical address only.
        stubs.push(unsafe { BlockClient::new(ptr, BUFFERS, NoBell::new(ring)) });
        windows.push(window);
    }
    let mut call = |service: &mut Service<Device, FakeDma>, c: usize, kind| {
        let tag = stubs[c].submit(kind, 0).unwrap();
        let mut signalled = Vec::new();
        // Taken and submitted, then reaped (the fake device answers at
        // the notify).
        for _ in 0..2 {
            service.dispatch();
            signalled.extend(service.take_signals());
        }
        assert_eq!(signalled, [c]);
        let done = stubs[c].poll().unwrap();
        assert_eq!(done.tag, tag);
        done.result
    };
    assert_eq!(call(&mut service, 0, RequestKind::Info), Ok(BLOCKS));
    assert_eq!(call(&mut service, 1, RequestKind::Info), Ok(64));
    // A write on the files channel lands at its block of the files disk
    // (no partition offset), and nowhere on the swap disk.
    mem.write(windows[1][0], &[0xab; BLOCK_SIZE]);
    assert_eq!(call(&mut service, 1, write(3, 1, 0)), Ok(0));
    let files_disk = files_dev.state().disk.clone();
    assert!(files_disk[3 * 4096..4 * 4096].iter().all(|&b| b == 0xab));
    assert!(files_disk[4 * 4096..5 * 4096].iter().all(|&b| b == 0x55));
    assert!(swap_dev.state().disk.iter().all(|&b| b == 0xee));
    // Each reads its own disk; the files volume ends at its 64 blocks.
    assert_eq!(call(&mut service, 0, read(3, 1, 1)), Ok(0));
    assert_eq!(mem.bytes(windows[0][1], 4), [0xee; 4]);
    assert_eq!(call(&mut service, 1, read(3, 1, 1)), Ok(0));
    assert_eq!(mem.bytes(windows[1][1], 4), [0xab; 4]);
    assert_eq!(
        call(&mut service, 1, read(64, 1, 0)),
        Err(BlockError::OutOfRange)
    );
    assert_eq!(call(&mut service, 0, read(64, 1, 0)), Ok(0));
    assert_eq!(swap_dev.state().seen.len(), 2);
    assert_eq!(files_dev.state().seen.len(), 2);
    assert!(spare_dev.state().seen.is_empty());
    // An interrupt reads both disks' ISRs.
    assert_eq!(service.interrupt(), 1);
    assert_eq!(service.interrupt(), 0);
}

#[test]
fn a_channel_whose_volume_is_missing_fails_every_request() {
    let mut w = world(DEFAULT);
    let base = w.mem.alloc(1 + BUFFERS);
    let window: Vec<u64> = (1..=BUFFERS).map(|i| base + i * 4096).collect();
    let ptr = w.mem.ptr(base, (1 + BUFFERS as usize) * BLOCK_SIZE);
    // SAFETY: fake RAM lives as long as the world; Ring views only.
    let ring = unsafe { Ring::new(ptr) };
    let blocks = w.service.blocks(VolumeKind::Files);
    assert_eq!(blocks, 0);
    w.service.add_channel(
        ServerChannel::new(ring, blocks, BUFFERS),
        window.clone(),
        server_window(&w.mem, base),
        VolumeKind::Files,
        false,
    );
    // SAFETY: as above.
    let stub = unsafe { BlockClient::new(ptr, BUFFERS, NoBell::new(ring)) };
    w.clients.push(Client {
        stub,
        ring,
        page: ptr,
        window,
    });
    assert_eq!(w.call(1, RequestKind::Info, 0).result, Err(BlockError::Io));
    assert_eq!(w.call(1, RequestKind::Flush, 0).result, Err(BlockError::Io));
    assert_eq!(
        w.call(1, read(0, 1, 0), 0).result,
        Err(BlockError::OutOfRange)
    );
    // The swap channel is not disturbed.
    assert_eq!(w.call(0, RequestKind::Info, 0).result, Ok(BLOCKS));
    assert!(w.dev.state().seen.is_empty());
}

fn req(kind: RequestKind, flags: u64) -> Request {
    Request {
        tag: 5,
        kind,
        flags,
    }
}

const GEOMETRY: Geometry = Geometry {
    first_sector: 2048,
    blocks: 100,
    flush: true,
};

#[test]
fn plans_merge_contiguous_buffers() {
    let window = [0x1000, 0x2000, 0x9000, 0xa000, 0xb000, 0x3000];
    let Plan::Device {
        op,
        sector,
        segments,
        count,
        block,
    } = plan(&req(read(7, 6, 0), 0), &window, Some(GEOMETRY))
    else {
        panic!("a read goes to the device");
    };
    assert_eq!((op, sector, block), (BlkOp::Read, 2048 + 56, 7));
    assert_eq!(
        segments[..count],
        [
            Segment {
                phys: 0x1000,
                len: 8192
            },
            Segment {
                phys: 0x9000,
                len: 12288
            },
            Segment {
                phys: 0x3000,
                len: 4096
            },
        ]
    );
    let Plan::Device { op, count, .. } =
        plan(&req(write(0, 1, 2), 0), &window[2..3], Some(GEOMETRY))
    else {
        panic!()
    };
    assert_eq!((op, count), (BlkOp::Write, 1));
}

#[test]
fn plans_that_need_no_device() {
    let window = [0x1000; 1];
    let answer = |r: Request, g| match plan(&r, &window, g) {
        Plan::Answer(c) => (c.result, c.failed_block),
        p => panic!("{p:?}"),
    };
    assert_eq!(
        answer(req(RequestKind::Info, 0), Some(GEOMETRY)),
        (Ok(100), 0)
    );
    let no_flush = Geometry {
        flush: false,
        ..GEOMETRY
    };
    assert_eq!(
        answer(req(RequestKind::Flush, 0), Some(no_flush)),
        (Ok(0), 0)
    );
    assert_eq!(
        answer(req(read(3, 1, 0), FLAG_INJECT_IO_ERROR), Some(GEOMETRY)),
        (Err(BlockError::Io), 3)
    );
    assert_eq!(
        answer(req(read(3, 1, 0), 0), None),
        (Err(BlockError::Io), 0)
    );
    // Fewer pages than the request (the caller resolves them first; the
    // plan does not trust that).
    assert_eq!(
        answer(req(read(0, 2, 3), 0), Some(GEOMETRY)),
        (Err(BlockError::BadBuffer), 0)
    );
    assert!(matches!(
        plan(&req(RequestKind::Flush, 0), &[], Some(GEOMETRY)),
        Plan::Device {
            op: BlkOp::Flush,
            count: 0,
            ..
        }
    ));
}

// ---------------------------------------------------------------------------
// Frame lists

/// `n` fresh pages of fake RAM (the VM server's pool frames), scattered:
/// in reverse physical order, so no two neighbours in the list are
/// contiguous.
fn pool(w: &World, n: u64) -> Vec<u64> {
    let base = w.mem.alloc(n);
    (0..n).rev().map(|i| base + i * 4096).collect()
}

/// One channel, allowed frame lists.
fn lists_world() -> World {
    world(Opts {
        frame_lists: true,
        ..DEFAULT
    })
}

fn list_call(w: &mut World, kind: RequestKind, buf: u64, addrs: &[u64]) -> Completion {
    w.clients[0].stub.write_frame_list(buf, addrs);
    w.call(0, kind, FLAG_FRAME_LIST)
}

#[test]
fn frame_lists_move_data_to_the_listed_pages() {
    let mut w = lists_world();
    let p = pool(&w, 8);
    // p[2..5] is three contiguous pages in ascending order; the rest
    // stand alone.
    let list = [p[4], p[3], p[2], p[7], p[0], p[5]];
    for (i, &pa) in list.iter().enumerate() {
        w.mem.write(pa, &[0x30 + i as u8; BLOCK_SIZE]);
    }
    let done = list_call(&mut w, write(20, 6, 5), 5, &list);
    assert_eq!(done.result, Ok(0));
    // Header, [p4..p2 merged], p7, p0, p5, status.
    assert_eq!(w.dev.state().seen[0].descriptors, 2 + 4);
    assert_eq!(w.dev.state().seen[0].bytes, 6 * 4096);
    let disk = w.dev.state().disk.clone();
    for i in 0..6u64 {
        let at = ((FIRST + (20 + i) * 8) * 512) as usize;
        assert!(
            disk[at..at + BLOCK_SIZE]
                .iter()
                .all(|&b| b == 0x30 + i as u8),
            "block {i} came from list entry {i}"
        );
    }
    // Back into other pages, in another order; the window is not touched.
    let back = [p[1], p[6], p[0], p[2], p[3], p[4]];
    for &pa in &back {
        w.mem.write(pa, &[0; BLOCK_SIZE]);
    }
    assert_eq!(list_call(&mut w, read(20, 6, 9), 9, &back).result, Ok(0));
    for (i, &pa) in back.iter().enumerate() {
        assert_eq!(w.mem.bytes(pa, BLOCK_SIZE), [0x30 + i as u8; BLOCK_SIZE]);
    }
    for b in (0..BUFFERS).filter(|&b| b != 5 && b != 9) {
        assert_eq!(w.buffer(0, b), [0; BLOCK_SIZE], "window buffer {b}");
    }
    // A window request on the same channel works as before.
    w.fill(0, 0, 2, 4);
    assert_eq!(w.call(0, write(40, 2, 0), 0).result, Ok(0));
    let at = ((FIRST + 40 * 8) * 512) as usize;
    assert_eq!(disk.len(), w.dev.state().disk.len());
    assert_eq!(w.dev.state().disk[at..at + BLOCK_SIZE], w.buffer(0, 0)[..]);
}

#[test]
fn a_frame_list_of_32_pages_fits_in_the_last_buffer() {
    let mut w = lists_world();
    let p = pool(&w, 32);
    for (i, &pa) in p.iter().enumerate() {
        w.mem.write(pa, &[i as u8 + 1; BLOCK_SIZE]);
    }
    let done = list_call(&mut w, write(100, 32, BUFFERS - 1), BUFFERS - 1, &p);
    assert_eq!(done.result, Ok(0));
    assert_eq!(w.dev.state().seen[0].descriptors, 34, "no page merges");
    let disk = w.dev.state().disk.clone();
    for i in 0..32u64 {
        let at = ((FIRST + (100 + i) * 8) * 512) as usize;
        assert_eq!(disk[at], i as u8 + 1);
    }
    // The list's buffer must lie in the window.
    let done = w.call(0, write(100, 1, BUFFERS), FLAG_FRAME_LIST);
    assert_eq!(done.result, Err(BlockError::BadBuffer));
    assert_eq!(w.dev.state().seen.len(), 1);
}

#[test]
fn a_bad_frame_list_entry_fails_the_request_without_io() {
    let mut w = lists_world();
    let p = pool(&w, 2);
    w.mem.write(p[0], &[0x5a; BLOCK_SIZE]);
    let queue = w
        .service
        .volume(VolumeKind::Swap)
        .unwrap()
        .disk
        .queue_range();
    assert_eq!(w.service.reserved(), std::slice::from_ref(&queue));
    for bad in [
        p[1] + 8,               // misaligned
        queue.start,            // the descriptor table
        queue.start + 2 * 4096, // the rings / request headers
        queue.end - 4096,       // the last page (bounce)
        !0xfff_u64,             // + 4096 overflows
        1,
    ] {
        for kind in [read(0, 3, 2), write(0, 3, 2)] {
            let done = list_call(&mut w, kind, 2, &[p[0], p[1], bad]);
            assert_eq!(done.result, Err(BlockError::BadBuffer), "{bad:#x}");
        }
    }
    assert!(w.dev.state().seen.is_empty(), "no I/O at all");
    assert_eq!(w.mem.bytes(p[0], 4), [0x5a; 4], "not even the good pages");
    // Pages right next to the queue memory are fine.
    let beside = [queue.end, queue.start - 4096];
    assert!(beside.iter().all(|&a| frame_ok(a, w.service.reserved())));
}

#[test]
fn frame_lists_need_the_channels_permission() {
    let mut w = world(DEFAULT);
    let p = pool(&w, 1);
    for kind in [read(0, 1, 0), write(0, 1, 0)] {
        let done = list_call(&mut w, kind, 0, &p);
        assert_eq!(done.result, Err(BlockError::Unsupported));
    }
    assert!(w.dev.state().seen.is_empty());
    // Its window requests are served.
    assert_eq!(w.call(0, read(0, 1, 0), 0).result, Ok(0));
    // On Info/Flush the flag is malformed, whatever the channel.
    for opts in [
        DEFAULT,
        Opts {
            frame_lists: true,
            ..DEFAULT
        },
    ] {
        let mut w = world(opts);
        for kind in [RequestKind::Info, RequestKind::Flush] {
            assert_eq!(
                w.call(0, kind, FLAG_FRAME_LIST).result,
                Err(BlockError::Malformed)
            );
        }
    }
}

/// The descriptor budget without indirect tables: before each take the
/// service keeps room for the largest request (34 descriptors); a list of
/// scattered pages takes a descriptor per page, so a 256-entry queue
/// holds 13 requests of 16 pages (18 descriptors each) or 7 of 32 pages
/// (34 each).
#[test]
fn scattered_frame_lists_in_flight_per_queue() {
    for (pages, fit) in [(16u64, 13usize), (32, 7)] {
        let mut w = world(Opts {
            frame_lists: true,
            indirect: false,
            ..DEFAULT
        });
        assert_eq!(
            w.service
                .volume(VolumeKind::Swap)
                .unwrap()
                .disk
                .queue_size(),
            256
        );
        w.dev.state().immediate = false;
        let p = pool(&w, pages);
        let n = (BLOCKS / pages).min(BUFFERS) as usize;
        for k in 0..n as u64 {
            w.clients[0].stub.write_frame_list(k, &p);
            w.submit(0, write(k * pages, pages, k), FLAG_FRAME_LIST);
        }
        w.pump();
        assert_eq!(w.service.in_flight(), fit, "{pages}-page lists");
        let mut done = Vec::new();
        while done.len() < n {
            w.dev.complete(false);
            w.pump();
            done.extend(w.completions(0));
        }
        assert!(done.iter().all(|c| c.result == Ok(0)), "{done:?}");
    }
}

/// With indirect tables a request takes one ring descriptor, so the
/// service keeps taking while one is free: every 32-page list a channel
/// can queue (its ring's 32 entries, well over issue 15's 8) is in
/// flight at once, each as a table of 34 descriptors.
#[test]
fn with_indirect_tables_every_scattered_list_is_in_flight() {
    let mut w = lists_world();
    let disk = &w.service.volume(VolumeKind::Swap).unwrap().disk;
    assert!(disk.indirect());
    assert_eq!(disk.ring_slots_for(32), 1);
    w.dev.state().immediate = false;
    let pages = 32;
    let p = pool(&w, pages);
    for (i, &pa) in p.iter().enumerate() {
        w.mem.write(pa, &[i as u8 + 1; BLOCK_SIZE]);
    }
    let n = BUFFERS;
    for k in 0..n {
        w.clients[0].stub.write_frame_list(k, &p);
        // Four requests per 32-block region, each writing the same data.
        w.submit(0, write(k % 8 * pages, pages, k), FLAG_FRAME_LIST);
    }
    w.pump();
    assert_eq!(w.service.in_flight(), n as usize);
    {
        let st = w.dev.state();
        assert_eq!(st.indirect, n as usize, "every one came as a table");
        assert!(st
            .seen
            .iter()
            .all(|s| s.descriptors == 34 && s.bytes == 32 * 4096));
    }
    let disk = &w.service.volume(VolumeKind::Swap).unwrap().disk;
    assert_eq!(disk.free_descriptors(), 256 - n as usize);
    w.dev.complete(false);
    w.pump();
    let done = w.completions(0);
    assert_eq!(done.len(), n as usize);
    assert!(done.iter().all(|c| c.result == Ok(0)), "{done:?}");
    let disk = w.dev.state().disk.clone();
    for b in 0..BLOCKS {
        let at = ((FIRST + b * 8) * 512) as usize;
        assert_eq!(disk[at], (b % pages) as u8 + 1, "block {b}");
    }
}

/// A queue smaller than the channels' demand: with indirect tables it
/// fills to its last descriptor (64 requests from three channels of 32),
/// the rest wait in the channels, and none is refused with `Busy`.
#[test]
fn with_indirect_tables_a_full_virtqueue_leaves_requests_in_the_channels() {
    let mut w = world(Opts {
        queue_size: 64,
        channels: 3,
        ..DEFAULT
    });
    w.dev.state().immediate = false;
    let mut tags: Vec<Vec<u64>> = Vec::new();
    for c in 0..3 {
        // One-block reads: a table of 3 descriptors each.
        tags.push(
            (0..BUFFERS)
                .map(|k| w.submit(c, read(k % 8, 1, k), 0))
                .collect(),
        );
    }
    w.pump();
    assert_eq!(w.service.in_flight(), 64);
    assert_eq!(w.dev.state().seen.len(), 64);
    let mut done = vec![Vec::new(); 3];
    for _ in 0..4 {
        w.dev.complete(false);
        w.pump();
        for (c, d) in done.iter_mut().enumerate() {
            d.extend(w.completions(c));
        }
    }
    for (c, d) in done.iter().enumerate() {
        assert!(d.iter().all(|c| c.result == Ok(0)), "no Busy: {d:?}");
        let mut got: Vec<u64> = d.iter().map(|c| c.tag).collect();
        got.sort();
        assert_eq!(got, tags[c], "channel {c}");
    }
}

/// A device error (status IOERR) and bogus used-ring entries are handled
/// as with direct chains: the request fails with `Io` at its block, the
/// bogus entries are reported and free nothing.
#[test]
fn with_indirect_tables_device_errors_and_bogus_entries_are_handled() {
    let mut w = lists_world();
    w.dev.state().fail_sector = Some(FIRST + 9 * 8 + 3);
    let p = pool(&w, 32);
    let done = list_call(&mut w, read(9, 32, 0), 0, &p);
    assert_eq!((done.result, done.failed_block), (Err(BlockError::Io), 9));
    assert_eq!(w.dev.state().indirect, 1);
    w.dev.state().immediate = false;
    let tag = w.submit(0, read(0, 1, 0), 0);
    w.pump();
    let disk = &w.service.volume(VolumeKind::Swap).unwrap().disk;
    assert_eq!(disk.free_descriptors(), 255);
    // A free descriptor, one out of the table, then the real one twice.
    let head = w.dev.state().held[0].0;
    w.dev.push_used(head as u32 + 7, 0);
    w.dev.push_used(300, 0);
    w.dev.complete(false);
    w.dev.push_used(head as u32, 0);
    w.pump();
    let done = w.completions(0);
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].tag, done[0].result), (tag, Ok(0)));
    assert_eq!(
        w.service.take_error(),
        (3, Some(QueueError::BadUsedId(head as u32)))
    );
    let disk = &w.service.volume(VolumeKind::Swap).unwrap().disk;
    assert_eq!(disk.free_descriptors(), 256, "nothing freed twice");
}

/// [`transfer_pages`] of a list request whose list (in buffer 2) holds
/// `entries`, checking the list is read exactly once.
fn resolve_list<'a>(
    entries: Vec<u64>,
    window: &'a [u64],
    reserved: &'a [std::ops::Range<u64>],
) -> impl Fn(&Request, &mut [u64; 32]) -> Result<usize, BlockError> + 'a {
    move |r, out| {
        let mut reads = 0;
        let got = transfer_pages(
            r,
            window,
            |buf, dst: &mut [u64]| {
                assert_eq!(buf, 2);
                reads += 1;
                dst.copy_from_slice(&entries[..dst.len()]);
                true
            },
            reserved,
            out,
        );
        assert_eq!(reads, 1, "the list is read exactly once");
        got
    }
}

#[test]
fn transfer_pages_resolve_windows_and_frame_lists() {
    let reserved = vec![std::ops::Range {
        start: 0x10_0000,
        end: 0x10_6000,
    }];
    let window = [0x1000, 0x2000, 0x9000, 0xa000];
    let mut out = [0; 32];
    let no_list = |_: u64, _: &mut [u64]| -> bool { panic!("not a list request") };
    // Window requests: the buffers' addresses.
    assert_eq!(
        transfer_pages(
            &req(read(7, 3, 1), 0),
            &window,
            no_list,
            &reserved,
            &mut out
        ),
        Ok(3)
    );
    assert_eq!(out[..3], [0x2000, 0x9000, 0xa000]);
    assert_eq!(
        transfer_pages(
            &req(read(7, 2, 3), 0),
            &window,
            no_list,
            &reserved,
            &mut out
        ),
        Err(BlockError::BadBuffer)
    );
    assert_eq!(
        transfer_pages(
            &req(read(7, 1, u64::MAX), 0),
            &window,
            no_list,
            &reserved,
            &mut out
        ),
        Err(BlockError::BadBuffer)
    );
    for kind in [RequestKind::Info, RequestKind::Flush] {
        assert_eq!(
            transfer_pages(&req(kind, 0), &window, no_list, &reserved, &mut out),
            Ok(0)
        );
    }
    // A list: read once, from the buffer the request names.
    let list_of = |entries: Vec<u64>| resolve_list(entries, &window, &reserved);
    let good = vec![0x20_0000, 0x20_1000, 0xf_f000, 0x10_6000];
    let list = req(write(0, 4, 2), FLAG_FRAME_LIST);
    assert_eq!(list_of(good.clone())(&list, &mut out), Ok(4));
    assert_eq!(out[..4], good[..]);
    let Plan::Device {
        op,
        segments,
        count,
        ..
    } = plan(&list, &out[..4], Some(GEOMETRY))
    else {
        panic!("a write goes to the device")
    };
    assert_eq!(op, BlkOp::Write);
    assert_eq!(
        segments[..count],
        [
            Segment {
                phys: 0x20_0000,
                len: 8192
            },
            Segment {
                phys: 0xf_f000,
                len: 4096
            },
            Segment {
                phys: 0x10_6000,
                len: 4096
            },
        ]
    );
    for bad in [
        0x20_0010,
        0x10_0000,
        0x10_5000,
        0x10_2000,
        !0xfff_u64,
        u64::MAX,
    ] {
        let mut entries = good.clone();
        entries[3] = bad;
        assert_eq!(
            list_of(entries)(&list, &mut out),
            Err(BlockError::BadBuffer),
            "{bad:#x}"
        );
    }
    // No such buffer.
    assert_eq!(
        transfer_pages(&list, &window, |_, _| false, &reserved, &mut out),
        Err(BlockError::BadBuffer)
    );
}
