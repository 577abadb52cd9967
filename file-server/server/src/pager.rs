//! The file server as the pager of file mappings (docs/pager.md), the seL4 side: maps the `files_pager` channel, attaches to the VM server as its pager (the challenge written into the ring page's attach word), creates objects for `Map` through `vm-api`, and answers the VM server's page-ins and write-backs with `file-fs`'s paging logic.
//!
//! The VM server rings `files_pager_bell`, which the spec binds to this
//! server's thread: its `Recv` on `fs_ep` returns with badge bit
//! [`PAGER_BADGE`] set, and the loop calls [`Pager::serve`]. Completions
//! wake the VM server through its `swap_done` notification (the badge
//! the spec gives carries its `NOTIFY_BADGE` bit).

use alloc::format;
use alloc::string::{String, ToString};
use file_api::FileError;
use file_fs::{BlockDevice, FileServer, MapTarget, PagerLink, PROGRAM_DIR};
use pager_api::{
    Incoming, Notifier, PagerEnd, PagerRing, RequestKind, Window, ATTACH_WORD_OFFSET, PAGE_SIZE,
    SYSTEM_CLUSTER,
};
use sel4::{cap, CPtr, CapRights};
use sel4_objects::{map_page, SlotAllocator, UntypedAllocator};
use sel4_root_task::println;
use sel4_root_task::start_info::StartInfo;
use vm_api::{ApiError, Prot, Sel4Transport, VmClient};

/// Badge bit of a signal on the bound notification: the VM server rang
/// the pager doorbell (`files_pager_bell`'s badge in the spec). Client
/// badges are small numbers and never have it.
pub const PAGER_BADGE: u64 = 1 << 27;
/// Spec names.
const CHANNEL: &str = "files_pager";
const VM_ENDPOINT: &str = "vm_ep";
const WAKE_VM: &str = "swap_done";
/// An address never mapped in this server: the crash hook reads it.
const UNMAPPED: usize = 0x1000;
/// Where the pager channel is mapped.
const PAGER_VA: u64 = 0x2_0000_0000;

/// Wakes the VM server when completions are queued. The pager end never
/// waits on its notifier: this server waits in its `Recv` on `fs_ep`,
/// where the doorbell arrives (bound notification).
struct WakeVm(CPtr);

impl Notifier for WakeVm {
    fn kick(&mut self) {
        sel4::signal(self.0);
    }
    /// Returns at once (the trait allows an early return): nothing here
    /// waits on the pager end.
    fn wait(&mut self) {}
}

/// `Map`'s way to the VM server: `PagerCreate` on `vm_ep`.
struct VmLink(VmClient<Sel4Transport>);

impl PagerLink for VmLink {
    fn create_object(&mut self, client: u64, t: MapTarget) -> Result<u32, FileError> {
        let rights = if t.writable { Prot::RW } else { Prot::READ };
        match self.0.pager_create(t.key, t.size, client, rights) {
            Ok(h) => Ok(h.0),
            Err(ApiError::NotPermitted | ApiError::NotSupported) => Err(FileError::NoPager),
            Err(_) => Err(FileError::MapRefused),
        }
    }
}

/// Tries to attach to the VM server as the channel's pager; retried a
/// few times, since a flood of other badges' challenges can make the
/// VM server forget ours between the two calls (docs/pager.md,
/// "Identity").
fn attach(vm: &mut VmClient<Sel4Transport>) -> Result<(), String> {
    const TRIES: u32 = 4;
    let mut last = ApiError::NotPermitted;
    for _ in 0..TRIES {
        let challenge = vm
            .pager_challenge()
            .map_err(|e| format!("PagerChallenge: {e}"))?;
        let at = (PAGER_VA + ATTACH_WORD_OFFSET as u64) as *mut u64;
        // SAFETY: the attach word lies in the channel's ring page, mapped
        // read-write at PAGER_VA for good (`Pager::start`), 8-byte
        // aligned, outside both rings; written volatile because the VM
        // server reads it from its own address space.
        unsafe { core::ptr::write_volatile(at, challenge.to_le()) };
        match vm.pager_attach(challenge) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(format!("PagerAttach: {last} ({TRIES} tries)"))
}

/// The `CrashOnNextPageIn` test hook fired: this thread stops by a
/// fault of its own, the request unanswered, as a pager with a bug
/// would. The fault goes to the VM server (the spec's `fault = vm_ep`
/// with this server's pager badge), which takes it as the pager's death.
fn crash(key: u64) -> ! {
    println!("file-server: page-in of key {key}: dying by the test hook (a read of {UNMAPPED:#x})");
    loop {
        // SAFETY: not safe, on purpose: the first pages of the address
        // space are never mapped here (the image links far above), so
        // the read faults and the kernel stops this thread before it
        // completes; nothing is read and nothing after it runs. Not the
        // null pointer, which the compiler may treat as unreachable.
        unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
    }
}

/// Tells the VM server, for each program its clients wait for, which
/// object holds `/bin/<name>` (docs/pager.md, "Programs paged from
/// files"), or why none does. The VM server answers at once; the page-ins
/// of the programs' headers wait on the channel until this server's loop
/// serves them.
fn answer_programs<D: BlockDevice + 'static>(
    vm: &mut VmClient<Sel4Transport>,
    files: &mut FileServer<D>,
) {
    for index in 0.. {
        let name = match vm.pager_program_name(index) {
            Ok(name) => name,
            Err(ApiError::NoSuchName) => break,
            Err(e) => {
                println!("file-server: PagerProgramName {index}: {e}");
                break;
            }
        };
        let name = name.as_str();
        let (answer, what) = match files.program_target(name) {
            Ok(t) => (
                vm.pager_program(index, 0, t.key, t.size),
                format!("inode {}, {} bytes", t.key, t.size),
            ),
            Err(e) => (vm.pager_program(index, e.code(), 0, 0), format!("{e}")),
        };
        match answer {
            Ok(()) => println!("file-server: program {PROGRAM_DIR}{name}: {what}"),
            Err(e) => println!("file-server: program {PROGRAM_DIR}{name}: {what}; refused: {e}"),
        }
    }
}

/// The pager end of the channel.
pub struct Pager {
    end: PagerEnd<WakeVm>,
    /// Requests answered (page-ins, write-backs, refusals) and closes seen.
    pub answered: u64,
    pub closes: u64,
}

impl Pager {
    /// Maps the channel, attaches to the VM server as its pager and
    /// gives `files` the way to make objects; `Err` says why this server
    /// pages nothing (then `Map` is `NoPager`).
    pub fn start<D: BlockDevice + 'static>(
        info: &StartInfo,
        slots: &mut SlotAllocator,
        untyped: &mut UntypedAllocator,
        files: &mut FileServer<D>,
    ) -> Result<Pager, String> {
        let shm = info.named(CHANNEL).ok_or(format!("no {CHANNEL} cap"))?;
        let frames = shm.data;
        if frames < 2 {
            return Err(format!("{CHANNEL}: {frames} frames"));
        }
        let vm_ep = info
            .cap(VM_ENDPOINT)
            .ok_or(format!("no {VM_ENDPOINT} cap"))?;
        let wake = info.cap(WAKE_VM).ok_or(format!("no {WAKE_VM} cap"))?;
        for i in 0..frames {
            let frame = cap::Granule::from_bits(shm.slot + i);
            let mut make = |ty| {
                untyped
                    .allocate_in(crate::CNODE, slots, ty, 0)
                    .map_err(|e| e.to_string())
            };
            map_page(
                crate::VSPACE,
                frame,
                PAGER_VA + i * PAGE_SIZE as u64,
                CapRights::read_write(),
                &mut make,
            )
            .map_err(|e| format!("mapping {CHANNEL}: {e}"))?;
        }
        // SAFETY: the channel's pages are mapped read-write at PAGER_VA
        // for good, shared only with the VM server; the ring page first.
        let ring = unsafe { PagerRing::new(PAGER_VA as *mut u8) };
        // SAFETY: the data window follows the ring page, mapped the same
        // way; the pager end is this server's only view of it.
        let window = unsafe { Window::new((PAGER_VA + PAGE_SIZE as u64) as *mut u8, frames - 1) };
        let end = PagerEnd::new(ring, window, SYSTEM_CLUSTER, WakeVm(wake));
        let mut vm = VmClient::new(vm_ep);
        attach(&mut vm)?;
        answer_programs(&mut vm, files);
        files.set_pager_link(alloc::boxed::Box::new(VmLink(vm)));
        Ok(Pager {
            end,
            answered: 0,
            closes: 0,
        })
    }

    /// Answers every request the VM server queued: page-ins read into
    /// the window, write-backs written in place, closes noted (the
    /// server keeps nothing per object), refusals answered with their
    /// error; then wakes the VM server once.
    pub fn serve<D: BlockDevice + 'static>(&mut self, files: &mut FileServer<D>) {
        let mut answered = 0;
        while let Some(incoming) = self.end.take() {
            match incoming {
                Incoming::Refused { tag, error } => self.end.complete(tag, Err(error)),
                Incoming::Request(r) => match r.kind {
                    RequestKind::Close { .. } => {
                        self.closes += 1;
                        continue;
                    }
                    RequestKind::PageIn {
                        key, pindex, count, ..
                    } => {
                        if files.take_crash(key) {
                            crash(key);
                        }
                        let hooked = files.counters.hooked_page_ins;
                        let result = files.page_in(key, pindex, self.end.buffers_mut(&r));
                        if files.counters.hooked_page_ins != hooked {
                            // The FailNextPageIn test hook (file-fs): say so,
                            // the faulting client's stop follows.
                            println!(
                                "file-server: page-in of key {key} pages {pindex}..{} failed by the test hook",
                                pindex + count
                            );
                        }
                        self.end.complete(r.tag, result);
                    }
                    RequestKind::WriteBack { key, pindex, .. } => {
                        let result = files.write_back(key, pindex, self.end.buffers(&r));
                        self.end.complete(r.tag, result);
                    }
                },
            }
            answered += 1;
        }
        if answered > 0 {
            self.answered += answered;
            self.end.kick();
        }
    }
}
