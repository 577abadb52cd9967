//! Device memory (`OBJT_DEVICE`, `dev_pager.c`): regions of device frames past the pool's RAM, the physical objects over them, and opening one through a quota-counted handle.
//!
//! Locking: runs inside the single-threaded `Vm`.
//!
//! A device region is a run of frames that are not the server's RAM (an
//! I/O BAR, a framebuffer): the server hands their capabilities in at
//! start and `device_create` gives them frame numbers past the pool
//! (`PagePool::add_device`) and a physical object over them, which the
//! server holds for good. Those pages are always resident and never on a
//! paging queue, never free, zeroed, copied or written to swap; fault
//! paths find them resident (`VmObject::lookup`) and map them, and the
//! pmap maps them with the attributes device memory needs (the server's
//! business: the core never sees one). Every rule a mapping of one
//! follows is a `device-*` row of docs/semantics.md: mapped shared only
//! (`mmap` refuses `PRIVATE`), shared with a forked child or left out
//! (`minherit` refuses `Copy`), unmapped at exit with nothing given back
//! to the pool.

use crate::error::VmError;
use crate::limits::Quota;
use crate::object::ObjectKind;
use crate::types::{FrameNumber, Handle, ObjectId, Prot, SpaceId};
use crate::vm::Vm;

impl Vm {
    /// Make a device region of `pages` pages: frame numbers past every
    /// frame so far (the pool's RAM and earlier regions), returned as the
    /// first one, and a physical object over them, which the server
    /// holds (`Vm::object_release` drops it; the pages stay device pages
    /// the pool never hands out). Fails with `ZeroLength` or `Overflow`
    /// (frame numbers would run out) and changes nothing.
    pub fn device_create(&mut self, pages: u32) -> Result<(ObjectId, FrameNumber), VmError> {
        if pages == 0 {
            return Err(VmError::ZeroLength);
        }
        let first = self.mem.pool.ram_end() + self.mem.pool.device_count();
        first
            .checked_add(pages)
            .filter(|&end| end < u32::MAX)
            .ok_or(VmError::Overflow)?;
        let base = FrameNumber(first);
        let o = self
            .mem
            .objects
            .allocate(ObjectKind::Physical { base }, u64::from(pages));
        let got = self
            .mem
            .pool
            .add_device(o, pages)
            .expect("frame numbers checked");
        debug_assert_eq!(got, base);
        *self.external.entry(o).or_default() += 1;
        Ok((o, base))
    }

    /// Give `space` a handle with `rights` to the physical object
    /// `object` the server holds (a device region the spec grants the
    /// space's client; the server checked the grant). Counted against
    /// the group's handles (semantics: device-open). Errors in order:
    /// `BadSpace`, `InvalidArgument` (not a live physical object),
    /// `QuotaHandles`; a refusal changes nothing.
    pub fn device_open(
        &mut self,
        space: SpaceId,
        object: ObjectId,
        rights: Prot,
    ) -> Result<Handle, VmError> {
        self.space_ref(space)?;
        if !self.mem.objects.is_live(object) || !self.mem.objects.get(object).is_physical() {
            return Err(VmError::InvalidArgument);
        }
        self.charge(space, Quota::Handles, 1)?;
        self.mem.objects.reference(object);
        Ok(self.insert_handle(space, object, rights))
    }
}
