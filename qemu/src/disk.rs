//! The swap disk: a raw image with a GPT partition table holding one
//! partition of the standard Linux-swap type (formatted as Linux swap
//! would be, with the `SWAPSPACE2` header page), attached to QEMU as a
//! virtio block device. Made once and reused until its size changes.

use crate::step::{progress, Failure, Result};
use crate::Workspace;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

/// Partitions start on 1 MiB boundaries, as partitioning tools place them.
const ALIGN: u64 = 1 << 20;
const SECTOR: u64 = 512;
const PAGE: u64 = 4096;

/// Where the image lives and how big its swap partition is.
pub struct SwapDisk {
    pub image: PathBuf,
}

impl SwapDisk {
    /// QEMU arguments attaching the image as a virtio-blk PCI device.
    pub fn qemu_args(&self) -> Vec<String> {
        vec![
            "-drive".into(),
            format!(
                "file={},if=none,format=raw,id=swapdisk,cache=unsafe",
                self.image.display()
            ),
            "-device".into(),
            // Legacy interface only: block-server drives the I/O-port BAR
            // (no device-memory grants are needed).
            "virtio-blk-pci,drive=swapdisk,addr=04.0,disable-legacy=off,disable-modern=on".into(),
        ]
    }
}

/// Parses a size such as `256M`, `1G` or `65536` (bytes).
pub fn parse_size(s: &str) -> Option<u64> {
    let (num, mul) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// Makes (or reuses) the disk image with a swap partition of `swap_bytes`.
pub fn ensure(ws: &Workspace, swap_bytes: u64) -> Result<SwapDisk> {
    if swap_bytes < 16 * PAGE || !swap_bytes.is_multiple_of(PAGE) {
        return Err(Failure::msg(format!(
            "swap size {swap_bytes} must be a multiple of 4K and at least 64K"
        )));
    }
    // One image per size: the test boots use two sizes and reuse both.
    let image = ws
        .target
        .join(format!("swap-disk-{}K.img", swap_bytes >> 10));
    let stamp = image.with_extension("size");
    let disk = SwapDisk {
        image: image.clone(),
    };
    if image.exists()
        && fs::read_to_string(&stamp).ok().as_deref() == Some(swap_bytes.to_string().as_str())
    {
        return Ok(disk);
    }
    progress(
        "disk",
        format!(
            "{} with a {} MiB Linux swap partition (GPT)",
            image.display(),
            swap_bytes >> 20
        ),
    );
    write_image(&image, swap_bytes)
        .map_err(|e| Failure::msg(format!("making {}: {e}", image.display())))?;
    fs::write(&stamp, swap_bytes.to_string())
        .map_err(|e| Failure::msg(format!("{}: {e}", stamp.display())))?;
    Ok(disk)
}

/// The whole image: protective MBR, GPT, the swap partition, backup GPT.
fn write_image(
    path: &PathBuf,
    swap_bytes: u64,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let total = ALIGN + swap_bytes + ALIGN;
    let _ = fs::remove_file(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    // Sparse: only the tables and the swap header take space.
    file.set_len(total)?;
    let mut file = file;
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(
        u32::try_from(total / SECTOR - 1).unwrap_or(u32::MAX),
    );
    mbr.overwrite_lba0(&mut file)?;
    let mut gdisk = gpt::GptConfig::default()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(file, None)?;
    let id = gdisk.add_partition_at(
        "swap",
        1,
        ALIGN / SECTOR,
        swap_bytes / SECTOR,
        gpt::partition_types::LINUX_SWAP,
        0,
    )?;
    let start = gdisk.partitions()[&id].first_lba * SECTOR;
    let mut file: File = gdisk.write()?;
    file.seek(SeekFrom::Start(start))?;
    file.write_all(&swap_header(swap_bytes))?;
    file.sync_all()?;
    Ok(())
}

/// The first page of a Linux swap area (version 1): `last_page`, no bad
/// pages, a label, and the `SWAPSPACE2` signature in its last 10 bytes.
pub fn swap_header(swap_bytes: u64) -> Vec<u8> {
    let mut page = vec![0u8; PAGE as usize];
    page[1024..1028].copy_from_slice(&1u32.to_le_bytes()); // version
    let last_page = (swap_bytes / PAGE - 1) as u32;
    page[1028..1032].copy_from_slice(&last_page.to_le_bytes());
    // nr_badpages = 0; uuid left zero; volume label:
    page[1052..1052 + 7].copy_from_slice(b"vm-swap");
    page[PAGE as usize - 10..].copy_from_slice(b"SWAPSPACE2");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("256M"), Some(256 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("64k"), Some(64 << 10));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("12X"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn image_has_a_linux_swap_partition() {
        let dir = std::env::temp_dir().join(format!("qemu-disk-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("disk.img");
        write_image(&path, 4 << 20).unwrap();
        let disk = gpt::GptConfig::new().writable(false).open(&path).unwrap();
        let parts: Vec<_> = disk.partitions().values().collect();
        assert_eq!(parts.len(), 1);
        let p = parts[0];
        assert_eq!(p.part_type_guid, gpt::partition_types::LINUX_SWAP);
        assert_eq!(p.first_lba * SECTOR, ALIGN);
        assert_eq!((p.last_lba - p.first_lba + 1) * SECTOR, 4 << 20);
        let bytes = fs::read(&path).unwrap();
        let header = &bytes[ALIGN as usize..(ALIGN + PAGE) as usize];
        assert_eq!(&header[PAGE as usize - 10..], b"SWAPSPACE2");
        assert_eq!(
            u32::from_le_bytes(header[1028..1032].try_into().unwrap()),
            (4 << 20) / 4096 - 1
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
