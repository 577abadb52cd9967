//! GPT parsing: the table `cargo qemu`'s disk tool (the `gpt` crate)
//! wrote, captured, and tables built here to break every check.

mod common;

use block_driver::gpt::{self, Crc32, GptError, Partition, LINUX_SWAP};
use common::captured::hex;

/// LBA 1 of `target/swap-disk-98304K.img` (its first 92 bytes; the rest of
/// the sector is zero): 128 entries of 128 bytes at LBA 2, the usable
/// range 34..=200670 of 200704 sectors.
const CAPTURED_HEADER: &str = "4546492050415254000001005c000000ff715377000000000100000000000000ff0f0300000000002200000000000000de0f030000000000f30575fe8f9a8a42b04dbc959d8ddc2402000000000000008000000080000000aecaba11";
/// Its first entry (the others are zero): Linux swap, sectors
/// 2048..=198655, named "swap".
const CAPTURED_ENTRY: &str = "6dfd5706aba4c44384e50933c84b4f4f7787b4452055134f9d4b812b5edd2ac70008000000000000ff070300000000000000000000000000730077006100700000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
const CAPTURED_SECTORS: u64 = 200_704;

/// A disk image in memory: sectors by LBA (missing ones read as zero).
struct Image(Vec<u8>);

impl Image {
    fn read(&self, lba: u64, out: &mut [u8; 512]) -> Result<(), String> {
        let at = lba as usize * 512;
        if at + 512 > self.0.len() {
            return Err(format!("LBA {lba} past the image"));
        }
        out.copy_from_slice(&self.0[at..at + 512]);
        Ok(())
    }

    fn find(&self, capacity: u64) -> Result<Partition, GptError<String>> {
        gpt::find_swap(capacity, |lba, s| self.read(lba, s))
    }
}

fn captured_image() -> Image {
    let mut img = vec![0u8; 34 * 512];
    let h = hex(CAPTURED_HEADER);
    img[512..512 + h.len()].copy_from_slice(&h);
    let e = hex(CAPTURED_ENTRY);
    img[1024..1024 + e.len()].copy_from_slice(&e);
    Image(img)
}

/// A table of `entries` entries of `entry_size` bytes at LBA 2, with
/// `parts` as `(type, first, last)` in the first entries; CRCs correct.
fn build(entries: u32, entry_size: u32, parts: &[([u8; 16], u64, u64)]) -> Image {
    let array = entries as usize * entry_size as usize;
    let sectors = array.div_ceil(512);
    let mut img = vec![0u8; (2 + sectors) * 512];
    for (i, (ty, first, last)) in parts.iter().enumerate() {
        let e = 1024 + i * entry_size as usize;
        img[e..e + 16].copy_from_slice(ty);
        img[e + 16] = 0x42; // unique id
        img[e + 32..e + 40].copy_from_slice(&first.to_le_bytes());
        img[e + 40..e + 48].copy_from_slice(&last.to_le_bytes());
    }
    let crc = Crc32::of(&img[1024..1024 + array]);
    let h = &mut img[512..1024];
    h[..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[24..32].copy_from_slice(&1u64.to_le_bytes());
    h[40..48].copy_from_slice(&34u64.to_le_bytes());
    h[72..80].copy_from_slice(&2u64.to_le_bytes());
    h[80..84].copy_from_slice(&entries.to_le_bytes());
    h[84..88].copy_from_slice(&entry_size.to_le_bytes());
    h[88..92].copy_from_slice(&crc.to_le_bytes());
    reseal(&mut img);
    Image(img)
}

/// Recomputes the header CRC after an edit.
fn reseal(img: &mut [u8]) {
    let h = &mut img[512..1024];
    let size = (u32::from_le_bytes(h[12..16].try_into().unwrap()) as usize).min(512);
    h[16..20].fill(0);
    let crc = Crc32::of(&h[..size]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
}

const OTHER: [u8; 16] = [0x11; 16];

#[test]
fn crc32_is_zlibs() {
    assert_eq!(Crc32::of(b"123456789"), 0xcbf4_3926);
    assert_eq!(Crc32::of(b""), 0);
    let mut c = Crc32::new();
    c.update(b"1234");
    c.update(b"56789");
    assert_eq!(c.finish(), 0xcbf4_3926);
}

#[test]
fn the_captured_table_has_its_swap_partition() {
    let img = captured_image();
    assert_eq!(
        img.find(CAPTURED_SECTORS),
        Ok(Partition {
            first_lba: 2048,
            last_lba: 198_655
        })
    );
    let mut s = [0u8; 512];
    img.read(1, &mut s).unwrap();
    let h = gpt::parse_header::<()>(&s).unwrap();
    assert_eq!((h.entries, h.entry_size, h.entries_lba), (128, 128, 2));
    assert_eq!((h.first_usable, h.last_usable), (34, 200_670));
    assert_eq!(h.array_sectors(), 32);
    // 96 MiB of 4 KiB blocks, as the system test's swap-exhaustion boot sees.
    let p = img.find(CAPTURED_SECTORS).unwrap();
    assert_eq!(p.sectors() / 8, 24_576);
}

#[test]
fn the_whole_array_is_read_and_checked() {
    let img = captured_image();
    let mut read = Vec::new();
    gpt::find_swap(CAPTURED_SECTORS, |lba, s| {
        read.push(lba);
        img.read(lba, s)
    })
    .unwrap();
    assert_eq!(read, (1..=33).collect::<Vec<u64>>());
}

#[test]
fn a_bad_signature_or_header_crc_is_refused() {
    let mut img = captured_image();
    img.0[512] = b'X';
    assert_eq!(img.find(CAPTURED_SECTORS), Err(GptError::NoSignature));
    let mut img = captured_image();
    img.0[512 + 72] = 3; // entries at LBA 3, CRC not updated
    let stored = 0x7753_71ff;
    assert!(matches!(
        img.find(CAPTURED_SECTORS),
        Err(GptError::HeaderCrc { stored: s, .. }) if s == stored
    ));
    let e = img.find(CAPTURED_SECTORS).unwrap_err().to_string();
    assert!(e.contains("GPT header CRC 0x775371ff"), "{e}");
}

#[test]
fn a_bad_entry_array_crc_is_refused() {
    let mut img = captured_image();
    img.0[1024 + 40] ^= 1; // the swap partition's last LBA
    assert_eq!(
        img.find(CAPTURED_SECTORS),
        Err(GptError::EntriesCrc {
            stored: 0x11ba_caae,
            computed: Crc32::of(&img.0[1024..1024 + 16384]),
        })
    );
    // A change in an entry far from the swap one counts too.
    let mut img = captured_image();
    img.0[1024 + 127 * 128] = 1;
    assert!(matches!(
        img.find(CAPTURED_SECTORS),
        Err(GptError::EntriesCrc { .. })
    ));
}

/// A header edit: offset, new bytes, and the error it must cause.
type Edit<'a> = (usize, &'a [u8], fn(&GptError<String>) -> bool);

#[test]
fn implausible_headers_are_refused() {
    let edits: [Edit; 6] = [
        (12, &40u32.to_le_bytes(), |e| {
            matches!(e, GptError::HeaderSize(40))
        }),
        (12, &600u32.to_le_bytes(), |e| {
            matches!(e, GptError::HeaderSize(600))
        }),
        (24, &5u64.to_le_bytes(), |e| {
            matches!(e, GptError::NotPrimary(5))
        }),
        (84, &100u32.to_le_bytes(), |e| {
            matches!(e, GptError::EntryArray { .. })
        }),
        (80, &0u32.to_le_bytes(), |e| {
            matches!(e, GptError::EntryArray { .. })
        }),
        (72, &1u64.to_le_bytes(), |e| {
            matches!(e, GptError::EntryArray { .. })
        }),
    ];
    for (off, bytes, want) in edits {
        let mut img = captured_image();
        img.0[512 + off..512 + off + bytes.len()].copy_from_slice(bytes);
        reseal(&mut img.0);
        let e = img.find(CAPTURED_SECTORS).unwrap_err();
        assert!(want(&e), "edit at {off}: {e:?}");
    }
    // Too many entries.
    let img = build(2048, 128, &[]);
    assert!(matches!(
        img.find(1 << 20),
        Err(GptError::EntryArray { entries: 2048, .. })
    ));
}

#[test]
fn no_swap_partition() {
    let img = build(128, 128, &[(OTHER, 2048, 4095)]);
    assert_eq!(img.find(1 << 20), Err(GptError::NoSwap));
    let e = img.find(1 << 20).unwrap_err().to_string();
    assert_eq!(e, "no Linux-swap partition in the GPT");
}

#[test]
fn the_first_swap_entry_wins_wherever_it_is() {
    let mut parts = vec![(OTHER, 40, 2047); 5];
    parts.push((LINUX_SWAP, 4096, 8191));
    parts.push((LINUX_SWAP, 10_000, 20_000));
    let img = build(128, 128, &parts);
    assert_eq!(
        img.find(1 << 20),
        Ok(Partition {
            first_lba: 4096,
            last_lba: 8191
        })
    );
}

#[test]
fn bad_swap_ranges_are_refused() {
    for (first, last, capacity) in [(0, 100, 1000), (500, 499, 1000), (100, 1000, 1000)] {
        let img = build(128, 128, &[(LINUX_SWAP, first, last)]);
        assert_eq!(
            img.find(capacity),
            Err(GptError::BadRange {
                first,
                last,
                capacity
            })
        );
    }
    let img = build(128, 128, &[(LINUX_SWAP, 100, 999)]);
    assert_eq!(img.find(1000).unwrap().sectors(), 900);
}

#[test]
fn other_entry_sizes() {
    // 256 and 512 bytes: several or one per sector; 1024: two sectors each.
    for size in [256, 512, 1024] {
        let mut parts = vec![(OTHER, 40, 99); 3];
        parts.push((LINUX_SWAP, 2048, 4095));
        let img = build(16, size, &parts);
        assert_eq!(
            img.find(1 << 20),
            Ok(Partition {
                first_lba: 2048,
                last_lba: 4095
            }),
            "entry size {size}"
        );
    }
    // An array that ends inside a sector (3 entries of 128 bytes): only its
    // bytes count for the CRC.
    let mut img = build(3, 128, &[(LINUX_SWAP, 2048, 4095)]);
    img.0[1024 + 3 * 128] = 0xff;
    assert!(img.find(1 << 20).is_ok());
}

#[test]
fn read_errors_carry_the_lba() {
    let img = captured_image();
    let short = Image(img.0[..20 * 512].to_vec());
    assert_eq!(
        short.find(CAPTURED_SECTORS),
        Err(GptError::Read {
            lba: 20,
            error: "LBA 20 past the image".into()
        })
    );
}

#[test]
fn a_disk_without_a_gpt_is_served_whole_and_a_gpt_disk_by_its_swap_partition() {
    use block_api::VolumeKind;
    // An ext2 image: the first 1024 bytes are zero, the superblock follows.
    let mut ext2 = vec![0u8; 8 * 512];
    ext2[1024 + 56..1024 + 58].copy_from_slice(&0xef53u16.to_le_bytes());
    let img = Image(ext2);
    assert_eq!(
        gpt::identify(8192, |lba, s| img.read(lba, s)),
        Ok((
            VolumeKind::Files,
            Partition {
                first_lba: 0,
                last_lba: 8191
            }
        ))
    );
    assert!(matches!(
        gpt::identify(0, |lba, s| img.read(lba, s)),
        Err(GptError::BadRange { capacity: 0, .. })
    ));
    let swap = captured_image();
    assert_eq!(
        gpt::identify(CAPTURED_SECTORS, |lba, s| swap.read(lba, s)),
        Ok((
            VolumeKind::Swap,
            Partition {
                first_lba: 2048,
                last_lba: 198_655
            }
        ))
    );
    // A damaged GPT or one without swap is an error, not a whole disk.
    let mut broken = captured_image();
    broken.0[512 + 20] ^= 1;
    assert!(matches!(
        gpt::identify(CAPTURED_SECTORS, |lba, s| broken.read(lba, s)),
        Err(GptError::HeaderCrc { .. })
    ));
    let no_swap = build(128, 128, &[([7; 16], 2048, 4095)]);
    assert_eq!(
        gpt::identify(8192, |lba, s| no_swap.read(lba, s)),
        Err(GptError::NoSwap)
    );
    // A read error is reported as such.
    assert!(matches!(
        gpt::identify(8192, |lba, _| Err::<(), _>(format!("no LBA {lba}"))),
        Err(GptError::Read { lba: 1, .. })
    ));
}
