//! In-place writes against real images: bytes land where the file's blocks are (checked by every reader, by a fresh load of the image, by Debian's `debugfs`), partial blocks keep their neighbours, `e2fsck -fn` finds nothing to fix, and refused writes change nothing.

mod common;

use common::*;
use file_api::embedded_io::{Read, Seek, SeekFrom, Write};
use file_api::{FileError, Rights};
use file_fs::{FileServer, MemDisk, Volume};

/// The byte the writer puts at `offset` (as `client-file-writer` does).
fn written(offset: u64) -> u8 {
    (offset.wrapping_mul(7).wrapping_add(offset >> 8) % 251) as u8 ^ 0xa5
}

const START: u64 = 3000;
const END: u64 = 9000;

fn expected(i: u64) -> u8 {
    if (START..END).contains(&i) {
        written(i)
    } else {
        target(i)
    }
}

fn read_all(svc: &mut FileServer<MemDisk>, client_id: u64, path: &str) -> Vec<u8> {
    let mut c = client(svc, client_id);
    let mut f = c.open(path, Rights::READ).unwrap();
    let size = f.stat().unwrap().size as usize;
    let mut all = vec![0u8; size];
    f.read_exact(&mut all).unwrap();
    all
}

#[test]
fn writes_land_in_place_and_every_reader_sees_them() {
    for v in VARIANTS {
        let mut svc = server(v);
        // Client 2 reads the file first, so its reader caches old blocks.
        assert_eq!(
            read_all(&mut svc, 2, "/write/target.bin")[START as usize],
            target(START)
        );
        {
            let mut c = client(&mut svc, 1);
            let mut f = c.open("/write/target.bin", Rights::RW).unwrap();
            f.seek(SeekFrom::Start(START)).unwrap();
            let data: Vec<u8> = (START..END).map(written).collect();
            f.write_all(&data).unwrap();
            f.flush().unwrap();
            // The writer's own handle reads them back.
            f.seek(SeekFrom::Start(START - 10)).unwrap();
            let mut back = vec![0u8; 100];
            f.read_exact(&mut back).unwrap();
            for (k, &b) in back.iter().enumerate() {
                assert_eq!(b, expected(START - 10 + k as u64), "{v:?}");
            }
        }
        let all = read_all(&mut svc, 2, "/write/target.bin");
        let bad = (0..TARGET_LEN).find(|&i| all[i as usize] != expected(i));
        assert_eq!(bad, None, "{v:?}: first wrong byte");
        assert!(svc.volume().unwrap().device().flushes >= 1);
        let bytes = svc.volume().unwrap().device().bytes.clone();
        // A fresh load sees them; so does debugfs; e2fsck is content.
        let mut again = FileServer::new(Volume::load(MemDisk::new(bytes.clone())));
        assert_eq!(read_all(&mut again, 1, "/write/target.bin"), all);
        assert_eq!(
            debugfs_cat(&bytes, "/write/target.bin", &format!("{v:?}")),
            all
        );
        e2fsck_clean(&bytes, &format!("{v:?}-written"));
        // Nothing else changed: the other files read as before.
        assert!(read_all(&mut again, 1, "/data/pattern.bin")
            .iter()
            .enumerate()
            .all(|(i, &b)| b == pattern(i as u64)));
    }
}

#[test]
fn single_bytes_and_whole_blocks() {
    for v in VARIANTS {
        let mut svc = server(v);
        let mut c = client(&mut svc, 1);
        let h = c.open_handle("/big.bin", Rights::WRITE).unwrap();
        // The last byte, a byte at a block boundary, a whole aligned block
        // deep in the double-indirect range (1 KiB blocks).
        assert_eq!(c.write_at(h, BIG_LEN - 1, &[0x11]).unwrap(), 1);
        assert_eq!(c.write_at(h, 4096, &[0x22]).unwrap(), 1);
        let block = [0x33u8; 936];
        assert_eq!(c.write_at(h, 290 * 1024, &block).unwrap(), 936);
        // A write-only handle cannot read.
        assert_eq!(c.read_at(h, 0, 1).err(), Some(FileError::Protection));
        c.close(h).unwrap();
        let all = read_all(&mut svc, 1, "/big.bin");
        for (i, &b) in all.iter().enumerate() {
            let i = i as u64;
            let want = match i {
                _ if i == BIG_LEN - 1 => 0x11,
                4096 => 0x22,
                _ if (290 * 1024..290 * 1024 + 936).contains(&i) => 0x33,
                _ => big(i),
            };
            assert_eq!(b, want, "{v:?} byte {i}");
        }
        e2fsck_clean(
            &svc.volume().unwrap().device().bytes,
            &format!("{v:?}-bytes"),
        );
    }
}

#[test]
fn refused_writes_change_nothing() {
    for v in VARIANTS {
        let mut svc = server(v);
        let before = svc.volume().unwrap().device().bytes.clone();
        let mut c = client(&mut svc, 1);
        let h = c.open_handle("/write/target.bin", Rights::RW).unwrap();
        // Growing: across the end, at the end, far past it, wrapping.
        assert_eq!(
            c.write_at(h, TARGET_LEN - 2, &[1, 2, 3]).err(),
            Some(FileError::WouldGrow)
        );
        assert_eq!(
            c.write_at(h, TARGET_LEN, &[1]).err(),
            Some(FileError::WouldGrow)
        );
        assert_eq!(
            c.write_at(h, 1 << 40, &[1]).err(),
            Some(FileError::WouldGrow)
        );
        assert_eq!(
            c.write_at(h, u64::MAX, &[1, 2]).err(),
            Some(FileError::WouldGrow)
        );
        // An empty write anywhere in the file is fine and writes nothing.
        assert_eq!(c.write_at(h, 5, &[]).unwrap(), 0);
        // Into the hole of sparse.bin, and spanning data and hole: the
        // data block before the hole is not touched either.
        let s = c.open_handle("/data/sparse.bin", Rights::RW).unwrap();
        assert_eq!(c.write_at(s, 4096, &[1]).err(), Some(FileError::Hole));
        assert_eq!(c.write_at(s, 4000, &[7; 200]).err(), Some(FileError::Hole));
        assert_eq!(svc.volume().unwrap().device().bytes, before, "{v:?}");
        assert_eq!(svc.counters.writes, 1, "only the empty write succeeded");
        // Writing the data blocks around the hole works.
        let mut c = client(&mut svc, 1);
        assert_eq!(c.write_at(s, 8192, b"after").unwrap(), 5);
        assert_eq!(c.write_at(s, 0, b"before").unwrap(), 6);
        let all = read_all(&mut svc, 1, "/data/sparse.bin");
        assert_eq!(&all[..6], b"before");
        assert!(all[4096..8192].iter().all(|&b| b == 0));
        assert_eq!(&all[8192..8197], b"after");
    }
}

#[test]
fn a_failing_disk_fails_the_write_and_the_server_goes_on() {
    let mut svc = server(Variant::Ext2);
    let mut c = client(&mut svc, 1);
    let h = c.open_handle("/hello.txt", Rights::RW).unwrap();
    // Find the file's block, then make writes to it fail.
    let bytes = svc.volume().unwrap().device().bytes.clone();
    let at = bytes.windows(HELLO.len()).position(|w| w == HELLO).unwrap();
    let mut disk = MemDisk::new(bytes);
    disk.fail_write = Some((at / 4096) as u64);
    let mut svc = FileServer::new(Volume::load(disk));
    let mut c = client(&mut svc, 1);
    let h2 = c.open_handle("/hello.txt", Rights::RW).unwrap();
    assert_eq!(h, h2);
    assert_eq!(c.write_at(h2, 0, b"J").err(), Some(FileError::Io));
    // Reads still work and show the old bytes.
    let r = c.read_at(h2, 0, 5).unwrap();
    assert_eq!(r.data.as_slice(), b"Hello");
}
