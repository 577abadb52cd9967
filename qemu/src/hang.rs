//! Where the guest's CPU was when a boot ran out its time: samples of its
//! registers through a QEMU monitor socket, named by the kernel's and the
//! programs' symbols.
//!
//! A boot that hangs says nothing on the console, and killing QEMU loses
//! what it was doing. Before the kill, `run_captured` asks the monitor
//! for `info registers` a few times: all samples halted in the kernel's
//! idle loop means every thread waits; samples in one program's code
//! mean it runs there, spinning or doing its work while another waits
//! for an answer that never comes (docs/testing.md, "A boot that
//! hangs").

use crate::hot_text::Symbols;
use crate::Workspace;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Samples taken, and the pause between them: long enough that a loop's
/// samples spread over its body, short enough for the whole probe to take
/// about two seconds.
const SAMPLES: usize = 16;
const PAUSE: Duration = Duration::from_millis(100);
/// How long one `info registers` may take to answer.
const ANSWER: Duration = Duration::from_secs(3);
/// Code bytes read at a program's RIP: enough to tell apart programs
/// whose functions start at the same address.
const CODE_BYTES: usize = 16;
/// Stack words read from a program's RSP up, searched for return
/// addresses (the callers, without unwinding information).
const STACK_WORDS: usize = 64;
/// Callers named at most.
const CALLERS: usize = 6;
/// Where the kernel's addresses start (x86-64's upper half).
const KERNEL_BASE: u64 = 0xffff_8000_0000_0000;

/// A boot's monitor socket and the ELF files that name its addresses.
/// Not `Clone`: dropping it removes the socket.
#[derive(Debug)]
pub struct Probe {
    socket: PathBuf,
    kernel: PathBuf,
    /// (name, ELF) of the root task and every program the spec boots.
    programs: Vec<(String, PathBuf)>,
}

/// One `info registers`: where the CPU was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub rip: u64,
    pub cr3: u64,
    /// Privilege level: 0 the kernel, 3 a program.
    pub cpl: u8,
    /// Halted (`hlt`, the kernel's idle thread waiting for an interrupt).
    pub halted: bool,
    pub rsp: u64,
    /// A program's code bytes at `rip` (empty in the kernel).
    pub code: Vec<u8>,
    /// A program's stack words from `rsp` up (empty in the kernel).
    pub stack: Vec<u64>,
}

impl Probe {
    /// The probe of a boot of `spec`, its socket in the temporary
    /// directory (a socket's path may hold about 100 bytes, which a deep
    /// target directory could pass; named by this process, so that boots
    /// of two `cargo qemu` runs at once do not share one).
    pub fn new(ws: &Workspace, spec: &capdl::Spec, root_task: &Path) -> Probe {
        let mut images: Vec<&str> = spec.components.iter().map(|c| c.image.as_str()).collect();
        images.sort();
        images.dedup();
        let mut programs = vec![("root-task".to_string(), root_task.to_path_buf())];
        programs.extend(
            images
                .into_iter()
                .map(|p| (p.to_string(), crate::images::program_path(ws, p))),
        );
        Probe {
            socket: std::env::temp_dir()
                .join(format!("cargo-qemu-hang-{}.sock", std::process::id())),
            kernel: ws.target.join("sel4-kernel/build/kernel.elf"),
            programs,
        }
    }

    /// QEMU's arguments for the monitor (a second one beside `-monitor
    /// none`, which stays off the console); a socket left by this
    /// process's last boot is removed first, or QEMU could not bind it.
    pub fn qemu_args(&self) -> Vec<String> {
        let _ = std::fs::remove_file(&self.socket);
        vec![
            "-monitor".into(),
            format!("unix:{},server=on,wait=off", self.socket.display()),
        ]
    }

    /// Samples the running guest and says where it was, one line per place,
    /// most frequent first, and why sampling stopped early if it did.
    pub fn report(&self) -> String {
        let mut samples = Vec::new();
        let stopped = self.sample(&mut samples).err();
        let mut text = if samples.is_empty() {
            "no CPU samples".to_string()
        } else {
            let mut names = Namer::new(&self.kernel, &self.programs);
            summarise(&names.name_all(&samples))
        };
        if let Some(e) = stopped {
            text += &format!("\n  (sampling stopped: {e})");
        }
        text
    }

    /// Adds up to [`SAMPLES`] samples to `samples`; the error that ended
    /// them early, if one did.
    fn sample(&self, samples: &mut Vec<Sample>) -> std::io::Result<()> {
        let mut monitor = UnixStream::connect(&self.socket)?;
        monitor.set_read_timeout(Some(Duration::from_millis(200)))?;
        for i in 0..SAMPLES {
            if i > 0 {
                std::thread::sleep(PAUSE);
            }
            // Stopped, the registers and the code read next belong to the
            // same moment and address space.
            command(&mut monitor, "stop")?;
            let taken = sample_stopped(&mut monitor);
            command(&mut monitor, "cont")?;
            samples.push(taken?);
        }
        Ok(())
    }
}

/// One sample of a stopped guest: its registers, and for a program the
/// code bytes at its RIP (which tell programs linked at the same address
/// apart) and the stack words above its RSP.
fn sample_stopped(monitor: &mut UnixStream) -> std::io::Result<Sample> {
    let text = command(monitor, "info registers")?;
    let mut s = parse_registers(&text).ok_or_else(|| {
        std::io::Error::other(format!(
            "the monitor's answer has no RIP/CR3: {:?}",
            text.chars().take(200).collect::<String>()
        ))
    })?;
    if s.cpl == 3 {
        let code = command(monitor, &format!("x/{CODE_BYTES}xb {:#x}", s.rip))?;
        s.code = parse_values(&code).into_iter().map(|b| b as u8).collect();
        s.stack = parse_values(&command(
            monitor,
            &format!("x/{STACK_WORDS}gx {:#x}", s.rsp),
        )?);
    }
    Ok(s)
}

/// Sends one monitor command and reads its answer, up to the next prompt.
fn command(monitor: &mut UnixStream, line: &str) -> std::io::Result<String> {
    monitor.write_all(format!("{line}\n").as_bytes())?;
    let deadline = Instant::now() + ANSWER;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    let echo = line.split(' ').next().unwrap_or(line);
    while Instant::now() < deadline {
        match monitor.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
        // The answer ends at the prompt after the command's echo (the
        // banner's prompt comes before it on the first command, `stop`:
        // a first command whose word the banner holds, such as `info`,
        // would be taken as answered by the banner).
        if let Some(at) = text.rfind(echo) {
            if text[at..].contains("(qemu)") {
                return Ok(text);
            }
        }
    }
    Err(std::io::Error::other(format!(
        "no answer to `{line}` within {}s",
        ANSWER.as_secs()
    )))
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The last register dump in `text` (QEMU's `info registers` for x86).
pub fn parse_registers(text: &str) -> Option<Sample> {
    let tail = &text[text.rfind("RAX=")?..];
    Some(Sample {
        rip: hex_after(tail, "RIP=")?,
        cr3: hex_after(tail, "CR3=")?,
        cpl: hex_after(tail, "CPL=")? as u8,
        halted: hex_after(tail, "HLT=")? == 1,
        rsp: hex_after(tail, "RSP=")?,
        code: Vec::new(),
        stack: Vec::new(),
    })
}

/// The values of QEMU's `x/N..` answer (`address: 0x48 0x89 ...` lines).
pub fn parse_values(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(addr, _)| !addr.is_empty() && addr.trim().chars().all(|c| c.is_ascii_hexdigit()))
        .flat_map(|(_, values)| values.split_whitespace())
        .filter_map(|v| u64::from_str_radix(v.strip_prefix("0x")?, 16).ok())
        .collect()
}

/// The hexadecimal number right after the first `key` in `text`.
fn hex_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    u64::from_str_radix(&digits, 16).ok()
}

/// Counts the samples by place, most frequent first.
pub fn summarise(places: &[String]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in places {
        *counts.entry(p).or_default() += 1;
    }
    let mut rows: Vec<(&str, usize)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut out = format!(
        "where the CPU was in {} samples {} ms apart:",
        places.len(),
        PAUSE.as_millis()
    );
    for (place, n) in rows {
        out += &format!("\n  {n:>3} x {place}");
    }
    out
}

/// Names addresses: the kernel's by its symbols, a program's by the
/// program whose function there has the code sampled (all but the VM
/// server link at the same address). A kernel sample is named with the
/// program whose address space (CR3) it ran in, once a program sample
/// named that space.
struct Namer {
    kernel: Option<Symbols>,
    /// (name, symbols, the ELF's bytes).
    programs: Vec<(String, Option<Symbols>, Vec<u8>)>,
    /// Address spaces named so far, by CR3.
    spaces: BTreeMap<u64, String>,
}

impl Namer {
    fn new(kernel: &Path, programs: &[(String, PathBuf)]) -> Namer {
        Namer {
            kernel: Symbols::of(kernel).ok(),
            programs: programs
                .iter()
                .map(|(n, p)| {
                    let elf = std::fs::read(p).unwrap_or_default();
                    (n.clone(), Symbols::of(p).ok(), elf)
                })
                .collect(),
            spaces: BTreeMap::new(),
        }
    }

    /// Names every sample's address space it can, then each sample.
    fn name_all(&mut self, samples: &[Sample]) -> Vec<String> {
        for s in samples.iter().filter(|s| !in_kernel(s)) {
            if let [(name, _)] = self.candidates(s)[..] {
                let name = name.to_string();
                self.spaces.insert(s.cr3, name);
            }
        }
        samples.iter().map(|s| self.place(s)).collect()
    }

    /// (program, function) pairs that may have run `s`: a function at
    /// its RIP, with the sampled code there if any was read.
    fn candidates(&self, s: &Sample) -> Vec<(&str, String)> {
        self.programs
            .iter()
            .filter(|(_, _, elf)| {
                s.code.is_empty() || elf_bytes(elf, s.rip, s.code.len()) == Some(&s.code[..])
            })
            .filter_map(|(n, syms, _)| Some((n.as_str(), demangle(syms.as_ref()?.at(s.rip)?))))
            .collect()
    }

    fn place(&self, s: &Sample) -> String {
        let state = if s.halted { ", halted" } else { "" };
        let space = match self.spaces.get(&s.cr3) {
            Some(name) => format!("{name}'s space"),
            None => format!("CR3 {:#x}", s.cr3),
        };
        if in_kernel(s) {
            let f = self.kernel.as_ref().and_then(|k| k.at(s.rip));
            return format!("kernel {} ({space}){state}", f.map_or("?".into(), demangle));
        }
        let mut found = self.candidates(s);
        if let Some(name) = self.spaces.get(&s.cr3) {
            found.retain(|(n, _)| n == name);
        }
        let what = match &found[..] {
            [] => format!("{:#x} ({space})", s.rip),
            [(program, f)] => format!("{program}: {f}{}", self.callers(program, &s.stack)),
            _ => {
                let names: Vec<String> = found.iter().map(|(n, f)| format!("{n}: {f}")).collect();
                names.join(" or ")
            }
        };
        format!("{what}{state}")
    }

    /// ` <- caller <- ...`: the functions of `program` that the words of
    /// `stack` point into, nearest first, each run of one named once
    /// (return addresses, and now and then a stale word: a hint, not an
    /// unwind).
    fn callers(&self, program: &str, stack: &[u64]) -> String {
        let Some(syms) = self
            .programs
            .iter()
            .find(|p| p.0 == program)
            .and_then(|p| p.1.as_ref())
        else {
            return String::new();
        };
        let mut names: Vec<&str> = Vec::new();
        for f in stack.iter().filter_map(|&w| syms.at(w)) {
            if names.last() != Some(&f) && names.len() < CALLERS {
                names.push(f);
            }
        }
        names
            .iter()
            .map(|f| format!(" <- {}", demangle(f)))
            .collect()
    }
}

fn in_kernel(s: &Sample) -> bool {
    s.rip >= KERNEL_BASE || s.cpl == 0
}

/// `len` bytes of a 64-bit little-endian ELF's loaded image at virtual
/// address `addr` (from its `PT_LOAD` segments' file contents).
fn elf_bytes(elf: &[u8], addr: u64, len: usize) -> Option<&[u8]> {
    let word = |at: usize, n: usize| -> Option<u64> {
        let b = elf.get(at..at + n)?;
        Some(b.iter().rev().fold(0, |v, &x| (v << 8) | u64::from(x)))
    };
    if elf.get(..5)? != b"\x7fELF\x02" {
        return None;
    }
    let (phoff, phentsize, phnum) = (word(0x20, 8)?, word(0x36, 2)?, word(0x38, 2)?);
    (0..phnum).find_map(|i| {
        let ph = usize::try_from(phoff + i * phentsize).ok()?;
        let (kind, offset, vaddr, filesz) = (
            word(ph, 4)?,
            word(ph + 8, 8)?,
            word(ph + 16, 8)?,
            word(ph + 32, 8)?,
        );
        let inside = kind == 1 && addr >= vaddr && addr + len as u64 <= vaddr + filesz;
        let at = usize::try_from(offset + addr.checked_sub(vaddr)?).ok()?;
        inside.then(|| elf.get(at..at + len)).flatten()
    })
}

fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boot_with_no_monitor_to_reach_says_so() {
        let probe = Probe {
            socket: std::env::temp_dir().join("cargo-qemu-hang-test-absent.sock"),
            kernel: "/nonexistent/kernel.elf".into(),
            programs: Vec::new(),
        };
        let text = probe.report();
        assert!(
            text.starts_with("no CPU samples\n  (sampling stopped: "),
            "{text}"
        );
    }

    // Trimmed from QEMU 7.2's answer on the socket, echo and prompt included.
    const ANSWER_TEXT: &str = "info registers\r\n\
        RAX=0000000000000000 RBX=0000000000000001 RCX=0000000010003a6e RDX=0000000000000000\r\n\
        RSI=0000000000000000 RDI=0000000000000000 RBP=0000000000000000 RSP=00000000007fff00\r\n\
        RIP=0000000010003a70 RFL=00000202 [-------] CPL=3 II=0 A20=1 SMM=0 HLT=0\r\n\
        ES =0000 0000000000000000 ffffffff 00c00000\r\n\
        CR0=80010033 CR2=0000000000000000 CR3=0000000000419000 CR4=000006b0\r\n\
        (qemu) ";

    fn at(rip: u64, cr3: u64, cpl: u8, code: &[u8]) -> Sample {
        Sample {
            rip,
            cr3,
            cpl,
            halted: false,
            rsp: 0x7f_ff00,
            code: code.to_vec(),
            stack: Vec::new(),
        }
    }

    #[test]
    fn a_register_dump_gives_rip_cr3_privilege_and_halt() {
        let s = parse_registers(ANSWER_TEXT).unwrap();
        assert_eq!(s, at(0x1000_3a70, 0x41_9000, 3, &[]));
        let idle = ANSWER_TEXT
            .replace("RAX=0000000000000000", "RAX=0000000000000001")
            .replace("RIP=0000000010003a70", "RIP=ffffffff80012345")
            .replace("CPL=3", "CPL=0")
            .replace("HLT=0", "HLT=1");
        let s = parse_registers(&format!("{ANSWER_TEXT}{idle}")).unwrap();
        assert_eq!((s.rip, s.cpl, s.halted), (0xffff_ffff_8001_2345, 0, true));
        assert_eq!(parse_registers("(qemu) "), None);
        assert_eq!((s.rsp, s.cpl), (0x7f_ff00, 0));
        assert_eq!(
            parse_registers("RAX=0 RSP=1 RIP=zz CR3=1 CPL=0 HLT=0"),
            None
        );
    }

    #[test]
    fn a_memory_dump_gives_its_values() {
        let text = "x/10xb 0x401000\r\n\
                    0000000000401000: 0x48 0x89 0xe5 0x00 0xff 0x01 0x02 0x03\r\n\
                    0000000000401008: 0xc3 0x90\r\n(qemu) ";
        assert_eq!(
            parse_values(text),
            [0x48, 0x89, 0xe5, 0, 0xff, 1, 2, 3, 0xc3, 0x90]
        );
        let words = "x/2gx 0x7fff00\r\n\
                     00000000007fff00: 0x0000000010001010 0xffffffffffffffff\r\n(qemu) ";
        assert_eq!(parse_values(words), [0x1000_1010, u64::MAX]);
        assert!(parse_values("Cannot access memory\r\n(qemu) ").is_empty());
    }

    #[test]
    fn places_are_counted_most_frequent_first() {
        let places = ["b".to_string(), "a".into(), "b".into()];
        assert_eq!(
            summarise(&places),
            "where the CPU was in 3 samples 100 ms apart:\n    2 x b\n    1 x a"
        );
    }

    /// A 64-bit ELF whose one `PT_LOAD` segment puts `code` at `vaddr`.
    fn elf(vaddr: u64, code: &[u8]) -> Vec<u8> {
        let mut e = vec![0u8; 64 + 56];
        e[..5].copy_from_slice(b"\x7fELF\x02");
        e[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        e[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        e[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        let ph = 64;
        e[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes());
        e[ph + 8..ph + 16].copy_from_slice(&120u64.to_le_bytes());
        e[ph + 16..ph + 24].copy_from_slice(&vaddr.to_le_bytes());
        e[ph + 32..ph + 40].copy_from_slice(&(code.len() as u64).to_le_bytes());
        e.extend_from_slice(code);
        e
    }

    #[test]
    fn a_command_is_answered_at_the_prompt_after_its_echo_or_times_out() {
        let (mut ours, mut qemu) = UnixStream::pair().expect("a socket pair");
        ours.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("a read timeout");
        // The banner's prompt before the echo does not answer `stop`.
        qemu.write_all(b"QEMU 7.2 monitor\r\n(qemu) stop\r\n(qemu) ")
            .expect("the answer");
        let answer = command(&mut ours, "stop").expect("an answer");
        assert!(answer.ends_with("stop\r\n(qemu) "), "{answer:?}");
        // A monitor that never answers: an error after `ANSWER`, the
        // command sent all the same.
        let started = Instant::now();
        let e = command(&mut ours, "cont").unwrap_err();
        assert!(started.elapsed() >= ANSWER, "{:?}", started.elapsed());
        assert!(
            e.to_string().contains("no answer to `cont` within 3s"),
            "{e}"
        );
        let mut sent = [0u8; 16];
        let n = qemu.read(&mut sent).expect("the commands sent");
        assert_eq!(&sent[..n], b"stop\ncont\n");
    }

    #[test]
    fn an_elf_gives_the_bytes_it_loads_at_an_address() {
        let e = elf(0x40_1000, &[1, 2, 3, 4]);
        assert_eq!(elf_bytes(&e, 0x40_1001, 2), Some(&[2u8, 3][..]));
        assert_eq!(elf_bytes(&e, 0x40_1003, 2), None);
        assert_eq!(elf_bytes(&e, 0x40_0fff, 1), None);
        assert_eq!(elf_bytes(b"not an elf", 0, 1), None);
    }

    #[test]
    fn samples_are_named_by_the_program_whose_code_matches_and_its_space() {
        let sym = |nm: &str| Some(Symbols::parse(nm));
        let mut names = Namer {
            kernel: sym("ffffffff80001000 0000000000000100 T idle_thread\n"),
            programs: vec![
                (
                    "vm-server".into(),
                    sym("0000000010001000 0000000000000100 T settle\n\
                         0000000010002000 0000000000000100 T handle\n\
                         0000000010003000 0000000000000100 T serve\n"),
                    elf(0x1000_1000, &[0x90; 0x100]),
                ),
                (
                    "client".into(),
                    sym("0000000000401000 0000000000000100 T main\n"),
                    elf(0x40_1000, &[0xaa; 0x100]),
                ),
                (
                    "blk".into(),
                    sym("0000000000401000 0000000000000080 T run\n"),
                    elf(0x40_1000, &[0xbb; 0x100]),
                ),
            ],
            spaces: BTreeMap::new(),
        };
        let idle = Sample {
            halted: true,
            ..at(0xffff_ffff_8000_1010, 0x3000, 0, &[])
        };
        let samples = [
            idle,
            at(0xffff_ffff_8000_1020, 0x2000, 0, &[]),
            Sample {
                stack: vec![7, 0x1000_2010, 0x1000_2020, 0, 0x1000_3010, 0x1000_2010],
                ..at(0x1000_1010, 0x2000, 3, &[0x90; 4])
            },
            at(0x40_1010, 0x5000, 3, &[0xbb; 4]),
            at(0x40_1010, 0x6000, 3, &[]),
            at(0x40_1010, 0x7000, 3, &[0xcc; 4]),
        ];
        assert_eq!(
            names.name_all(&samples),
            [
                "kernel idle_thread (CR3 0x3000), halted",
                "kernel idle_thread (vm-server's space)",
                "vm-server: settle <- handle <- serve <- handle",
                "blk: run",
                // No code read: every program with a function there.
                "client: main or blk: run",
                "0x401010 (CR3 0x7000)",
            ]
        );
    }
}
