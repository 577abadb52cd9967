//! The file server as the pager of file mappings, against real images: what a `Map` asks the VM server for, page-ins (the file's bytes, zeros past the end and in holes, `Zero` for an all-hole range), write-backs in place (nothing past the end, checked by `debugfs` and `e2fsck -fn`), and every refusal changing nothing.

mod common;

use common::*;
use file_api::{FileError, Handle, Rights};
use file_fs::{FileServer, MapTarget, MemDisk, PagerLink, BLOCK_SIZE};
use pager_api::{Outcome, PagerError};

const PAGE: usize = 4096;

/// The pager object key (inode number) `client` gets for `path` opened
/// with `rights`, mapped `writable`.
fn key_of(svc: &mut FileServer<MemDisk>, path: &str, rights: Rights, writable: bool) -> u64 {
    let h = client(svc, 1).open_handle(path, rights).unwrap();
    svc.map_target(1, h, writable).unwrap().key
}

#[test]
fn map_target_names_the_inode_and_the_size() {
    for v in VARIANTS {
        let mut svc = server(v);
        let h = client(&mut svc, 1)
            .open_handle("/data/pattern.bin", Rights::RW)
            .unwrap();
        let t = svc.map_target(1, h, true).unwrap();
        assert_eq!((t.size, t.writable), (PATTERN_LEN, true), "{v:?}");
        assert!(t.key > 10, "{v:?}: {t:?}"); // not a reserved inode
                                             // The same file through another handle and client: the same key.
        let h2 = client(&mut svc, 2)
            .open_handle("/link", Rights::READ)
            .unwrap();
        let t2 = svc.map_target(2, h2, false).unwrap();
        assert_eq!((t2.key, t2.writable), (t.key, false), "{v:?}");
    }
}

#[test]
fn map_target_refusals() {
    let mut svc = server(Variant::Ext2);
    let ro = client(&mut svc, 1)
        .open_handle("/data/pattern.bin", Rights::READ)
        .unwrap();
    assert_eq!(svc.map_target(1, ro, true), Err(FileError::Protection));
    assert!(svc.map_target(1, ro, false).is_ok());
    // Handles are per client; numbers that were never handed out.
    assert_eq!(svc.map_target(2, ro, false), Err(FileError::BadHandle));
    for bad in [Handle(0), Handle(99), Handle(u32::MAX)] {
        assert_eq!(svc.map_target(1, bad, false), Err(FileError::BadHandle));
    }
    let dir = client(&mut svc, 1)
        .open_handle("/docs", Rights::READ)
        .unwrap();
    assert_eq!(svc.map_target(1, dir, false), Err(FileError::IsADirectory));
}

#[test]
fn page_in_reads_the_file_and_zeroes_past_the_end() {
    for v in VARIANTS {
        let mut svc = server(v);
        let key = key_of(&mut svc, "/data/pattern.bin", Rights::READ, false);
        let pages = (PATTERN_LEN as usize).div_ceil(PAGE);
        let mut out = vec![0xeeu8; pages * PAGE];
        assert_eq!(
            svc.page_in(key, 0, &mut out),
            Ok(Outcome::Supplied),
            "{v:?}"
        );
        for (i, &b) in out.iter().enumerate() {
            let want = if (i as u64) < PATTERN_LEN {
                pattern(i as u64)
            } else {
                0
            };
            assert_eq!(b, want, "{v:?}: byte {i}");
        }
        // One page in the middle alone.
        let mut one = vec![0u8; PAGE];
        assert_eq!(svc.page_in(key, 2, &mut one), Ok(Outcome::Supplied));
        assert_eq!(one[..], out[2 * PAGE..3 * PAGE]);
        // A page wholly past the end does not exist.
        assert_eq!(
            svc.page_in(key, pages as u64, &mut one),
            Err(PagerError::Malformed)
        );
        assert_eq!(
            svc.page_in(key, u64::MAX, &mut one),
            Err(PagerError::Malformed)
        );
    }
}

#[test]
fn page_in_of_holes() {
    for v in VARIANTS {
        let mut svc = server(v);
        let key = key_of(&mut svc, "/data/sparse.bin", Rights::READ, false);
        let mut hole = vec![0xeeu8; PAGE];
        assert_eq!(svc.page_in(key, 1, &mut hole), Ok(Outcome::Zero), "{v:?}");
        assert!(hole.iter().all(|&b| b == 0xee), "Zero leaves the buffer");
        let mut all = vec![0xeeu8; 3 * PAGE];
        assert_eq!(svc.page_in(key, 0, &mut all), Ok(Outcome::Supplied));
        assert!(all[..PAGE].iter().all(|&b| b == b's'));
        assert!(all[PAGE..2 * PAGE].iter().all(|&b| b == 0));
        assert!(all[2 * PAGE..].iter().all(|&b| b == b's'));
    }
}

#[test]
fn page_in_of_keys_that_are_no_regular_file() {
    let mut svc = server(Variant::Ext2);
    let mut page = vec![0u8; PAGE];
    // No inode 0; 2 is the root directory, 11 lost+found; then numbers
    // past the inode table and past 32 bits.
    for key in [0, 2, 11, 1 << 40, u64::MAX] {
        assert_eq!(
            svc.page_in(key, 0, &mut page),
            Err(PagerError::NoSuchObject),
            "key {key}"
        );
    }
    let key = key_of(&mut svc, "/data/pattern.bin", Rights::READ, false);
    // Not whole pages.
    assert_eq!(svc.page_in(key, 0, &mut []), Err(PagerError::Malformed));
    assert_eq!(
        svc.page_in(key, 0, &mut page[..100]),
        Err(PagerError::Malformed)
    );
}

#[test]
fn write_back_lands_in_place_and_not_past_the_end() {
    for v in VARIANTS {
        let mut svc = server(v);
        let key = key_of(&mut svc, "/write/target.bin", Rights::RW, true);
        let last = TARGET_LEN / PAGE as u64; // the partial last page
        let page1: Vec<u8> = (0..PAGE).map(|i| (i % 199) as u8 ^ 0x33).collect();
        assert_eq!(
            svc.write_back(key, 1, &page1),
            Ok(Outcome::Written),
            "{v:?}"
        );
        let tail: Vec<u8> = (0..PAGE).map(|i| (i % 7) as u8 + b'0').collect();
        assert_eq!(svc.write_back(key, last, &tail), Ok(Outcome::Written));
        assert_eq!(svc.counters.pages_written, 2);
        let want = |i: u64| -> u8 {
            match i as usize / PAGE {
                1 => page1[i as usize % PAGE],
                p if p as u64 == last => tail[i as usize % PAGE],
                _ => target(i),
            }
        };
        // Through the file server's own read, and through a page-in.
        let mut c = client(&mut svc, 3);
        let h = c.open_handle("/write/target.bin", Rights::READ).unwrap();
        assert_eq!(c.stat(h).unwrap().size, TARGET_LEN, "the file did not grow");
        let mut back = vec![0u8; 5 * PAGE];
        assert_eq!(svc.page_in(key, 0, &mut back), Ok(Outcome::Supplied));
        for i in 0..5 * PAGE as u64 {
            let w = if i < TARGET_LEN { want(i) } else { 0 };
            assert_eq!(back[i as usize], w, "{v:?}: byte {i}");
        }
        let bytes = svc.volume().unwrap().device().bytes.clone();
        let cat = debugfs_cat(&bytes, "/write/target.bin", &format!("pager-{v:?}"));
        assert_eq!(cat.len() as u64, TARGET_LEN);
        assert!((0..TARGET_LEN).all(|i| cat[i as usize] == want(i)), "{v:?}");
        e2fsck_clean(&bytes, &format!("pager-{v:?}"));
    }
}

#[test]
fn write_back_refusals_change_nothing() {
    for v in VARIANTS {
        let mut svc = server(v);
        let before = svc.volume().unwrap().device().bytes.clone();
        let page = vec![0x5au8; PAGE];
        let sparse = key_of(&mut svc, "/data/sparse.bin", Rights::RW, true);
        // A hole cannot be written in place; nor a run that covers one.
        assert_eq!(svc.write_back(sparse, 1, &page), Err(PagerError::NoSpace));
        assert_eq!(
            svc.write_back(sparse, 0, &[0x5a; 3 * PAGE]),
            Err(PagerError::NoSpace)
        );
        let pattern_key = key_of(&mut svc, "/data/pattern.bin", Rights::RW, true);
        assert_eq!(
            svc.write_back(pattern_key, 6, &page),
            Err(PagerError::Malformed),
            "past the end"
        );
        assert_eq!(
            svc.write_back(pattern_key, 5, &[0; 2 * PAGE]),
            Err(PagerError::Malformed),
            "a run reaching past the end"
        );
        assert_eq!(
            svc.write_back(pattern_key, 0, &[]),
            Err(PagerError::Malformed)
        );
        assert_eq!(
            svc.write_back(pattern_key, 0, &page[..BLOCK_SIZE / 2]),
            Err(PagerError::Malformed)
        );
        let ro = key_of(&mut svc, "/readonly.txt", Rights::READ, false);
        assert_eq!(svc.write_back(ro, 0, &page), Err(PagerError::ReadOnly));
        assert_eq!(svc.write_back(2, 0, &page), Err(PagerError::NoSuchObject));
        assert_eq!(svc.counters.pages_written, 0);
        assert!(
            svc.volume().unwrap().device().bytes == before,
            "{v:?}: a refused write-back changed the disk"
        );
    }
}

/// A VM server that hands out handle numbers from 40 up, refusing past
/// `quota` objects, and records what it was asked.
struct FakeVm {
    asked: std::rc::Rc<std::cell::RefCell<Vec<(u64, MapTarget)>>>,
    quota: usize,
}

impl PagerLink for FakeVm {
    fn create_object(&mut self, client: u64, target: MapTarget) -> Result<u32, FileError> {
        let mut asked = self.asked.borrow_mut();
        if asked.len() >= self.quota {
            return Err(FileError::MapRefused);
        }
        asked.push((client, target));
        Ok(40 + asked.len() as u32 - 1)
    }
}

#[test]
fn map_asks_the_vm_server_for_the_files_object() {
    let mut svc = server(Variant::Ext2);
    let h = client(&mut svc, 5)
        .open_handle("/data/pattern.bin", Rights::READ)
        .unwrap();
    // Without a link to the VM server the server pages nothing.
    assert_eq!(client(&mut svc, 5).map(h, false), Err(FileError::NoPager));
    let asked = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    svc.set_pager_link(Box::new(FakeVm {
        asked: asked.clone(),
        quota: 1,
    }));
    assert_eq!(client(&mut svc, 5).map(h, true), Err(FileError::Protection));
    assert_eq!(client(&mut svc, 6).map(h, false), Err(FileError::BadHandle));
    assert!(asked.borrow().is_empty(), "refused before asking");
    assert_eq!(client(&mut svc, 5).map(h, false), Ok(40));
    let (who, t) = asked.borrow()[0];
    assert_eq!((who, t.size, t.writable), (5, PATTERN_LEN, false));
    assert_eq!(
        client(&mut svc, 5).map(h, false),
        Err(FileError::MapRefused)
    );
    assert_eq!(svc.counters.maps, 1);
}

/// The `FailNextPageIn` test hook: only through a handle of the caller's
/// that could be mapped; it fails the one next page-in of that file
/// (whoever's fault asked for it) and nothing else: not other files,
/// not write-backs, not the page-in after.
#[test]
fn fail_next_page_in_fails_one_page_in_of_that_file() {
    let mut svc = server(Variant::Ext2);
    let h = client(&mut svc, 5)
        .open_handle("/data/pattern.bin", Rights::RW)
        .unwrap();
    let key = svc.map_target(5, h, false).unwrap().key;
    let other = key_of(&mut svc, "/data/sparse.bin", Rights::READ, false);
    // Without a link to the VM server the server pages nothing.
    assert_eq!(
        client(&mut svc, 5).fail_next_page_in(h),
        Err(FileError::NoPager)
    );
    svc.set_pager_link(Box::new(FakeVm {
        asked: Default::default(),
        quota: 1,
    }));
    // Refusals arm nothing: another client's number, bad numbers, a
    // directory, a write-only handle.
    assert_eq!(
        client(&mut svc, 6).fail_next_page_in(h),
        Err(FileError::BadHandle)
    );
    for bad in [Handle(0), Handle(99), Handle(u32::MAX)] {
        assert_eq!(
            client(&mut svc, 5).fail_next_page_in(bad),
            Err(FileError::BadHandle)
        );
    }
    let dir = client(&mut svc, 5)
        .open_handle("/docs", Rights::READ)
        .unwrap();
    assert_eq!(
        client(&mut svc, 5).fail_next_page_in(dir),
        Err(FileError::IsADirectory)
    );
    let wo = client(&mut svc, 5)
        .open_handle("/data/pattern.bin", Rights::WRITE)
        .unwrap();
    assert_eq!(
        client(&mut svc, 5).fail_next_page_in(wo),
        Err(FileError::Protection)
    );
    assert!(!svc.page_in_armed(key));
    let mut page = vec![0xeeu8; PAGE];
    assert_eq!(svc.page_in(key, 1, &mut page), Ok(Outcome::Supplied));
    let good = page.clone();

    // Armed (twice: still one failure).
    assert_eq!(client(&mut svc, 5).fail_next_page_in(h), Ok(()));
    assert_eq!(client(&mut svc, 5).fail_next_page_in(h), Ok(()));
    assert!(svc.page_in_armed(key) && !svc.page_in_armed(other));
    // Another file's page-ins and this file's write-backs are untouched.
    let mut o = vec![0u8; PAGE];
    assert_eq!(svc.page_in(other, 0, &mut o), Ok(Outcome::Supplied));
    assert_eq!(svc.write_back(key, 1, &good), Ok(Outcome::Written));
    // The next page-in of the file fails and reads nothing; the one
    // after reads the file again.
    let mut failed = vec![0xeeu8; PAGE];
    assert_eq!(svc.page_in(key, 1, &mut failed), Err(PagerError::Io));
    assert!(failed.iter().all(|&b| b == 0xee), "nothing read");
    assert_eq!(svc.counters.hooked_page_ins, 1);
    assert!(!svc.page_in_armed(key));
    let mut again = vec![0u8; PAGE];
    assert_eq!(svc.page_in(key, 1, &mut again), Ok(Outcome::Supplied));
    assert_eq!(again, good);
    // Another client's handle to the same file arms the same key.
    let h2 = client(&mut svc, 6)
        .open_handle("/link", Rights::READ)
        .unwrap();
    assert_eq!(client(&mut svc, 6).fail_next_page_in(h2), Ok(()));
    assert!(svc.page_in_armed(key));
    assert_eq!(svc.page_in(key, 0, &mut again), Err(PagerError::Io));
    assert_eq!(svc.counters.hooked_page_ins, 2);
}

/// The `CrashOnNextPageIn` test hook: refused unless the spec granted
/// it (any client could otherwise stop the server for everyone), then
/// with `FailNextPageIn`'s handle checks; it marks the one next page-in
/// of that file, and only that file's.
#[test]
fn crash_on_next_page_in_needs_the_grant_and_marks_one_page_in() {
    let mut svc = server(Variant::Ext2);
    let h = client(&mut svc, 5)
        .open_handle("/data/pattern.bin", Rights::READ)
        .unwrap();
    let key = svc.map_target(5, h, false).unwrap().key;
    let other = key_of(&mut svc, "/data/sparse.bin", Rights::READ, false);
    assert_eq!(
        client(&mut svc, 5).crash_on_next_page_in(h),
        Err(FileError::NoPager)
    );
    svc.set_pager_link(Box::new(FakeVm {
        asked: Default::default(),
        quota: 1,
    }));
    assert_eq!(
        client(&mut svc, 5).crash_on_next_page_in(h),
        Err(FileError::NotPermitted)
    );
    assert!(!svc.take_crash(key));
    svc.grant_crash_hook();
    assert_eq!(
        client(&mut svc, 6).crash_on_next_page_in(h),
        Err(FileError::BadHandle)
    );
    let wo = client(&mut svc, 5)
        .open_handle("/data/pattern.bin", Rights::WRITE)
        .unwrap();
    assert_eq!(
        client(&mut svc, 5).crash_on_next_page_in(wo),
        Err(FileError::Protection)
    );
    assert!(!svc.take_crash(key));
    assert_eq!(client(&mut svc, 5).crash_on_next_page_in(h), Ok(()));
    assert!(!svc.take_crash(other));
    assert!(svc.take_crash(key), "the next page-in of the file");
    assert!(!svc.take_crash(key), "and only that one");
}
