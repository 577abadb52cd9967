//! The file server's decisions: `file-api`'s `FileService` over a [`Volume`], with each client's handles, their rights and the bounds a hostile client runs into.

use crate::device::BlockDevice;
use crate::layout::Inode;
use crate::pager::PagerLink;
use crate::volume::{Node, Reader, Volume};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use file_api::{
    FileError, FileKind, FileService, Handle, HandleReply, HandleRequest, MapReply, MapRequest,
    OpenRequest, ReadData, ReadReply, ReadRequest, Rights, Stat, WriteReply, WriteRequest,
};

/// Most handles one client may hold open at once.
pub const HANDLES_PER_CLIENT: usize = 16;
/// Most clients with open handles at once (clients are the spec's, so
/// this only bounds what a spec could ask).
pub const MAX_CLIENTS: usize = 64;

/// One open handle.
struct OpenFile {
    node: Node,
    rights: Rights,
    /// The writer's view, found at the first write.
    inode: Option<Inode>,
    /// The sequential reader, kept between reads.
    reader: Option<Reader>,
}

/// What the server has counted (printed at exit of tests, and useful on
/// the console).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub opens: u64,
    pub reads: u64,
    pub bytes_read: u64,
    pub writes: u64,
    pub bytes_written: u64,
    /// `Map`s answered with a VM handle.
    pub maps: u64,
    /// Pages written back for the VM server (file mappings).
    pub pages_written: u64,
    /// Page-ins failed by the `FailNextPageIn` test hook.
    pub hooked_page_ins: u64,
    /// Requests answered with an error.
    pub refused: u64,
}

/// The file server: the volume (if the disk holds a filesystem) and every
/// client's open handles, keyed by the client's badge.
///
/// Locking note: owned by the server's single thread.
pub struct FileServer<D: BlockDevice + 'static> {
    volume: Result<Volume<D>, FileError>,
    clients: BTreeMap<u64, Vec<Option<OpenFile>>>,
    /// The way to the VM server for `Map`, when this server is a pager.
    pager: Option<Box<dyn PagerLink>>,
    /// Pager keys whose next page-in fails (the `FailNextPageIn` test
    /// hook): at most one per file some client opened.
    pub(crate) fail_next: BTreeSet<u64>,
    /// Pager keys whose next page-in stops the server (the
    /// `CrashOnNextPageIn` test hook), and whether the spec grants it.
    pub(crate) crash_next: BTreeSet<u64>,
    pub(crate) crash_hook: bool,
    pub counters: Counters,
}

impl<D: BlockDevice + 'static> FileServer<D> {
    /// Serves `volume`, or answers every request with its error (no
    /// filesystem, or the disk failed at start).
    pub fn new(volume: Result<Volume<D>, FileError>) -> Self {
        FileServer {
            volume,
            clients: BTreeMap::new(),
            pager: None,
            fail_next: BTreeSet::new(),
            crash_next: BTreeSet::new(),
            crash_hook: false,
            counters: Counters::default(),
        }
    }

    /// Serves `Map` through `link` from now on (without one, `Map` is
    /// `NoPager`).
    pub fn set_pager_link(&mut self, link: Box<dyn PagerLink>) {
        self.pager = Some(link);
    }

    /// The volume, if there is one.
    pub fn volume(&self) -> Result<&Volume<D>, FileError> {
        self.volume.as_ref().map_err(|e| *e)
    }

    /// The volume, to change, if there is one.
    pub fn volume_mut(&mut self) -> Result<&mut Volume<D>, FileError> {
        self.volume.as_mut().map_err(|e| *e)
    }

    /// Handles open across all clients.
    pub fn open_handles(&self) -> usize {
        self.clients
            .values()
            .map(|t| t.iter().flatten().count())
            .sum()
    }

    fn handle(&mut self, client: u64, h: Handle) -> Result<&mut OpenFile, FileError> {
        let slot = (h.0 as usize).checked_sub(1).ok_or(FileError::BadHandle)?;
        self.clients
            .get_mut(&client)
            .and_then(|t| t.get_mut(slot))
            .and_then(Option::as_mut)
            .ok_or(FileError::BadHandle)
    }

    /// What `client`'s `handle` names, its rights and its inode if
    /// already found: `BadHandle` for a handle it does not hold.
    pub(crate) fn open_file(
        &mut self,
        client: u64,
        h: Handle,
    ) -> Result<(Node, Rights, Option<Inode>), FileError> {
        let f = self.handle(client, h)?;
        Ok((f.node.clone(), f.rights, f.inode))
    }

    /// Keeps `inode` as the writer's view of `client`'s `handle`.
    pub(crate) fn remember_inode(&mut self, client: u64, h: Handle, inode: Inode) {
        if let Ok(f) = self.handle(client, h) {
            f.inode = Some(inode);
        }
    }

    /// Drops every open file's reader: a write is about to reload
    /// `ext4-view`, which they read through.
    pub(crate) fn drop_readers(&mut self) {
        for f in self.clients.values_mut().flatten().flatten() {
            f.reader = None;
        }
    }

    fn counted<T>(&mut self, r: Result<T, FileError>) -> Result<T, FileError> {
        if r.is_err() {
            self.counters.refused += 1;
        }
        r
    }

    fn do_open(&mut self, client: u64, req: OpenRequest) -> Result<HandleReply, FileError> {
        let volume = self.volume.as_mut().map_err(|e| *e)?;
        let node = volume.open(req.path.as_slice())?;
        if req.rights.contains(Rights::WRITE) {
            match node.stat.kind {
                FileKind::Regular if node.stat.mode & 0o222 != 0 => {}
                FileKind::Directory => return Err(FileError::IsADirectory),
                _ => return Err(FileError::ReadOnly),
            }
        }
        if !self.clients.contains_key(&client) && self.clients.len() >= MAX_CLIENTS {
            return Err(FileError::TooManyHandles);
        }
        let table = self.clients.entry(client).or_default();
        let slot = match table.iter().position(Option::is_none) {
            Some(s) => s,
            None if table.len() < HANDLES_PER_CLIENT => {
                table.push(None);
                table.len() - 1
            }
            None => return Err(FileError::TooManyHandles),
        };
        table[slot] = Some(OpenFile {
            node,
            rights: req.rights,
            inode: None,
            reader: None,
        });
        self.counters.opens += 1;
        Ok(HandleReply {
            handle: Handle(slot as u32 + 1),
        })
    }

    fn do_read(&mut self, client: u64, req: ReadRequest) -> Result<ReadReply, FileError> {
        let volume = self.volume.as_mut().map_err(|e| *e)?;
        let slot = (req.handle.0 as usize)
            .checked_sub(1)
            .ok_or(FileError::BadHandle)?;
        let f = self
            .clients
            .get_mut(&client)
            .and_then(|t| t.get_mut(slot))
            .and_then(Option::as_mut)
            .ok_or(FileError::BadHandle)?;
        if !f.rights.contains(Rights::READ) {
            return Err(FileError::Protection);
        }
        match f.node.stat.kind {
            FileKind::Regular => {}
            FileKind::Directory => return Err(FileError::IsADirectory),
            _ => return Err(FileError::Unsupported),
        }
        let size = f.node.stat.size;
        if req.offset > size {
            return Err(FileError::PastEnd);
        }
        let len = req.len.min(size - req.offset) as usize;
        let mut data = ReadData::from_slice(&[0; file_api::READ_MAX][..len])
            .ok_or(FileError::LengthTooLarge)?;
        let n = volume.read(&f.node, &mut f.reader, req.offset, data.as_mut_slice())?;
        if n != len {
            // The file is shorter than its inode says: ext4-view stopped.
            return Err(FileError::Corrupt);
        }
        self.counters.reads += 1;
        self.counters.bytes_read += n as u64;
        Ok(ReadReply { data })
    }

    fn do_write(&mut self, client: u64, req: WriteRequest) -> Result<WriteReply, FileError> {
        let f = self.handle(client, req.handle)?;
        if !f.rights.contains(Rights::WRITE) {
            return Err(FileError::Protection);
        }
        let size = f.node.stat.size;
        let end = req.offset.checked_add(req.data.len() as u64);
        if req.offset > size || end.is_none_or(|e| e > size) {
            return Err(FileError::WouldGrow);
        }
        let known = f.inode;
        let node = f.node.clone();
        let volume = self.volume.as_mut().map_err(|e| *e)?;
        let inode = match known {
            Some(i) => i,
            None => volume.inode(&node)?,
        };
        self.handle(client, req.handle)?.inode = Some(inode);
        // Every reader reads through the ext4-view the write replaces.
        self.drop_readers();
        let volume = self.volume.as_mut().map_err(|e| *e)?;
        volume.write(&inode, req.offset, req.data.as_slice())?;
        self.counters.writes += 1;
        self.counters.bytes_written += req.data.len() as u64;
        Ok(WriteReply {
            written: req.data.len() as u64,
        })
    }

    fn do_map(&mut self, client: u64, req: MapRequest) -> Result<MapReply, FileError> {
        if self.pager.is_none() {
            return Err(FileError::NoPager);
        }
        let target = self.map_target(client, req.handle, req.writable)?;
        let link = self.pager.as_mut().ok_or(FileError::NoPager)?;
        let vm_handle = link.create_object(client, target)?;
        self.counters.maps += 1;
        Ok(MapReply { vm_handle })
    }

    fn do_fail_next_page_in(&mut self, client: u64, req: HandleRequest) -> Result<(), FileError> {
        if self.pager.is_none() {
            return Err(FileError::NoPager);
        }
        self.arm_fail_next_page_in(client, req.handle)
    }

    fn do_crash_on_next_page_in(
        &mut self,
        client: u64,
        req: HandleRequest,
    ) -> Result<(), FileError> {
        if self.pager.is_none() {
            return Err(FileError::NoPager);
        }
        self.arm_crash_on_next_page_in(client, req.handle)
    }

    fn do_close(&mut self, client: u64, req: HandleRequest) -> Result<(), FileError> {
        self.handle(client, req.handle)?;
        let table = self.clients.get_mut(&client).ok_or(FileError::BadHandle)?;
        table[req.handle.0 as usize - 1] = None;
        while table.last().is_some_and(Option::is_none) {
            table.pop();
        }
        if table.is_empty() {
            self.clients.remove(&client);
        }
        Ok(())
    }
}

impl<D: BlockDevice + 'static> FileService for FileServer<D> {
    fn open(&mut self, client: u64, req: OpenRequest) -> Result<HandleReply, FileError> {
        let r = self.do_open(client, req);
        self.counted(r)
    }

    fn stat(&mut self, client: u64, req: HandleRequest) -> Result<Stat, FileError> {
        let r = self.handle(client, req.handle).map(|f| f.node.stat);
        self.counted(r)
    }

    fn read(&mut self, client: u64, req: ReadRequest) -> Result<ReadReply, FileError> {
        let r = self.do_read(client, req);
        self.counted(r)
    }

    fn write(&mut self, client: u64, req: WriteRequest) -> Result<WriteReply, FileError> {
        let r = self.do_write(client, req);
        self.counted(r)
    }

    fn close(&mut self, client: u64, req: HandleRequest) -> Result<(), FileError> {
        let r = self.do_close(client, req);
        self.counted(r)
    }

    fn map(&mut self, client: u64, req: MapRequest) -> Result<MapReply, FileError> {
        let r = self.do_map(client, req);
        self.counted(r)
    }

    fn fail_next_page_in(&mut self, client: u64, req: HandleRequest) -> Result<(), FileError> {
        let r = self.do_fail_next_page_in(client, req);
        self.counted(r)
    }

    fn crash_on_next_page_in(&mut self, client: u64, req: HandleRequest) -> Result<(), FileError> {
        let r = self.do_crash_on_next_page_in(client, req);
        self.counted(r)
    }

    fn sync(&mut self, client: u64, req: HandleRequest) -> Result<(), FileError> {
        let r = self
            .handle(client, req.handle)
            .map(drop)
            .and_then(|()| self.volume.as_mut().map_err(|e| *e)?.sync());
        self.counted(r)
    }
}
