//! Shared-memory objects and handles: names inside name groups, the rights a creator lets others open with, unlink by the creator's family, handle passing only with the receiver's consent, truncation (semantics: names-*, handle-share, truncate-*).
//!
//! Locking: the name table and every space's handles live in the
//! single-threaded `Vm`.
//!
//! Access model. A name is visible only inside one *name group* (the
//! system spec puts clients in groups; a client not put in one is a group
//! of its own, and forked children inherit their parent's). Its creator
//! chooses the most rights anyone may open it with; opening asks for at
//! most those (`Protection` otherwise), and a name of another group does
//! not exist for the caller (`NoSuchName`: no probing). Only the
//! creator's family (its quota group) may unlink the name, and the name
//! goes when that family's last space exits, so no name outlives everyone
//! who could remove it. Handles are capabilities: `handle_share` never
//! raises rights, and it pushes a handle into another space only while
//! that space accepts handles from the sender (`handle_accept`), because
//! the handle counts against the receiver's quota.

use crate::error::VmError;
use crate::limits::Quota;
use crate::object::ObjectKind;
use crate::pmap::Pmap;
use crate::space::HandleEntry;
use crate::types::{page_aligned, Handle, ObjectId, Prot, SpaceId, PAGE_SHIFT};
use crate::vm::{NameEntry, NameKey, Vm};
use alloc::string::ToString;
use alloc::vec::Vec;

impl Vm {
    /// Add a handle to `space`; it takes over one reference to `object`.
    /// The caller has checked that `space` exists.
    pub(crate) fn insert_handle(
        &mut self,
        space: SpaceId,
        object: ObjectId,
        rights: Prot,
    ) -> Handle {
        let sp = self.spaces.get_mut(&space.0).expect("space checked");
        let h = sp.next_handle;
        sp.next_handle += 1;
        sp.handles.insert(h, HandleEntry { object, rights });
        Handle(h)
    }

    /// Put `space` in name group `group` (the spec's `names`); its later
    /// forks inherit it. Names it created stay in the group they were
    /// made in.
    pub fn set_name_group(&mut self, space: SpaceId, group: u64) -> Result<(), VmError> {
        self.space_mut(space)?.name_group = group;
        Ok(())
    }

    /// Create a shared-memory object of `size` bytes (page multiple, may be
    /// 0), optionally named in the caller's name group, and return a handle
    /// with every right to it in `space` (`shm_open(O_CREAT|O_EXCL)` +
    /// `ftruncate`). Others may open the name with at most `open_rights`.
    /// Charges one handle, and one more for the name.
    pub fn shm_create(
        &mut self,
        space: SpaceId,
        name: Option<&str>,
        size: u64,
        open_rights: Prot,
    ) -> Result<Handle, VmError> {
        self.charge_to(space);
        let sp = self.space_ref(space)?;
        let key = name.map(|n| (sp.name_group, n.to_string()));
        if !page_aligned(size) {
            return Err(VmError::Unaligned);
        }
        if size > self.mem.config.user_max {
            return Err(VmError::OutOfRange);
        }
        if let Some(k) = &key {
            if k.1.is_empty() {
                return Err(VmError::InvalidArgument);
            }
            if self.names.contains_key(k) {
                return Err(VmError::NameExists);
            }
        }
        self.charge(space, Quota::Handles, 1 + u64::from(key.is_some()))?;
        self.mem.objects.may_allocate(1)?;
        let o = self
            .mem
            .objects
            .allocate(ObjectKind::SharedMemory, size >> PAGE_SHIFT);
        if let Some(k) = key {
            let creator = self.spaces[&space.0].group;
            self.mem.objects.reference(o);
            self.names.insert(
                k,
                NameEntry {
                    object: o,
                    open_rights,
                    creator,
                },
            );
            self.groups.get_mut(&creator).expect("live group").names += 1;
        }
        Ok(self.insert_handle(space, o, Prot::ALL))
    }

    /// Open a name of the caller's name group with `rights`, at most the
    /// rights its creator allows (`shm_open`). A name of another group is
    /// `NoSuchName`, like a name that does not exist.
    pub fn shm_open(
        &mut self,
        space: SpaceId,
        name: &str,
        rights: Prot,
    ) -> Result<Handle, VmError> {
        let key = (self.space_ref(space)?.name_group, name.to_string());
        let e = self.names.get(&key).ok_or(VmError::NoSuchName)?;
        if !e.open_rights.contains(rights) {
            return Err(VmError::Protection);
        }
        let o = e.object;
        self.charge(space, Quota::Handles, 1)?;
        self.mem.objects.reference(o);
        Ok(self.insert_handle(space, o, rights))
    }

    /// Remove a name of the caller's name group; only its creator's family
    /// may (`Protection` otherwise). The object lives on while handles or
    /// mappings hold it (`shm_unlink`).
    pub fn shm_unlink(&mut self, space: SpaceId, name: &str) -> Result<(), VmError> {
        let sp = self.space_ref(space)?;
        let (key, group) = ((sp.name_group, name.to_string()), sp.group);
        let e = self.names.get(&key).ok_or(VmError::NoSuchName)?;
        if e.creator != group {
            return Err(VmError::Protection);
        }
        let e = self.names.remove(&key).expect("looked up");
        self.drop_name(e);
        Ok(())
    }

    /// Drop a name's reference and its count in its creator's group.
    /// The caller took `e` out of the table.
    fn drop_name(&mut self, e: NameEntry) {
        if let Some(g) = self.groups.get_mut(&e.creator) {
            g.names -= 1;
        }
        self.mem.stats.pages_freed += self.mem.objects.deallocate(e.object, &mut self.mem.pool);
        self.mem.flush_dead_slots();
    }

    /// Remove every name `group` created (its last space exited).
    pub(crate) fn drop_names_of(&mut self, group: u32) {
        let keys: Vec<NameKey> = self
            .names
            .iter()
            .filter(|(_, e)| e.creator == group)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            let e = self.names.remove(&k).expect("listed");
            self.drop_name(e);
        }
    }

    /// Close a handle (mappings made through it stay).
    pub fn handle_close(&mut self, space: SpaceId, handle: Handle) -> Result<(), VmError> {
        let sp = self.space_mut(space)?;
        let h = sp.handles.remove(&handle.0).ok_or(VmError::BadHandle)?;
        self.mem.stats.pages_freed += self.mem.objects.deallocate(h.object, &mut self.mem.pool);
        self.mem.flush_dead_slots();
        Ok(())
    }

    /// Let `from` push up to `count` handles into `space` with
    /// `handle_share` (0 withdraws the consent). Each pushed handle counts
    /// against `space`'s quota, so nobody may push without this.
    pub fn handle_accept(
        &mut self,
        space: SpaceId,
        from: SpaceId,
        count: u32,
    ) -> Result<(), VmError> {
        self.space_ref(space)?;
        self.space_ref(from)?;
        if count == 0 {
            self.accepts.remove(&(space.0, from.0));
        } else {
            self.accepts.insert((space.0, from.0), count);
        }
        Ok(())
    }

    /// Pass a handle to another space, with at most the rights it has
    /// (the IPC layer's capability transfer). The receiver must accept
    /// handles from the sender (`handle_accept`; `Protection` otherwise),
    /// and the handle counts against the receiver's quota.
    pub fn handle_share(
        &mut self,
        from: SpaceId,
        handle: Handle,
        to: SpaceId,
        rights: Prot,
    ) -> Result<Handle, VmError> {
        let h = self
            .space_ref(from)?
            .handle(handle)
            .ok_or(VmError::BadHandle)?;
        self.space_ref(to)?;
        if !h.rights.contains(rights) {
            return Err(VmError::Protection);
        }
        let consent = self.accepts.get(&(to.0, from.0)).copied().unwrap_or(0);
        if consent == 0 {
            return Err(VmError::Protection);
        }
        self.charge(to, Quota::Handles, 1)?;
        if consent == 1 {
            self.accepts.remove(&(to.0, from.0));
        } else {
            self.accepts.insert((to.0, from.0), consent - 1);
        }
        self.mem.objects.reference(h.object);
        Ok(self.insert_handle(to, h.object, rights))
    }

    /// Give `space` a handle to an object the server holds (a physical
    /// object). The caller holds a reference to `object`. Not charged:
    /// the server decides.
    pub fn handle_insert(
        &mut self,
        space: SpaceId,
        object: ObjectId,
        rights: Prot,
    ) -> Result<Handle, VmError> {
        self.space_ref(space)?;
        if !self.mem.objects.is_live(object) {
            return Err(VmError::InvalidArgument);
        }
        self.mem.objects.reference(object);
        Ok(self.insert_handle(space, object, rights))
    }

    /// Resize a shared-memory object (`ftruncate`). Shrinking frees the
    /// pages past the end and removes every mapping of them; it fails with
    /// `Busy` if one is wired. Needs a handle with write rights.
    pub fn shm_truncate<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        handle: Handle,
        size: u64,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        // Pages under swap I/O must not move or go under this operation.
        self.mem.drain(pmap);
        let h = self
            .space_ref(space)?
            .handle(handle)
            .ok_or(VmError::BadHandle)?;
        if self.mem.objects.get(h.object).kind() != ObjectKind::SharedMemory {
            return Err(VmError::InvalidArgument);
        }
        if !h.rights.contains(Prot::WRITE) {
            return Err(VmError::Protection);
        }
        if !page_aligned(size) {
            return Err(VmError::Unaligned);
        }
        if size > self.mem.config.user_max {
            return Err(VmError::OutOfRange);
        }
        let new = size >> PAGE_SHIFT;
        let obj = self.mem.objects.get(h.object);
        if obj
            .pages_in(new, u64::MAX)
            .any(|(_, f)| self.mem.pool.page(f).is_wired())
        {
            return Err(VmError::Busy);
        }
        self.mem.objects.swap_discard(h.object, new, u64::MAX);
        let gone = self.mem.objects.split_off_pages(h.object, new);
        for (_, f) in gone {
            pmap.page_protect(f, Prot::NONE);
            self.mem.pool.free(f);
            self.mem.stats.pages_freed += 1;
        }
        self.mem.objects.set_size(h.object, new);
        self.mem.flush_dead_slots();
        Ok(())
    }
}
