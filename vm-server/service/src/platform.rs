//! `Platform`: everything the service needs from the machine it runs on (kernel calls on seL4, a simulator on the host), and nothing it decides.

use alloc::string::String;
use core::fmt;
use vm_api::ApiError;
use vm_core::{Pmap, SpaceId, Vm};

/// How a client ended, for whoever awaits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit` with this status.
    Exited(u64),
    /// The server stopped it: a fault it could not resolve (with the error
    /// the VM gave), a fault the VM does not handle, or the OOM killer.
    Killed(Option<ApiError>),
}

/// A client's identity: the badge of its endpoint capabilities.
pub type ClientId = u64;

/// Kernel resources the platform holds, for the `Stats` reply and the
/// cleanup checks (all zero on a platform without such things).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Kernel objects handed out now, cached for reuse, retyped ever.
    pub objects_in_use: u64,
    pub objects_cached: u64,
    pub objects_retyped: u64,
    /// Of those, retyped ahead of need (`Platform::prepare_ahead`).
    pub objects_prepared: u64,
    /// Capability slots in use.
    pub slots_in_use: u64,
    /// Mappings and page tables the pmap holds.
    pub mappings: u64,
    pub page_tables: u64,
    /// Objects and slots in use when the server was ready, before any
    /// client: what it must be back to when none is left.
    pub objects_baseline: u64,
    pub slots_baseline: u64,
    /// Kernel object invocations made since the server started.
    pub invocations: u64,
    /// Bytes of the heap in live allocations.
    pub heap_bytes: u64,
    /// Cycles the server's loop spent handling messages (receive to
    /// reply), and the messages it handled.
    pub handling_cycles: u64,
    pub messages: u64,
    /// Doorbells rung on the swap device, and the cycles spent ringing
    /// them (the block server's run, where it preempts the ring).
    pub swap_doorbells: u64,
    pub swap_doorbell_cycles: u64,
}

/// The machine side of the VM server. The service calls it only from its
/// single-threaded loop; implementations need no locking.
pub trait Platform {
    /// The translation layer the VM drives.
    type Pmap: Pmap;
    /// A saved reply to a faulting thread (seL4: a reply cap moved to a
    /// slot with `CNode_SaveCaller`).
    type Reply;

    fn pmap(&mut self) -> &mut Self::Pmap;
    fn pmap_ref(&self) -> &Self::Pmap;

    /// Keep the reply to the message being handled, so the sender waits
    /// while others are served. Fails when no slot is left.
    fn save_reply(&mut self) -> Result<Self::Reply, String>;
    /// Answer a saved fault reply: the thread retries its access.
    fn resume(&mut self, reply: Self::Reply);
    /// Clear the completion notification's pending signal (seL4: a
    /// `Poll` on it), so the loop does not wake for completions taken
    /// already. The caller then takes every completion: one posted before
    /// the clear is taken, one posted after signals again.
    fn clear_completion_signal(&mut self) {}
    /// Drop a saved reply unanswered (its client is being stopped).
    fn drop_reply(&mut self, reply: Self::Reply);
    /// Answer a saved request reply with `msg` (a request that waited,
    /// such as `msync(SYNC)` over a file mapping).
    fn answer(&mut self, reply: Self::Reply, msg: &crate::ReplyMsg);

    /// The attach word of pager channel `pager`'s ring page (docs/
    /// pager.md, "Identity"): what only a holder of that channel can
    /// have written. `None` for a channel this platform does not have
    /// (the default: a platform without pager channels).
    fn pager_attach_word(&self, pager: u32) -> Option<u64> {
        let _ = pager;
        None
    }

    /// Start `client`, loaded from a program file (`Service::
    /// add_program_client`), at `entry`. The default: a platform whose
    /// clients all come loaded.
    fn start_client(&mut self, client: ClientId, entry: u64) -> Result<(), String> {
        let _ = (client, entry);
        Err("this platform starts no program clients".into())
    }

    /// Stop `client`'s threads; its space is destroyed next.
    fn suspend(&mut self, client: ClientId);
    /// Give back the kernel objects of a stopped client whose space is
    /// gone, and report how it ended to whoever awaits it.
    fn reap(&mut self, client: ClientId, status: ExitStatus);
    /// Make the kernel side of `child`, the fork of `parent` whose new
    /// space is `space`, and start it returning from its `fork` call as
    /// the child. On failure everything it made is given back.
    fn spawn_child(
        &mut self,
        parent: ClientId,
        child: ClientId,
        space: SpaceId,
    ) -> Result<(), String>;

    /// Make the next page-in read fail (the `FailNextPagein` test hook);
    /// false when the swap device cannot.
    fn arm_read_failure(&mut self, vm: &mut Vm) -> bool;
    /// Take an armed failure back; true when a read used it up.
    fn disarm_read_failure(&mut self, vm: &mut Vm) -> bool;

    /// Pages mapped in `space` now and the page tables it holds (the
    /// pmap's counts).
    fn space_footprint(&self, space: SpaceId) -> (u64, u64);
    /// The kernel resources held now.
    fn kernel_counters(&self) -> KernelCounters;
    /// A console line.
    fn log(&mut self, line: fmt::Arguments);
    /// One piece of work the idle thread may do for the platform ahead of
    /// need (seL4: a paging structure retyped into the object cache, so
    /// a fault that needs a table does not retype it); true when it did
    /// some. The default has none.
    fn prepare_ahead(&mut self) -> bool {
        false
    }
    /// A cycle counter for timing faults in the live trace (seL4: the
    /// TSC); the default has none and reads 0.
    fn cycles(&self) -> u64 {
        0
    }
}
