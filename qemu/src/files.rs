//! The files disk: an ext2 image made fresh from the repository's `files/`
//! folder with `mke2fs -d` before every boot that runs the file server,
//! attached as the second virtio-blk disk, and checked on the host after
//! the boot (`e2fsck -fn`, the bytes `client-file-writer` wrote, the
//! pages `client-file-map` and the two `client-file-share` writers synced
//! through file mappings, and the file whose page-in failed on purpose,
//! unchanged; read back with `debugfs`).

use crate::report::Tally;
use crate::step::{describe, find_program, progress, run_captured, Failure, Result};
use crate::Workspace;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The image's size: the files take about 4.2 MiB (4 MiB of them
/// `bench/read.bin`, which `cargo qemu bench` maps), a program in `/bin`
/// about 1.4 MiB (with its debug information); the rest is room for the
/// metadata mke2fs lays out and for files added later. mke2fs still
/// takes under 0.1 s.
const IMAGE_BYTES: u64 = 16 << 20;
/// The spec whose clients write the files the host checks.
pub const FILES_SPEC: &str = "files.spec";
/// The image that spec component runs from (`capdl/files.spec`).
pub const FILE_SERVER_IMAGE: &str = "file-server";

/// What `client-file-writer` writes: bytes `WRITE_START..WRITE_END` of
/// `WRITE_PATH` become [`written_byte`] of their offset; the rest of the
/// file stays as in `files/`. Keep in step with `clients/file-writer`.
pub const WRITE_PATH: &str = "/write/target.bin";
pub const WRITE_START: u64 = 3000;
pub const WRITE_END: u64 = 9000;

/// The byte `client-file-writer` writes at file offset `offset`.
pub fn written_byte(offset: u64) -> u8 {
    (offset.wrapping_mul(7).wrapping_add(offset >> 8) % 251) as u8 ^ 0xa5
}

/// What `client-file-map` leaves in `MAP_PATH`: pages [`MAP_SYNCED_PAGES`]
/// become [`synced_byte`] of their offset (written through a shared
/// mapping and `msync(SYNC)`); every other byte stays as in `files/`
/// (its private mapping's writes never reach the file). Keep in step
/// with `clients/file-map`.
pub const MAP_PATH: &str = "/map/shared.bin";
pub const MAP_SYNCED_PAGES: [u64; 2] = [2, 5];

/// The byte `client-file-map` syncs at file offset `offset`.
pub fn synced_byte(offset: u64) -> u8 {
    ((offset * 13 + 5) % 241) as u8 ^ 0x5c
}

/// What the two `client-file-share` writers leave in `SHARE_PATH`: the
/// pages [`SHARE_PAGES`] of each (written through their shared writable
/// mappings of the file and `msync(SYNC)`ed) become [`share_byte`]s
/// seeded by that writer's component name; every other byte stays as in
/// `files/`. Keep in step with `clients/file-share` and `capdl/files.spec`.
pub const SHARE_PATH: &str = "/map/two-writers.bin";
pub const SHARE_PAGES: [(&str, [u64; 2]); 2] = [
    ("client-file-share-a", [1, 2]),
    ("client-file-share-b", [5, 6]),
];

/// FNV-1a (32 bits) of a writer's component name: its [`share_byte`] seed.
pub fn share_seed(name: &str) -> u64 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    u64::from(h)
}

/// The byte the `client-file-share` writer with seed `seed` writes at
/// file offset `offset`.
pub fn share_byte(seed: u64, offset: u64) -> u8 {
    ((offset * 29 + (offset >> 12) * 7 + seed) % 253) as u8 ^ 0x3c
}

/// The file whose page-in `client-file-pagein-fail` fails on purpose
/// (its file server test hook): nothing writes it, so the image must hold
/// it as `files/` has it.
pub const PAGEIN_FAIL_PATH: &str = "/map/pagein-fail.bin";

/// The disk image of one boot.
pub struct FilesDisk {
    pub image: PathBuf,
}

impl FilesDisk {
    /// QEMU arguments attaching the image as the second virtio-blk disk,
    /// in slot 5 (IOAPIC pin 21), after the swap disk's slot 4.
    pub fn qemu_args(&self) -> Vec<String> {
        vec![
            "-drive".into(),
            format!(
                "file={},if=none,format=raw,id=filesdisk,cache=unsafe",
                self.image.display()
            ),
            "-device".into(),
            "virtio-blk-pci,drive=filesdisk,addr=05.0,disable-legacy=off,disable-modern=on".into(),
        ]
    }
}

/// Makes `target/files-disk.img` afresh from `files/` (so every boot
/// starts from the same bytes; the write test changes them), with each
/// of `programs` (name, ELF file) as `/bin/<name>` (programs paged from
/// files: docs/pager.md). With programs the tree is first copied to
/// `target/files-staging/`, since mke2fs takes one folder.
pub fn ensure(ws: &Workspace, programs: &[(String, PathBuf)]) -> Result<FilesDisk> {
    let mke2fs = find_program("mke2fs").ok_or_else(|| {
        Failure::msg(
            "mke2fs not found (on PATH, /usr/sbin or /sbin): the files disk needs e2fsprogs\n  \
             install it with:  sudo apt-get install e2fsprogs",
        )
    })?;
    let mut source = ws.root.join("files");
    if !source.is_dir() {
        return Err(Failure::msg(format!(
            "{} is missing: the files disk is built from it",
            source.display()
        )));
    }
    if !programs.is_empty() {
        let staging = ws.target.join("files-staging");
        let _ = std::fs::remove_dir_all(&staging);
        copy_tree(&source, &staging)?;
        let bin = staging.join("bin");
        std::fs::create_dir_all(&bin)
            .map_err(|e| Failure::msg(format!("{}: {e}", bin.display())))?;
        for (name, elf) in programs {
            std::fs::copy(elf, bin.join(name))
                .map_err(|e| Failure::msg(format!("{}: {e}", elf.display())))?;
        }
        source = staging;
    }
    let image = ws.target.join("files-disk.img");
    make_image(&mke2fs, &source, &image)?;
    progress(
        "disk",
        format!(
            "{} ({} MiB ext2 from files/{})",
            image.display(),
            IMAGE_BYTES >> 20,
            if programs.is_empty() {
                String::new()
            } else {
                let names: Vec<&str> = programs.iter().map(|(n, _)| n.as_str()).collect();
                format!(", programs in /bin: {}", names.join(", "))
            }
        ),
    );
    Ok(FilesDisk { image })
}

/// Copies the folder `from` to `to` (files and folders only).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let err = |p: &Path, e: std::io::Error| Failure::msg(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(to).map_err(|e| err(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| err(from, e))? {
        let entry = entry.map_err(|e| err(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(|e| err(&src, e))?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| err(&src, e))?;
        }
    }
    Ok(())
}

/// `mke2fs -t ext2 -b 4096 -d SOURCE` on a fresh sparse file of
/// [`IMAGE_BYTES`]: 4 KiB blocks, so a filesystem block is a block-server
/// block; no reserved blocks; label `files`.
pub fn make_image(mke2fs: &Path, source: &Path, image: &Path) -> Result<()> {
    let _ = std::fs::remove_file(image);
    let file = std::fs::File::create(image)
        .map_err(|e| Failure::msg(format!("{}: {e}", image.display())))?;
    file.set_len(IMAGE_BYTES)
        .map_err(|e| Failure::msg(format!("{}: {e}", image.display())))?;
    drop(file);
    run_captured(
        "mke2fs",
        Command::new(mke2fs)
            .args([
                "-q", "-F", "-t", "ext2", "-b", "4096", "-m", "0", "-L", "files",
            ])
            .arg("-d")
            .arg(source)
            .arg(image),
    )?;
    Ok(())
}

/// After the boot of `spec`: `e2fsck -fn` must find nothing to fix, and
/// the file whose page-in failed (files.spec) or whose page-in the file
/// server died serving (pager-death.spec) must be unchanged. After
/// files.spec also the written and msync'd bytes must be on the disk
/// (`debugfs -R "cat PATH"`). Each is a test of the tally
/// (`files-disk/e2fsck`, `files-disk/pagein-fail-unchanged`,
/// `files-disk/written-pattern`, `files-disk/msynced-pages`,
/// `files-disk/two-writers`).
pub fn check(ws: &Workspace, disk: &FilesDisk, spec: &str, tally: &mut Tally) {
    let mut report = |name: &str, r: std::result::Result<(), String>| {
        tally.host_check(&format!("files-disk/{name}"), r)
    };
    let original = |path: &str| ws.root.join("files").join(path.trim_start_matches('/'));
    report("e2fsck", e2fsck(&disk.image));
    report(
        "pagein-fail-unchanged",
        unchanged(&disk.image, &original(PAGEIN_FAIL_PATH)),
    );
    if spec != FILES_SPEC {
        return;
    }
    report(
        "written-pattern",
        written(&disk.image, &original(WRITE_PATH)),
    );
    report("msynced-pages", msynced(&disk.image, &original(MAP_PATH)));
    report(
        "two-writers",
        two_writers(&disk.image, &original(SHARE_PATH)),
    );
}

/// `e2fsck -fn`: a forced, read-only check; exit status 0 means clean.
fn e2fsck(image: &Path) -> std::result::Result<(), String> {
    let tool = find_program("e2fsck").ok_or("e2fsck not found (install e2fsprogs)")?;
    let mut cmd = Command::new(tool);
    cmd.arg("-fn").arg(image).stdin(Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| format!("{}: {e}", describe(&cmd)))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} exited with {}: {}",
            describe(&cmd),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

/// `debugfs -R "cat PATH"` on `image`: the file's bytes.
fn debugfs_cat(image: &Path, path: &str) -> std::result::Result<Vec<u8>, String> {
    let tool = find_program("debugfs").ok_or("debugfs not found (install e2fsprogs)")?;
    let mut cmd = Command::new(tool);
    cmd.arg("-R")
        .arg(format!("cat {path}"))
        .arg(image)
        .stdin(Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| format!("{}: {e}", describe(&cmd)))?;
    if !out.status.success() {
        return Err(format!("{} exited with {}", describe(&cmd), out.status));
    }
    Ok(out.stdout)
}

/// The file as the image holds it equals `original` with the written
/// range replaced by [`written_byte`]s.
fn written(image: &Path, original: &Path) -> std::result::Result<(), String> {
    let got = debugfs_cat(image, WRITE_PATH)?;
    let before = std::fs::read(original).map_err(|e| format!("{}: {e}", original.display()))?;
    compare(&got, &before)
}

/// The mapped file as the image holds it equals `original` with the
/// synced pages replaced by [`synced_byte`]s.
fn msynced(image: &Path, original: &Path) -> std::result::Result<(), String> {
    let got = debugfs_cat(image, MAP_PATH)?;
    let before = std::fs::read(original).map_err(|e| format!("{}: {e}", original.display()))?;
    compare_mapped(&got, &before)
}

/// The shared file as the image holds it equals `original` with each
/// writer's pages replaced by its [`share_byte`]s.
fn two_writers(image: &Path, original: &Path) -> std::result::Result<(), String> {
    let got = debugfs_cat(image, SHARE_PATH)?;
    let before = std::fs::read(original).map_err(|e| format!("{}: {e}", original.display()))?;
    compare_two_writers(&got, &before)
}

/// Checks `got` against `before` with both writers' pages applied: a
/// writer's page that differs did not reach the disk (or holds the other
/// writer's bytes), a byte of any other page that differs is a stray
/// write.
pub fn compare_two_writers(got: &[u8], before: &[u8]) -> std::result::Result<(), String> {
    if got.len() != before.len() {
        return Err(format!(
            "{SHARE_PATH} is {} bytes on the disk, {} in files/",
            got.len(),
            before.len()
        ));
    }
    let seeds = SHARE_PAGES.map(|(name, pages)| (name, share_seed(name), pages));
    let expected = |i: usize| {
        let page = i as u64 / 4096;
        match seeds.iter().find(|(_, _, pages)| pages.contains(&page)) {
            Some((name, seed, _)) => (
                share_byte(*seed, i as u64),
                format!("{name}'s msync'd page did not reach the disk"),
            ),
            None => (
                before[i],
                "a page no writer wrote changed (a stray write?)".to_string(),
            ),
        }
    };
    match (0..got.len()).find(|&i| got[i] != expected(i).0) {
        None => Ok(()),
        Some(i) => {
            let (want, why) = expected(i);
            Err(format!(
                "{SHARE_PATH}: byte {i} is {:#04x}, expected {want:#04x} ({why})",
                got[i]
            ))
        }
    }
}

/// The file as the image holds it equals `original`, byte for byte.
fn unchanged(image: &Path, original: &Path) -> std::result::Result<(), String> {
    let got = debugfs_cat(image, PAGEIN_FAIL_PATH)?;
    let before = std::fs::read(original).map_err(|e| format!("{}: {e}", original.display()))?;
    if got.len() != before.len() {
        return Err(format!(
            "{PAGEIN_FAIL_PATH} is {} bytes on the disk, {} in files/",
            got.len(),
            before.len()
        ));
    }
    match (0..got.len()).find(|&i| got[i] != before[i]) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{PAGEIN_FAIL_PATH}: byte {i} is {:#04x}, expected {:#04x} (nothing writes this file)",
            got[i], before[i]
        )),
    }
}

/// Checks `got` against `before` with the synced pages applied: a byte
/// of another page that differs is a private write (or a stray one)
/// that reached the file.
pub fn compare_mapped(got: &[u8], before: &[u8]) -> std::result::Result<(), String> {
    if got.len() != before.len() {
        return Err(format!(
            "{MAP_PATH} is {} bytes on the disk, {} in files/",
            got.len(),
            before.len()
        ));
    }
    let expected = |i: usize| {
        if MAP_SYNCED_PAGES.contains(&(i as u64 / 4096)) {
            (
                synced_byte(i as u64),
                "the msync'd page did not reach the disk",
            )
        } else {
            (
                before[i],
                "a page never synced changed (a private write reached the file?)",
            )
        }
    };
    match (0..got.len()).find(|&i| got[i] != expected(i).0) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{MAP_PATH}: byte {i} is {:#04x}, expected {:#04x} ({})",
            got[i],
            expected(i).0,
            expected(i).1
        )),
    }
}

/// Checks `got` against `before` with the write applied.
pub fn compare(got: &[u8], before: &[u8]) -> std::result::Result<(), String> {
    if got.len() != before.len() {
        return Err(format!(
            "{WRITE_PATH} is {} bytes on the disk, {} in files/",
            got.len(),
            before.len()
        ));
    }
    let expected = |i: usize| {
        if (WRITE_START..WRITE_END).contains(&(i as u64)) {
            (written_byte(i as u64), "the write did not reach the disk")
        } else {
            (before[i], "outside the written range")
        }
    };
    match (0..got.len()).find(|&i| got[i] != expected(i).0) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{WRITE_PATH}: byte {i} is {:#04x}, expected {:#04x} ({})",
            got[i],
            expected(i).0,
            expected(i).1
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_finds_missing_and_stray_writes() {
        let before: Vec<u8> = (0..10_000u32).map(|i| (i % 97) as u8).collect();
        let mut after = before.clone();
        for i in WRITE_START..WRITE_END {
            after[i as usize] = written_byte(i);
        }
        assert_eq!(compare(&after, &before), Ok(()));
        assert!(compare(&before, &before)
            .unwrap_err()
            .contains("did not reach"));
        let mut stray = after.clone();
        stray[10] ^= 1;
        assert!(compare(&stray, &before).unwrap_err().contains("outside"));
        assert!(compare(&after[1..], &before).is_err());
    }

    #[test]
    fn compare_mapped_finds_unsynced_and_private_bytes() {
        let before: Vec<u8> = (0..8 * 4096u32).map(|i| (i % 251) as u8).collect();
        let mut after = before.clone();
        for p in MAP_SYNCED_PAGES {
            for i in p * 4096..(p + 1) * 4096 {
                after[i as usize] = synced_byte(i);
            }
        }
        assert_eq!(compare_mapped(&after, &before), Ok(()));
        assert!(compare_mapped(&before, &before)
            .unwrap_err()
            .contains("did not reach"));
        let mut private = after.clone();
        private[64] ^= 0xff;
        assert!(compare_mapped(&private, &before)
            .unwrap_err()
            .contains("private"));
        assert!(compare_mapped(&after[1..], &before).is_err());
    }

    /// The writers' bytes as `clients/file-share` computes them (first
    /// bytes of pages 1 and 5 pinned), and the comparison fails on a
    /// missing, swapped or stray write.
    #[test]
    fn compare_two_writers_finds_missing_and_stray_writes() {
        let a = share_seed("client-file-share-a");
        let b = share_seed("client-file-share-b");
        let first8 = |seed, page: u64| -> Vec<u8> {
            (page * 4096..page * 4096 + 8)
                .map(|i| share_byte(seed, i))
                .collect()
        };
        assert_eq!(
            first8(a, 1),
            [0x4f, 0xac, 0x91, 0xf6, 0xdb, 0x3b, 0x18, 0x7d]
        );
        assert_eq!(
            first8(b, 5),
            [0x79, 0x5e, 0x43, 0xa0, 0x85, 0xea, 0xcf, 0x2f]
        );
        let before: Vec<u8> = (0..8 * 4096u64)
            .map(|i| ((i * 11 + (i >> 12) * 17 + 3) % 253 + 1) as u8)
            .collect();
        let mut after = before.clone();
        for (name, pages) in SHARE_PAGES {
            for p in pages {
                for i in p * 4096..(p + 1) * 4096 {
                    after[i as usize] = share_byte(share_seed(name), i);
                }
            }
        }
        assert_eq!(compare_two_writers(&after, &before), Ok(()));
        // Neither writer's pages arrived.
        assert!(compare_two_writers(&before, &before)
            .unwrap_err()
            .contains("client-file-share-a's msync'd page did not reach"));
        // Only b's page 6 missing.
        let mut missing = after.clone();
        missing[6 * 4096..7 * 4096].copy_from_slice(&before[6 * 4096..7 * 4096]);
        assert!(compare_two_writers(&missing, &before)
            .unwrap_err()
            .contains("client-file-share-b's"));
        // b's pattern on a's page.
        let mut swapped = after.clone();
        for i in 4096..2 * 4096u64 {
            swapped[i as usize] = share_byte(b, i);
        }
        assert!(compare_two_writers(&swapped, &before)
            .unwrap_err()
            .contains("client-file-share-a's"));
        // A stray write on pages 0, 3, 4 and 7.
        for page in [0u64, 3, 4, 7] {
            let mut stray = after.clone();
            stray[(page * 4096 + 17) as usize] ^= 0x40;
            assert!(compare_two_writers(&stray, &before)
                .unwrap_err()
                .contains("stray"));
        }
        assert!(compare_two_writers(&after[1..], &before).is_err());
    }

    /// The image builds from `files/` and passes `e2fsck` untouched (the
    /// host needs e2fsprogs, as `cargo qemu` does).
    #[test]
    fn the_image_builds_and_checks_clean() {
        let (Some(mke2fs), Some(_)) = (find_program("mke2fs"), find_program("e2fsck")) else {
            panic!("e2fsprogs (mke2fs, e2fsck) is needed: apt-get install e2fsprogs");
        };
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = std::env::temp_dir().join(format!("qemu-files-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let image = dir.join("files.img");
        make_image(&mke2fs, &root.join("files"), &image).unwrap();
        assert_eq!(e2fsck(&image), Ok(()));
        let len = std::fs::metadata(&image).unwrap().len();
        assert_eq!(len, IMAGE_BYTES);
        // Untouched, the file is not what the writer leaves.
        assert!(written(&image, &root.join("files/write/target.bin")).is_err());
        assert!(msynced(&image, &root.join("files/map/shared.bin")).is_err());
        let mapped = std::fs::read(root.join("files/map/shared.bin")).unwrap();
        assert_eq!(debugfs_cat(&image, MAP_PATH).unwrap(), mapped);
        assert!(two_writers(&image, &root.join("files/map/two-writers.bin")).is_err());
        assert_eq!(
            unchanged(&image, &root.join("files/map/pagein-fail.bin")),
            Ok(())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
