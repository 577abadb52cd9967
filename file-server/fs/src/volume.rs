//! The filesystem: opened, stat'ed and read through `ext4-view`, written in place through [`Layout`], kept coherent by reloading `ext4-view` after every write.

use crate::device::{write_bytes, BlockDevice, DeviceError, Ext4Reader, SharedDevice};
use crate::layout::{Inode, Layout, LayoutError, Mapping};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::RefCell;
use ext4_view::{Ext4, Ext4Error, FileType};
use file_api::{FileError, FileKind, Stat, NAME_MAX};

/// What an open path is: its canonical form (links, `.` and `..`
/// resolved) and what it was when opened. Files never change size or
/// kind here (writes are in place), so the stat stays true.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub path: Vec<u8>,
    pub stat: Stat,
}

/// A reader of one open file, kept between requests so a sequential read
/// does not start over from the file's first block (`ext4-view`'s seek
/// walks the block map from the start). Valid for one generation of the
/// volume: a write reloads `ext4-view`, and readers of the old one are
/// dropped.
pub struct Reader {
    generation: u64,
    file: ext4_view::File,
}

/// An ext2/3/4 filesystem on a block device.
///
/// Locking note: owned by the server's single thread; the device is
/// shared with `ext4-view`'s reader, never borrowed across a call.
pub struct Volume<D: BlockDevice + 'static> {
    dev: SharedDevice<D>,
    /// `None` after a reload failed (the disk failed): loaded again on
    /// the next request.
    fs: Option<Ext4>,
    /// The writer's geometry, or why writes are refused.
    layout: Result<Layout, LayoutError>,
    /// Bumped by every write; readers of older generations are stale.
    generation: u64,
}

/// The error a client sees for an `ext4-view` error.
pub fn ext4_error(e: &Ext4Error) -> FileError {
    match e {
        Ext4Error::NotFound => FileError::NotFound,
        Ext4Error::NotADirectory => FileError::NotADirectory,
        Ext4Error::IsADirectory => FileError::IsADirectory,
        Ext4Error::NotAbsolute | Ext4Error::MalformedPath => FileError::BadPath,
        Ext4Error::PathTooLong => FileError::PathTooLong,
        Ext4Error::Io(_) => FileError::Io,
        Ext4Error::Corrupt(_) => FileError::Corrupt,
        _ => FileError::Unsupported,
    }
}

/// The error a client sees for a layout error.
pub fn layout_error(e: &LayoutError) -> FileError {
    match e {
        LayoutError::Io(_) => FileError::Io,
        LayoutError::Corrupt(_) => FileError::Corrupt,
        LayoutError::Unsupported(_) => FileError::Unsupported,
        LayoutError::NotFound => FileError::NotFound,
        LayoutError::NotADirectory => FileError::NotADirectory,
    }
}

/// Checks a path as a client sent it: absolute, no NUL, no component
/// longer than [`NAME_MAX`]. (Its length was bounded by the decoder.)
pub fn check_path(path: &[u8]) -> Result<(), FileError> {
    if path.first() != Some(&b'/') || path.contains(&0) {
        return Err(FileError::BadPath);
    }
    if path.split(|&b| b == b'/').any(|c| c.len() > NAME_MAX) {
        return Err(FileError::BadPath);
    }
    Ok(())
}

fn kind_of(t: FileType) -> FileKind {
    if t.is_regular_file() {
        FileKind::Regular
    } else if t.is_dir() {
        FileKind::Directory
    } else if t.is_symlink() {
        FileKind::Symlink
    } else {
        FileKind::Other
    }
}

fn load<D: BlockDevice + 'static>(dev: &SharedDevice<D>) -> Result<Ext4, Ext4Error> {
    Ext4::load(Box::new(Ext4Reader(dev.clone())))
}

impl<D: BlockDevice + 'static> Volume<D> {
    /// Loads the filesystem on `dev`: `NoFilesystem` if it holds none
    /// `ext4-view` reads, `Io` if the disk fails. Writes are refused later
    /// (`Unsupported`) if the writer does not handle a feature it uses.
    pub fn load(dev: D) -> Result<Volume<D>, FileError> {
        let dev = SharedDevice::new(RefCell::new(dev));
        let fs = load(&dev).map_err(|e| match e {
            Ext4Error::Io(_) => FileError::Io,
            _ => FileError::NoFilesystem,
        })?;
        let layout = Layout::read(&mut *dev.borrow_mut());
        Ok(Volume {
            dev,
            fs: Some(fs),
            layout,
            generation: 0,
        })
    }

    /// `ext4-view`, loaded again if the last reload failed.
    fn fs(&mut self) -> Result<&Ext4, FileError> {
        if self.fs.is_none() {
            self.fs = Some(load(&self.dev).map_err(|e| ext4_error(&e))?);
        }
        self.fs.as_ref().ok_or(FileError::Io)
    }

    /// The device (for tests and the server's start-up report).
    pub fn device(&self) -> core::cell::Ref<'_, D> {
        self.dev.borrow()
    }

    /// Runs `f` on the device. Caller contract: `f` does not reach
    /// `ext4-view` (which borrows the device itself).
    pub fn with_device<T>(&self, f: impl FnOnce(&mut D) -> T) -> T {
        f(&mut self.dev.borrow_mut())
    }

    /// The writer's geometry, or why writes are refused.
    pub fn layout(&self) -> &Result<Layout, LayoutError> {
        &self.layout
    }

    /// The filesystem's label.
    pub fn label(&mut self) -> Result<alloc::string::String, FileError> {
        Ok(alloc::format!("{}", self.fs()?.label().display()))
    }

    /// Resolves `path` (checked with [`check_path`] first) to what it
    /// names now.
    pub fn open(&mut self, path: &[u8]) -> Result<Node, FileError> {
        check_path(path)?;
        let fs = self.fs()?;
        let canonical = fs.canonicalize(path).map_err(|e| ext4_error(&e))?;
        let meta = fs.metadata(&canonical).map_err(|e| ext4_error(&e))?;
        Ok(Node {
            path: canonical.as_ref().to_vec(),
            stat: Stat {
                kind: kind_of(meta.file_type()),
                size: meta.len(),
                mode: meta.mode() & 0o7777,
            },
        })
    }

    /// Reads into `out` from `offset` of the regular file `node` (the
    /// caller checked the offset and clipped `out` to the file), reusing
    /// `reader` when it is of this generation and already at `offset`.
    pub fn read(
        &mut self,
        node: &Node,
        reader: &mut Option<Reader>,
        offset: u64,
        out: &mut [u8],
    ) -> Result<usize, FileError> {
        let generation = self.generation;
        let current = reader
            .take()
            .filter(|r| r.generation == generation && r.file.position() == offset);
        let mut r = match current {
            Some(r) => r,
            None => {
                let mut file = self
                    .fs()?
                    .open(node.path.as_slice())
                    .map_err(|e| ext4_error(&e))?;
                file.seek_to(offset).map_err(|e| ext4_error(&e))?;
                Reader { generation, file }
            }
        };
        let mut done = 0;
        while done < out.len() {
            let n = r
                .file
                .read_bytes(&mut out[done..])
                .map_err(|e| ext4_error(&e))?;
            if n == 0 {
                break;
            }
            done += n;
        }
        *reader = Some(r);
        Ok(done)
    }

    /// The writer's view of `node`: its inode, through [`Layout`].
    pub fn inode(&self, node: &Node) -> Result<Inode, FileError> {
        let layout = self.layout.as_ref().map_err(layout_error)?;
        let dev = &mut *self.dev.borrow_mut();
        let number = layout
            .lookup(dev, &node.path)
            .map_err(|e| layout_error(&e))?;
        layout.inode(dev, number).map_err(|e| layout_error(&e))
    }

    /// Replaces `data.len()` bytes of `inode`'s file at `offset`, all or
    /// nothing: `WouldGrow` past the end, `Hole` over a block the file
    /// never allocated (both before any byte is written). Caller contract:
    /// the reader of every open file is dropped before the next read
    /// (the volume reloads `ext4-view`, whose cache held the old bytes).
    pub fn write(&mut self, inode: &Inode, offset: u64, data: &[u8]) -> Result<(), FileError> {
        let layout = *self.layout.as_ref().map_err(layout_error)?;
        if data.is_empty() {
            return Ok(());
        }
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(FileError::WouldGrow)?;
        if end > inode.size {
            return Err(FileError::WouldGrow);
        }
        let bs = layout.block_size;
        let first = offset / bs;
        let last = (end - 1) / bs;
        let mut blocks = Vec::with_capacity((last - first + 1) as usize);
        {
            let dev = &mut *self.dev.borrow_mut();
            for index in first..=last {
                match layout
                    .map(dev, inode, index)
                    .map_err(|e| layout_error(&e))?
                {
                    Mapping::Block(b) => blocks.push(b),
                    Mapping::Hole | Mapping::Unwritten => return Err(FileError::Hole),
                }
            }
        }
        let result = {
            let dev = &mut *self.dev.borrow_mut();
            let mut at = offset;
            let mut rest = data;
            blocks.iter().try_for_each(|&b| {
                let within = at % bs;
                let n = (rest.len() as u64).min(bs - within) as usize;
                write_bytes(dev, b * bs + within, &rest[..n])?;
                at += n as u64;
                rest = &rest[n..];
                Ok::<(), DeviceError>(())
            })
        };
        // Even a failed write may have changed some blocks: reload.
        self.reload()?;
        result.map_err(|_| FileError::Io)
    }

    /// Drops `ext4-view` (and its block cache) and loads it again, so
    /// reads see the disk as it is now.
    fn reload(&mut self) -> Result<(), FileError> {
        self.generation += 1;
        self.fs = None;
        let fs = load(&self.dev).map_err(|e| ext4_error(&e))?;
        self.fs = Some(fs);
        Ok(())
    }

    /// Returns when every completed write is on the disk.
    pub fn sync(&mut self) -> Result<(), FileError> {
        self.dev.borrow_mut().flush().map_err(|_| FileError::Io)
    }
}
