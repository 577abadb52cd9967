//! The GUID partition table (UEFI 2.x chapter 5): the primary header at
//! LBA 1 with its CRC, the entry array with its CRC, and the first entry
//! of the Linux-swap type; and which volume a disk holds ([`identify`]):
//! its swap partition, or the whole disk when it has no GPT.
//!
//! Only the primary table is read. A header or array whose CRC does not
//! match is an error rather than a reason to try the backup at the end
//! of the disk: our disks are made by `cargo qemu` and never repaired.

use crate::SECTOR;
use block_api::VolumeKind;
use core::fmt;

/// Linux swap, 0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, as stored on disk
/// (the first three fields little-endian).
pub const LINUX_SWAP: [u8; 16] = [
    0x6d, 0xfd, 0x57, 0x06, 0xab, 0xa4, 0xc4, 0x43, 0x84, 0xe5, 0x09, 0x33, 0xc8, 0x4b, 0x4f, 0x4f,
];
/// The header's signature.
pub const SIGNATURE: &[u8; 8] = b"EFI PART";
/// LBA of the primary header.
pub const HEADER_LBA: u64 = 1;
/// Smallest header (revision 1.0).
pub const HEADER_MIN: usize = 92;
/// Most entries we accept (the usual array has 128).
pub const MAX_ENTRIES: u32 = 1024;

/// The CRC-32 of the GPT (IEEE 802.3, reflected, as zlib's `crc32`),
/// fed piece by piece.
#[derive(Clone, Copy, Debug)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    pub fn new() -> Crc32 {
        Crc32(0xffff_ffff)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        let mut c = self.0;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                };
            }
        }
        self.0 = c;
    }

    pub fn finish(self) -> u32 {
        !self.0
    }

    /// The CRC of `bytes`.
    pub fn of(bytes: &[u8]) -> u32 {
        let mut c = Crc32::new();
        c.update(bytes);
        c.finish()
    }
}

/// What the header says about the entry array (and the disk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub my_lba: u64,
    pub first_usable: u64,
    pub last_usable: u64,
    pub entries_lba: u64,
    pub entries: u32,
    pub entry_size: u32,
    pub entries_crc: u32,
}

impl Header {
    /// Bytes of the entry array.
    pub fn array_bytes(&self) -> u64 {
        self.entries as u64 * self.entry_size as u64
    }

    /// Sectors of the entry array.
    pub fn array_sectors(&self) -> u64 {
        self.array_bytes().div_ceil(SECTOR)
    }
}

/// A partition's sectors, inclusive, as the GPT stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub first_lba: u64,
    pub last_lba: u64,
}

impl Partition {
    /// Sectors in the partition.
    pub fn sectors(&self) -> u64 {
        self.last_lba + 1 - self.first_lba
    }
}

/// Why no swap partition was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GptError<E> {
    /// Reading sector `lba` failed.
    Read { lba: u64, error: E },
    /// LBA 1 does not start with `EFI PART`.
    NoSignature,
    /// The header size is below 92 or above a sector.
    HeaderSize(u32),
    /// The header's CRC does not match (stored, computed).
    HeaderCrc { stored: u32, computed: u32 },
    /// The header says it is not at LBA 1.
    NotPrimary(u64),
    /// Entry size or count out of bounds, or the array overlaps the header.
    EntryArray {
        entries: u32,
        entry_size: u32,
        lba: u64,
    },
    /// The entry array's CRC does not match (stored, computed).
    EntriesCrc { stored: u32, computed: u32 },
    /// No entry has the Linux-swap type.
    NoSwap,
    /// The swap entry's range is empty, starts at 0 or ends past the disk.
    BadRange {
        first: u64,
        last: u64,
        capacity: u64,
    },
}

impl<E: fmt::Display> fmt::Display for GptError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GptError::Read { lba, error } => write!(f, "reading LBA {lba}: {error}"),
            GptError::NoSignature => write!(f, "no GPT signature at LBA 1"),
            GptError::HeaderSize(s) => write!(f, "GPT header size {s}"),
            GptError::HeaderCrc { stored, computed } => {
                write!(
                    f,
                    "GPT header CRC {stored:#010x}, computed {computed:#010x}"
                )
            }
            GptError::NotPrimary(lba) => write!(f, "GPT header at LBA 1 says it is at {lba}"),
            GptError::EntryArray {
                entries,
                entry_size,
                lba,
            } => write!(
                f,
                "implausible GPT entry array ({entries} x {entry_size} B at LBA {lba})"
            ),
            GptError::EntriesCrc { stored, computed } => write!(
                f,
                "GPT entry array CRC {stored:#010x}, computed {computed:#010x}"
            ),
            GptError::NoSwap => write!(f, "no Linux-swap partition in the GPT"),
            GptError::BadRange {
                first,
                last,
                capacity,
            } => write!(
                f,
                "swap partition {first}..={last} does not fit a disk of {capacity} sectors"
            ),
        }
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut w = [0; 4];
    w.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}

/// Parses and checks the header sector (LBA 1).
pub fn parse_header<E>(sector: &[u8; 512]) -> Result<Header, GptError<E>> {
    if &sector[..8] != SIGNATURE {
        return Err(GptError::NoSignature);
    }
    let size = u32_at(sector, 12);
    if (size as usize) < HEADER_MIN || size as u64 > SECTOR {
        return Err(GptError::HeaderSize(size));
    }
    let stored = u32_at(sector, 16);
    let mut crc = Crc32::new();
    crc.update(&sector[..16]);
    crc.update(&[0; 4]);
    crc.update(&sector[20..size as usize]);
    let computed = crc.finish();
    if stored != computed {
        return Err(GptError::HeaderCrc { stored, computed });
    }
    let h = Header {
        my_lba: u64_at(sector, 24),
        first_usable: u64_at(sector, 40),
        last_usable: u64_at(sector, 48),
        entries_lba: u64_at(sector, 72),
        entries: u32_at(sector, 80),
        entry_size: u32_at(sector, 84),
        entries_crc: u32_at(sector, 88),
    };
    if h.my_lba != HEADER_LBA {
        return Err(GptError::NotPrimary(h.my_lba));
    }
    if h.entry_size < 128
        || h.entry_size > 4096
        || !h.entry_size.is_power_of_two()
        || h.entries == 0
        || h.entries > MAX_ENTRIES
        || h.entries_lba <= HEADER_LBA
    {
        return Err(GptError::EntryArray {
            entries: h.entries,
            entry_size: h.entry_size,
            lba: h.entries_lba,
        });
    }
    Ok(h)
}

/// `(first LBA, last LBA)` of an entry (its first 48 bytes) if it has the
/// Linux-swap type.
pub fn swap_entry(entry: &[u8]) -> Option<(u64, u64)> {
    if entry.len() < 48 || entry[..16] != LINUX_SWAP {
        return None;
    }
    Some((u64_at(entry, 32), u64_at(entry, 40)))
}

/// Finds the first Linux-swap partition of a disk of `capacity` sectors,
/// reading sectors through `read` (the header, then the whole entry
/// array, whose CRC is checked before the entry is believed).
pub fn find_swap<E>(
    capacity: u64,
    mut read: impl FnMut(u64, &mut [u8; 512]) -> Result<(), E>,
) -> Result<Partition, GptError<E>> {
    let mut sector = [0u8; 512];
    read(HEADER_LBA, &mut sector).map_err(|error| GptError::Read {
        lba: HEADER_LBA,
        error,
    })?;
    let h = parse_header(&sector)?;
    let total = h.array_bytes();
    let size = h.entry_size as u64;
    let mut crc = Crc32::new();
    let mut found = None;
    for i in 0..h.array_sectors() {
        let lba = h.entries_lba + i;
        read(lba, &mut sector).map_err(|error| GptError::Read { lba, error })?;
        let start = i * SECTOR;
        let used = (total - start).min(SECTOR) as usize;
        crc.update(&sector[..used]);
        // Entries are 128 B or more, powers of two: each starts on a
        // 128-byte boundary, and its first 48 bytes lie in the sector
        // where it starts.
        let mut off = start.next_multiple_of(size);
        while found.is_none() && off < start + used as u64 {
            let at = (off - start) as usize;
            found = swap_entry(&sector[at..at + 48]);
            off += size;
        }
    }
    let computed = crc.finish();
    if computed != h.entries_crc {
        return Err(GptError::EntriesCrc {
            stored: h.entries_crc,
            computed,
        });
    }
    let (first, last) = found.ok_or(GptError::NoSwap)?;
    if first == 0 || first > last || last >= capacity {
        return Err(GptError::BadRange {
            first,
            last,
            capacity,
        });
    }
    Ok(Partition {
        first_lba: first,
        last_lba: last,
    })
}

/// The volume a disk of `capacity` sectors serves: the first Linux-swap
/// partition of its GPT ([`VolumeKind::Swap`]), or, if LBA 1 has no GPT
/// signature, the whole disk ([`VolumeKind::Files`]: a filesystem image
/// written straight to the disk, as `cargo qemu` makes the files disk).
/// A GPT that is damaged or has no swap partition is an error, never
/// taken for a whole disk.
pub fn identify<E>(
    capacity: u64,
    read: impl FnMut(u64, &mut [u8; 512]) -> Result<(), E>,
) -> Result<(VolumeKind, Partition), GptError<E>> {
    match find_swap(capacity, read) {
        Ok(p) => Ok((VolumeKind::Swap, p)),
        Err(GptError::NoSignature) if capacity > 0 => Ok((
            VolumeKind::Files,
            Partition {
                first_lba: 0,
                last_lba: capacity - 1,
            },
        )),
        Err(GptError::NoSignature) => Err(GptError::BadRange {
            first: 0,
            last: 0,
            capacity,
        }),
        Err(e) => Err(e),
    }
}
