//! The server's heap: what loading the filesystem, serving reads and writes, and many open handles cost, measured with a counting allocator. The file server's binary sizes its heap from these numbers (`file-server/server/src/main.rs`).

mod common;

use common::*;
use file_api::embedded_io::Read;
use file_api::Rights;
use file_fs::{FileServer, MemDisk, Volume, HANDLES_PER_CLIENT};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live bytes and their peak (this test binary runs one test).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; the
// counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the caller's contract is GlobalAlloc::alloc's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak heap above `base` while `f` runs.
fn peak_during(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed) - base
}

/// The heap the server needs (the disk image itself, which the test keeps
/// in memory, is not counted): load, a full-handle-table client reading
/// every file, writes (each reloads ext4-view).
#[test]
fn the_server_fits_its_heap() {
    let disk = MemDisk::new(image(Variant::Ext2));
    let disk_bytes = disk.bytes.len();
    let mut svc = None;
    let load = peak_during(|| {
        svc = Some(FileServer::new(Volume::load(disk)));
    });
    let mut svc = svc.unwrap();
    let serve = peak_during(|| {
        let mut c = client(&mut svc, 1);
        for _ in 0..HANDLES_PER_CLIENT - 1 {
            c.open_handle("/many/file-007", Rights::READ).unwrap();
        }
        let mut f = c.open("/big.bin", Rights::RW).unwrap();
        let mut buf = vec![0u8; BIG_LEN as usize];
        f.read_exact(&mut buf).unwrap();
        drop(f);
        let h = c.open_handle("/write/target.bin", Rights::RW).unwrap();
        for k in 0..8 {
            c.write_at(h, k * 1000, &[k as u8; 900]).unwrap();
        }
    });
    // `serve` includes the test's own 300 KiB buffer.
    let serve = serve - BIG_LEN as usize;
    println!(
        "heap: load {} KiB, serving {} KiB above that (image of {} KiB not counted)",
        load >> 10,
        serve >> 10,
        disk_bytes >> 10
    );
    // ext4-view's block cache is 64 blocks + a 32 KiB read buffer
    // (288 KiB at 4 KiB blocks); the rest is small.
    assert!(load < 400 << 10, "load took {load} bytes");
    assert!(serve < 400 << 10, "serving took {serve} bytes");
}
