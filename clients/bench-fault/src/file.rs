//! The file phase: a file of the files disk mapped through the file
//! server (the pager of file mappings, docs/pager.md), against the file
//! server's own `read` of the same bytes and a soft fault on the same
//! pages, measured in alternating rounds so noise hits both alike.
//!
//! The file is [`PATH`] (4 MiB, far below the pool: no pageout runs),
//! mapped shared read-only. Each of [`ROUNDS`] rounds:
//!
//! * `msync(INVALIDATE)` of the whole mapping drops every cached page, so
//!   the round pages the file in again;
//! * `vm-file-map-read-mbps`: the whole mapping read in order, every
//!   word summed, advice `SEQUENTIAL` (page-in read-ahead and fault-around
//!   as a streaming reader gets them); and its floor
//!   `file-read-mbps`: the same bytes through the file server's `Read`
//!   (952 bytes a call), summed the same way. The two run in alternating
//!   order, and both sums must equal the file's;
//! * `vm-file-fault-pagein`: with every page cached, one page every
//!   [`STRIDE`] pages is dropped again (`msync(INVALIDATE)` of that page
//!   alone), then each is touched once, advice `RANDOM` (no
//!   fault-around): its neighbours are resident, so the fault's page-in
//!   reads exactly that page through the pager; and its floor
//!   `vm-file-fault-cached`: `MADV_DONTNEED` unmaps the mapping (a shared
//!   mapping keeps its pages) and the same pages are touched again, each
//!   a soft fault on a cached file page.
//!
//! Throughputs are medians of the rounds' MB/s (10^6 bytes per second,
//! the TSC calibrated against the CMOS clock), latencies medians of every
//! round's touches.

use crate::{rdtsc, PAGE};
use alloc::vec::Vec;
use file_api::{FileClient, Rights, READ_MAX};
use vm_client::vm_api::{Advice, Handle, MmapRequest, MsyncFlags, Prot};
use vm_client::{println, Env};

/// The file: byte `i` is [`byte`]`(i)`. Keep in step with
/// `files/README.txt`.
const PATH: &str = "/bench/read.bin";
/// Rounds of measurement and floor.
const ROUNDS: usize = 5;
/// One latency sample every 16 pages (64 KiB): 64 a round for 4 MiB.
const STRIDE: u64 = 16;

/// Byte `i` of [`PATH`] as `files/` has it (never zero: no block is a
/// hole).
fn byte(i: u64) -> u8 {
    1 + ((i * 7 + (i >> 12) * 13) % 251) as u8
}

/// The sum of the file's little-endian words, as both passes compute it.
fn expected_sum(size: u64) -> u64 {
    (0..size / 8).fold(0u64, |acc, w| {
        let word = (0..8).fold(0u64, |v, k| v | u64::from(byte(w * 8 + k)) << (8 * k));
        acc.wrapping_add(word)
    })
}

/// MB/s of `bytes` in `cycles` at `hz`.
fn mbps(bytes: u64, cycles: u64, hz: u64) -> u64 {
    (bytes as u128 * hz as u128 / cycles.max(1) as u128 / 1_000_000) as u64
}

/// The median of `v`, sorting it (so `v[0]` and `v[len - 1]` are then
/// its extremes).
fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Runs the file phase; false if the setup failed or a pass read wrong
/// bytes. `hz`: TSC ticks per second.
pub fn run(env: &mut Env, hz: u64) -> bool {
    let Some(ep) = env.info.cap("fs_ep") else {
        println!("bench-fault: no fs_ep cap; no file benchmark");
        return false;
    };
    let mut fs = FileClient::new(ep);
    let setup = fs.open_handle(PATH, Rights::READ).and_then(|fh| {
        let size = fs.stat(fh)?.size;
        let vh = fs.map(fh, false)?;
        Ok((fh, size, vh))
    });
    let (fh, size, vh) = match setup {
        Ok(s) => s,
        Err(e) => {
            println!("bench-fault: {PATH} through the file server: {e:?}; no file benchmark");
            return false;
        }
    };
    let Ok(base) = env
        .vm
        .mmap(&MmapRequest::object(Handle(vh), 0, size, Prot::READ))
    else {
        println!("bench-fault: mmap of {PATH} ({size} bytes) failed");
        return false;
    };
    let want = expected_sum(size);
    println!(
        "bench-fault: file phase over {PATH} ({} KiB), {ROUNDS} rounds",
        size >> 10
    );

    // The mapping read in order: every word summed.
    let map_pass = |env: &mut Env| -> (u64, u64) {
        env.vm
            .madvise(base, size, Advice::Sequential)
            .expect("madvise sequential");
        let t0 = rdtsc();
        let mut sum = 0u64;
        for w in 0..size / 8 {
            // SAFETY: `base..base + size` is the read-only mapping made
            // above (the VM server pages it in from the file server);
            // unmapped only at the end of this function.
            sum = sum.wrapping_add(unsafe { ((base + w * 8) as *const u64).read_volatile() });
        }
        (rdtsc() - t0, sum)
    };
    // The same bytes through the file server's `Read`.
    let mut buf = [0u8; READ_MAX];
    let mut read_pass = |fs: &mut FileClient| -> (u64, u64) {
        let t0 = rdtsc();
        let mut sum = 0u64;
        let mut off = 0;
        while off < size {
            let Ok(r) = fs.read_at(fh, off, READ_MAX as u64) else {
                return (rdtsc() - t0, sum ^ 1);
            };
            let data = r.data.as_slice();
            if data.is_empty() {
                break;
            }
            // Whole words (READ_MAX is a multiple of 8, so words never
            // straddle two calls).
            buf[..data.len()].copy_from_slice(data);
            for word in buf[..data.len()].chunks_exact(8) {
                sum = sum.wrapping_add(u64::from_le_bytes(word.try_into().expect("8 bytes")));
            }
            off += data.len() as u64;
        }
        (rdtsc() - t0, sum)
    };

    let samples = size / PAGE / STRIDE;
    let mut map_mbps = Vec::with_capacity(ROUNDS);
    let mut read_mbps = Vec::with_capacity(ROUNDS);
    let mut pagein = Vec::with_capacity(ROUNDS * samples as usize);
    let mut cached = Vec::with_capacity(ROUNDS * samples as usize);
    let mut bad = 0u64;
    for round in 0..ROUNDS {
        if env.vm.msync(base, size, MsyncFlags::INVALIDATE).is_err() {
            println!("bench-fault: msync(INVALIDATE) failed");
            bad += 1;
            break;
        }
        // Alternate which goes first.
        let (m, r) = if round % 2 == 0 {
            let m = map_pass(env);
            (m, read_pass(&mut fs))
        } else {
            let r = read_pass(&mut fs);
            (map_pass(env), r)
        };
        bad += u64::from(m.1 != want) + u64::from(r.1 != want);
        map_mbps.push(mbps(size, m.0, hz));
        read_mbps.push(mbps(size, r.0, hz));

        // One-page page-ins: every page is cached now; drop one every
        // STRIDE pages, then touch each (no fault-around).
        env.vm
            .madvise(base, size, Advice::Random)
            .expect("madvise random");
        for k in 0..samples {
            let va = base + k * STRIDE * PAGE;
            if env.vm.msync(va, PAGE, MsyncFlags::INVALIDATE).is_err() {
                bad += 1;
            }
        }
        let touch = |k: u64| -> (u64, bool) {
            let off = k * STRIDE * PAGE + 8 * k;
            let t = rdtsc();
            // SAFETY: `off` < `size`: inside the mapping made above.
            let v = unsafe { ((base + off) as *const u8).read_volatile() };
            (rdtsc() - t, v == byte(off))
        };
        for k in 0..samples {
            let (dt, ok) = touch(k);
            pagein.push(dt);
            bad += u64::from(!ok);
        }
        // Soft faults on the same pages: unmapped, still cached.
        env.vm
            .madvise(base, size, Advice::DontNeed)
            .expect("madvise dontneed");
        for k in 0..samples {
            let (dt, ok) = touch(k);
            cached.push(dt);
            bad += u64::from(!ok);
        }
    }

    if bad == 0 && !pagein.is_empty() {
        let m = median(&mut map_mbps);
        println!(
            "BENCH vm-file-map-read-mbps {m} MB/s (median of {ROUNDS} rounds, {}..{}: {} KiB mapped and read in order after msync(INVALIDATE), TSC {} MHz)",
            map_mbps[0],
            map_mbps[ROUNDS - 1],
            size >> 10,
            hz / 1_000_000
        );
        let r = median(&mut read_mbps);
        println!(
            "BENCH file-read-mbps {r} MB/s (median of {ROUNDS} rounds, {}..{}: the same bytes through the file server's read, {READ_MAX} bytes a call)",
            read_mbps[0],
            read_mbps[ROUNDS - 1]
        );
        println!(
            "BENCH vm-file-fault-pagein {} cycles (median of {} read faults, each paging in one page of the file through the pager)",
            median(&mut pagein),
            pagein.len()
        );
        println!(
            "BENCH vm-file-fault-cached {} cycles (median of {} read faults on the same pages, cached and unmapped)",
            median(&mut cached),
            cached.len()
        );
    } else {
        println!("bench-fault: the file phase read {bad} wrong results; no file numbers");
    }
    let _ = env.vm.munmap(base, size);
    let _ = env.vm.handle_close(Handle(vh));
    let _ = fs.close(fh);
    bad == 0
}
