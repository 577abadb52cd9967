//! The `vm-api` requests: each decoded request becomes one VM operation on the caller's space (`VmService`), with the core's error as the wire error.

use crate::convert;
use crate::platform::{ExitStatus, Platform};
use crate::service::Service;
use vm_api::{ApiError, ForkReply, VmService};
use vm_core::VmError;

fn core_err(e: VmError) -> ApiError {
    convert::error(e)
}

impl<P: Platform> VmService for Service<P> {
    fn stats(&mut self, _client: u64) -> Result<vm_api::VmStats, ApiError> {
        Ok(crate::stats::global(self))
    }

    fn client_stats(&mut self, client: u64) -> Result<vm_api::ClientStats, ApiError> {
        crate::stats::client(self, client)
    }

    fn client_list(
        &mut self,
        client: u64,
        req: vm_api::ClientListRequest,
    ) -> Result<vm_api::ClientListReply, ApiError> {
        crate::stats::client_list(self, client, req.from)
    }

    fn mmap(
        &mut self,
        client: u64,
        req: vm_api::MmapRequest,
    ) -> Result<vm_api::MmapReply, ApiError> {
        let space = self.space_of(client)?;
        let addr = self
            .vm
            .mmap(space, &convert::mmap_args(&req), self.platform.pmap())
            .map_err(core_err)?;
        Ok(vm_api::MmapReply { addr })
    }

    fn munmap(&mut self, client: u64, req: vm_api::RangeRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .munmap(space, req.addr, req.len, self.platform.pmap())
            .map_err(core_err)
    }

    fn mprotect(&mut self, client: u64, req: vm_api::MprotectRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .mprotect(
                space,
                req.addr,
                req.len,
                convert::prot(req.prot),
                self.platform.pmap(),
            )
            .map_err(core_err)
    }

    fn minherit(&mut self, client: u64, req: vm_api::MinheritRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .minherit(
                space,
                req.addr,
                req.len,
                convert::inheritance(req.inheritance),
            )
            .map_err(core_err)
    }

    fn madvise(&mut self, client: u64, req: vm_api::MadviseRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .madvise(
                space,
                req.addr,
                req.len,
                convert::advice(req.advice),
                self.platform.pmap(),
            )
            .map_err(core_err)
    }

    /// Reached only through `vm_api::dispatch` called directly (host
    /// tests): the server loop's `Service::handle` answers `Msync`
    /// itself, keeping the reply while write-backs are in flight
    /// (`pagers.rs`); this one waits for them (`Vm::msync`).
    fn msync(&mut self, client: u64, req: vm_api::MsyncRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .msync(
                space,
                req.addr,
                req.len,
                convert::msync_flags(req.flags),
                self.platform.pmap(),
            )
            .map_err(core_err)
    }

    fn mincore(
        &mut self,
        client: u64,
        req: vm_api::RangeRequest,
    ) -> Result<vm_api::MincoreReply, ApiError> {
        let space = self.space_of(client)?;
        // Only what one reply carries; the client stub asks for the rest.
        let max = (vm_api::MINCORE_MAX_PAGES as u64) * 4096;
        let len = if req.len > max { max } else { req.len };
        let bytes = self.vm.mincore(space, req.addr, len).map_err(core_err)?;
        Ok(vm_api::MincoreReply::from_bytes(&bytes))
    }

    fn mlock(&mut self, client: u64, req: vm_api::RangeRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .mlock(space, req.addr, req.len, self.platform.pmap())
            .map_err(core_err)
    }

    fn munlock(&mut self, client: u64, req: vm_api::RangeRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm.munlock(space, req.addr, req.len).map_err(core_err)
    }

    fn shm_create(
        &mut self,
        client: u64,
        req: vm_api::ShmCreateRequest,
    ) -> Result<vm_api::HandleReply, ApiError> {
        let space = self.space_of(client)?;
        let name = if req.name.is_empty() {
            None
        } else {
            Some(req.name.as_str())
        };
        let h = self
            .vm
            .shm_create(space, name, req.size, convert::prot(req.open_rights))
            .map_err(core_err)?;
        Ok(vm_api::HandleReply {
            handle: vm_api::Handle(h.0),
        })
    }

    fn shm_open(
        &mut self,
        client: u64,
        req: vm_api::ShmOpenRequest,
    ) -> Result<vm_api::HandleReply, ApiError> {
        let space = self.space_of(client)?;
        let h = self
            .vm
            .shm_open(space, req.name.as_str(), convert::prot(req.rights))
            .map_err(core_err)?;
        Ok(vm_api::HandleReply {
            handle: vm_api::Handle(h.0),
        })
    }

    fn shm_unlink(&mut self, client: u64, req: vm_api::ShmUnlinkRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .shm_unlink(space, req.name.as_str())
            .map_err(core_err)
    }

    fn shm_truncate(
        &mut self,
        client: u64,
        req: vm_api::ShmTruncateRequest,
    ) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .shm_truncate(
                space,
                vm_core::Handle(req.handle.0),
                req.size,
                self.platform.pmap(),
            )
            .map_err(core_err)
    }

    fn handle_close(
        &mut self,
        client: u64,
        req: vm_api::HandleCloseRequest,
    ) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .handle_close(space, vm_core::Handle(req.handle.0))
            .map_err(core_err)
    }

    fn handle_share(
        &mut self,
        client: u64,
        req: vm_api::HandleShareRequest,
    ) -> Result<vm_api::HandleReply, ApiError> {
        let from = self.space_of(client)?;
        let to = self.space_of(req.to).map_err(|_| ApiError::BadClient)?;
        let h = self
            .vm
            .handle_share(
                from,
                vm_core::Handle(req.handle.0),
                to,
                convert::prot(req.rights),
            )
            .map_err(core_err)?;
        Ok(vm_api::HandleReply {
            handle: vm_api::Handle(h.0),
        })
    }

    fn handle_accept(
        &mut self,
        client: u64,
        req: vm_api::HandleAcceptRequest,
    ) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        let from = self.space_of(req.from).map_err(|_| ApiError::BadClient)?;
        self.vm
            .handle_accept(space, from, req.count)
            .map_err(core_err)
    }

    fn fork(&mut self, client: u64) -> Result<ForkReply, ApiError> {
        self.fork_client(client)
            .map(|child| ForkReply::Parent { child })
    }

    /// Reached only through `vm_api::dispatch` called directly (host
    /// tests): the server loop's `Service::handle` answers `IdleWait`
    /// itself once the idle thread is done (`idle.rs`); this one does the
    /// idle work at once.
    fn idle_wait(&mut self, client: u64) -> Result<(), ApiError> {
        self.space_of(client)?;
        if !self.idle.present {
            return Err(ApiError::NotSupported);
        }
        while self.vm.zero_wanted()
            && self
                .vm
                .zero_idle(self.platform.pmap(), crate::idle::IDLE_ZERO_BATCH)
                > 0
        {}
        Ok(())
    }

    fn fail_next_pagein(&mut self, client: u64) -> Result<(), ApiError> {
        self.space_of(client)?;
        // Arm and disarm once to learn whether the device can fail a read.
        if !self.platform.arm_read_failure(&mut self.vm) {
            return Err(ApiError::NoSwap);
        }
        self.platform.disarm_read_failure(&mut self.vm);
        self.fail_pagein = Some(client);
        Ok(())
    }

    fn exit(&mut self, client: u64, req: vm_api::ExitRequest) -> Result<(), ApiError> {
        self.space_of(client)?;
        self.destroy(client, ExitStatus::Exited(req.status));
        Ok(())
    }

    fn swap_info(
        &mut self,
        client: u64,
        req: vm_api::SwapDeviceRequest,
    ) -> Result<vm_api::SwapDeviceInfo, ApiError> {
        self.swapctl_info(client, req.device)
    }

    fn swap_off(&mut self, client: u64, req: vm_api::SwapDeviceRequest) -> Result<(), ApiError> {
        self.swapctl_off(client, req.device)
    }

    fn swap_on(&mut self, client: u64, req: vm_api::SwapDeviceRequest) -> Result<(), ApiError> {
        self.swapctl_on(client, req.device)
    }

    fn pager_challenge(&mut self, client: u64) -> Result<vm_api::PagerChallengeReply, ApiError> {
        self.pager_challenge_for(client)
    }

    fn pager_attach(
        &mut self,
        client: u64,
        req: vm_api::PagerAttachRequest,
    ) -> Result<(), ApiError> {
        self.pager_attach_for(client, req.challenge)
    }

    fn pager_create(
        &mut self,
        client: u64,
        req: vm_api::PagerCreateRequest,
    ) -> Result<vm_api::HandleReply, ApiError> {
        self.pager_create_for(client, req)
    }

    fn pager_program_name(
        &mut self,
        client: u64,
        req: vm_api::PagerProgramNameRequest,
    ) -> Result<vm_api::PagerProgramNameReply, ApiError> {
        self.pager_program_name_for(client, req.index)
    }

    fn pager_program(
        &mut self,
        client: u64,
        req: vm_api::PagerProgramRequest,
    ) -> Result<(), ApiError> {
        self.pager_program_for(client, req)
    }

    fn device_open(
        &mut self,
        client: u64,
        req: vm_api::ShmOpenRequest,
    ) -> Result<vm_api::HandleReply, ApiError> {
        self.device_open_for(client, req)
    }
}
