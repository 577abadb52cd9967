//! Real filesystem images for the tests: a tree of known files written to a temporary folder and turned into an image by Debian's `mke2fs -d` (ext2 with 4 KiB blocks as `cargo qemu` makes, ext2 with 1 KiB blocks, ext4 with extents, hashed directories, 64-bit descriptors, checksums and a journal).
#![allow(dead_code)]

use file_api::{FileClient, Loopback};
use file_fs::{FileServer, MemDisk, Volume};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The kinds of image every test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Ext2,
    Ext2SmallBlocks,
    Ext4,
}

pub const VARIANTS: [Variant; 3] = [Variant::Ext2, Variant::Ext2SmallBlocks, Variant::Ext4];

/// Byte `i` of `/data/pattern.bin` (as in the repository's `files/`).
pub fn pattern(i: u64) -> u8 {
    ((i.wrapping_mul(0x9e37_79b1) & 0xffff_ffff) >> 11 ^ i >> 12) as u8
}

pub const PATTERN_LEN: u64 = 5 * 4096 + 123;
pub const HELLO: &[u8] = b"Hello from the file server.\n";
pub const NOTE: &[u8] = b"three directories down\n";
/// `/big.bin`: long enough for double-indirect blocks with 1 KiB blocks.
pub const BIG_LEN: u64 = 300 * 1024 + 17;
/// Entries of `/many`: more than one directory block (hashed on ext4).
pub const MANY: usize = 300;

pub fn big(i: u64) -> u8 {
    (i % 253) as u8 ^ (i >> 10) as u8
}

/// `/write/target.bin`'s original bytes.
pub fn target(i: u64) -> u8 {
    b"target line, overwritten in place\n"[(i % 34) as usize]
}
pub const TARGET_LEN: u64 = 4 * 4096 + 100;

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not found: the file-fs tests need e2fsprogs (apt-get install e2fsprogs)");
}

/// Writes the test tree under `dir`.
fn tree(dir: &Path) {
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};
    let _ = fs::remove_dir_all(dir);
    for d in ["data", "docs/nested/deep", "write", "many", "empty-dir"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::write(dir.join("hello.txt"), HELLO).unwrap();
    fs::write(
        dir.join("data/pattern.bin"),
        (0..PATTERN_LEN).map(pattern).collect::<Vec<u8>>(),
    )
    .unwrap();
    let mut sparse = vec![b's'; 3 * 4096];
    sparse[4096..8192].fill(0);
    fs::write(dir.join("data/sparse.bin"), sparse).unwrap();
    fs::write(dir.join("docs/nested/deep/note.txt"), NOTE).unwrap();
    fs::write(
        dir.join("write/target.bin"),
        (0..TARGET_LEN).map(target).collect::<Vec<u8>>(),
    )
    .unwrap();
    fs::write(
        dir.join("big.bin"),
        (0..BIG_LEN).map(big).collect::<Vec<u8>>(),
    )
    .unwrap();
    fs::write(dir.join("empty.txt"), b"").unwrap();
    fs::write(dir.join("readonly.txt"), b"read me only\n").unwrap();
    fs::set_permissions(dir.join("readonly.txt"), fs::Permissions::from_mode(0o444)).unwrap();
    for i in 0..MANY {
        fs::write(dir.join(format!("many/file-{i:03}")), format!("{i}\n")).unwrap();
    }
    symlink("data/pattern.bin", dir.join("link")).unwrap();
    symlink("loop", dir.join("loop")).unwrap();
    symlink("/docs/nested", dir.join("docs/up")).unwrap();
    let fifo = dir.join("fifo");
    let ok = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(ok.success(), "mkfifo");
}

/// Makes an image of `variant` from the tree; returns its path.
pub fn make_image(variant: Variant, dir: &Path) -> PathBuf {
    let src = dir.join("tree");
    tree(&src);
    let image = dir.join(format!("{variant:?}.img"));
    let _ = std::fs::remove_file(&image);
    let f = std::fs::File::create(&image).unwrap();
    f.set_len(16 << 20).unwrap();
    drop(f);
    let args: &[&str] = match variant {
        Variant::Ext2 => &["-t", "ext2", "-b", "4096"],
        Variant::Ext2SmallBlocks => &["-t", "ext2", "-b", "1024"],
        Variant::Ext4 => &["-t", "ext4", "-b", "4096", "-O", "64bit,metadata_csum"],
    };
    let out = Command::new(tool("mke2fs"))
        .args(["-q", "-F", "-m", "0", "-L", "test"])
        .args(args)
        .arg("-d")
        .arg(&src)
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mke2fs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    image
}

/// A fresh directory of its own for one caller, who removes it when done
/// (one per call, so parallel tests never remove each other's files).
fn scratch() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("file-fs-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The image bytes of `variant` (made once per test process).
pub fn image(variant: Variant) -> Vec<u8> {
    static IMAGES: [OnceLock<Vec<u8>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = VARIANTS.iter().position(|&v| v == variant).unwrap();
    IMAGES[i]
        .get_or_init(|| {
            let dir = scratch();
            let path = make_image(variant, &dir);
            let bytes = std::fs::read(&path).unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            bytes
        })
        .clone()
}

/// A server over a fresh copy of `variant`'s image.
pub fn server(variant: Variant) -> FileServer<MemDisk> {
    FileServer::new(Volume::load(MemDisk::new(image(variant))))
}

/// The client stub for client `id` of `svc`.
pub fn client(
    svc: &mut FileServer<MemDisk>,
    id: u64,
) -> FileClient<Loopback<'_, FileServer<MemDisk>>> {
    FileClient::with_transport(Loopback {
        service: svc,
        client: id,
    })
}

/// Runs `e2fsck -fn` on `bytes`; panics with its output unless clean.
pub fn e2fsck_clean(bytes: &[u8], what: &str) {
    let dir = scratch();
    let path = dir.join(format!("check-{what}.img"));
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new(tool("e2fsck"))
        .arg("-fn")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "e2fsck -fn on {what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `debugfs -R "cat PATH"` on `bytes`.
pub fn debugfs_cat(bytes: &[u8], path: &str, what: &str) -> Vec<u8> {
    let dir = scratch();
    let image = dir.join(format!("cat-{what}.img"));
    std::fs::write(&image, bytes).unwrap();
    let out = Command::new(tool("debugfs"))
        .arg("-R")
        .arg(format!("cat {path}"))
        .arg(&image)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "debugfs");
    out.stdout
}
