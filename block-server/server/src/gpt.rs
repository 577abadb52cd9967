//! The GUID partition table: finds the Linux-swap partition.

/// Linux swap, 0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, as stored on disk
/// (the first three fields little-endian).
pub const LINUX_SWAP: [u8; 16] = [
    0x6d, 0xfd, 0x57, 0x06, 0xab, 0xa4, 0xc4, 0x43, 0x84, 0xe5, 0x09, 0x33, 0xc8, 0x4b, 0x4f, 0x4f,
];

/// What the header (LBA 1) says about the entry array.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub entries_lba: u64,
    pub entries: u32,
    pub entry_size: u32,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// Parses the header sector.
pub fn header(sector: &[u8]) -> Result<Header, &'static str> {
    if sector.len() < 92 || &sector[..8] != b"EFI PART" {
        return Err("no GPT signature at LBA 1");
    }
    let h = Header {
        entries_lba: u64_at(sector, 72),
        entries: u32_at(sector, 80),
        entry_size: u32_at(sector, 84),
    };
    if h.entry_size < 128 || h.entry_size > 4096 || h.entries == 0 || h.entries > 1024 {
        return Err("implausible GPT entry array");
    }
    Ok(h)
}

/// `(first LBA, last LBA)` (inclusive) of the entry if it is Linux swap.
pub fn swap_entry(entry: &[u8]) -> Option<(u64, u64)> {
    if entry.len() < 48 || entry[..16] != LINUX_SWAP {
        return None;
    }
    let (first, last) = (u64_at(entry, 32), u64_at(entry, 40));
    (first <= last && first > 0).then_some((first, last))
}
