//! The file server: serves the ext2/3/4 filesystem on the files disk to its clients over `file-api`.
//!
//! `main` reads top to bottom: `init()` maps the block-server channel the
//! spec gives it (`files_shm` frames: a ring page and a window of 4 KiB
//! buffers; `files_done` for completions; the block server's doorbell
//! `blk_ntfn`), asks the block server for the files disk's size, and
//! loads the filesystem (`file_fs::Volume`); then the server loops
//! `receive -> dispatch -> reply` on `fs_ep` forever. Every decision is
//! `file-fs`'s (pure, host-tested); this binary is the seL4 glue: caps,
//! the mapping, the block channel as a `file_fs::BlockDevice`, and IPC.
//!
//! When the spec gives it a `files_pager` channel it is also the pager
//! of file mappings (`pager.rs`, docs/pager.md): it attaches to the VM
//! server at start, makes objects for `Map`, and answers the VM server's
//! page-ins and write-backs when the pager doorbell rings.
//!
//! A client is the badge of its `fs_ep` cap; its handles are its own.
//! The server never blocks on a client (a reply to a `Call` does not
//! wait), only on the block server, one request at a time. Without a
//! filesystem it still answers every request (`NoFilesystem`), so
//! clients fail instead of hanging.
#![no_std]
#![no_main]

extern crate alloc;

mod pager;

use alloc::string::{String, ToString};
use block_api::{BlockClient, BlockError, Sel4Notifier, BLOCK_SIZE, MAX_BLOCKS};
use file_api::{dispatch, MAX_WORDS};
use file_fs::device::check_range;
use file_fs::{BlockDevice, DeviceError, FileServer, Volume};
use pager::{Pager, PAGER_BADGE};
use sel4::{cap, CPtr, CapRights, MessageInfo};
use sel4_objects::{map_page, SlotAllocator, UntypedAllocator};
use sel4_root_task::println;
use sel4_root_task::start_info::StartInfo;

// ext4-view's block cache is 288 KiB at 4 KiB blocks; with the handles
// the server needs about 320 KiB (file-server/fs/tests/memory.rs).
sel4_root_task::component!(main, heap_size = 1 << 20);

const CNODE: cap::CNode = cap::CNode::from_bits(2);
const VSPACE: cap::VSpace = cap::VSpace::from_bits(3);
/// Where the block channel is mapped.
const CHANNEL_VA: u64 = 0x1_0000_0000;
/// Spec names.
const ENDPOINT: &str = "fs_ep";
const CHANNEL: &str = "files_shm";
const CHANNEL_DONE: &str = "files_done";
/// A cap by this name (to any object) grants the `CrashOnNextPageIn`
/// test hook: only a spec that tests pager death gives it.
const CRASH_HOOK: &str = "pager_crash_hook";
const DOORBELL: &str = "blk_ntfn";

/// The files disk through the block server: one request at a time, in
/// runs of at most the window (and [`MAX_BLOCKS`]) blocks, copied
/// between the window and the caller's buffer.
struct BlockChannel {
    client: BlockClient<Sel4Notifier>,
    blocks: u64,
}

impl BlockChannel {
    /// Blocks per request.
    fn run(&self) -> usize {
        self.client.buffers().min(MAX_BLOCKS) as usize
    }
}

fn device_error(e: BlockError, block: u64, count: u64) -> DeviceError {
    match e {
        BlockError::OutOfRange => DeviceError::OutOfRange { block, count },
        _ => DeviceError::Io { block },
    }
}

impl BlockDevice for BlockChannel {
    fn blocks(&self) -> u64 {
        self.blocks
    }

    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        check_range(block, buf.len(), self.blocks)?;
        let run = self.run();
        for (i, chunk) in buf.chunks_mut(run * BLOCK_SIZE).enumerate() {
            let b = block + (i * run) as u64;
            let n = (chunk.len() / BLOCK_SIZE) as u64;
            self.client
                .read(b, n, 0)
                .map_err(|e| device_error(e, b, n))?;
            chunk.copy_from_slice(self.client.buffer(0, n));
        }
        Ok(())
    }

    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError> {
        check_range(block, buf.len(), self.blocks)?;
        let run = self.run();
        for (i, chunk) in buf.chunks(run * BLOCK_SIZE).enumerate() {
            let b = block + (i * run) as u64;
            let n = (chunk.len() / BLOCK_SIZE) as u64;
            self.client.buffer_mut(0, n).copy_from_slice(chunk);
            self.client
                .write(b, n, 0)
                .map_err(|e| device_error(e, b, n))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.client.flush().map_err(|e| device_error(e, 0, 0))
    }
}

fn main(info: &'static StartInfo) -> ! {
    let Some(ep) = info.cap(ENDPOINT) else {
        println!("file-server: no {ENDPOINT} cap; stopping");
        loop {
            sel4::yield_now();
        }
    };
    let mut slots = SlotAllocator::new(info.first_free_slot, 1 << info.cnode_size_bits);
    let mut untyped = UntypedAllocator::new(info.untyped());
    let mut files = init(info, &mut slots, &mut untyped);
    if info.cap(CRASH_HOOK).is_some() {
        println!("file-server: the spec grants the CrashOnNextPageIn test hook ({CRASH_HOOK})");
        files.grant_crash_hook();
    }
    let pager = match Pager::start(info, &mut slots, &mut untyped, &mut files) {
        Ok(p) => {
            println!("file-server: the pager of file mappings (files_pager attached)");
            Some(p)
        }
        Err(e) => {
            println!("file-server: pages no file mappings: {e}");
            None
        }
    };
    serve(ep, &mut files, pager)
}

/// Maps the block channel and loads the filesystem; a server that cannot
/// still answers (every request fails with the reason).
fn init(
    info: &StartInfo,
    slots: &mut SlotAllocator,
    untyped: &mut UntypedAllocator,
) -> FileServer<BlockChannel> {
    let volume = channel(info, slots, untyped)
        .map_err(|e| {
            println!("file-server: no block channel ({e}); every request fails");
            file_api::FileError::NoFilesystem
        })
        .and_then(|dev| {
            let blocks = dev.blocks;
            let v = Volume::load(dev);
            match &v {
                Ok(_) => println!(
                    "file-server: files disk of {blocks} blocks ({} MiB)",
                    (blocks * BLOCK_SIZE as u64) >> 20
                ),
                Err(e) => println!("file-server: no filesystem on the files disk ({e})"),
            }
            v
        });
    let mut files = FileServer::new(volume);
    if let Ok(v) = files.volume_mut() {
        let label = v.label().unwrap_or_default();
        match v.layout() {
            Ok(l) => println!(
                "file-server: ext2/3/4 '{label}', {}-byte blocks; writes in place",
                l.block_size
            ),
            Err(e) => println!("file-server: ext2/3/4 '{label}', read-only: {e}"),
        }
    }
    files
}

/// The block channel the spec gives us, mapped.
fn channel(
    info: &StartInfo,
    slots: &mut SlotAllocator,
    untyped: &mut UntypedAllocator,
) -> Result<BlockChannel, String> {
    let shm = info
        .named(CHANNEL)
        .ok_or_else(|| alloc::format!("no {CHANNEL} cap"))?;
    let frames = shm.data;
    if frames < 2 {
        return Err(alloc::format!(
            "{CHANNEL}: {frames} frames, need a ring page and buffers"
        ));
    }
    for i in 0..frames {
        let frame = cap::Granule::from_bits(shm.slot + i);
        let mut make = |ty| {
            untyped
                .allocate_in(CNODE, slots, ty, 0)
                .map_err(|e| e.to_string())
        };
        map_page(
            VSPACE,
            frame,
            CHANNEL_VA + i * BLOCK_SIZE as u64,
            CapRights::read_write(),
            &mut make,
        )
        .map_err(|e| alloc::format!("mapping {CHANNEL}: {e}"))?;
    }
    let notifier = Sel4Notifier {
        doorbell: info
            .cap(DOORBELL)
            .ok_or_else(|| alloc::format!("no {DOORBELL} cap"))?,
        done: info
            .cap(CHANNEL_DONE)
            .ok_or_else(|| alloc::format!("no {CHANNEL_DONE} cap"))?,
    };
    // SAFETY: the channel's `frames` pages are mapped read-write at
    // CHANNEL_VA for good, page aligned, shared only with the block server.
    let mut client = unsafe { BlockClient::new(CHANNEL_VA as *mut u8, frames - 1, notifier) };
    let blocks = client
        .info()
        .map_err(|e| alloc::format!("block server: {e:?}"))?;
    Ok(BlockChannel { client, blocks })
}

/// `receive -> dispatch -> reply`, forever; a signal of the pager
/// doorbell (badge bit `PAGER_BADGE`, no reply owed) serves the VM
/// server's pager requests instead.
fn serve(ep: CPtr, files: &mut FileServer<BlockChannel>, mut pager: Option<Pager>) -> ! {
    let mut request = [0u64; MAX_WORDS];
    let mut reply = [0u64; MAX_WORDS];
    let (mut info, mut badge) = sel4::recv(ep);
    loop {
        if badge & PAGER_BADGE != 0 {
            if let Some(p) = pager.as_mut() {
                p.serve(files);
            }
            (info, badge) = sel4::recv(ep);
            continue;
        }
        let len = (info.length() as usize).min(MAX_WORDS);
        sel4::with_ipc_buffer_mut(|b| request[..len].copy_from_slice(&b.msg[..len]));
        let (label, n) = dispatch(files, badge, info.label(), &request[..len], &mut reply);
        sel4::with_ipc_buffer_mut(|b| b.msg[..n].copy_from_slice(&reply[..n]));
        (info, badge) = sel4::reply_recv(ep, MessageInfo::new(label, 0, 0, n as u64));
    }
}
