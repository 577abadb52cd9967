//! The block device under the filesystem: the trait the server's block channel and the tests' RAM disk implement, and the byte-addressed reader `ext4-view` reads through.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

/// Bytes per device block (a block-server block).
pub const BLOCK_SIZE: usize = 4096;

/// Why the device refused or failed a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The blocks run past the end of the device.
    OutOfRange { block: u64, count: u64 },
    /// The disk failed the transfer.
    Io { block: u64 },
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::OutOfRange { block, count } => {
                write!(f, "blocks {block}+{count} are past the end of the disk")
            }
            DeviceError::Io { block } => write!(f, "disk I/O error at block {block}"),
        }
    }
}

impl core::error::Error for DeviceError {}

/// A disk of [`BLOCK_SIZE`]-byte blocks. The server's is a block-server
/// channel (`file-server/server`); tests use [`MemDisk`].
pub trait BlockDevice {
    /// Blocks on the device.
    fn blocks(&self) -> u64;
    /// Reads `buf.len() / BLOCK_SIZE` blocks from `block`. Caller
    /// contract: `buf` is a non-empty whole number of blocks.
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError>;
    /// Writes `buf.len() / BLOCK_SIZE` blocks at `block`. Caller
    /// contract: `buf` is a non-empty whole number of blocks.
    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError>;
    /// Returns when every completed write is durable.
    fn flush(&mut self) -> Result<(), DeviceError>;
}

/// Checks `block + len / BLOCK_SIZE` against `blocks`.
pub fn check_range(block: u64, len: usize, blocks: u64) -> Result<(), DeviceError> {
    let count = (len / BLOCK_SIZE) as u64;
    match block.checked_add(count) {
        Some(end) if end <= blocks => Ok(()),
        _ => Err(DeviceError::OutOfRange { block, count }),
    }
}

/// A disk in memory, with failures to inject: the host tests' device.
#[derive(Clone, Debug, Default)]
pub struct MemDisk {
    pub bytes: Vec<u8>,
    /// Reads of any range holding this block fail with `Io`.
    pub fail_read: Option<u64>,
    /// Writes of any range holding this block fail with `Io`.
    pub fail_write: Option<u64>,
    /// Blocks read and written so far (for tests that count I/O).
    pub blocks_read: u64,
    pub blocks_written: u64,
    pub flushes: u64,
}

impl MemDisk {
    /// A disk holding `image` (padded with zeros to a whole block).
    pub fn new(mut image: Vec<u8>) -> MemDisk {
        image.resize(image.len().next_multiple_of(BLOCK_SIZE), 0);
        MemDisk {
            bytes: image,
            ..MemDisk::default()
        }
    }

    fn hits(fail: Option<u64>, block: u64, len: usize) -> bool {
        fail.is_some_and(|f| f >= block && f < block + (len / BLOCK_SIZE) as u64)
    }
}

impl BlockDevice for MemDisk {
    fn blocks(&self) -> u64 {
        (self.bytes.len() / BLOCK_SIZE) as u64
    }

    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        check_range(block, buf.len(), self.blocks())?;
        if Self::hits(self.fail_read, block, buf.len()) {
            return Err(DeviceError::Io { block });
        }
        let at = block as usize * BLOCK_SIZE;
        buf.copy_from_slice(&self.bytes[at..at + buf.len()]);
        self.blocks_read += (buf.len() / BLOCK_SIZE) as u64;
        Ok(())
    }

    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError> {
        check_range(block, buf.len(), self.blocks())?;
        if Self::hits(self.fail_write, block, buf.len()) {
            return Err(DeviceError::Io { block });
        }
        let at = block as usize * BLOCK_SIZE;
        self.bytes[at..at + buf.len()].copy_from_slice(buf);
        self.blocks_written += (buf.len() / BLOCK_SIZE) as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.flushes += 1;
        Ok(())
    }
}

/// The device shared by `ext4-view`'s reader and our writer (the server
/// is single-threaded; the `RefCell` is never borrowed across a call).
pub type SharedDevice<D> = Rc<RefCell<D>>;

/// Reads `dst.len()` bytes at byte `start` of the device, through whole
/// blocks (a block-aligned whole-block read goes straight into `dst`).
pub fn read_bytes<D: BlockDevice>(
    dev: &mut D,
    start: u64,
    dst: &mut [u8],
) -> Result<(), DeviceError> {
    if dst.is_empty() {
        return Ok(());
    }
    let bs = BLOCK_SIZE as u64;
    if start.is_multiple_of(bs) && dst.len().is_multiple_of(BLOCK_SIZE) {
        return dev.read(start / bs, dst);
    }
    let first = start / bs;
    let end = start
        .checked_add(dst.len() as u64)
        .ok_or(DeviceError::OutOfRange {
            block: first,
            count: u64::MAX,
        })?;
    let last = (end - 1) / bs;
    let mut buf = vec![0u8; ((last - first + 1) * bs) as usize];
    dev.read(first, &mut buf)?;
    let off = (start - first * bs) as usize;
    dst.copy_from_slice(&buf[off..off + dst.len()]);
    Ok(())
}

/// Writes `src` at byte `start` of the device: whole blocks straight
/// through, partial ones read, patched and written back.
pub fn write_bytes<D: BlockDevice>(dev: &mut D, start: u64, src: &[u8]) -> Result<(), DeviceError> {
    let bs = BLOCK_SIZE as u64;
    let mut at = start;
    let mut rest = src;
    let mut block = [0u8; BLOCK_SIZE];
    while !rest.is_empty() {
        let b = at / bs;
        let off = (at % bs) as usize;
        let n = rest.len().min(BLOCK_SIZE - off);
        if n == BLOCK_SIZE {
            dev.write(b, &rest[..n])?;
        } else {
            dev.read(b, &mut block)?;
            block[off..off + n].copy_from_slice(&rest[..n]);
            dev.write(b, &block)?;
        }
        at += n as u64;
        rest = &rest[n..];
    }
    Ok(())
}

/// `ext4-view`'s view of the device: byte ranges on demand.
pub struct Ext4Reader<D>(pub SharedDevice<D>);

impl<D: BlockDevice> ext4_view::Ext4Read for Ext4Reader<D> {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn core::error::Error + Send + Sync + 'static>> {
        read_bytes(&mut *self.0.borrow_mut(), start_byte, dst).map_err(|e| Box::new(e) as _)
    }
}
