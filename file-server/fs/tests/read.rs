//! Open, stat and read against real images: small and multi-block files, reads across block boundaries in every chunk size, nested directories, `.`/`..` and symlinks, holes, hashed directories, and sequential reads that reuse their reader.

mod common;

use common::*;
use file_api::embedded_io::{Read, Seek, SeekFrom};
use file_api::{FileKind, FileService, Handle, ReadRequest, Rights, READ_MAX};

#[test]
fn small_files_and_nested_directories() {
    for v in VARIANTS {
        let mut svc = server(v);
        let mut c = client(&mut svc, 1);
        let mut f = c.open("/hello.txt", Rights::READ).unwrap();
        let st = f.stat().unwrap();
        assert_eq!((st.kind, st.size, st.mode), (FileKind::Regular, 28, 0o644));
        let mut buf = [0u8; 64];
        assert_eq!(f.read(&mut buf).unwrap(), HELLO.len(), "{v:?}");
        assert_eq!(&buf[..HELLO.len()], HELLO);
        assert_eq!(f.read(&mut buf).unwrap(), 0, "end of file");
        drop(f);
        for path in [
            "/docs/nested/deep/note.txt",
            "/docs/./nested/../nested/deep//note.txt",
            "/docs/up/deep/note.txt",
            "/../docs/nested/deep/note.txt",
        ] {
            let mut f = c.open(path, Rights::READ).unwrap();
            let mut s = Vec::new();
            let mut buf = [0u8; 7];
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                s.extend_from_slice(&buf[..n]);
            }
            assert_eq!(s, NOTE, "{v:?} {path}");
        }
        let mut d = c.open("/docs/nested", Rights::READ).unwrap();
        assert_eq!(d.stat().unwrap().kind, FileKind::Directory);
        drop(d);
        let mut e = c.open("/empty.txt", Rights::READ).unwrap();
        assert_eq!(e.stat().unwrap().size, 0);
        assert_eq!(e.read(&mut buf).unwrap(), 0);
    }
}

#[test]
fn multi_block_files_read_whole_and_across_boundaries() {
    for v in VARIANTS {
        let mut svc = server(v);
        let mut c = client(&mut svc, 1);
        let mut f = c.open("/data/pattern.bin", Rights::READ).unwrap();
        let mut all = vec![0u8; PATTERN_LEN as usize];
        f.read_exact(&mut all).unwrap();
        assert!(
            all.iter().enumerate().all(|(i, &b)| b == pattern(i as u64)),
            "{v:?}"
        );
        // Chunks straddling every 1 KiB and 4 KiB boundary.
        for start in [0u64, 1000, 1020, 4090, 4096, 8191, 12_000, PATTERN_LEN - 5] {
            for len in [1usize, 7, 100, 1024, READ_MAX] {
                f.seek(SeekFrom::Start(start)).unwrap();
                let mut buf = vec![0u8; len];
                let n = f.read(&mut buf).unwrap();
                let want = len.min(READ_MAX) as u64;
                assert_eq!(n as u64, want.min(PATTERN_LEN - start));
                for (k, &b) in buf[..n].iter().enumerate() {
                    assert_eq!(b, pattern(start + k as u64), "{v:?} {start}+{k}");
                }
            }
        }
        drop(f);
        // Through a symlink.
        let mut l = c.open("/link", Rights::READ).unwrap();
        assert_eq!(l.stat().unwrap().size, PATTERN_LEN);
        let mut head = [0u8; 16];
        l.read_exact(&mut head).unwrap();
        assert_eq!(head, all[..16]);
    }
}

#[test]
fn large_files_use_indirect_blocks_and_extents() {
    for v in VARIANTS {
        let mut svc = server(v);
        let mut c = client(&mut svc, 1);
        let mut f = c.open("/big.bin", Rights::READ).unwrap();
        let mut all = vec![0u8; BIG_LEN as usize];
        f.read_exact(&mut all).unwrap();
        let bad = all
            .iter()
            .enumerate()
            .position(|(i, &b)| b != big(i as u64));
        assert_eq!(bad, None, "{v:?}");
        // A read near the end, after a seek past the double-indirect start.
        f.seek(SeekFrom::End(-3)).unwrap();
        let mut tail = [0u8; 8];
        assert_eq!(f.read(&mut tail).unwrap(), 3);
        assert_eq!(tail[..3], all[all.len() - 3..]);
    }
}

#[test]
fn holes_read_as_zeros() {
    for v in VARIANTS {
        let mut svc = server(v);
        let mut c = client(&mut svc, 1);
        let mut f = c.open("/data/sparse.bin", Rights::READ).unwrap();
        let mut all = vec![0xffu8; 3 * 4096];
        f.read_exact(&mut all).unwrap();
        assert!(all[..4096].iter().all(|&b| b == b's'));
        assert!(all[4096..8192].iter().all(|&b| b == 0), "{v:?}");
        assert!(all[8192..].iter().all(|&b| b == b's'));
    }
}

#[test]
fn every_entry_of_a_large_directory_is_found() {
    for v in VARIANTS {
        let mut svc = server(v);
        let mut c = client(&mut svc, 1);
        for i in (0..MANY).step_by(37).chain([MANY - 1]) {
            let mut f = c.open(&format!("/many/file-{i:03}"), Rights::READ).unwrap();
            let mut s = String::new();
            let mut buf = [0u8; 8];
            let n = f.read(&mut buf).unwrap();
            s.push_str(std::str::from_utf8(&buf[..n]).unwrap());
            assert_eq!(s, format!("{i}\n"), "{v:?}");
        }
    }
}

/// A sequential read of a file reads each of its disk blocks about once
/// (ext4-view reads ahead 32 KiB into its cache; the server keeps each
/// handle's reader between requests, so a chunk never walks the block
/// map from the start again), and a read elsewhere still works.
#[test]
fn a_sequential_read_reads_each_block_about_once() {
    let mut svc = server(Variant::Ext2SmallBlocks);
    let h = client(&mut svc, 1)
        .open_handle("/big.bin", Rights::READ)
        .unwrap();
    let before = svc.volume().unwrap().device().blocks_read;
    let mut at = 0;
    while at < BIG_LEN {
        let r = svc
            .read(
                1,
                ReadRequest {
                    handle: h,
                    offset: at,
                    len: READ_MAX as u64,
                },
            )
            .unwrap();
        at += r.data.len() as u64;
    }
    assert_eq!(at, BIG_LEN);
    assert_eq!(svc.counters.bytes_read, BIG_LEN);
    let read = svc.volume().unwrap().device().blocks_read - before;
    let data_blocks = BIG_LEN.div_ceil(4096);
    // Data (some already cached by the open's read-ahead), plus indirect
    // blocks and read-ahead past the end.
    assert!(
        read <= data_blocks + 16,
        "{read} device blocks read for {data_blocks} of data"
    );
    let r = svc
        .read(
            1,
            ReadRequest {
                handle: Handle(h.0),
                offset: 5,
                len: 3,
            },
        )
        .unwrap();
    assert_eq!(r.data.as_slice(), &[big(5), big(6), big(7)]);
}
