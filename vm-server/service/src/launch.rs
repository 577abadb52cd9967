//! Programs paged from files (docs/pager.md, "Programs paged from files"): clients whose ELF image is a file of a pager, started by mapping the file's segments (`vnode_pager` text and copy-on-write data, as `exec` does) instead of copying the image in.
//!
//! Locking: runs inside the single-threaded `Service`.
//!
//! A launch is a small state machine, because every step that reads the
//! file waits for a page-in the pager answers later (the VM server never
//! blocks on a pager):
//!
//! 1. *Waiting for the file*: the pager has not said which object holds
//!    `/bin/<program>` yet (`PagerProgramName`, `PagerProgram`).
//! 2. *Header*: a handle to the file's object in the client's space, and
//!    a read-only mapping of its first page, faulted until resident; the
//!    ELF header and program headers are read from that page.
//! 3. *Tails*: every `PT_LOAD` segment is mapped at its address: the
//!    pages the file covers privately from the file's object (text
//!    read-only, so every instance shares the file's cached pages; data
//!    copy-on-write), the rest anonymous (bss). The last file page of a
//!    segment with bss after it is faulted for writing (its private copy)
//!    and zeroed past the file's bytes, as `padzero` does in Linux.
//! 4. The handle is closed (the mappings keep the object) and the
//!    platform starts the thread at the entry point.
//!
//! A failure at any step stops the client with a clear reason; other
//! clients are not affected.

use crate::convert;
use crate::platform::{ClientId, ExitStatus, Platform};
use crate::service::Service;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use elf::abi::{PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use elf::ElfBytes;
use vm_api::{ApiError, PagerProgramNameReply, PagerProgramRequest, ShmName};
use vm_core::{Access, FaultOutcome, Handle, MapFlags, MmapArgs, Pmap, Prot, PAGE_SIZE};

/// Bytes per page, as a `usize`.
const PAGE: usize = PAGE_SIZE as usize;
/// Where an ELF64 header keeps `e_shoff` (8 bytes), and `e_shnum` with
/// `e_shstrndx` (2 bytes each).
const SHOFF: usize = 0x28;
const SHNUM: usize = 0x3c;

/// Where a launch is.
enum Step {
    /// Waiting for the pager's `PagerProgram` answer.
    File,
    /// The file's handle, and the address of the read-only mapping of
    /// its first page, faulted until resident.
    Header { handle: Handle, first_page: u64 },
    /// The segments are mapped; the partial last file pages still to be
    /// zeroed past `from` bytes, and the entry point.
    Tails {
        handle: Handle,
        entry: u64,
        tails: Vec<(u64, usize)>,
    },
}

/// One client waiting to start.
pub(crate) struct Launch {
    client: ClientId,
    program: usize,
    step: Step,
}

/// The programs clients wait for, and the launches in progress.
#[derive(Default)]
pub(crate) struct Programs {
    /// Program names, indexed as the pager sees them; whether each was
    /// answered.
    names: Vec<(ShmName, bool)>,
    launches: Vec<Launch>,
}

/// What one step of a launch came to.
enum Progress {
    Wait,
    Started,
}

impl<P: Platform> Service<P> {
    /// Serve `client` as [`add_client`](Self::add_client) does, in the
    /// empty `space`, and start it from the program `program` (its file
    /// is `/bin/<program>` at the first pager that asks): its thread must
    /// not run before [`Platform::start_client`]. `NameTooLong` or
    /// `BadName` for a name that is not one.
    pub fn add_program_client(
        &mut self,
        id: ClientId,
        name: String,
        space: vm_core::SpaceId,
        privileges: crate::Privileges,
        program: &str,
    ) -> Result<(), ApiError> {
        let pname = ShmName::new(program).map_err(|_| ApiError::NameTooLong)?;
        if pname.as_str().is_empty() {
            return Err(ApiError::InvalidArgument);
        }
        let programs = &mut self.programs;
        let index = match programs.names.iter().position(|(n, _)| *n == pname) {
            Some(i) => i,
            None => {
                programs.names.push((pname, false));
                programs.names.len() - 1
            }
        };
        programs.launches.push(Launch {
            client: id,
            program: index,
            step: Step::File,
        });
        self.add_client(id, name, space, privileges);
        Ok(())
    }

    /// Clients still waiting to start.
    pub fn launches_waiting(&self) -> usize {
        self.programs.launches.len()
    }

    /// `PagerProgramName`: the name of program `index`, for an attached
    /// pager.
    pub(crate) fn pager_program_name_for(
        &mut self,
        badge: ClientId,
        index: u64,
    ) -> Result<PagerProgramNameReply, ApiError> {
        self.pagers.bound(badge).ok_or(ApiError::NotPermitted)?;
        let (name, _) = usize::try_from(index)
            .ok()
            .and_then(|i| self.programs.names.get(i))
            .ok_or(ApiError::NoSuchName)?;
        Ok(PagerProgramNameReply { name: *name })
    }

    /// `PagerProgram`: the attached pager's answer for program
    /// `req.index`; every client waiting for it moves on (or stops).
    pub(crate) fn pager_program_for(
        &mut self,
        badge: ClientId,
        req: PagerProgramRequest,
    ) -> Result<(), ApiError> {
        let pager = self.pagers.bound(badge).ok_or(ApiError::NotPermitted)?;
        let index = usize::try_from(req.index).map_err(|_| ApiError::NoSuchName)?;
        let (name, answered) = self
            .programs
            .names
            .get_mut(index)
            .ok_or(ApiError::NoSuchName)?;
        if *answered {
            return Err(ApiError::Busy);
        }
        *answered = true;
        let name = *name;
        let waiting: Vec<ClientId> = self
            .programs
            .launches
            .iter()
            .filter(|l| l.program == index)
            .map(|l| l.client)
            .collect();
        for client in waiting {
            let opened = if req.error != 0 {
                Err(format!(
                    "the pager has no file for it (its error {})",
                    req.error
                ))
            } else {
                self.open_program(client, pager, req.key, req.size_bytes)
            };
            match opened {
                Ok(step) => self.set_step(client, step),
                Err(why) => self.launch_failed(client, name.as_str(), &why, ApiError::NoSuchName),
            }
        }
        self.retry_launches();
        Ok(())
    }

    /// Runs every launch as far as it goes now (after completions).
    pub(crate) fn retry_launches(&mut self) {
        let clients: Vec<ClientId> = self
            .programs
            .launches
            .iter()
            .filter(|l| !matches!(l.step, Step::File))
            .map(|l| l.client)
            .collect();
        for client in clients {
            let Some(l) = self
                .programs
                .launches
                .iter()
                .position(|l| l.client == client)
            else {
                continue;
            };
            let program = self.programs.names[self.programs.launches[l].program].0;
            match self.launch_step(client) {
                Ok(Progress::Wait) => {}
                Ok(Progress::Started) => {
                    self.programs.launches.retain(|l| l.client != client);
                }
                Err((why, e)) => self.launch_failed(client, program.as_str(), &why, e),
            }
        }
    }

    /// Forgets `client`'s launch (it was stopped).
    pub(crate) fn forget_launch(&mut self, client: ClientId) {
        self.programs.launches.retain(|l| l.client != client);
    }

    fn set_step(&mut self, client: ClientId, step: Step) {
        if let Some(l) = self
            .programs
            .launches
            .iter_mut()
            .find(|l| l.client == client)
        {
            l.step = step;
        }
    }

    fn launch_failed(&mut self, client: ClientId, program: &str, why: &str, e: ApiError) {
        self.forget_launch(client);
        let why = format!("cannot start program /bin/{program}: {why}");
        self.kill(client, &why, ExitStatus::Killed(Some(e)));
    }

    /// A handle to the file's object in `client`'s space and a read-only
    /// mapping of its first page.
    fn open_program(
        &mut self,
        client: ClientId,
        pager: u32,
        key: u64,
        size_bytes: u64,
    ) -> Result<Step, String> {
        let space = self.space_of(client).map_err(|e| format!("{e:?}"))?;
        let pages = size_bytes.div_ceil(PAGE_SIZE);
        if pages == 0 {
            return Err("the file is empty".into());
        }
        let pmap = self.platform.pmap();
        let handle = self
            .vm
            .pager_open(space, pager, key, pages, Prot::READ | Prot::EXEC)
            .map_err(|e| format!("opening the file's object: {e:?}"))?;
        let first = MmapArgs {
            flags: MapFlags::PRIVATE,
            ..MmapArgs::object(handle, 0, PAGE_SIZE, Prot::READ)
        };
        match self.vm.mmap(space, &first, pmap) {
            Ok(first_page) => Ok(Step::Header { handle, first_page }),
            Err(e) => {
                let _ = self.vm.handle_close(space, handle);
                Err(format!("mapping its first page: {e:?}"))
            }
        }
    }

    /// One step of `client`'s launch, as far as it goes without waiting.
    fn launch_step(&mut self, client: ClientId) -> Result<Progress, (String, ApiError)> {
        let space = self
            .space_of(client)
            .map_err(|e| (String::from("no space"), e))?;
        let Some(l) = self
            .programs
            .launches
            .iter()
            .position(|l| l.client == client)
        else {
            return Ok(Progress::Wait);
        };
        loop {
            match &self.programs.launches[l].step {
                Step::File => return Ok(Progress::Wait),
                &Step::Header { handle, first_page } => {
                    let mut page = [0u8; PAGE];
                    if !self.read_page(client, space, first_page, Access::Read, &mut page)? {
                        return Ok(Progress::Wait);
                    }
                    let pmap = self.platform.pmap();
                    let _ = self.vm.munmap(space, first_page, PAGE_SIZE, pmap);
                    let (entry, tails) = self
                        .map_segments(space, handle, &page)
                        .map_err(|why| (why, ApiError::InvalidArgument))?;
                    self.programs.launches[l].step = Step::Tails {
                        handle,
                        entry,
                        tails,
                    };
                }
                Step::Tails {
                    handle,
                    entry,
                    tails,
                } => {
                    let (handle, entry) = (*handle, *entry);
                    let Some(&(va, from)) = tails.first() else {
                        let _ = self.vm.handle_close(space, handle);
                        self.platform
                            .start_client(client, entry)
                            .map_err(|why| (why, ApiError::OutOfMemory))?;
                        return Ok(Progress::Started);
                    };
                    let mut page = [0u8; PAGE];
                    if !self.read_page(client, space, va, Access::Write, &mut page)? {
                        return Ok(Progress::Wait);
                    }
                    page[from..].fill(0);
                    self.write_page(space, va, &page)?;
                    if let Step::Tails { tails, .. } = &mut self.programs.launches[l].step {
                        tails.remove(0);
                    }
                }
            }
        }
    }

    /// Faults `va` in `client`'s space with `access` and copies its page
    /// into `out`; false while the page-in is under way.
    fn read_page(
        &mut self,
        client: ClientId,
        space: vm_core::SpaceId,
        va: u64,
        access: Access,
        out: &mut [u8; PAGE],
    ) -> Result<bool, (String, ApiError)> {
        let outcome = self
            .fault_or_oom(client, space, va, access, false)
            .ok_or((
                String::from("stopped by the OOM killer"),
                ApiError::OutOfMemory,
            ))?
            .map_err(|e| (format!("reading {va:#x}: {e:?}"), convert::error(e)))?;
        match outcome {
            FaultOutcome::Mapped(m) => {
                self.platform.pmap().read_frame(m.frame, out);
                Ok(true)
            }
            FaultOutcome::Wait(_) => Ok(false),
            other => Err((format!("reading {va:#x}: {other:?}"), ApiError::Io)),
        }
    }

    /// Writes `page` into the private page at `va`, just faulted for
    /// writing by [`read_page`](Self::read_page).
    fn write_page(
        &mut self,
        space: vm_core::SpaceId,
        va: u64,
        page: &[u8; PAGE],
    ) -> Result<(), (String, ApiError)> {
        let frame = self
            .vm
            .extract(space, va)
            .ok()
            .flatten()
            .ok_or((format!("page {va:#x} left"), ApiError::Io))?;
        self.platform.pmap().write_frame(frame, page);
        Ok(())
    }

    /// Maps every `PT_LOAD` segment of the ELF file whose first page is
    /// `first` from the file's object `handle`; returns the entry point
    /// and the partial pages to zero. The program headers must lie in
    /// the first page, and each segment's file offset must share its
    /// address's place in the page (as `ld` lays them out).
    fn map_segments(
        &mut self,
        space: vm_core::SpaceId,
        handle: Handle,
        first: &[u8; PAGE],
    ) -> Result<(u64, Vec<(u64, usize)>), String> {
        // A loader needs no section headers, and they lie past the first
        // page (at the end of the file): parse a copy that has none.
        let mut head = *first;
        if head.starts_with(b"\x7fELF") {
            head[SHOFF..SHOFF + 8].fill(0);
            head[SHNUM..SHNUM + 4].fill(0);
        }
        let file = ElfBytes::<LittleEndian>::minimal_parse(&head)
            .map_err(|e| format!("not an ELF file: {e:?}"))?;
        let segments = file
            .segments()
            .ok_or("no program headers in the first page")?;
        let mut tails = Vec::new();
        for ph in segments.iter().filter(|p| p.p_type == PT_LOAD) {
            let start = ph.p_vaddr & !(PAGE_SIZE - 1);
            let offset = ph.p_offset & !(PAGE_SIZE - 1);
            if ph.p_vaddr - start != ph.p_offset - offset || ph.p_memsz < ph.p_filesz {
                return Err(format!(
                    "segment at {:#x} is not laid out by pages",
                    ph.p_vaddr
                ));
            }
            let mut prot = Prot::READ;
            if ph.p_flags & PF_W != 0 {
                prot |= Prot::WRITE;
            }
            if ph.p_flags & PF_X != 0 {
                prot |= Prot::EXEC;
            }
            let file_end = ph.p_vaddr + ph.p_filesz;
            let file_pages_end = if ph.p_filesz == 0 {
                start
            } else {
                file_end.next_multiple_of(PAGE_SIZE)
            };
            let end = (ph.p_vaddr + ph.p_memsz).next_multiple_of(PAGE_SIZE);
            let pmap = self.platform.pmap();
            if file_pages_end > start {
                let mut args = MmapArgs {
                    flags: MapFlags::PRIVATE,
                    ..MmapArgs::object(handle, offset, file_pages_end - start, prot)
                }
                .fixed(start);
                args.flags |= MapFlags::NOREPLACE;
                self.vm
                    .mmap(space, &args, pmap)
                    .map_err(|e| format!("segment at {start:#x} from the file: {e:?}"))?;
            }
            if end > file_pages_end {
                let mut args = MmapArgs::anon(end - file_pages_end, prot).fixed(file_pages_end);
                args.flags |= MapFlags::NOREPLACE;
                self.vm
                    .mmap(space, &args, pmap)
                    .map_err(|e| format!("bss at {file_pages_end:#x}: {e:?}"))?;
            }
            let from = (file_end % PAGE_SIZE) as usize;
            if ph.p_filesz > 0 && from != 0 && ph.p_memsz > ph.p_filesz {
                if !prot.contains(Prot::WRITE) {
                    return Err(format!("read-only segment at {start:#x} has bss"));
                }
                tails.push((file_end & !(PAGE_SIZE - 1), from));
            }
        }
        Ok((file.ehdr.e_entry, tails))
    }
}
