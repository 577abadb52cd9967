//! Where a file's bytes are on the disk: the narrow part of ext2/3/4 the writer needs and `ext4-view` does not expose (the superblock's geometry, group descriptors, inodes, the block map and the extent tree, directory entries), read straight from the device.
//!
//! `ext4-view` reads the filesystem but keeps its inode numbers and block
//! maps private, so the in-place writer finds a file's blocks itself:
//! [`Layout::lookup`] walks a canonical path (one `ext4-view` has already
//! resolved) through the directories to its inode, and
//! [`Layout::map`] turns a block of the file into a block of the disk
//! (`None` for a hole). Nothing here ever writes metadata: only the bytes
//! of blocks a file already owns change, so the filesystem stays
//! consistent (`e2fsck` agrees) without a journal or allocator.

use crate::device::{read_bytes, BlockDevice, DeviceError};
use alloc::vec;
use core::fmt;

/// The superblock's byte offset.
const SUPERBLOCK: u64 = 1024;
const MAGIC: u16 = 0xef53;
/// Root directory inode.
pub const ROOT_INODE: u32 = 2;

const INCOMPAT_FILETYPE: u32 = 0x2;
const INCOMPAT_EXTENTS: u32 = 0x40;
const INCOMPAT_64BIT: u32 = 0x80;
const INCOMPAT_FLEX_BG: u32 = 0x200;
const INCOMPAT_EA_INODE: u32 = 0x400;
const INCOMPAT_CSUM_SEED: u32 = 0x2000;
const INCOMPAT_LARGEDIR: u32 = 0x4000;
const INCOMPAT_INLINE_DATA: u32 = 0x8000;
/// Incompatible features the writer handles: none of them moves a file's
/// data or changes how a directory is searched linearly. Inline data is
/// refused per file ([`Inode::map`] sees the flag). Everything else
/// (`RECOVER`: a journal to replay; `META_BG`: descriptors elsewhere;
/// compression, encryption, casefolding, MMP, ...) makes writes
/// `Unsupported`; reading goes on through `ext4-view`.
pub const WRITABLE_INCOMPAT: u32 = INCOMPAT_FILETYPE
    | INCOMPAT_EXTENTS
    | INCOMPAT_64BIT
    | INCOMPAT_FLEX_BG
    | INCOMPAT_EA_INODE
    | INCOMPAT_CSUM_SEED
    | INCOMPAT_LARGEDIR
    | INCOMPAT_INLINE_DATA;

const FLAG_EXTENTS: u32 = 0x8_0000;
const FLAG_INLINE_DATA: u32 = 0x1000_0000;
const EXTENT_MAGIC: u16 = 0xf30a;
/// Deepest extent tree ext4 builds (and the most we follow).
const EXTENT_MAX_DEPTH: u16 = 5;
/// An extent longer than this is unwritten (allocated, reads as zeros).
const EXTENT_INIT_MAX: u16 = 32768;
const MODE_TYPE: u16 = 0xf000;
const MODE_DIR: u16 = 0x4000;
const MODE_REG: u16 = 0x8000;

/// Why the layout could not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    Io(DeviceError),
    /// The filesystem's own data is inconsistent (what was wrong).
    Corrupt(&'static str),
    /// Something the writer does not handle (what).
    Unsupported(&'static str),
    /// A path component does not exist.
    NotFound,
    /// A path component before the last is not a directory.
    NotADirectory,
}

impl From<DeviceError> for LayoutError {
    fn from(e: DeviceError) -> Self {
        LayoutError::Io(e)
    }
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::Io(e) => write!(f, "{e}"),
            LayoutError::Corrupt(what) => write!(f, "corrupt filesystem: {what}"),
            LayoutError::Unsupported(what) => write!(f, "not supported: {what}"),
            LayoutError::NotFound => write!(f, "not found"),
            LayoutError::NotADirectory => write!(f, "not a directory"),
        }
    }
}

type Result<T> = core::result::Result<T, LayoutError>;

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// The geometry the superblock gives: enough to find any inode and any
/// file block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub block_size: u64,
    pub blocks: u64,
    pub inodes: u32,
    pub inodes_per_group: u32,
    pub inode_size: u64,
    pub groups: u64,
    /// First block of the group descriptor table.
    pub descriptors: u64,
    pub descriptor_size: u64,
    pub incompat: u32,
}

/// What the writer needs of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inode {
    pub number: u32,
    pub mode: u16,
    pub size: u64,
    pub flags: u32,
    /// `i_block`: the block map or the extent tree's root.
    pub block: [u8; 60],
}

impl Inode {
    pub fn is_dir(&self) -> bool {
        self.mode & MODE_TYPE == MODE_DIR
    }

    /// True for a regular file.
    pub fn is_regular(&self) -> bool {
        self.mode & MODE_TYPE == MODE_REG
    }
}

/// Where a block of a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// This block of the disk.
    Block(u64),
    /// Nowhere: a hole (reads as zeros; writing it would need allocation).
    Hole,
    /// Allocated but unwritten (an ext4 extent flag; reads as zeros).
    Unwritten,
}

impl Layout {
    /// Reads and checks the superblock. `Unsupported` if the filesystem
    /// uses an incompatible feature the writer does not handle.
    pub fn read<D: BlockDevice>(dev: &mut D) -> Result<Layout> {
        let mut sb = [0u8; 1024];
        read_bytes(dev, SUPERBLOCK, &mut sb)?;
        if u16_at(&sb, 0x38) != MAGIC {
            return Err(LayoutError::Corrupt("no ext2/3/4 superblock"));
        }
        let log = u32_at(&sb, 0x18);
        if log > 6 {
            return Err(LayoutError::Corrupt("block size"));
        }
        let block_size = 1024u64 << log;
        let incompat = u32_at(&sb, 0x60);
        let wide = incompat & INCOMPAT_64BIT != 0;
        let blocks = u32_at(&sb, 0x4) as u64
            | if wide {
                (u32_at(&sb, 0x150) as u64) << 32
            } else {
                0
            };
        let inode_size = match u32_at(&sb, 0x4c) {
            0 => 128,
            _ => u16_at(&sb, 0x58) as u64,
        };
        if inode_size < 128 || !inode_size.is_power_of_two() || inode_size > block_size {
            return Err(LayoutError::Corrupt("inode size"));
        }
        let descriptor_size = if wide { u16_at(&sb, 0xfe) as u64 } else { 32 };
        if descriptor_size < 32 || !descriptor_size.is_power_of_two() || descriptor_size > 1024 {
            return Err(LayoutError::Corrupt("group descriptor size"));
        }
        let first_data_block = u32_at(&sb, 0x14) as u64;
        let blocks_per_group = u32_at(&sb, 0x20) as u64;
        let inodes_per_group = u32_at(&sb, 0x28);
        if blocks_per_group == 0 || inodes_per_group == 0 || first_data_block >= blocks {
            return Err(LayoutError::Corrupt("group geometry"));
        }
        let unknown = incompat & !WRITABLE_INCOMPAT;
        if unknown != 0 {
            return Err(LayoutError::Unsupported(
                "an incompatible feature the writer does not handle (journal recovery, meta_bg, encryption, ...)",
            ));
        }
        Ok(Layout {
            block_size,
            blocks,
            inodes: u32_at(&sb, 0x0),
            inodes_per_group,
            inode_size,
            groups: (blocks - first_data_block).div_ceil(blocks_per_group),
            descriptors: first_data_block + 1,
            descriptor_size,
            incompat,
        })
    }

    /// A block number found in metadata, checked against the disk.
    fn block(&self, b: u64) -> Result<u64> {
        if b == 0 || b >= self.blocks {
            return Err(LayoutError::Corrupt("block number outside the filesystem"));
        }
        Ok(b)
    }

    /// Inode `number`.
    pub fn inode<D: BlockDevice>(&self, dev: &mut D, number: u32) -> Result<Inode> {
        if number == 0 || number > self.inodes {
            return Err(LayoutError::Corrupt("inode number"));
        }
        let index = (number - 1) as u64;
        let group = index / self.inodes_per_group as u64;
        if group >= self.groups {
            return Err(LayoutError::Corrupt("inode's group"));
        }
        let mut desc = [0u8; 64];
        let desc = &mut desc[..self.descriptor_size.min(64) as usize];
        read_bytes(
            dev,
            self.descriptors * self.block_size + group * self.descriptor_size,
            desc,
        )?;
        let table = u32_at(desc, 0x8) as u64
            | if desc.len() >= 64 {
                (u32_at(desc, 0x28) as u64) << 32
            } else {
                0
            };
        let table = self.block(table)?;
        let at = table * self.block_size + (index % self.inodes_per_group as u64) * self.inode_size;
        let mut raw = [0u8; 128];
        read_bytes(dev, at, &mut raw)?;
        let mut block = [0u8; 60];
        block.copy_from_slice(&raw[0x28..0x28 + 60]);
        Ok(Inode {
            number,
            mode: u16_at(&raw, 0x0),
            size: u32_at(&raw, 0x4) as u64 | (u32_at(&raw, 0x6c) as u64) << 32,
            flags: u32_at(&raw, 0x20),
            block,
        })
    }

    /// Where block `index` of `inode`'s data is.
    pub fn map<D: BlockDevice>(&self, dev: &mut D, inode: &Inode, index: u64) -> Result<Mapping> {
        if inode.flags & FLAG_INLINE_DATA != 0 {
            return Err(LayoutError::Unsupported("data kept inline in the inode"));
        }
        if inode.flags & FLAG_EXTENTS != 0 {
            self.map_extents(dev, inode, index)
        } else {
            self.map_blocks(dev, inode, index)
        }
    }

    /// The classic block map: 12 direct blocks, then single, double and
    /// triple indirect blocks of `block_size / 4` entries.
    fn map_blocks<D: BlockDevice>(
        &self,
        dev: &mut D,
        inode: &Inode,
        index: u64,
    ) -> Result<Mapping> {
        let per = self.block_size / 4;
        let direct = |i: usize| u32_at(&inode.block, i * 4) as u64;
        let (root, mut rest, levels) = if index < 12 {
            (direct(index as usize), 0, 0)
        } else if index - 12 < per {
            (direct(12), index - 12, 1)
        } else if index - 12 - per < per * per {
            (direct(13), index - 12 - per, 2)
        } else if index - 12 - per - per * per < per * per * per {
            (direct(14), index - 12 - per - per * per, 3)
        } else {
            return Ok(Mapping::Hole);
        };
        let mut b = root;
        for level in (0..levels).rev() {
            if b == 0 {
                return Ok(Mapping::Hole);
            }
            let span = per.pow(level);
            let slot = rest / span;
            rest %= span;
            let mut entry = [0u8; 4];
            read_bytes(dev, self.block(b)? * self.block_size + slot * 4, &mut entry)?;
            b = u32::from_le_bytes(entry) as u64;
        }
        if b == 0 {
            return Ok(Mapping::Hole);
        }
        Ok(Mapping::Block(self.block(b)?))
    }

    /// The ext4 extent tree: index nodes down to the leaf whose extent
    /// covers `index`.
    fn map_extents<D: BlockDevice>(
        &self,
        dev: &mut D,
        inode: &Inode,
        index: u64,
    ) -> Result<Mapping> {
        let mut node = vec![0u8; self.block_size as usize];
        node[..60].copy_from_slice(&inode.block);
        let mut len = 60usize;
        let mut expect_depth = None;
        loop {
            let n = &node[..len];
            if u16_at(n, 0) != EXTENT_MAGIC {
                return Err(LayoutError::Corrupt("extent header"));
            }
            let entries = u16_at(n, 2) as usize;
            let depth = u16_at(n, 6);
            if 12 + entries * 12 > len
                || depth > EXTENT_MAX_DEPTH
                || expect_depth.is_some_and(|d| d != depth)
            {
                return Err(LayoutError::Corrupt("extent node"));
            }
            let entry = |i: usize| &n[12 + i * 12..24 + i * 12];
            if depth == 0 {
                for i in 0..entries {
                    let e = entry(i);
                    let first = u32_at(e, 0) as u64;
                    let raw_len = u16_at(e, 4);
                    let (count, unwritten) = if raw_len > EXTENT_INIT_MAX {
                        (raw_len - EXTENT_INIT_MAX, true)
                    } else {
                        (raw_len, false)
                    };
                    if index >= first && index < first + count as u64 {
                        if unwritten {
                            return Ok(Mapping::Unwritten);
                        }
                        let start = (u16_at(e, 6) as u64) << 32 | u32_at(e, 8) as u64;
                        return Ok(Mapping::Block(self.block(start + (index - first))?));
                    }
                }
                return Ok(Mapping::Hole);
            }
            // The last index entry starting at or before `index`.
            let Some(i) = (0..entries)
                .rev()
                .find(|&i| u32_at(entry(i), 0) as u64 <= index)
            else {
                return Ok(Mapping::Hole);
            };
            let e = entry(i);
            let child = (u16_at(e, 8) as u64) << 32 | u32_at(e, 4) as u64;
            let child = self.block(child)?;
            read_bytes(dev, child * self.block_size, &mut node)?;
            len = node.len();
            expect_depth = Some(depth - 1);
        }
    }

    /// The inode a canonical absolute path names (no `.`, `..` or links:
    /// `ext4-view` resolved them), searching each directory linearly.
    /// Hashed (htree) directories are searched the same way: their index
    /// blocks look like empty entries to a linear scan.
    pub fn lookup<D: BlockDevice>(&self, dev: &mut D, path: &[u8]) -> Result<u32> {
        let mut current = ROOT_INODE;
        let mut block = vec![0u8; self.block_size as usize];
        for name in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            let dir = self.inode(dev, current)?;
            if !dir.is_dir() {
                return Err(LayoutError::NotADirectory);
            }
            let mut found = None;
            for index in 0..dir.size.div_ceil(self.block_size) {
                let Mapping::Block(b) = self.map(dev, &dir, index)? else {
                    continue;
                };
                read_bytes(dev, b * self.block_size, &mut block)?;
                found = find_entry(&block, name)?;
                if found.is_some() {
                    break;
                }
            }
            current = found.ok_or(LayoutError::NotFound)?;
        }
        Ok(current)
    }
}

/// The inode of the entry called `name` in one directory block.
pub fn find_entry(block: &[u8], name: &[u8]) -> Result<Option<u32>> {
    let mut off = 0;
    while off + 8 <= block.len() {
        let inode = u32_at(block, off);
        let rec_len = u16_at(block, off + 4) as usize;
        let name_len = block[off + 6] as usize;
        if rec_len < 8 || off + rec_len > block.len() || 8 + name_len > rec_len {
            return Err(LayoutError::Corrupt("directory entry"));
        }
        if inode != 0 && &block[off + 8..off + 8 + name_len] == name {
            return Ok(Some(inode));
        }
        off += rec_len;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::MemDisk;

    fn entry(block: &mut [u8], off: usize, inode: u32, rec_len: u16, name: &[u8]) {
        block[off..off + 4].copy_from_slice(&inode.to_le_bytes());
        block[off + 4..off + 6].copy_from_slice(&rec_len.to_le_bytes());
        block[off + 6] = name.len() as u8;
        block[off + 8..off + 8 + name.len()].copy_from_slice(name);
    }

    #[test]
    fn directory_entries_are_checked_before_they_are_believed() {
        let mut b = vec![0u8; 1024];
        entry(&mut b, 0, 11, 12, b"a");
        entry(&mut b, 12, 0, 20, b"gone");
        entry(&mut b, 32, 12, 1024 - 32, b"name");
        assert_eq!(find_entry(&b, b"a"), Ok(Some(11)));
        assert_eq!(
            find_entry(&b, b"gone"),
            Ok(None),
            "inode 0 is a deleted entry"
        );
        assert_eq!(find_entry(&b, b"name"), Ok(Some(12)));
        assert_eq!(find_entry(&b, b"nam"), Ok(None));
        // A record length of 0 (would loop), past the block, or shorter
        // than its name.
        for (rec_len, name_len) in [(0u16, 1u8), (2000, 1), (12, 9)] {
            let mut bad = b.clone();
            bad[4..6].copy_from_slice(&rec_len.to_le_bytes());
            bad[6] = name_len;
            assert_eq!(
                find_entry(&bad, b"zz"),
                Err(LayoutError::Corrupt("directory entry")),
                "rec_len {rec_len}"
            );
        }
    }

    #[test]
    fn superblocks_that_make_no_sense_are_refused() {
        let mut disk = MemDisk::new(vec![0u8; 16 * 4096]);
        assert_eq!(
            Layout::read(&mut disk),
            Err(LayoutError::Corrupt("no ext2/3/4 superblock"))
        );
        let sb = 1024;
        let set32 = |d: &mut MemDisk, off: usize, v: u32| {
            d.bytes[sb + off..sb + off + 4].copy_from_slice(&v.to_le_bytes())
        };
        disk.bytes[sb + 0x38..sb + 0x3a].copy_from_slice(&MAGIC.to_le_bytes());
        set32(&mut disk, 0x18, 7);
        assert_eq!(
            Layout::read(&mut disk),
            Err(LayoutError::Corrupt("block size"))
        );
        set32(&mut disk, 0x18, 2);
        set32(&mut disk, 0x4, 16);
        assert_eq!(
            Layout::read(&mut disk),
            Err(LayoutError::Corrupt("group geometry"))
        );
        set32(&mut disk, 0x20, 32768);
        set32(&mut disk, 0x28, 128);
        set32(&mut disk, 0x0, 128);
        let l = Layout::read(&mut disk).unwrap();
        assert_eq!((l.block_size, l.groups, l.inode_size), (4096, 1, 128));
        // Revision 1 with an inode size that is not a power of two.
        set32(&mut disk, 0x4c, 1);
        disk.bytes[sb + 0x58..sb + 0x5a].copy_from_slice(&200u16.to_le_bytes());
        assert_eq!(
            Layout::read(&mut disk),
            Err(LayoutError::Corrupt("inode size"))
        );
        disk.bytes[sb + 0x58..sb + 0x5a].copy_from_slice(&256u16.to_le_bytes());
        // A feature the writer does not handle (journal recovery pending).
        set32(&mut disk, 0x60, INCOMPAT_FILETYPE | 0x4);
        assert!(matches!(
            Layout::read(&mut disk),
            Err(LayoutError::Unsupported(_))
        ));
        set32(&mut disk, 0x60, INCOMPAT_FILETYPE);
        // Inode numbers outside the filesystem, block numbers in metadata
        // outside the disk.
        let l = Layout::read(&mut disk).unwrap();
        assert_eq!(
            l.inode(&mut disk, 0),
            Err(LayoutError::Corrupt("inode number"))
        );
        assert_eq!(
            l.inode(&mut disk, 1),
            Err(LayoutError::Corrupt("block number outside the filesystem"))
        );
    }

    #[test]
    fn extent_trees_are_bounded_and_checked() {
        let mut disk = MemDisk::new(vec![0u8; 16 * 4096]);
        let layout = Layout {
            block_size: 4096,
            blocks: 16,
            inodes: 16,
            inodes_per_group: 16,
            inode_size: 256,
            groups: 1,
            descriptors: 1,
            descriptor_size: 32,
            incompat: INCOMPAT_FILETYPE | INCOMPAT_EXTENTS,
        };
        let mut inode = Inode {
            number: 12,
            mode: 0o100644,
            size: 8 * 4096,
            flags: FLAG_EXTENTS,
            block: [0; 60],
        };
        let header = |b: &mut [u8], entries: u16, depth: u16| {
            b[0..2].copy_from_slice(&EXTENT_MAGIC.to_le_bytes());
            b[2..4].copy_from_slice(&entries.to_le_bytes());
            b[4..6].copy_from_slice(&4u16.to_le_bytes());
            b[6..8].copy_from_slice(&depth.to_le_bytes());
        };
        // A leaf: blocks 0..2 at disk block 5, 4..6 unwritten at 9.
        header(&mut inode.block, 2, 0);
        let leaf = |b: &mut [u8], at: usize, first: u32, len: u16, start: u32| {
            b[at..at + 4].copy_from_slice(&first.to_le_bytes());
            b[at + 4..at + 6].copy_from_slice(&len.to_le_bytes());
            b[at + 8..at + 12].copy_from_slice(&start.to_le_bytes());
        };
        leaf(&mut inode.block, 12, 0, 2, 5);
        leaf(&mut inode.block, 24, 4, EXTENT_INIT_MAX + 2, 9);
        assert_eq!(layout.map(&mut disk, &inode, 1), Ok(Mapping::Block(6)));
        assert_eq!(layout.map(&mut disk, &inode, 2), Ok(Mapping::Hole));
        assert_eq!(layout.map(&mut disk, &inode, 5), Ok(Mapping::Unwritten));
        // One index level down to a leaf in disk block 3.
        let mut root = inode;
        root.block = [0; 60];
        header(&mut root.block, 1, 1);
        root.block[12..16].copy_from_slice(&0u32.to_le_bytes());
        root.block[16..20].copy_from_slice(&3u32.to_le_bytes());
        let mut node = vec![0u8; 4096];
        header(&mut node, 1, 0);
        leaf(&mut node, 12, 0, 8, 7);
        disk.bytes[3 * 4096..4 * 4096].copy_from_slice(&node);
        assert_eq!(layout.map(&mut disk, &root, 7), Ok(Mapping::Block(14)));
        // The child claims the wrong depth; then a loop back to itself
        // (depth never decreases) is refused the same way.
        disk.bytes[3 * 4096 + 6] = 1;
        assert_eq!(
            layout.map(&mut disk, &root, 7),
            Err(LayoutError::Corrupt("extent node"))
        );
        // A leaf pointing outside the disk, too many entries, no magic.
        disk.bytes[3 * 4096 + 6] = 0;
        leaf(&mut disk.bytes[3 * 4096..], 12, 0, 8, 15);
        assert_eq!(
            layout.map(&mut disk, &root, 7),
            Err(LayoutError::Corrupt("block number outside the filesystem"))
        );
        let mut many = inode;
        header(&mut many.block, 5, 0);
        assert_eq!(
            layout.map(&mut disk, &many, 0),
            Err(LayoutError::Corrupt("extent node"))
        );
        many.block[0] = 0;
        assert_eq!(
            layout.map(&mut disk, &many, 0),
            Err(LayoutError::Corrupt("extent header"))
        );
        // Inline data is not written.
        let mut inline = inode;
        inline.flags = FLAG_INLINE_DATA;
        assert!(matches!(
            layout.map(&mut disk, &inline, 0),
            Err(LayoutError::Unsupported(_))
        ));
    }
}
