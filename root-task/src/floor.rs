//! Floor benchmarks, measured in every boot so the VM server's fault costs
//! can be reported as ratios against them (`cargo qemu bench`):
//!
//! * `floor-ipc-call-replyrecv`: a thread `Call`s an endpoint the root
//!   task serves with `ReplyRecv`: the bare IPC round trip.
//! * `floor-fault-map-reply`: a thread touches unmapped pages; the root
//!   task, as a minimal pager, maps a ready frame (its page table already
//!   exists) and replies: the least any user-level pager can do per fault.
//! * `floor-map-unmap`: the root task maps a frame into the same VSpace
//!   and unmaps it again, timing the pair: the kernel's part of every
//!   4 KiB page a pager moves through its pool (mapped into a client,
//!   later evicted), which bounds the swap rows (docs/performance.md,
//!   "The swap rows' bound").
//!
//! The measured thread runs in an address space of its own, as a client
//! does, so each round trip switches page tables twice (which under QEMU's
//! TCG flushes its software TLB and is a large part of the cost): the
//! *alias* VSpace maps the root task's own image frames at the same
//! addresses, so the thread runs the root task's code with its own PML4.
//!
//! Each prints `BENCH <name> <median cycles> cycles` (rdtsc, per operation).

use crate::component::{maker, object};
use crate::thread::{self, Entry};
use crate::RootState;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use sel4::{cap, CPtr, CapRights, MessageInfo, ObjectType, VmAttributes};
use sel4_root_task::println;

/// Operations measured per benchmark.
const N: usize = 256;
/// Where the fault benchmark's pages go (a PML4 slot of its own).
const FLOOR_VADDR: u64 = 0x82_0000_0000;
const IPC_BUFFER_A: u64 = 0x80_0000_4000;
const IPC_BUFFER_B: u64 = 0x80_0000_5000;
/// Label of a thread's "done" message.
const DONE: u64 = 0xd0e;

/// Per-operation cycles, written by the measured thread before it says done.
static SAMPLES: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];

#[repr(C, align(16))]
struct Stack([u8; 16 * 1024]);
static mut STACK_A: Stack = Stack([0; 16 * 1024]);
static mut STACK_B: Stack = Stack([0; 16 * 1024]);

fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions in user mode on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn median() -> u64 {
    let mut v: Vec<u64> = SAMPLES.iter().map(|s| s.load(Ordering::Relaxed)).collect();
    v.sort_unstable();
    v[N / 2]
}

extern "C" fn ipc_thread(ep: u64, _: u64) -> ! {
    for s in SAMPLES.iter() {
        let t0 = rdtsc();
        sel4::call(CPtr::from_bits(ep), MessageInfo::new(0, 0, 0, 0));
        s.store(rdtsc() - t0, Ordering::Relaxed);
    }
    sel4::call(CPtr::from_bits(ep), MessageInfo::new(DONE, 0, 0, 0));
    loop {
        sel4::yield_now();
    }
}

extern "C" fn fault_thread(base: u64, ep: u64) -> ! {
    for (i, s) in SAMPLES.iter().enumerate() {
        let t0 = rdtsc();
        // SAFETY: the root task maps a frame here when the read faults.
        unsafe { ((base + i as u64 * 4096) as *const u64).read_volatile() };
        s.store(rdtsc() - t0, Ordering::Relaxed);
    }
    sel4::call(CPtr::from_bits(ep), MessageInfo::new(DONE, 0, 0, 0));
    loop {
        sel4::yield_now();
    }
}

/// A VSpace that maps the root task's image (copies of its frame caps) at
/// the same addresses, plus the paging structures `FLOOR_VADDR` needs.
fn alias_vspace(state: &mut RootState, bootinfo: &sel4::BootInfo) -> Result<cap::VSpace, String> {
    let root = sel4::init_cap::INIT_THREAD_CNODE;
    let vs: cap::VSpace = object(state, ObjectType::X64Pml4, 0)?.cast();
    sel4::init_cap::INIT_THREAD_ASID_POOL
        .x86_asid_pool_assign(vs)
        .map_err(|e| format!("alias ASID: {e:?}"))?;
    // The kernel hands over the image frames in address order from the
    // image's start, where our linker script puts the first segment.
    const IMAGE_BASE: u64 = 0x40_0000;
    for (i, frame) in bootinfo.user_image_frames().enumerate() {
        let copy = state.slots.alloc().ok_or("root CNode full")?;
        root.cnode_copy(copy.bits(), 64, root, frame, 64, CapRights::all())
            .map_err(|e| format!("alias frame copy: {e:?}"))?;
        sel4_objects::map_page(
            vs,
            copy.cast(),
            IMAGE_BASE + i as u64 * 4096,
            CapRights::read_write(),
            &mut maker(state),
        )
        .map_err(|e| format!("alias image map: {e}"))?;
    }
    Ok(vs)
}

/// One measuring thread: made at its first round, suspended between.
struct Runner {
    entry: Entry,
    args: (u64, u64),
    ep: CPtr,
    badged: CPtr,
    ipc_buffer: u64,
    stack_top: u64,
    tcb: Option<cap::Tcb>,
}

impl Runner {
    /// Starts the thread (made now, or restarted), serves its messages
    /// with `serve` until it says done, and suspends it.
    fn round(
        &mut self,
        state: &mut RootState,
        alias: cap::VSpace,
        mut serve: impl FnMut() -> Result<(), String>,
    ) -> Result<(), String> {
        match self.tcb {
            Some(tcb) => sel4_objects::start_thread(tcb, self.entry, self.args, self.stack_top)?,
            None => {
                let tcb = thread::spawn(
                    state,
                    alias,
                    self.entry,
                    self.args,
                    self.badged,
                    self.ipc_buffer,
                    self.stack_top,
                    200,
                )?;
                self.tcb = Some(tcb);
            }
        }
        let (mut info, _) = sel4::recv(self.ep);
        while info.label() != DONE {
            serve()?;
            (info, _) = sel4::reply_recv(self.ep, MessageInfo::new(0, 0, 0, 0));
        }
        if let Some(tcb) = self.tcb {
            tcb.tcb_suspend().map_err(|e| format!("suspend: {e:?}"))?;
        }
        Ok(())
    }
}

/// The floor benchmarks, kept after the boot's first run so a benchmark
/// client can interleave rounds of them with its own measurements
/// (`control::FLOOR_ROUND`): then noise on the host hits the floor and
/// the operation alike.
pub struct Floors {
    alias: cap::VSpace,
    ipc: Runner,
    fault: Runner,
    /// The frames the fault floor maps, one per touched page (unmapped
    /// after each round), and the page that keeps the range's page table.
    frames: Vec<cap::Granule>,
}

impl Floors {
    /// Makes the alias VSpace, the endpoints and the frames.
    fn new(state: &mut RootState, bootinfo: &sel4::BootInfo) -> Result<Floors, String> {
        let alias = alias_vspace(state, bootinfo)?;
        let runner = |state: &mut RootState, entry: Entry, badge, ipc_buffer, stack_top| {
            let ep = object(state, ObjectType::Endpoint, 0)?;
            let badged = crate::component::badged(state, ep, CapRights::all(), badge)?;
            let args = if badge == 1 {
                (badged.bits(), 0)
            } else {
                (FLOOR_VADDR, badged.bits())
            };
            Ok::<_, String>(Runner {
                entry,
                args,
                ep,
                badged,
                ipc_buffer,
                stack_top,
                tcb: None,
            })
        };
        let ipc = runner(
            state,
            ipc_thread,
            1,
            IPC_BUFFER_A,
            core::ptr::addr_of_mut!(STACK_A) as u64 + 16 * 1024,
        )?;
        let fault = runner(
            state,
            fault_thread,
            2,
            IPC_BUFFER_B,
            core::ptr::addr_of_mut!(STACK_B) as u64 + 16 * 1024,
        )?;
        let mut frames: Vec<cap::Granule> = Vec::with_capacity(N);
        for _ in 0..N {
            frames.push(object(state, ObjectType::X86_4K, 0)?.cast());
        }
        // The page table for the range exists before the first fault (as
        // for a pager's second fault nearby).
        let warm: cap::Granule = object(state, ObjectType::X86_4K, 0)?.cast();
        sel4_objects::map_page(
            alias,
            warm,
            FLOOR_VADDR + (N as u64) * 4096,
            CapRights::read_write(),
            &mut maker(state),
        )
        .map_err(|e| format!("floor page table: {e}"))?;
        Ok(Floors {
            alias,
            ipc,
            fault,
            frames,
        })
    }

    /// One round of `floor-ipc-call-replyrecv`: the median of [`N`] bare
    /// IPC round trips, in cycles.
    pub fn ipc_round(&mut self, state: &mut RootState) -> Result<u64, String> {
        self.ipc.round(state, self.alias, || Ok(()))?;
        Ok(median())
    }

    /// One round of `floor-fault-map-reply`: the median of [`N`] faults
    /// served by mapping a ready frame, in cycles.
    pub fn fault_round(&mut self, state: &mut RootState) -> Result<u64, String> {
        let (vspace, frames) = (self.alias, &self.frames);
        let mut next = 0;
        let r = self.fault.round(state, self.alias, || {
            let addr = sel4::get_mr(1) & !0xfff;
            frames[next % N]
                .x86_page_map(
                    vspace,
                    addr,
                    CapRights::read_write(),
                    VmAttributes::default(),
                )
                .map_err(|e| format!("floor map at {addr:#x}: {e:?}"))?;
            next += 1;
            Ok(())
        });
        for f in &self.frames {
            let _ = f.x86_page_unmap();
        }
        r.map(|()| median())
    }

    /// One round of `floor-map-unmap`: the median of [`N`] pairs of a
    /// ready frame's `Page_Map` into the alias VSpace (its page table
    /// exists) and its `Page_Unmap`, in cycles. No thread runs: the
    /// root task invokes and times, as a pager does between messages.
    pub fn map_unmap_round(&mut self) -> Result<u64, String> {
        for (i, (frame, sample)) in self.frames.iter().zip(SAMPLES.iter()).enumerate() {
            let addr = FLOOR_VADDR + i as u64 * 4096;
            let t0 = rdtsc();
            frame
                .x86_page_map(
                    self.alias,
                    addr,
                    CapRights::read_write(),
                    VmAttributes::default(),
                )
                .map_err(|e| format!("floor map at {addr:#x}: {e:?}"))?;
            frame
                .x86_page_unmap()
                .map_err(|e| format!("floor unmap at {addr:#x}: {e:?}"))?;
            sample.store(rdtsc() - t0, Ordering::Relaxed);
        }
        Ok(median())
    }
}

/// Runs the floor benchmarks once and prints their lines; returns them
/// for later rounds.
pub fn run(state: &mut RootState, bootinfo: &sel4::BootInfo) -> Result<Floors, String> {
    let mut floors = Floors::new(state, bootinfo)?;
    println!(
        "BENCH floor-ipc-call-replyrecv {} cycles",
        floors.ipc_round(state)?
    );
    println!(
        "BENCH floor-fault-map-reply {} cycles",
        floors.fault_round(state)?
    );
    println!("BENCH floor-map-unmap {} cycles", floors.map_unmap_round()?);
    Ok(floors)
}
