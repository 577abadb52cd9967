//! The file server as the pager of file mappings (docs/pager.md): which file a `Map` names, and whole pages of a file read into and written back from the pager channel's buffers, by inode number.
//!
//! Stateless on purpose: a pager object's key is the file's inode
//! number, and every `PageIn` or `WriteBack` reads the inode again
//! (files never change size here, and a key the VM server echoes is only
//! trusted as far as "an inode of this filesystem"). So `Close` has
//! nothing to forget, and no number of mappings makes the server
//! allocate. The one exception is the test hooks: the keys armed by
//! `FailNextPageIn` ([`FileServer::arm_fail_next_page_in`]) and
//! `CrashOnNextPageIn` ([`FileServer::arm_crash_on_next_page_in`]), at
//! most one each per file some client holds open.

use crate::device::{read_bytes, BlockDevice};
use crate::layout::{Inode, Mapping};
use crate::service::FileServer;
use crate::volume::{layout_error, Volume};
use file_api::{FileError, FileKind, Handle, Rights};
use pager_api::{Outcome, PagerError, PAGE_SIZE};

/// The folder programs paged from files live in.
pub const PROGRAM_DIR: &str = "/bin/";

/// Bytes per page, as a `u64`.
const PAGE: u64 = PAGE_SIZE as u64;

/// What a `Map` of an open file asks the VM server for: a pager object
/// `key` of `size` bytes, installed with write rights or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapTarget {
    /// The file's inode number: the pager object's key.
    pub key: u64,
    /// The file's size in bytes (the object has `size` rounded up to
    /// whole pages; the bytes past the end of the last page read as 0).
    pub size: u64,
    /// Whether the client's handle to the object may write.
    pub writable: bool,
}

/// The file server's way to the VM server for `Map` (on seL4 a
/// `vm-api` `PagerCreate` call; in tests a fake).
pub trait PagerLink {
    /// Asks the VM server for pager object `target.key` of `target.size`
    /// bytes, with a handle in client `client`'s space (read-write when
    /// `target.writable`); returns the handle's number there. The error
    /// is the one the client sees (`MapRefused`, `NoPager`).
    fn create_object(&mut self, client: u64, target: MapTarget) -> Result<u32, FileError>;
}

/// The error a pager answer carries for a file error.
fn pager_error(e: FileError) -> PagerError {
    match e {
        FileError::ReadOnly | FileError::Protection => PagerError::ReadOnly,
        FileError::NotFound | FileError::IsADirectory | FileError::Unsupported => {
            PagerError::NoSuchObject
        }
        FileError::Hole | FileError::WouldGrow => PagerError::NoSpace,
        _ => PagerError::Io,
    }
}

impl<D: BlockDevice + 'static> Volume<D> {
    /// The regular file with inode number `key`, as a pager object's key
    /// names it: `NoSuchObject` for a number that is not an inode of a
    /// regular file here.
    fn paged_inode(&self, key: u64) -> Result<Inode, PagerError> {
        let layout = self.layout().as_ref().map_err(|_| PagerError::Io)?;
        let number = u32::try_from(key).map_err(|_| PagerError::NoSuchObject)?;
        if number == 0 || number > layout.inodes {
            return Err(PagerError::NoSuchObject);
        }
        let inode = self
            .with_device(|dev| layout.inode(dev, number))
            .map_err(|e| pager_error(layout_error(&e)))?;
        if !inode.is_regular() {
            return Err(PagerError::NoSuchObject);
        }
        Ok(inode)
    }

    /// Fills `out` (whole pages) with the file `key`'s pages from
    /// `pindex`: the file's bytes, zeros past its end within the last
    /// page and in holes. `Zero` when every page is a hole (nothing was
    /// read; `out` is untouched), `Supplied` otherwise. A page wholly past
    /// the end of the file is `Malformed` (the VM server never asks for
    /// one: the object ends with the file's last page).
    pub fn page_in(
        &mut self,
        key: u64,
        pindex: u64,
        out: &mut [u8],
    ) -> Result<Outcome, PagerError> {
        let inode = self.paged_inode(key)?;
        let (start, end) = page_window(inode.size, pindex, out.len())?;
        let layout = *self.layout().as_ref().map_err(|_| PagerError::Io)?;
        let bs = layout.block_size;
        // Where each file block of the range is, before any byte moves.
        let mut any_data = false;
        let first = start / bs;
        let last = (end.min(inode.size) - 1) / bs;
        let mut blocks = alloc::vec::Vec::with_capacity((last - first + 1) as usize);
        for index in first..=last {
            let m = self
                .with_device(|dev| layout.map(dev, &inode, index))
                .map_err(|e| pager_error(layout_error(&e)))?;
            any_data |= matches!(m, Mapping::Block(_));
            blocks.push(m);
        }
        if !any_data {
            return Ok(Outcome::Zero);
        }
        out.fill(0);
        for (i, m) in blocks.into_iter().enumerate() {
            let Mapping::Block(b) = m else { continue };
            let file_at = (first + i as u64) * bs;
            // The part of this block inside both the range and the file.
            let lo = file_at.max(start);
            let hi = (file_at + bs).min(end).min(inode.size);
            if lo >= hi {
                continue;
            }
            let dst = &mut out[(lo - start) as usize..(hi - start) as usize];
            self.with_device(|dev| read_bytes(dev, b * bs + (lo - file_at), dst))
                .map_err(|_| PagerError::Io)?;
        }
        Ok(Outcome::Supplied)
    }

    /// Writes `data` (whole pages) into the file `key` from page
    /// `pindex`, in place: the bytes past the file's end in its last page
    /// are not written. All or nothing: a page wholly past the end is
    /// `Malformed`, a hole `NoSpace` (writing it would need allocation),
    /// a file without a write bit `ReadOnly`, before any byte is written.
    pub fn write_back(
        &mut self,
        key: u64,
        pindex: u64,
        data: &[u8],
    ) -> Result<Outcome, PagerError> {
        let inode = self.paged_inode(key)?;
        if inode.mode & 0o222 == 0 {
            return Err(PagerError::ReadOnly);
        }
        let (start, end) = page_window(inode.size, pindex, data.len())?;
        let within = (inode.size.min(end) - start) as usize;
        self.write(&inode, start, &data[..within])
            .map_err(pager_error)?;
        Ok(Outcome::Written)
    }
}

impl<D: BlockDevice + 'static> FileServer<D> {
    /// What `client`'s `Map` of `handle` asks the VM server for: the
    /// handle must be a regular file's (`IsADirectory`, `Unsupported`)
    /// with `READ` (`Protection`), and with `WRITE` too when `writable`;
    /// the filesystem must be one the writer handles when `writable`
    /// (`Unsupported`), and readable by inode for any map.
    pub fn map_target(
        &mut self,
        client: u64,
        handle: Handle,
        writable: bool,
    ) -> Result<MapTarget, FileError> {
        let (node, rights, known) = self.open_file(client, handle)?;
        if !rights.contains(Rights::READ) || (writable && !rights.contains(Rights::WRITE)) {
            return Err(FileError::Protection);
        }
        match node.stat.kind {
            FileKind::Regular => {}
            FileKind::Directory => return Err(FileError::IsADirectory),
            _ => return Err(FileError::Unsupported),
        }
        let volume = self.volume_mut()?;
        let inode = match known {
            Some(i) => i,
            None => volume.inode(&node)?,
        };
        self.remember_inode(client, handle, inode);
        Ok(MapTarget {
            key: u64::from(inode.number),
            size: inode.size,
            writable,
        })
    }

    /// The pager object of program `name` (docs/pager.md, "Programs
    /// paged from files"): the regular file [`PROGRAM_DIR`]`<name>`,
    /// read-only. `BadPath` for a name that is empty, `.`, `..` or holds
    /// a `/` (a program cannot name a file outside the folder); the
    /// errors of `Open` and `Map` otherwise.
    pub fn program_target(&mut self, name: &str) -> Result<MapTarget, FileError> {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(FileError::BadPath);
        }
        let path = alloc::format!("{PROGRAM_DIR}{name}");
        let volume = self.volume_mut()?;
        let node = volume.open(path.as_bytes())?;
        match node.stat.kind {
            FileKind::Regular => {}
            FileKind::Directory => return Err(FileError::IsADirectory),
            _ => return Err(FileError::Unsupported),
        }
        let inode = volume.inode(&node)?;
        Ok(MapTarget {
            key: u64::from(inode.number),
            size: inode.size,
            writable: false,
        })
    }

    /// The `FailNextPageIn` test hook (`file-api`): the next
    /// [`page_in`](Self::page_in) of the file behind `client`'s `handle`
    /// fails with `Io`. The handle must be the caller's (`BadHandle`), a
    /// regular file's (`IsADirectory`, `Unsupported`) with `READ`
    /// (`Protection`): the checks of a read-only `Map`, so a client can
    /// arm only a file it could map. Arming an armed file changes nothing
    /// (one page-in still fails). Nothing else is affected: write-backs,
    /// later page-ins and other files are served as ever.
    pub fn arm_fail_next_page_in(&mut self, client: u64, handle: Handle) -> Result<(), FileError> {
        let target = self.map_target(client, handle, false)?;
        self.fail_next.insert(target.key);
        Ok(())
    }

    /// Lets clients arm `CrashOnNextPageIn` (the spec granted the hook:
    /// the binary found its cap). Without it the hook is `NotPermitted`.
    pub fn grant_crash_hook(&mut self) {
        self.crash_hook = true;
    }

    /// The `CrashOnNextPageIn` test hook (`file-api`): the next page-in
    /// of the file behind `client`'s `handle` stops the server
    /// ([`take_crash`](Self::take_crash) tells the binary when). The
    /// checks of [`arm_fail_next_page_in`](Self::arm_fail_next_page_in),
    /// after `NotPermitted` when the spec did not grant the hook.
    pub fn arm_crash_on_next_page_in(
        &mut self,
        client: u64,
        handle: Handle,
    ) -> Result<(), FileError> {
        if !self.crash_hook {
            return Err(FileError::NotPermitted);
        }
        let target = self.map_target(client, handle, false)?;
        self.crash_next.insert(target.key);
        Ok(())
    }

    /// Whether the page-in of `key` about to be served must stop the
    /// server instead (the hook disarms; the binary then faults).
    pub fn take_crash(&mut self, key: u64) -> bool {
        self.crash_next.remove(&key)
    }

    /// Whether a page-in of `key` is armed to fail.
    pub fn page_in_armed(&self, key: u64) -> bool {
        self.fail_next.contains(&key)
    }

    /// [`Volume::page_in`], and every open file's reader is left alone
    /// (nothing is written); `Err(Io)` instead, reading nothing, when the
    /// test hook armed `key` ([`arm_fail_next_page_in`]), which disarms it.
    ///
    /// [`arm_fail_next_page_in`]: Self::arm_fail_next_page_in
    pub fn page_in(
        &mut self,
        key: u64,
        pindex: u64,
        out: &mut [u8],
    ) -> Result<Outcome, PagerError> {
        if self.fail_next.remove(&key) {
            self.counters.hooked_page_ins += 1;
            return Err(PagerError::Io);
        }
        let volume = self.volume_mut().map_err(|_| PagerError::Io)?;
        volume.page_in(key, pindex, out)
    }

    /// [`Volume::write_back`]; every open file's reader is dropped first
    /// (the write reloads `ext4-view`, as a client's `Write` does).
    pub fn write_back(
        &mut self,
        key: u64,
        pindex: u64,
        data: &[u8],
    ) -> Result<Outcome, PagerError> {
        self.drop_readers();
        let volume = self.volume_mut().map_err(|_| PagerError::Io)?;
        let r = volume.write_back(key, pindex, data);
        if r.is_ok() {
            self.counters.pages_written += (data.len() / PAGE_SIZE) as u64;
        }
        r
    }
}

/// The byte range `[start, end)` of `len` bytes of whole pages from page
/// `pindex` of a file of `size` bytes: `Malformed` when it is empty, not
/// whole pages, overflows, or reaches a page wholly past the end.
fn page_window(size: u64, pindex: u64, len: usize) -> Result<(u64, u64), PagerError> {
    let start = pindex.checked_mul(PAGE).ok_or(PagerError::Malformed)?;
    let end = start.checked_add(len as u64).ok_or(PagerError::Malformed)?;
    if len == 0 || !len.is_multiple_of(PAGE_SIZE) || end > size.next_multiple_of(PAGE) {
        return Err(PagerError::Malformed);
    }
    Ok((start, end))
}
