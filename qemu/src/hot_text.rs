//! `cargo qemu bench --hot-text`: finds the VM server functions that
//! faults and requests run, using QEMU's own tracing. It writes them as
//! the linker-script fragment that the server's link places first in its
//! text (`vm-server/server/hot-text.ld`; docs/performance.md, "Code
//! layout").
//!
//! **Why.** Under TCG every page-table switch empties QEMU's software
//! TLB, so each code page a message reaches costs a refill again. Packing
//! the functions a fault runs into a few pages measured 0.02–0.06 floor
//! off the fault rows, with LTO and without.
//!
//! **How.**
//! - The server links at its own base (`vm-server/server/build.rs`), so
//!   QEMU's `-dfilter` keeps its code apart from the other programs', which
//!   all start at 4 MiB.
//! - `log exec` is switched on through the QEMU monitor at the VM
//!   server's start of its client, after its own set-up and before
//!   bench-fault's request rounds, and off after its copy-on-write rounds.
//! - Each `Trace` line the log gets is one translation block entered other
//!   than by a direct jump QEMU chained. A message starts at the block
//!   after a receive system call in `vm_server::serve`. The functions are
//!   ranked by the messages that entered them, then by their entries, and
//!   taken until they cover [`COVER`] of the entries or fill
//!   [`MAX_BYTES`]. So the functions every message runs come first, then
//!   those of faults, the most common messages, and a function entered
//!   often by a few messages (an idle turn's, a request's) does not sit
//!   between them: ranked by entries alone, such functions split the
//!   fault path's code (docs/performance.md, "Code pages"). `memcpy` and
//!   `memset` go right after the loop, whatever their rank (`choose`).
//! - Names are written without their hash, so the fragment survives
//!   rebuilds. A function renamed since is no longer matched; that costs
//!   only speed.

use crate::machine::{self, BootOptions};
use crate::step::{binutils, progress, Failure, Result};
use crate::{Options, Workspace};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The console line after which tracing starts: the VM server's start of
/// its client, after its own set-up (whose loops over every pool frame
/// would otherwise rank `init` among the hot functions) and well before
/// bench-fault's first (request) rounds, since block-test and the file
/// server run first. Console lines arrive late, and those rounds take a
/// few hundredths of a second.
pub const START: &str = "vm-server: started client";
/// The console line at which it stops: the copy-on-write rounds' kinds.
pub const STOP: &str = "BENCH-KINDS vm-fault-cow";
/// Share of the traced block entries the chosen functions cover.
const COVER: f64 = 0.99;
/// Most bytes of functions placed first: 64 pages. With LTO and the
/// profile's inlining the fault path is a few large functions: 128 KiB
/// held 26 of them and covered 93% of the entries, 256 KiB covers 99%
/// and measured ping 0.02–0.03 floor lower (docs/performance.md, "The
/// code side again").
const MAX_BYTES: u64 = 256 << 10;
/// The fragment, relative to the workspace.
pub const FRAGMENT: &str = "vm-server/server/hot-text.ld";

/// The window of bench-fault's request and fault rounds: [`START`] ..
/// [`STOP`].
pub const FAULT_ROUNDS: (&str, &str) = (START, STOP);

/// Boots `boot`, calls `start` at the console line beginning with
/// `window.0` and `stop` (with that line) at the first beginning with
/// `window.1` after it, and stops the boot a second later (QEMU closes
/// its log, and the data-pages plugin writes its lines, on their own).
/// An error, with what QEMU itself said, if the boot ended before.
pub fn boot_over_window(
    boot: &BootOptions,
    timeout: Duration,
    window: (&str, &str),
    mut start: impl FnMut(),
    mut stop: impl FnMut(&str),
) -> Result<()> {
    let (open, close) = window;
    let mut seen = (false, false);
    // QEMU's own complaints (a plugin that refused its arguments, ...).
    let mut qemu_said = String::new();
    let exit = machine::run_captured(boot, timeout, |line| {
        // The guest's serial lines may start with a carriage return.
        let line = line.trim_start();
        if line.starts_with("qemu") {
            qemu_said.push_str(&format!("\n  {line}"));
        }
        if line.starts_with(open) && !seen.0 {
            seen.0 = true;
            start();
        } else if line.starts_with(close) && seen.0 {
            seen.1 = true;
            stop(line);
            std::thread::sleep(Duration::from_secs(1));
            return false;
        }
        true
    })?;
    if seen.1 {
        return Ok(());
    }
    Err(Failure::msg(format!(
        "the boot ended ({exit:?}) before its window closed (`{open}` .. `{close}`){qemu_said}"
    )))
}

/// Boots bench.spec with the server's code traced and writes [`FRAGMENT`].
pub fn run(ws: &Workspace, o: &Options) -> Result<bool> {
    let boot = crate::build(ws, &o.boot_of("bench.spec"), o)?;
    let elf = crate::images::program_path(ws, "vm-server");
    let symbols = Symbols::of(&elf)?;
    let (lo, hi) = symbols
        .text_range()
        .ok_or_else(|| Failure::msg(format!("{}: no function symbols", elf.display())))?;
    let dir = ws.target.join("hot-text");
    std::fs::create_dir_all(&dir).map_err(|e| Failure::msg(format!("{}: {e}", dir.display())))?;
    let (socket, log) = (dir.join("monitor.sock"), dir.join("exec.log"));
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&log);
    // A second monitor beside the boot's `-monitor none`, on a socket.
    let mut traced = boot;
    traced.extra.extend([
        "-monitor".into(),
        format!("unix:{},server=on,wait=off", socket.display()),
        "-dfilter".into(),
        format!("{lo:#x}..{hi:#x}"),
        "-D".into(),
        log.display().to_string(),
    ]);
    progress("hot-text", format!("tracing {lo:#x}..{hi:#x} of vm-server"));
    let monitor: std::cell::RefCell<Option<UnixStream>> = Default::default();
    boot_over_window(
        &traced,
        o.timeout,
        FAULT_ROUNDS,
        || {
            let mut m = monitor.borrow_mut();
            *m = UnixStream::connect(&socket).ok();
            send(&mut m, "log exec");
        },
        |_| send(&mut monitor.borrow_mut(), "log none"),
    )?;
    if monitor.borrow().is_none() {
        return Err(Failure::msg(format!(
            "no QEMU monitor at {}",
            socket.display()
        )));
    }
    let text = std::fs::read_to_string(&log)
        .map_err(|e| Failure::msg(format!("{}: {e}", log.display())))?;
    let (starts, _) = crate::data_pages::system_calls(&disassembly(&elf)?, SERVE);
    if starts.is_empty() {
        return Err(Failure::msg(format!(
            "{}: no system call in {SERVE}",
            elf.display()
        )));
    }
    let entries = count_entries(&symbols, &starts.into_iter().collect(), text.lines());
    let total: u64 = entries.values().map(|e| e.blocks).sum();
    if total == 0 {
        return Err(Failure::msg(format!(
            "{}: no trace of vm-server's code",
            log.display()
        )));
    }
    let chosen = choose(&entries, &symbols);
    let covered: u64 = chosen.iter().map(|f| entries[f].blocks).sum();
    let bytes: u64 = chosen.iter().map(|f| symbols.size(f)).sum();
    let out = ws.root.join(FRAGMENT);
    std::fs::write(&out, fragment(&chosen))
        .map_err(|e| Failure::msg(format!("{}: {e}", out.display())))?;
    let _ = std::fs::remove_file(&log);
    println!(
        "{} functions, {} KiB, cover {:.1}% of {total} traced block entries: written to {FRAGMENT} \
         (the next build links them first; `cargo qemu bench` measures it)",
        chosen.len(),
        bytes >> 10,
        covered as f64 * 100.0 / total as f64,
    );
    Ok(true)
}

/// Sends one monitor command; a monitor that is gone stays gone.
fn send(monitor: &mut Option<UnixStream>, command: &str) {
    if let Some(m) = monitor {
        if m.write_all(format!("{command}\n").as_bytes()).is_err() {
            *monitor = None;
        }
    }
}

/// A program's function symbols, by address (from binutils' `nm`).
pub struct Symbols {
    /// (start, size, name), sorted by start.
    functions: Vec<(u64, u64, String)>,
}

impl Symbols {
    pub fn of(elf: &Path) -> Result<Symbols> {
        Ok(Symbols::parse(&nm(elf)?))
    }

    /// Reads `nm -n -S` output: `address size type name`, text types only.
    pub fn parse(nm: &str) -> Symbols {
        Symbols {
            functions: nm_symbols(nm, &["t", "T", "w", "W"]),
        }
    }

    /// The function `pc` is in.
    pub fn at(&self, pc: u64) -> Option<&str> {
        let i = self
            .functions
            .partition_point(|f| f.0 <= pc)
            .checked_sub(1)?;
        let (start, size, name) = &self.functions[i];
        (pc < start + size.max(&1)).then_some(name.as_str())
    }

    fn size(&self, name: &str) -> u64 {
        self.functions
            .iter()
            .find(|f| f.2 == name)
            .map_or(0, |f| f.1)
    }

    /// The start and end of every function whose name contains `fragment`.
    pub fn ranges_containing(&self, fragment: &str) -> Vec<(u64, u64)> {
        self.functions
            .iter()
            .filter(|f| f.2.contains(fragment))
            .map(|f| (f.0, f.0 + f.1))
            .collect()
    }

    /// From the first function's start to the last one's end.
    pub fn text_range(&self) -> Option<(u64, u64)> {
        let first = self.functions.first()?;
        let end = self.functions.iter().map(|f| f.0 + f.1).max()?;
        Some((first.0, end))
    }
}

/// `nm -n -S` of `elf`: its symbols by address, with their sizes.
pub fn nm(elf: &Path) -> Result<String> {
    binutils("nm", &["-n", "-S", "--defined-only"], elf)
}

/// `objdump -d` of `elf`, without the instruction bytes.
pub fn disassembly(elf: &Path) -> Result<String> {
    binutils("objdump", &["-d", "--no-show-raw-insn"], elf)
}

/// The symbols of `nm -n -S` output whose type is one of `types`, as
/// (start, size, name), sorted by start.
pub fn nm_symbols(nm: &str, types: &[&str]) -> Vec<(u64, u64, String)> {
    let mut v: Vec<(u64, u64, String)> = nm
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [addr, size, ty, name] = f[..] else {
                return None;
            };
            if !types.contains(&ty) {
                return None;
            }
            let hex = |s: &str| u64::from_str_radix(s, 16).ok();
            Some((hex(addr)?, hex(size)?, name.to_string()))
        })
        .collect();
    v.sort();
    v
}

/// The block address of one line of QEMU's `-d exec` log:
/// `Trace 0: 0x7f.. [cs_base/pc/flags/cflags] name`.
pub fn traced_pc(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("Trace ")?;
    let fields = rest.split_once('[')?.1;
    let pc = fields.split('/').nth(1)?;
    u64::from_str_radix(pc, 16).ok()
}

/// The server loop's function, whose receive system call starts a
/// message.
const SERVE: &str = "_ZN9vm_server5serve17h";

/// How a function was entered over the trace.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Entries {
    /// Messages that entered it at least once.
    pub messages: u64,
    /// Blocks of it entered (not by a chained jump).
    pub blocks: u64,
}

/// Entries per function; a message starts at each address in `starts`.
pub fn count_entries<'a>(
    symbols: &Symbols,
    starts: &BTreeSet<u64>,
    lines: impl Iterator<Item = &'a str>,
) -> BTreeMap<String, Entries> {
    let mut entries: BTreeMap<String, Entries> = BTreeMap::new();
    // The functions the current message entered.
    let mut entered: BTreeSet<&str> = BTreeSet::new();
    for pc in lines.filter_map(traced_pc) {
        if starts.contains(&pc) {
            entered.clear();
        }
        if let Some(name) = symbols.at(pc) {
            let e = entries.entry(name.to_string()).or_default();
            e.blocks += 1;
            if entered.insert(name) {
                e.messages += 1;
            }
        }
    }
    entries
}

/// The C library's copy and fill functions ([`choose`] puts them on the
/// loop's page).
const SHARED_ROUTINES: &[&str] = &["memcpy", "memset"];

/// The functions the most messages entered, then the most entered, in
/// order, until they cover [`COVER`] of all entries or reach
/// [`MAX_BYTES`]; of those chosen, [`SHARED_ROUTINES`] right after the
/// first (the loop). Any kind of message may call them, and they are a
/// few hundred bytes: ranked by messages they sat among one kind's
/// functions, and a request reached a code page for them alone (ping:
/// 4 code pages instead of 5, docs/performance.md, "The FPU's lazy
/// switch").
pub fn choose(entries: &BTreeMap<String, Entries>, symbols: &Symbols) -> Vec<String> {
    let total: u64 = entries.values().map(|e| e.blocks).sum();
    let mut ranked: Vec<(&String, Entries)> = entries.iter().map(|(n, &e)| (n, e)).collect();
    ranked.sort_by(|a, b| {
        (b.1.messages, b.1.blocks)
            .cmp(&(a.1.messages, a.1.blocks))
            .then(a.0.cmp(b.0))
    });
    let (mut covered, mut bytes, mut chosen) = (0u64, 0u64, Vec::new());
    for (name, e) in ranked {
        let size = symbols.size(name);
        if covered as f64 >= COVER * total as f64 || bytes + size > MAX_BYTES {
            break;
        }
        covered += e.blocks;
        bytes += size;
        chosen.push(name.clone());
    }
    let (shared, rest): (Vec<String>, Vec<String>) = chosen
        .into_iter()
        .partition(|n| SHARED_ROUTINES.contains(&n.as_str()));
    let mut rest = rest.into_iter();
    rest.next().into_iter().chain(shared).chain(rest).collect()
}

/// An input-section pattern for function `name`: its legacy-mangled hash
/// (`17h` and 16 hex digits, then `E`) and any `.llvm.N` suffix become a
/// wildcard, so the pattern outlives rebuilds.
pub fn section_pattern(name: &str) -> String {
    let base = name.split(".llvm.").next().unwrap_or(name);
    let hashed = base.len() > 20
        && base.ends_with('E')
        && base[base.len() - 20..base.len() - 17] == *"17h"
        && base[base.len() - 17..base.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_hexdigit());
    if hashed {
        format!("*(.text.{}17h*)", &base[..base.len() - 20])
    } else {
        format!("*(.text.{base})")
    }
}

/// The linker-script fragment: a comment, then one pattern a line.
pub fn fragment(chosen: &[String]) -> String {
    let mut s = String::from(
        "/* The VM server's hot text, placed first in its .text (sel4-link's `Layout`).\n \
         * Generated by `cargo qemu bench --hot-text` from a trace of bench.spec's\n \
         * request and fault rounds: the functions the most messages entered first. */\n",
    );
    let mut seen = std::collections::BTreeSet::new();
    for name in chosen {
        let p = section_pattern(name);
        if seen.insert(p.clone()) {
            s.push_str(&format!("        {p}\n"));
        }
    }
    s
}

/// The root task's hand-written fragment of the benchmark floors' code
/// (`root-task/hot-text.ld`), relative to the workspace.
pub const FLOOR_FRAGMENT: &str = "root-task/hot-text.ld";

/// What is wrong with `fragment`'s placement in a program whose `nm -n -S`
/// output is `nm`: each of its patterns that matches no function, and each
/// function it matched that does not lie in the text page at `page` (the
/// floors' code is meant to run on that one page). Empty when all is well.
pub fn fragment_misplaced(fragment: &str, nm: &str, page: u64) -> Vec<String> {
    let functions = nm_symbols(nm, &["t", "T"]);
    let mut problems = Vec::new();
    // A function matches the pattern `section_pattern` makes of its name.
    for pattern in fragment
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("*(.text."))
    {
        let matched: Vec<_> = functions
            .iter()
            .filter(|(_, _, name)| section_pattern(name) == pattern)
            .collect();
        if matched.is_empty() {
            problems.push(format!("{pattern} matches no function"));
        }
        for (addr, size, name) in matched {
            if *addr < page || addr + size > page + 4096 {
                problems.push(format!(
                    "{name} lies at {addr:#x}, off the page at {page:#x}"
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boot_that_ends_before_its_window_says_so_with_what_qemu_said() {
        // QEMU refuses a kernel that is not there, at once, and says why.
        let boot = BootOptions {
            kernel: "/nonexistent/hot-text-test/kernel.elf".into(),
            root_task: "/nonexistent/hot-text-test/root-task.elf".into(),
            memory_mib: 64,
            kvm: false,
            extra: Vec::new(),
            files_disk: None,
            devices: Vec::new(),
            hang: None,
        };
        let calls = std::cell::Cell::new(0);
        let e = boot_over_window(
            &boot,
            Duration::from_secs(60),
            FAULT_ROUNDS,
            || calls.set(calls.get() + 1),
            |_| calls.set(calls.get() + 10),
        )
        .unwrap_err();
        assert_eq!(calls.get(), 0, "no window opened or closed");
        assert!(e.what.contains("before its window closed"), "{e}");
        assert!(e.what.contains("\n  qemu"), "QEMU's own words: {e}");
        assert!(e.what.contains("hot-text-test"), "{e}");
    }

    #[test]
    fn a_misplaced_or_unmatched_fragment_line_is_named() {
        let nm = "0000000000400000 T _start\n\
                  0000000000400010 0000000000000092 t _ZN4a5floor6thread17h0123456789abcdefE\n\
                  00000000004000b0 0000000000000077 T memcpy\n\
                  0000000000401f00 0000000000000200 T _ZN4sel48syscalls4call17hfedcba9876543210E\n";
        let fragment =
            "/* comment */\n        *(.text._ZN4a5floor6thread17h*)\n        *(.text.memcpy)\n";
        assert!(fragment_misplaced(fragment, nm, 0x400000).is_empty());
        let gone = "*(.text._ZN4a5floor7renamed17h*)\n";
        let p = fragment_misplaced(gone, nm, 0x400000);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("matches no function"), "{p:?}");
        let far = "*(.text._ZN4sel48syscalls4call17h*)\n";
        let p = fragment_misplaced(far, nm, 0x400000);
        assert!(p[0].contains("off the page"), "{p:?}");
    }

    const NM: &str = "\
0000000010000000 0000000000000010 T _start
0000000010000010 0000000000000100 t _ZN9vm_server5serve17hd3f31768251f64e2E
0000000010000110 0000000000000040 T memcpy
00000000100a5000 0000000000000008 R SOME_TABLE
0000000010000200 0000000000000080 t _ZN7vm_core4page8PagePool6unlink17h32ee538d3f069cdfE.llvm.1639
";

    #[test]
    fn symbols_find_the_function_of_an_address() {
        let s = Symbols::parse(NM);
        assert_eq!(
            s.at(0x1000_0010),
            Some("_ZN9vm_server5serve17hd3f31768251f64e2E")
        );
        assert_eq!(
            s.at(0x1000_010f),
            Some("_ZN9vm_server5serve17hd3f31768251f64e2E")
        );
        assert_eq!(s.at(0x1000_0110), Some("memcpy"));
        assert_eq!(s.at(0x1000_0150), None, "between functions");
        assert_eq!(s.at(0x0fff_ffff), None);
        assert_eq!(
            s.text_range(),
            Some((0x1000_0000, 0x1000_0280)),
            "data is not text"
        );
    }

    #[test]
    fn trace_lines_give_their_block_address() {
        let l = "Trace 0: 0x7f50a8891180 [0000000000000000/000000001009fde7/0040cab3/ff000000] ";
        assert_eq!(traced_pc(l), Some(0x1009_fde7));
        assert_eq!(
            traced_pc("Linking TBs 0x7f50a89295c0 index 0 -> 0x7f50"),
            None
        );
        assert_eq!(traced_pc("Trace 0: 0x1 [garbage]"), None);
    }

    #[test]
    fn patterns_drop_the_hash_and_the_llvm_suffix() {
        assert_eq!(
            section_pattern("_ZN9vm_server5serve17hd3f31768251f64e2E"),
            "*(.text._ZN9vm_server5serve17h*)"
        );
        assert_eq!(
            section_pattern("_ZN7vm_core4page8PagePool6unlink17h32ee538d3f069cdfE.llvm.1639"),
            "*(.text._ZN7vm_core4page8PagePool6unlink17h*)"
        );
        assert_eq!(section_pattern("memcpy"), "*(.text.memcpy)");
        assert_eq!(
            section_pattern("not17hgggggggggggggggggE"),
            "*(.text.not17hgggggggggggggggggE)"
        );
    }

    #[test]
    fn the_copy_and_fill_routines_go_right_after_the_loop() {
        let s = Symbols::parse(NM);
        let one = |messages, blocks| Entries { messages, blocks };
        let serve = "_ZN9vm_server5serve17hd3f31768251f64e2E".to_string();
        let unlink = "_ZN7vm_core4page8PagePool6unlink17h32ee538d3f069cdfE.llvm.1639".to_string();
        let memcpy = "memcpy".to_string();
        let entries: BTreeMap<String, Entries> = [
            (serve.clone(), one(3, 3)),
            (unlink.clone(), one(2, 4)),
            (memcpy.clone(), one(1, 1)),
        ]
        .into();
        assert_eq!(choose(&entries, &s), vec![serve, memcpy, unlink]);
    }

    #[test]
    fn the_functions_of_most_messages_are_chosen_first_and_cold_ones_left() {
        let s = Symbols::parse(NM);
        let trace = |pc: u64| format!("Trace 0: 0x1 [0/{pc:016x}/0/0] ");
        // Three messages (each starts at 0x10000010 in serve); `unlink`
        // is entered four times by one of them, memcpy once by two.
        let log: Vec<String> = [
            0x1000_0010,
            0x1000_0110,
            0x1000_0200,
            0x1000_0210,
            0x1000_0200,
            0x1000_0210,
            0x1000_0010,
            0x1000_0110,
            0x2000_0000,
            0x1000_0010,
        ]
        .into_iter()
        .map(trace)
        .collect();
        let starts = [0x1000_0010].into();
        let entries = count_entries(&s, &starts, log.iter().map(|l| l.as_str()));
        let serve = "_ZN9vm_server5serve17hd3f31768251f64e2E".to_string();
        let unlink = "_ZN7vm_core4page8PagePool6unlink17h32ee538d3f069cdfE.llvm.1639".to_string();
        let memcpy = "memcpy".to_string();
        assert_eq!(
            entries[&serve],
            Entries {
                messages: 3,
                blocks: 3
            }
        );
        assert_eq!(
            entries[&unlink],
            Entries {
                messages: 1,
                blocks: 4
            }
        );
        assert_eq!(entries[&memcpy].messages, 2);
        assert_eq!(
            entries.len(),
            3,
            "an address outside every function is not counted"
        );
        assert_eq!(
            choose(&entries, &s),
            vec![serve.clone(), memcpy.clone(), unlink],
            "by messages, not by entries"
        );
        let one = |messages, blocks| Entries { messages, blocks };
        let mut lopsided = BTreeMap::new();
        lopsided.insert(serve.clone(), one(100_000, 100_000));
        lopsided.insert(memcpy, one(1, 1));
        assert_eq!(
            choose(&lopsided, &s),
            vec![serve.clone()],
            "below the cover: left"
        );
        let f = fragment(&[serve.clone(), serve]);
        assert_eq!(
            f.matches("*(.text._ZN9vm_server5serve17h*)").count(),
            1,
            "{f}"
        );
        assert!(f.starts_with("/*"));
    }
}
