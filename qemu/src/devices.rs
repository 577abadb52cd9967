//! Device regions a boot's spec names: every `device_frame` object called `ivshmem*` with a PCI BAR becomes QEMU's ivshmem-plain in that PCI slot, its shared memory a host file made afresh before the boot with a random seed in its first word, and checked on the host after a test boot: the seed still there and every other word the pattern `client-device` writes from it (`clients/device/src/pattern.rs`, shared through `#[path]`).

use crate::report::Tally;
use crate::step::{progress, Failure, Result};
use crate::Workspace;
use capdl::{ObjectKind, PciBar, Spec};
use std::path::PathBuf;

#[path = "../../clients/device/src/pattern.rs"]
mod pattern;

/// Objects named so are ivshmem-plain devices.
const PREFIX: &str = "ivshmem";
/// ivshmem-plain's shared memory is its BAR 2.
const SHARED_MEMORY_BAR: u8 = 2;

/// One ivshmem-plain of a boot.
#[derive(Debug)]
pub struct Ivshmem {
    /// The object's name in the spec.
    pub name: String,
    /// The host file behind its shared memory.
    pub file: PathBuf,
    pub size: u64,
    pub slot: u8,
    /// What the host wrote into word 0 before the boot.
    pub seed: u64,
}

impl Ivshmem {
    /// QEMU arguments: the file as a shared memory backend, the device in
    /// its slot.
    pub fn qemu_args(&self) -> Vec<String> {
        let id = format!("{}-mem", self.name);
        vec![
            "-object".into(),
            format!(
                "memory-backend-file,id={id},size={},share=on,mem-path={}",
                self.size,
                self.file.display()
            ),
            "-device".into(),
            format!("ivshmem-plain,memdev={id},addr={:02x}.0", self.slot),
        ]
    }
}

/// The ivshmem-plain devices `spec` asks for: a `device_frame` named
/// `ivshmem*` must be BAR 2 of function 0 on bus 0 (where QEMU puts the
/// device's shared memory).
pub fn wanted(spec: &Spec) -> std::result::Result<Vec<(String, u64, u8)>, String> {
    let mut out = Vec::new();
    for o in spec.objects.iter().filter(|o| o.name.starts_with(PREFIX)) {
        let ObjectKind::DeviceFrame { size, pci, .. } = o.kind else {
            continue;
        };
        match pci {
            Some(PciBar {
                bus: 0,
                dev,
                func: 0,
                bar: SHARED_MEMORY_BAR,
            }) => out.push((o.name.clone(), size, dev)),
            _ => {
                return Err(format!(
                    "device_frame {}: an ivshmem region must be `bus: 0, dev: N, func: 0, bar: 2` \
                     (ivshmem-plain's shared memory)",
                    o.name
                ))
            }
        }
    }
    Ok(out)
}

/// Makes the host file of every ivshmem-plain of `spec` afresh (zeros,
/// a new seed in word 0), for the boot of `spec_file`.
pub fn prepare(ws: &Workspace, spec_file: &str, spec: &Spec) -> Result<Vec<Ivshmem>> {
    let stem = spec_file.trim_end_matches(".spec");
    let mut out = Vec::new();
    for (name, size, slot) in wanted(spec).map_err(Failure::msg)? {
        let file = ws.target.join(format!("{stem}-{name}.img"));
        let seed = fresh_seed(&name);
        let mut bytes = vec![0u8; size as usize];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        std::fs::write(&file, &bytes)
            .map_err(|e| Failure::msg(format!("{}: {e}", file.display())))?;
        progress(
            "device",
            format!(
                "{} ({} KiB, ivshmem-plain in slot {slot}, seed {seed:#018x})",
                file.display(),
                size >> 10
            ),
        );
        out.push(Ivshmem {
            name,
            file,
            size,
            slot,
            seed,
        });
    }
    Ok(out)
}

/// A seed never 0 and new every boot (the time, the process and the name
/// mixed), so a file left from an earlier run cannot pass.
fn fresh_seed(name: &str) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let salt = name.bytes().fold(u64::from(std::process::id()), |h, b| {
        h.rotate_left(7) ^ u64::from(b)
    });
    pattern::word(nanos, salt) | 1
}

/// What the file holds after the boot: `Err` names the first wrong word.
fn verify(bytes: &[u8], seed: u64) -> std::result::Result<(), String> {
    for (i, chunk) in bytes.chunks_exact(8).enumerate() {
        let got = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let i = i as u64;
        let want = if i == pattern::SEED_WORD {
            seed
        } else {
            pattern::word(seed, i)
        };
        if got != want {
            return Err(format!(
                "word {i} (page {}, offset {:#x}) is {got:#018x}, want {want:#018x}{}",
                i / 512,
                (i % 512) * 8,
                if got == 0 {
                    " (never written: did client-device run?)"
                } else {
                    ""
                }
            ));
        }
    }
    Ok(())
}

/// After a test boot: every device file holds the host's seed and
/// `client-device`'s pattern, one host test each.
pub fn check(devices: &[Ivshmem], tally: &mut Tally) {
    for d in devices {
        let name = format!("device/{}-pattern", d.name);
        // Planned like a console test, so it cannot stand in for one
        // that never reported.
        tally.planned += 1;
        let r = std::fs::read(&d.file)
            .map_err(|e| format!("{}: {e}", d.file.display()))
            .and_then(|b| {
                if b.len() as u64 != d.size {
                    return Err(format!("{} bytes, want {}", b.len(), d.size));
                }
                verify(&b, d.seed)
            });
        tally.host_check(&name, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(seed: u64, words: u64) -> Vec<u8> {
        (0..words)
            .flat_map(|i| {
                let w = if i == 0 { seed } else { pattern::word(seed, i) };
                w.to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn the_pattern_is_checked_word_by_word() {
        let seed = 0x1234_5678_9abc_def1;
        let mut b = region(seed, 1024);
        assert_eq!(verify(&b, seed), Ok(()));
        // Another run's file, a stale seed, a word the client never wrote.
        assert!(verify(&region(seed ^ 2, 1024), seed).is_err());
        b[700 * 8] ^= 1;
        let e = verify(&b, seed).unwrap_err();
        assert!(e.starts_with("word 700 (page 1, offset 0x5e0)"), "{e}");
        let e = verify(&[0; 64], seed).unwrap_err();
        assert!(e.starts_with("word 0 "), "{e}");
        b[700 * 8] ^= 1;
        b[8..16].fill(0);
        assert!(verify(&b, seed).unwrap_err().contains("never written"));
    }

    #[test]
    fn words_differ_by_page_word_and_seed() {
        let mut seen = std::collections::HashSet::new();
        for i in 1..4096 {
            assert!(seen.insert(pattern::word(7, i)), "word {i}");
        }
        assert_ne!(pattern::word(7, 1), pattern::word(8, 1));
        assert_ne!(fresh_seed("a") & 1, 0);
    }

    #[test]
    fn only_ivshmem_regions_on_bar_2_are_attached() {
        let images = ["server", "client"];
        let spec = |o: &str| {
            capdl::load(
                &format!("arch x86_64\nobjects {{ {o} }}\ncomponent s {{ image = \"server\" }}"),
                &images,
            )
            .unwrap()
        };
        let s = spec("ivshmem = device_frame (1M, paddr: 0xe000_0000, dev: 6, bar: 2) fb = device_frame (4K, paddr: 0xfd00_0000)");
        assert_eq!(wanted(&s), Ok(vec![("ivshmem".into(), 1 << 20, 6)]));
        let s = spec("ivshmem-x = device_frame (4K, paddr: 0xe000_0000, dev: 6, bar: 0)");
        assert!(wanted(&s).unwrap_err().contains("bar: 2"));
        // The real boot's spec.
        let text = include_str!("../../capdl/vm-findings.spec");
        let known: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("image = \""))
            .map(|l| l.trim_end_matches('"'))
            .collect();
        let s = capdl::load(text, &known).unwrap();
        assert_eq!(wanted(&s), Ok(vec![("ivshmem".into(), 1 << 20, 6)]));
    }
}
