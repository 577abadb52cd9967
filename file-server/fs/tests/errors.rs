//! Every error a client can meet, each from the request that causes it, on a real image; the server answers and goes on.

mod common;

use common::*;
use file_api::{
    dispatch, FileError, FileKind, FileService, Handle, HandleRequest, Operation, Rights,
};
use file_api::{MAX_WORDS, READ_MAX};
use file_fs::{FileServer, MemDisk, Volume, HANDLES_PER_CLIENT};

#[test]
fn paths_that_name_nothing_or_are_not_paths() {
    for v in VARIANTS {
        let mut svc = server(v);
        let mut c = client(&mut svc, 1);
        let open = |c: &mut _, p: &str| file_api::FileClient::open_handle(c, p, Rights::READ).err();
        assert_eq!(
            open(&mut c, "/missing.txt"),
            Some(FileError::NotFound),
            "{v:?}"
        );
        assert_eq!(
            open(&mut c, "/docs/missing/note.txt"),
            Some(FileError::NotFound)
        );
        assert_eq!(
            open(&mut c, "/hello.txt/inside"),
            Some(FileError::NotADirectory)
        );
        assert_eq!(
            open(&mut c, "hello.txt"),
            Some(FileError::BadPath),
            "relative"
        );
        assert_eq!(open(&mut c, ""), Some(FileError::BadPath));
        assert_eq!(open(&mut c, "/hello\0.txt"), Some(FileError::BadPath));
        // A component of 256 bytes needs a path over PATH_MAX (the
        // component bound is checked too: `check_path` below).
        let long_name = format!("/{}", "n".repeat(256));
        assert_eq!(open(&mut c, &long_name), Some(FileError::PathTooLong));
        assert_eq!(
            open(&mut c, &"/d".repeat(129)),
            Some(FileError::PathTooLong)
        );
        assert_eq!(
            open(&mut c, "/loop"),
            Some(FileError::Unsupported),
            "symlink loop"
        );
        // Opening for writing needs a regular file with a write bit.
        let w = |c: &mut _, p: &str| file_api::FileClient::open_handle(c, p, Rights::RW).err();
        assert_eq!(w(&mut c, "/readonly.txt"), Some(FileError::ReadOnly));
        assert_eq!(w(&mut c, "/fifo"), Some(FileError::ReadOnly));
        assert_eq!(w(&mut c, "/docs"), Some(FileError::IsADirectory));
        assert_eq!(w(&mut c, "/"), Some(FileError::IsADirectory));
        assert_eq!(svc.open_handles(), 0, "nothing was opened");
        assert_eq!(svc.counters.refused, 11, "three were refused by the stub");
        assert_eq!(file_fs::volume::check_path(b"/a"), Ok(()));
        let mut long = b"/d/".to_vec();
        long.extend([b'n'; 256]);
        assert_eq!(file_fs::volume::check_path(&long), Err(FileError::BadPath));
    }
}

#[test]
fn handles_belong_to_their_client_and_die_at_close() {
    let mut svc = server(Variant::Ext2);
    let h = client(&mut svc, 1)
        .open_handle("/hello.txt", Rights::READ)
        .unwrap();
    assert_eq!(h, Handle(1));
    // Another client's number, a number never given, zero.
    let mut other = client(&mut svc, 2);
    assert_eq!(other.stat(h).err(), Some(FileError::BadHandle));
    assert_eq!(other.read_at(h, 0, 1).err(), Some(FileError::BadHandle));
    assert_eq!(other.close(h).err(), Some(FileError::BadHandle));
    let mut c = client(&mut svc, 1);
    for bad in [Handle(0), Handle(2), Handle(u32::MAX)] {
        assert_eq!(c.stat(bad).err(), Some(FileError::BadHandle));
        assert_eq!(c.read_at(bad, 0, 1).err(), Some(FileError::BadHandle));
        assert_eq!(c.write_at(bad, 0, b"x").err(), Some(FileError::BadHandle));
        assert_eq!(c.sync(bad).err(), Some(FileError::BadHandle));
        assert_eq!(c.close(bad).err(), Some(FileError::BadHandle));
    }
    // Its own still works; once closed it is gone, and the number is
    // given again to the next open.
    assert_eq!(c.stat(h).unwrap().size, HELLO.len() as u64);
    c.close(h).unwrap();
    assert_eq!(c.close(h).err(), Some(FileError::BadHandle));
    assert_eq!(c.read_at(h, 0, 1).err(), Some(FileError::BadHandle));
    assert_eq!(c.open_handle("/hello.txt", Rights::READ).unwrap(), h);
}

#[test]
fn a_client_holds_a_bounded_number_of_handles() {
    let mut svc = server(Variant::Ext2);
    let mut c = client(&mut svc, 1);
    let hs: Vec<Handle> = (0..HANDLES_PER_CLIENT)
        .map(|_| c.open_handle("/hello.txt", Rights::READ).unwrap())
        .collect();
    assert_eq!(
        c.open_handle("/hello.txt", Rights::READ).err(),
        Some(FileError::TooManyHandles)
    );
    // Others are not affected; closing one makes room.
    assert!(client(&mut svc, 2)
        .open_handle("/hello.txt", Rights::READ)
        .is_ok());
    let mut c = client(&mut svc, 1);
    c.close(hs[3]).unwrap();
    assert_eq!(c.open_handle("/hello.txt", Rights::READ).unwrap(), hs[3]);
    assert_eq!(svc.open_handles(), HANDLES_PER_CLIENT + 1);
}

#[test]
fn rights_offsets_and_kinds() {
    for v in VARIANTS {
        let mut svc = server(v);
        let mut c = client(&mut svc, 1);
        let r = c.open_handle("/hello.txt", Rights::READ).unwrap();
        let size = HELLO.len() as u64;
        assert_eq!(c.write_at(r, 0, b"x").err(), Some(FileError::Protection));
        // At the end: nothing; past it: PastEnd, however far.
        assert!(c.read_at(r, size, 10).unwrap().data.is_empty());
        assert_eq!(c.read_at(r, size + 1, 10).err(), Some(FileError::PastEnd));
        assert_eq!(c.read_at(r, u64::MAX, 10).err(), Some(FileError::PastEnd));
        // A zero-length read is fine.
        assert!(c.read_at(r, 3, 0).unwrap().data.is_empty());
        // Directories are stat'ed, not read.
        let d = c.open_handle("/docs", Rights::READ).unwrap();
        assert_eq!(c.stat(d).unwrap().kind, FileKind::Directory);
        assert_eq!(c.read_at(d, 0, 1).err(), Some(FileError::IsADirectory));
        // Special files open for reading but cannot be read.
        let f = c.open_handle("/fifo", Rights::READ).unwrap();
        assert_eq!(c.stat(f).unwrap().kind, FileKind::Other);
        assert_eq!(c.read_at(f, 0, 1).err(), Some(FileError::Unsupported));
        assert_eq!(c.sync(r), Ok(()));
    }
}

/// Raw messages a hostile client could send: refused by the decoder
/// before the service sees them.
#[test]
fn malformed_messages_never_reach_the_service() {
    let mut svc = server(Variant::Ext2);
    let h = client(&mut svc, 1)
        .open_handle("/hello.txt", Rights::READ)
        .unwrap();
    let mut out = [0u64; MAX_WORDS];
    let mut ask =
        |svc: &mut FileServer<MemDisk>, op: u64, w: &[u64]| dispatch(svc, 1, op, w, &mut out).0;
    let read = Operation::Read.label();
    let write = Operation::Write.label();
    let open = Operation::Open.label();
    let hw = h.0 as u64;
    assert_eq!(
        ask(&mut svc, read, &[hw, 0, u64::MAX]),
        FileError::LengthTooLarge.code()
    );
    assert_eq!(
        ask(&mut svc, read, &[hw, 0, READ_MAX as u64 + 1]),
        FileError::LengthTooLarge.code()
    );
    assert_eq!(
        ask(&mut svc, write, &[hw, 0, 1 << 30]),
        FileError::LengthTooLarge.code()
    );
    assert_eq!(
        ask(&mut svc, open, &[1, 4096]),
        FileError::PathTooLong.code()
    );
    assert_eq!(
        ask(&mut svc, open, &[1, 5]),
        FileError::MalformedRequest.code()
    );
    assert_eq!(
        ask(&mut svc, 0x999, &[]),
        FileError::UnknownOperation.code()
    );
    assert_eq!(
        ask(&mut svc, read, &[hw | 1 << 40, 0, 1]),
        FileError::MalformedRequest.code()
    );
    assert_eq!(svc.counters.refused, 0, "the service saw none of them");
    assert_eq!(ask(&mut svc, read, &[hw, 0, 5]), 0, "and still answers");
}

#[test]
fn disks_without_a_filesystem_or_failing_disks() {
    // No filesystem: every request is NoFilesystem.
    let mut svc: FileServer<MemDisk> =
        FileServer::new(Volume::load(MemDisk::new(vec![0; 64 * 4096])));
    assert_eq!(
        client(&mut svc, 1)
            .open_handle("/hello.txt", Rights::READ)
            .err(),
        Some(FileError::NoFilesystem)
    );
    assert_eq!(
        svc.sync(1, HandleRequest { handle: Handle(1) }).err(),
        Some(FileError::BadHandle)
    );
    // A disk that fails the superblock read: Io at load.
    let mut disk = MemDisk::new(image(Variant::Ext2));
    disk.fail_read = Some(0);
    assert_eq!(Volume::load(disk).err(), Some(FileError::Io));
    // A disk that fails a data block in the middle of big.bin: reads
    // there fail with Io, everything else works.
    let bytes = image(Variant::Ext2);
    let middle = 37 * 4096;
    let block: Vec<u8> = (middle..middle + 4096).map(big).collect();
    let at = bytes.chunks_exact(4096).position(|b| b == block).unwrap();
    let mut disk = MemDisk::new(bytes);
    disk.fail_read = Some(at as u64);
    let mut svc = FileServer::new(Volume::load(disk));
    let mut c = client(&mut svc, 1);
    let h = c.open_handle("/big.bin", Rights::READ).unwrap();
    assert_eq!(c.read_at(h, middle, 5).err(), Some(FileError::Io));
    assert_eq!(
        c.read_at(h, 0, 3).unwrap().data.as_slice(),
        &[big(0), big(1), big(2)]
    );
    let n = c
        .open_handle("/docs/nested/deep/note.txt", Rights::READ)
        .unwrap();
    assert_eq!(c.read_at(n, 0, 100).unwrap().data.as_slice(), NOTE);
}

/// A filesystem with a feature the writer does not handle: reads work,
/// writes are refused with `Unsupported`.
#[test]
fn writes_to_a_filesystem_the_writer_does_not_handle_are_unsupported() {
    let mut bytes = image(Variant::Ext4);
    // Set INCOMPAT_ENCRYPT: ext4-view reads on (no file here is
    // encrypted), the writer refuses the whole filesystem.
    let incompat = 1024 + 0x60;
    let v = u32::from_le_bytes(bytes[incompat..incompat + 4].try_into().unwrap()) | 0x1_0000;
    bytes[incompat..incompat + 4].copy_from_slice(&v.to_le_bytes());
    fix_superblock_checksum(&mut bytes);
    let volume = Volume::load(MemDisk::new(bytes)).unwrap();
    assert!(matches!(
        volume.layout(),
        Err(file_fs::LayoutError::Unsupported(_))
    ));
    let mut svc = FileServer::new(Ok(volume));
    let mut c = client(&mut svc, 1);
    let h = c.open_handle("/write/target.bin", Rights::RW).unwrap();
    assert_eq!(c.read_at(h, 0, 4).unwrap().data.len(), 4);
    assert_eq!(c.write_at(h, 0, b"x").err(), Some(FileError::Unsupported));
}

/// ext4's superblock checksum (crc32c of the first 1020 bytes, seed ~0).
fn fix_superblock_checksum(bytes: &mut [u8]) {
    let sb = &mut bytes[1024..2048];
    let mut crc = !0u32;
    for &b in &sb[..1020] {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    sb[1020..1024].copy_from_slice(&crc.to_le_bytes());
}
