//! System test of the block server, and its raw-throughput benchmark.
//!
//! Not a paged client: it maps its channel (`test_shm`, ring page + data
//! window) itself, with page tables from its untyped grant, and reports
//! its verdict to the root task with `DONE` (the spec marks it `awaited`).
//!
//! Tests: the partition size; block 0 holds the `SWAPSPACE2` signature
//! (the server found the right partition); a checksummed pattern written
//! with many requests in flight reads back intact in two orders; the last
//! block is writable and the first block past it is refused, as are bad
//! buffers and malformed requests; an injected I/O error fails only its
//! own request. Then `BENCH blk-raw-write-mbps` / `blk-raw-read-mbps`:
//! sequential 64 KiB requests, 8 in flight, timed with the TSC calibrated
//! against the PIT. After its verdict, when the spec gives it `floor_ep`
//! (bench.spec), it serves the same measures in rounds on request
//! (`block_api::floor`), so `bench-fault` can set its swap rounds beside
//! them.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::ToString;
use alloc::vec::Vec;
use block_api::{
    BlockClient, BlockError, RequestKind, Sel4Notifier, BLOCK_SIZE, FLAG_INJECT_IO_ERROR,
};
use sel4::{cap, CapRights};
use sel4_objects::{map_page, SlotAllocator, UntypedAllocator};
use sel4_root_task::println;
use sel4_root_task::start_info::StartInfo;

sel4_root_task::component!(main, heap_size = 128 << 10);

const CNODE: cap::CNode = cap::CNode::from_bits(2);
const VSPACE: cap::VSpace = cap::VSpace::from_bits(3);
const SHM_VA: u64 = 0x1_0000_0000;
const NAME: &str = "block-test";
/// Blocks of the pattern test (8 MiB) and of each benchmark pass (32 MiB).
const PATTERN_BLOCKS: u64 = 2048;
const BENCH_BLOCKS: u64 = 8192;
/// Reads timed one at a time for the read floors.
const LATENCY_READS: u64 = 64;
/// Requests of 16 blocks (64 KiB), 8 in flight.
const PER_REQUEST: u64 = 16;
const DEPTH: u64 = 8;

type Client = BlockClient<Sel4Notifier>;

fn main(info: &'static StartInfo) -> ! {
    let (failed, floors) = match run(info) {
        Ok(r) => r,
        Err(e) => {
            println!("TEST FAIL {NAME}/setup: {e}");
            (1, None)
        }
    };
    sel4_root_task::control::done(failed);
    if let (Some((mut c, hz)), Some(ep)) = (floors, info.cap("floor_ep")) {
        serve_floors(&mut c, hz, ep);
    }
    loop {
        sel4::yield_now();
        sel4::wait(info.cap("test_done").unwrap_or(sel4::CPtr::from_bits(0)));
    }
}

struct Report {
    failed: u64,
}

impl Report {
    fn check(&mut self, name: &str, r: Result<(), alloc::string::String>) {
        match r {
            Ok(()) => println!("TEST PASS {NAME}/{name}"),
            Err(e) => {
                println!("TEST FAIL {NAME}/{name}: {e}");
                self.failed += 1;
            }
        }
    }
}

/// The tests and the benchmark: the failures, and the channel with the
/// TSC rate when the benchmark ran (for [`serve_floors`]).
fn run(info: &'static StartInfo) -> Result<(u64, Option<(Client, u64)>), alloc::string::String> {
    println!("TEST PLAN 6");
    let shm = info.named("test_shm").ok_or("no test_shm cap")?;
    let frames = shm.data;
    let mut slots = SlotAllocator::new(info.first_free_slot, 1 << info.cnode_size_bits);
    let mut untyped = UntypedAllocator::new(info.untyped());
    for i in 0..frames {
        let frame = cap::Granule::from_bits(shm.slot + i);
        let mut make = |ty| {
            untyped
                .allocate_in(CNODE, &mut slots, ty, 0)
                .map_err(|e| e.to_string())
        };
        map_page(
            VSPACE,
            frame,
            SHM_VA + i * 4096,
            CapRights::read_write(),
            &mut make,
        )
        .map_err(|e| alloc::format!("map shm: {e}"))?;
    }
    let notifier = Sel4Notifier {
        doorbell: info.cap("blk_ntfn").ok_or("no blk_ntfn cap")?,
        done: info.cap("test_done").ok_or("no test_done cap")?,
    };
    // SAFETY: the channel is mapped at SHM_VA, `frames` pages, shared only
    // with the block server.
    let mut c = unsafe { BlockClient::new(SHM_VA as *mut u8, frames - 1, notifier) };
    let mut rep = Report { failed: 0 };
    let seed = rdtsc();

    let blocks = c.info().map_err(|e| alloc::format!("info: {e:?}"))?;
    println!(
        "{NAME}: swap partition of {blocks} blocks ({} MiB), window of {} buffers",
        (blocks * 4) >> 10,
        c.buffers()
    );
    rep.check(
        "info",
        if blocks > PATTERN_BLOCKS {
            Ok(())
        } else {
            Err(alloc::format!(
                "{blocks} blocks, need at least {}",
                PATTERN_BLOCKS + 1
            ))
        },
    );
    rep.check("swap-header", swap_header(&mut c));
    rep.check("pattern", pattern(&mut c, seed));
    rep.check("bounds", bounds(&mut c, blocks, seed));
    rep.check("injected-io-error", injected(&mut c, seed));
    rep.check("flush", c.flush().map_err(|e| alloc::format!("{e:?}")));
    let hz = if blocks > BENCH_BLOCKS {
        bench(&mut c)
    } else {
        None
    };
    Ok((rep.failed, hz.map(|hz| (c, hz))))
}

/// Block 0 of the partition is the swap header page: `SWAPSPACE2` ends it.
fn swap_header(c: &mut Client) -> Result<(), alloc::string::String> {
    c.read(0, 1, 0).map_err(|e| alloc::format!("read: {e:?}"))?;
    let sig = &c.buffer(0, 1)[BLOCK_SIZE - 10..];
    if sig == b"SWAPSPACE2" {
        Ok(())
    } else {
        Err(alloc::format!("block 0 ends with {sig:?}, not SWAPSPACE2"))
    }
}

/// The pattern word `i` of `block`: depends on this boot's seed, so stale
/// data from an earlier run never passes.
fn word(seed: u64, block: u64, i: u64) -> u64 {
    let mut x =
        seed ^ block.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 29)
}

/// Fills a block: 511 pattern words and their checksum.
fn fill(buf: &mut [u8], seed: u64, block: u64) {
    let mut sum = 0u64;
    for (i, w) in buf.chunks_exact_mut(8).enumerate().take(511) {
        let v = word(seed, block, i as u64);
        sum = sum.rotate_left(5) ^ v;
        w.copy_from_slice(&v.to_le_bytes());
    }
    buf[4088..4096].copy_from_slice(&sum.to_le_bytes());
}

/// Whether a block holds its pattern and a matching checksum.
fn verify(buf: &[u8], seed: u64, block: u64) -> bool {
    let mut sum = 0u64;
    for (i, w) in buf.chunks_exact(8).enumerate().take(511) {
        let v = u64::from_le_bytes(w.try_into().unwrap());
        if v != word(seed, block, i as u64) {
            return false;
        }
        sum = sum.rotate_left(5) ^ v;
    }
    buf[4088..4096] == sum.to_le_bytes()
}

/// Moves `chunks` (first blocks of `PER_REQUEST`-block runs) with up to
/// `DEPTH` requests in flight; `before` fills a write's buffers, `after`
/// checks a read's. Returns the number of runs `after` refused.
fn stream(
    c: &mut Client,
    write: bool,
    chunks: &[u64],
    mut before: impl FnMut(&mut [u8], u64),
    mut after: impl FnMut(&[u8], u64) -> bool,
) -> Result<u64, BlockError> {
    let mut free: Vec<u64> = (0..DEPTH).rev().map(|k| k * PER_REQUEST).collect();
    let mut inflight: Vec<(u64, u64, u64)> = Vec::new(); // (tag, buf, block)
    let mut next = 0;
    let mut bad = 0;
    while next < chunks.len() || !inflight.is_empty() {
        let mut queued = false;
        while next < chunks.len() {
            let Some(buf) = free.pop() else { break };
            let block = chunks[next];
            before(c.buffer_mut(buf, PER_REQUEST), block);
            let kind = if write {
                RequestKind::Write {
                    block,
                    count: PER_REQUEST,
                    buf,
                }
            } else {
                RequestKind::Read {
                    block,
                    count: PER_REQUEST,
                    buf,
                }
            };
            let tag = c.submit(kind, 0)?;
            inflight.push((tag, buf, block));
            next += 1;
            queued = true;
        }
        if queued {
            c.kick();
        }
        let done = c.wait_one();
        let k = inflight
            .iter()
            .position(|&(t, _, _)| t == done.tag)
            .ok_or(BlockError::MalformedReply)?;
        let (_, buf, block) = inflight.swap_remove(k);
        done.result?;
        if !after(c.buffer(buf, PER_REQUEST), block) {
            bad += 1;
        }
        free.push(buf);
    }
    Ok(bad)
}

fn pattern(c: &mut Client, seed: u64) -> Result<(), alloc::string::String> {
    let chunks: Vec<u64> = (0..PATTERN_BLOCKS / PER_REQUEST)
        .map(|k| 1 + k * PER_REQUEST)
        .collect();
    stream(
        c,
        true,
        &chunks,
        |b, block| {
            for (i, blk) in b.chunks_exact_mut(BLOCK_SIZE).enumerate() {
                fill(blk, seed, block + i as u64);
            }
        },
        |_, _| true,
    )
    .map_err(|e| alloc::format!("write: {e:?}"))?;
    let check = |b: &[u8], block: u64| {
        b.chunks_exact(BLOCK_SIZE)
            .enumerate()
            .all(|(i, blk)| verify(blk, seed, block + i as u64))
    };
    // Forward, then backward with runs shifted by half a run.
    let bad = stream(c, false, &chunks, |b, _| b.fill(0), check)
        .map_err(|e| alloc::format!("read: {e:?}"))?;
    if bad != 0 {
        return Err(alloc::format!("{bad} runs mismatched reading forward"));
    }
    let shifted: Vec<u64> = chunks[..chunks.len() - 1]
        .iter()
        .rev()
        .map(|b| b + PER_REQUEST / 2)
        .collect();
    let bad = stream(c, false, &shifted, |b, _| b.fill(0), check)
        .map_err(|e| alloc::format!("read: {e:?}"))?;
    if bad != 0 {
        return Err(alloc::format!("{bad} runs mismatched reading backward"));
    }
    Ok(())
}

fn expect(
    what: &str,
    got: Result<(), BlockError>,
    want: Result<(), BlockError>,
) -> Result<(), alloc::string::String> {
    if got == want {
        Ok(())
    } else {
        Err(alloc::format!("{what}: got {got:?}, expected {want:?}"))
    }
}

fn bounds(c: &mut Client, blocks: u64, seed: u64) -> Result<(), alloc::string::String> {
    let last = blocks - 1;
    fill(c.buffer_mut(0, 1), seed ^ 1, last);
    expect("write last block", c.write(last, 1, 0), Ok(()))?;
    c.buffer_mut(1, 1).fill(0);
    expect("read last block", c.read(last, 1, 1), Ok(()))?;
    if !verify(c.buffer(1, 1), seed ^ 1, last) {
        return Err("last block read back wrong".into());
    }
    let w = c.buffers();
    expect(
        "read past the end",
        c.read(blocks, 1, 0),
        Err(BlockError::OutOfRange),
    )?;
    expect(
        "read across the end",
        c.read(last, 2, 0),
        Err(BlockError::OutOfRange),
    )?;
    expect(
        "write past the end",
        c.write(blocks + 1000, 1, 0),
        Err(BlockError::OutOfRange),
    )?;
    expect(
        "wrapping block",
        c.read(u64::MAX, 1, 0),
        Err(BlockError::OutOfRange),
    )?;
    expect(
        "buffers past the window",
        c.read(0, 2, w - 1),
        Err(BlockError::BadBuffer),
    )?;
    expect("zero count", c.read(0, 0, 0), Err(BlockError::Malformed))?;
    expect(
        "reserved flag",
        c.call(
            RequestKind::Read {
                block: 0,
                count: 1,
                buf: 0,
            },
            4,
        )
        .map(drop),
        Err(BlockError::Malformed),
    )?;
    Ok(())
}

fn injected(c: &mut Client, seed: u64) -> Result<(), alloc::string::String> {
    fill(c.buffer_mut(0, 1), seed ^ 2, 5);
    c.write(5, 1, 0)
        .map_err(|e| alloc::format!("write: {e:?}"))?;
    let r = c.call(
        RequestKind::Write {
            block: 5,
            count: 1,
            buf: 1,
        },
        FLAG_INJECT_IO_ERROR,
    );
    expect("injected write", r.map(drop), Err(BlockError::Io))?;
    let r = c.call(
        RequestKind::Read {
            block: 5,
            count: 1,
            buf: 1,
        },
        FLAG_INJECT_IO_ERROR,
    );
    expect("injected read", r.map(drop), Err(BlockError::Io))?;
    // The failed write changed nothing; the next request works.
    c.read(5, 1, 2)
        .map_err(|e| alloc::format!("read after error: {e:?}"))?;
    if verify(c.buffer(2, 1), seed ^ 2, 5) {
        Ok(())
    } else {
        Err("block 5 changed by a failed write".into())
    }
}

fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no memory effects; seL4 lets user mode run it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// TSC ticks per second, measured against PIT channel 2 (1.193182 MHz)
/// over about 50 ms; `None` without the PIT ports.
fn tsc_hz() -> Option<u64> {
    // SAFETY: the root task maps every component's start-info page
    // read-only at START_INFO_VADDR (page-aligned; StartInfo fits in it)
    // before starting it and never unmaps or rewrites it; any bit pattern
    // is a valid StartInfo.
    let info = unsafe { &*(sel4_root_task::start_info::START_INFO_VADDR as *const StartInfo) };
    let pit = cap::IOPort::from_bits(info.cap("io:0x40")?.bits());
    let gate = cap::IOPort::from_bits(info.cap("io:0x61")?.bits());
    const COUNT: u64 = 59_659;
    let v = gate.x86_io_port_in8(0x61).ok()?;
    gate.x86_io_port_out8(0x61, ((v & !0x02) | 0x01) as u64)
        .ok()?;
    pit.x86_io_port_out8(0x43, 0xb0).ok()?;
    pit.x86_io_port_out8(0x42, COUNT & 0xff).ok()?;
    pit.x86_io_port_out8(0x42, COUNT >> 8).ok()?;
    let t0 = rdtsc();
    while gate.x86_io_port_in8(0x61).ok()? & 0x20 == 0 {}
    let t1 = rdtsc();
    Some((t1 - t0) * 1_193_182 / COUNT)
}

/// Prints the raw benchmark's lines; the TSC rate, if it could run.
fn bench(c: &mut Client) -> Option<u64> {
    let Some(hz) = tsc_hz() else {
        println!("{NAME}: no PIT ports, no benchmark");
        return None;
    };
    // One request alone, 4 KiB and 64 KiB: the floors of a page-in
    // (`cargo qemu bench` adds the fault floor to the first).
    for (name, count) in [("blk-read-4k", 1), ("blk-read-64k", PER_REQUEST)] {
        match read_latency(c, count, LATENCY_READS) {
            Ok(cycles) => println!(
                "BENCH {name} {cycles} cycles (median of {LATENCY_READS} reads of {} KiB, one at a time)",
                count * 4
            ),
            Err(e) => println!("{NAME}: {name} read failed: {e:?}"),
        }
    }
    for (name, write) in [("blk-raw-write-mbps", true), ("blk-raw-read-mbps", false)] {
        let t0 = rdtsc();
        let r = rate(c, write, BENCH_BLOCKS, hz);
        let dt = rdtsc() - t0;
        match r {
            Ok(kbps) => println!(
                "BENCH {name} {} MB/s ({} MiB in {} ms, {} KiB requests, {DEPTH} in flight, TSC {} MHz)",
                kbps / 1000,
                (BENCH_BLOCKS * BLOCK_SIZE as u64) >> 20,
                dt as u128 * 1000 / hz as u128,
                PER_REQUEST * 4,
                hz / 1_000_000
            ),
            Err(e) => println!("{NAME}: benchmark {name} failed: {e:?}"),
        }
    }
    Some(hz)
}

/// The median cycles of `reads` reads of `count` blocks, one at a time,
/// spread over the benchmark area so no read follows another.
fn read_latency(c: &mut Client, count: u64, reads: u64) -> Result<u64, BlockError> {
    let mut samples: Vec<u64> = Vec::with_capacity(reads as usize);
    for k in 0..reads {
        let block = 1 + (k * 97 * PER_REQUEST) % (BENCH_BLOCKS - PER_REQUEST);
        let t0 = rdtsc();
        c.read(block, count, 0)?;
        samples.push(rdtsc() - t0);
    }
    samples.sort_unstable();
    Ok(samples.get(samples.len() / 2).copied().unwrap_or(0))
}

/// Streams the first `blocks` blocks of the benchmark area in 64 KiB
/// requests, 8 in flight; the rate in KB/s at `hz` TSC ticks a second.
fn rate(c: &mut Client, write: bool, blocks: u64, hz: u64) -> Result<u64, BlockError> {
    let chunks: Vec<u64> = (0..blocks / PER_REQUEST)
        .map(|k| 1 + k * PER_REQUEST)
        .collect();
    let t0 = rdtsc();
    stream(c, write, &chunks, |_, _| {}, |_, _| true)?;
    let dt = (rdtsc() - t0).max(1);
    let bytes = chunks.len() as u128 * PER_REQUEST as u128 * BLOCK_SIZE as u128;
    Ok((bytes * hz as u128 / dt as u128 / 1000) as u64)
}

/// Serves raw-disk floor rounds on `ep` forever (`block_api::floor`), so
/// a benchmark can measure them between its own rounds. Runs after the
/// tests' verdict, at block-test's priority: a caller waits for its round.
fn serve_floors(c: &mut Client, hz: u64, ep: sel4::CPtr) -> ! {
    use block_api::floor::*;
    let (mut info, _) = sel4::recv(ep);
    loop {
        let arg = sel4::get_mr(0);
        let mib_blocks = arg.saturating_mul(256);
        let r = match info.label() {
            _ if info.length() != 1 => Err(()),
            FLOOR_READ_4K if (1..=FLOOR_MAX_READS).contains(&arg) => {
                read_latency(c, 1, arg).map_err(drop)
            }
            FLOOR_WRITE_RATE | FLOOR_READ_RATE
                if (1..=FLOOR_MAX_MIB).contains(&arg) && mib_blocks <= BENCH_BLOCKS =>
            {
                rate(c, info.label() == FLOOR_WRITE_RATE, mib_blocks, hz).map_err(drop)
            }
            _ => Err(()),
        };
        let reply = match r {
            Ok(v) => {
                sel4::set_mr(0, v);
                sel4::MessageInfo::new(0, 0, 0, 1)
            }
            Err(()) => sel4::MessageInfo::new(FLOOR_FAILED, 0, 0, 0),
        };
        (info, _) = sel4::reply_recv(ep, reply);
    }
}
