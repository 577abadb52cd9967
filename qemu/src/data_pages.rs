//! `cargo qemu bench --data-pages`: how many distinct data pages the VM
//! server touches per message, by kind (ping, zero-fill, resident,
//! copy-on-write), beside the root task's floor pager in the same boot,
//! and which pages those are; and, per message, the instructions,
//! translation blocks and code pages it ran.
//!
//! **Why.** Under TCG every page-table switch empties QEMU's software
//! TLB, so a message pays a guest page walk again for each page it touches
//! first (docs/performance.md, "Where a fault's cycles go": about 360–830
//! cycles a page). QEMU's `-d` logs show neither the data side nor the
//! code a message runs between block lookups; a plugin sees both.
//!
//! **How.**
//! - The QEMU plugin in `qemu/data-pages` (built here) instruments the
//!   server's text only: it starts a message at the instruction after each
//!   receive system call in `vm_server::serve`, records each page a load or
//!   store of the server's code touches with the instruction that touched
//!   it first, and counts the other system calls (invocations, whatever
//!   inlining made of the stubs) and entries into a few marked functions
//!   ([`MARKS`]). A callback per translation block counts the message's
//!   instructions, blocks and code pages, and in one message in 16 its
//!   instructions per block.
//! - It records while a switch file exists: created at `--hot-text`'s
//!   start line, removed at its stop line (bench-fault's request and fault
//!   rounds).
//! - The root task is a second program: its messages start where
//!   `sel4::syscalls::reply_recv` returns, and the floor's faulting thread
//!   (`root_task::floor::fault_thread`, which runs the root task's code in
//!   its own address space) is skipped. A floor fault is a root-task
//!   message with one invocation, its frame map.
//! - Each message is classed by its marks ([`Kind::of`]); pages in the
//!   kernel's half are the `syscall` instruction's view of the kernel and
//!   are left out.

use crate::hot_text::{boot_over_window, disassembly, nm, nm_symbols, Symbols, FAULT_ROUNDS};
use crate::step::{binutils, progress, run_captured, Failure, Result};
use crate::{Options, Workspace};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Function groups whose entries the plugin counts per message: a group
/// and a name fragment its functions' (mangled) names contain. A group
/// may name several, as inlining keeps one or another: each group needs
/// at least one.
pub const MARKS: &[(Group, &str)] = &[
    (Group::ZeroFill, "Memory$GT$9zero_fill17h"),
    (Group::ZeroFill, "PagePool12alloc_zeroed17h"),
    (Group::Copy, "Pmap$GT$9copy_page17h"),
    (Group::Request, "19decode_request_body17h"),
    (Group::Fault, "13fault_resolve17h"),
    // Every request with a handler of its own (the ping has none: its
    // default answer is inlined into the dispatch), and `Stats`.
    (Group::OtherRequest, "vm_service8requests"),
    (Group::OtherRequest, "vm_service5stats6global17h"),
];

/// The root task's marks beyond its system calls: none (a floor fault is
/// the message with one invocation, its frame map).
pub const FLOOR_MARKS: &[(Group, &str)] = &[];
/// The root task's functions left out: the floor's measured threads.
const FLOOR_SKIPS: &[&str] = &[
    "9root_task5floor12fault_thread17h",
    "9root_task5floor10ipc_thread17h",
];

/// The plugin's program numbers.
pub const SERVER: usize = 0;
const ROOT_TASK: usize = 1;

/// What a marked function says about a message.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Group {
    /// A system call other than the receive: a kernel object invocation
    /// (or a signal or a poll).
    Invocation,
    ZeroFill,
    /// The copy of copy-on-write.
    Copy,
    Request,
    Fault,
    OtherRequest,
}

/// The kinds of message the report keeps: those of the bench's rows.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Kind {
    /// The root task's floor pager serving one fault (`floor-fault-map-reply`).
    FloorFault,
    Ping,
    ZeroFill,
    Resident,
    CopyOnWrite,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::FloorFault,
        Kind::Ping,
        Kind::ZeroFill,
        Kind::Resident,
        Kind::CopyOnWrite,
    ];

    /// The program whose messages are of this kind.
    fn program(self) -> usize {
        if self == Kind::FloorFault {
            ROOT_TASK
        } else {
            SERVER
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::FloorFault => "floor fault (root task)",
            Kind::Ping => "ping",
            Kind::ZeroFill => "zero-fill",
            Kind::Resident => "resident",
            Kind::CopyOnWrite => "copy-on-write",
        }
    }

    /// The kind of a message of `program` with these entries per group;
    /// `None` for the others (other requests, fault-around, page-ins, the
    /// root task's other work, ...).
    pub fn of(program: usize, count: impl Fn(Group) -> u32) -> Option<Kind> {
        let fault = count(Group::Fault) > 0;
        let one_map = count(Group::Invocation) == 1;
        if program == ROOT_TASK {
            one_map.then_some(Kind::FloorFault)
        } else if program != SERVER {
            None
        } else if count(Group::Request) > 0 && !fault && count(Group::OtherRequest) == 0 {
            Some(Kind::Ping)
        } else if fault && count(Group::Copy) > 0 {
            Some(Kind::CopyOnWrite)
        } else if fault && one_map && count(Group::ZeroFill) > 0 {
            Some(Kind::ZeroFill)
        } else if fault && one_map && count(Group::ZeroFill) == 0 {
            Some(Kind::Resident)
        } else {
            None
        }
    }
}

/// One recorded message: its program, entries per mark (in the order
/// passed to the plugin for that program), what it ran, and its distinct
/// data pages with the instruction that touched each first.
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    pub program: usize,
    pub counts: Vec<u32>,
    pub ran: Ran,
    pub pages: Vec<(u64, u64)>,
}

/// The code one message ran: instructions, translation blocks entered
/// (chained or looked up), its distinct code pages with the block that
/// reached each first, and, in the sampled messages, the instructions run
/// per block (by its first instruction).
#[derive(Debug, PartialEq, Eq, Clone, Default)]
pub struct Ran {
    pub insns: u64,
    pub blocks: u64,
    pub code_pages: Vec<(u64, u64)>,
    pub profile: Vec<(u64, u64)>,
}

/// Parses one plugin line, `M <program> <counts> <insns>,<blocks>
/// <page>:<pc> ... c<page>:<pc> ... b<pc>:<insns> ...` (hex; `c`: a code
/// page, `b`: a block's instructions).
pub fn parse_line(line: &str) -> Option<Message> {
    let mut f = line.split_whitespace();
    if f.next()? != "M" {
        return None;
    }
    let program = f.next()?.parse().ok()?;
    let hex = |s: &str| u64::from_str_radix(s, 16).ok();
    let counts = f
        .next()?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|c| hex(c).map(|c| c as u32))
        .collect::<Option<Vec<u32>>>()?;
    let ran: Vec<u64> = f
        .next()?
        .split(',')
        .map(hex)
        .collect::<Option<Vec<u64>>>()?;
    let &[insns, blocks] = ran.as_slice() else {
        return None;
    };
    let (mut pages, mut code_pages, mut profile) = (Vec::new(), Vec::new(), Vec::new());
    for p in f {
        let (list, p) = match (p.strip_prefix('c'), p.strip_prefix('b')) {
            (Some(p), _) => (&mut code_pages, p),
            (_, Some(p)) => (&mut profile, p),
            _ => (&mut pages, p),
        };
        let (page, pc) = p.split_once(':')?;
        list.push((hex(page)?, hex(pc)?));
    }
    Some(Message {
        program,
        counts,
        ran: Ran {
            insns,
            blocks,
            code_pages,
            profile,
        },
        pages,
    })
}

/// Pages at or above this are the kernel's.
const KERNEL_PAGES: u64 = 0xffff_8000_0000_0000 >> 12;

/// Per kind: the messages (their data pages, and what they ran) and, per
/// page, how many touched it and which instructions touched it first.
#[derive(Default, Debug)]
pub struct Tally {
    pub messages: Vec<usize>,
    pub ran: Vec<RanCounts>,
    pub pages: PageTouches,
    pub code_pages: PageTouches,
    /// Over the sampled messages: how many, and their instructions per
    /// block.
    pub profiled: usize,
    pub profile: BTreeMap<u64, u64>,
}

/// What one message ran, counted: [`Ran`] without its lists (the tally
/// keeps those per page and per block).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RanCounts {
    pub insns: u64,
    pub blocks: u64,
    pub code_pages: u64,
}

/// Per page: how many messages touched it, and how many of those first
/// touched it at each instruction.
pub type PageTouches = BTreeMap<u64, (usize, BTreeMap<u64, usize>)>;

fn touch(pages: &mut PageTouches, page: u64, pc: u64) {
    let e = pages.entry(page).or_default();
    e.0 += 1;
    *e.1.entry(pc).or_default() += 1;
}

/// Sorts messages into kinds; `groups[p][i]` is the group of program
/// `p`'s mark `i`.
pub fn tally(messages: &[Message], groups: &[Vec<Group>]) -> BTreeMap<Kind, Tally> {
    let mut out: BTreeMap<Kind, Tally> = BTreeMap::new();
    for m in messages {
        let Some(groups) = groups.get(m.program) else {
            continue;
        };
        let count = |g: Group| {
            groups
                .iter()
                .zip(&m.counts)
                .filter(|(h, _)| **h == g)
                .map(|(_, c)| c)
                .sum()
        };
        let Some(kind) = Kind::of(m.program, count) else {
            continue;
        };
        let t = out.entry(kind).or_default();
        let user: Vec<_> = m.pages.iter().filter(|p| p.0 < KERNEL_PAGES).collect();
        t.messages.push(user.len());
        for (page, pc) in user {
            touch(&mut t.pages, *page, *pc);
        }
        for (page, pc) in &m.ran.code_pages {
            touch(&mut t.code_pages, *page, *pc);
        }
        if !m.ran.profile.is_empty() {
            t.profiled += 1;
            for (pc, n) in &m.ran.profile {
                *t.profile.entry(*pc).or_default() += n;
            }
        }
        t.ran.push(RanCounts {
            insns: m.ran.insns,
            blocks: m.ran.blocks,
            code_pages: m.ran.code_pages.len() as u64,
        });
    }
    out
}

/// What the image puts where: its data symbols (`nm` types b, d, r and
/// their globals) and its sections, or its functions, each as start,
/// size, name.
pub struct PageSymbols {
    symbols: Vec<(u64, u64, String)>,
    sections: Vec<(u64, u64, String)>,
}

impl PageSymbols {
    /// The functions in `nm -n -S` output.
    pub fn text(nm: &str) -> PageSymbols {
        PageSymbols {
            symbols: nm_symbols(nm, &["t", "T", "w", "W"]),
            sections: Vec::new(),
        }
    }

    /// Reads `nm -n -S` output and `readelf -SW` output.
    pub fn parse(nm: &str, readelf: &str) -> PageSymbols {
        let v = nm_symbols(nm, &["b", "B", "d", "D", "r", "R"]);
        // `  [ 2] .rodata  PROGBITS  00000000100b2000 0b3000 006f64 ...`
        let sections = readelf
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_once(']')?.1.split_whitespace().collect();
                let hex = |s: &str| u64::from_str_radix(s, 16).ok();
                let (name, addr, size) = (f.first()?, hex(f.get(2)?)?, hex(f.get(4)?)?);
                (addr != 0 && size != 0).then(|| (addr, size, name.to_string()))
            })
            .collect();
        PageSymbols {
            symbols: v,
            sections,
        }
    }

    /// What the page at `page` (an address shifted right by 12) holds:
    /// the data symbols it overlaps, else its sections, else that it is
    /// outside the image.
    pub fn describe(&self, page: u64) -> String {
        let (lo, hi) = (page << 12, (page + 1) << 12);
        let over = |v: &[(u64, u64, String)]| -> Vec<String> {
            v.iter()
                .filter(|(a, s, _)| *a < hi && a + s.max(&1) > lo)
                .map(|(_, _, n)| short_name(n))
                .collect()
        };
        let mut names = over(&self.symbols);
        if names.is_empty() {
            names = over(&self.sections);
        }
        match names.len() {
            0 => "outside the image (IPC buffer, mapped frames)".into(),
            1..=3 => names.join(", "),
            n => format!("{}, {} and {} more", names[0], names[1], n - 2),
        }
    }
}

/// A symbol's demangled name without its hash, shortened to its last
/// two path segments (`vm_core::fault::<impl Vm>::fault_resolve` ->
/// `Vm>::fault_resolve`, enough to find it).
pub fn short_name(mangled: &str) -> String {
    let full = format!("{:#}", rustc_demangle::demangle(mangled));
    let parts: Vec<&str> = full.rsplitn(3, "::").collect();
    match parts.len() {
        0..=2 => full,
        _ => format!("{}::{}", parts[1], parts[0]),
    }
}

/// The program's system calls, read from `objdump -d` output: for those
/// in the functions whose names start with `receiver` (the server loop,
/// the root task's `reply_recv`) the instruction after them, where a
/// message starts; and the address of every other one, each a kernel
/// invocation (or a signal or poll) whatever inlining made of the stubs.
pub fn system_calls(objdump: &str, receiver: &str) -> (Vec<u64>, Vec<u64>) {
    let mut function = "";
    let (mut starts, mut invocations) = (Vec::new(), Vec::new());
    let mut after_receive = false;
    for line in objdump.lines() {
        if let Some(rest) = line.strip_suffix(">:") {
            function = rest.split_once(" <").map_or("", |f| f.1);
            after_receive = false;
            continue;
        }
        let Some((addr, insn)) = line.split_once(':') else {
            continue;
        };
        let Ok(addr) = u64::from_str_radix(addr.trim(), 16) else {
            continue;
        };
        if after_receive {
            starts.push(addr);
        }
        let syscall = insn.trim() == "syscall";
        after_receive = syscall && function.starts_with(receiver);
        if syscall && !after_receive {
            invocations.push(addr);
        }
    }
    (starts, invocations)
}

/// The report: per kind, the median data pages with the range, the
/// medians of what a message ran, its instructions by function, then the
/// data and code pages at least a quarter of its messages touch.
pub fn report(tallies: &BTreeMap<Kind, Tally>, images: &[Image]) -> String {
    let mut s =
        String::from("data pages per message          messages   median      min      max\n");
    for kind in Kind::ALL {
        let Some(t) = tallies.get(&kind) else {
            s.push_str(&format!("{:<30} {:>10}\n", kind.name(), 0));
            continue;
        };
        let mut v = t.messages.clone();
        v.sort_unstable();
        s.push_str(&format!(
            "{:<30} {:>10} {:>8} {:>8} {:>8}\n",
            kind.name(),
            v.len(),
            v[v.len() / 2],
            v[0],
            v[v.len() - 1]
        ));
    }
    s.push_str("\ncode run per message (medians)   instructions   blocks   code pages\n");
    for kind in Kind::ALL {
        let Some(t) = tallies.get(&kind) else {
            continue;
        };
        let median = |f: fn(&RanCounts) -> u64| {
            let mut v: Vec<u64> = t.ran.iter().map(f).collect();
            v.sort_unstable();
            v[v.len() / 2]
        };
        s.push_str(&format!(
            "{:<30} {:>14} {:>8} {:>12}\n",
            kind.name(),
            median(|r| r.insns),
            median(|r| r.blocks),
            median(|r| r.code_pages)
        ));
    }
    for kind in Kind::ALL {
        if let Some(t) = tallies.get(&kind) {
            s.push_str(&instruction_table(kind, t, &images[kind.program()]));
        }
    }
    for kind in Kind::ALL {
        let Some(t) = tallies.get(&kind) else {
            continue;
        };
        let image = &images[kind.program()];
        for (what, pages, contents) in [
            ("data pages", &t.pages, &image.data),
            ("code pages", &t.code_pages, &image.text),
        ] {
            s.push_str(&page_table(
                kind,
                what,
                t.messages.len(),
                pages,
                image,
                contents,
            ));
        }
    }
    s
}

/// Instructions per message by function, over a kind's sampled messages:
/// the functions with a twentieth of them or more, most first.
fn instruction_table(kind: Kind, t: &Tally, image: &Image) -> String {
    if t.profiled == 0 {
        return String::new();
    }
    let (total, v) = by_function(&t.profile, &image.symbols, 20);
    let per = |n: u64| n as f64 / t.profiled as f64;
    let mut s = format!(
        "\n{}: instructions per message by function ({} sampled messages, {:.0} instructions each)\n",
        kind.name(),
        t.profiled,
        per(total)
    );
    for (f, n) in v {
        s.push_str(&format!(
            "{:>8.0} {:>5.2}  {}\n",
            per(n),
            n as f64 / total as f64,
            truncate(&f, 60)
        ));
    }
    s
}

/// Instructions per block (`profile`, by first instruction) summed by
/// function: their total, and the functions with a `share`th of it or
/// more, most first.
pub fn by_function(
    profile: &BTreeMap<u64, u64>,
    symbols: &Symbols,
    share: u64,
) -> (u64, Vec<(String, u64)>) {
    let mut by_function: BTreeMap<String, u64> = BTreeMap::new();
    for (pc, n) in profile {
        let f = symbols.at(*pc).map_or("?".into(), short_name);
        *by_function.entry(f).or_default() += n;
    }
    let total: u64 = by_function.values().sum();
    let mut v: Vec<_> = by_function
        .into_iter()
        .filter(|(_, n)| n * share >= total)
        .collect();
    v.sort_by_key(|(f, n)| (std::cmp::Reverse(*n), f.clone()));
    (total, v)
}

/// The pages at least a quarter of a kind's `n` messages touch, most
/// touched first, with the function that touched each first most often.
fn page_table(
    kind: Kind,
    what: &str,
    n: usize,
    pages: &PageTouches,
    image: &Image,
    contents: &PageSymbols,
) -> String {
    let mut pages: Vec<_> = pages.iter().filter(|(_, (c, _))| c * 4 >= n).collect();
    pages.sort_by_key(|(page, (c, _))| (std::cmp::Reverse(*c), **page));
    let mut s = format!(
        "\n{}: {what} a quarter of its {n} messages or more touch\n{:<14} {:>5}  {:<44} {}\n",
        kind.name(),
        "page",
        "share",
        "first touched in",
        "what is there"
    );
    for (page, (c, pcs)) in pages {
        let pc = pcs.iter().max_by_key(|(_, k)| **k).map_or(0, |(pc, _)| *pc);
        let function = image.symbols.at(pc).map_or("?".into(), short_name);
        s.push_str(&format!(
            "{:<#14x} {:>5.2}  {:<44} {}\n",
            page << 12,
            *c as f64 / n as f64,
            truncate(&function, 44),
            contents.describe(*page)
        ));
    }
    s
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i - 1]),
        None => s.to_string(),
    }
}

/// Builds the plugin and bench.spec, boots it with the plugin over the
/// window, and prints the report.
pub fn run(ws: &Workspace, o: &Options) -> Result<bool> {
    progress("data-pages", "building the QEMU plugin (qemu/data-pages)");
    run_captured(
        "plugin build",
        Command::new(&ws.cargo).current_dir(&ws.root).args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "qemu-data-pages",
        ]),
    )?;
    let plugin = ws.target.join("release/libqemu_data_pages.so");
    let boot = crate::build(ws, &o.boot_of("bench.spec"), o)?;
    let server = Image::of(&crate::images::program_path(ws, "vm-server"))?;
    let root = Image::of(&boot.root_task)?;
    let mut args = Vec::new();
    let mut groups = Vec::new();
    for (image, receiver, marks, skips) in [
        (&server, "_ZN9vm_server5serve17h", MARKS, &[][..]),
        (
            &root,
            "_ZN4sel48syscalls10reply_recv17h",
            FLOOR_MARKS,
            FLOOR_SKIPS,
        ),
    ] {
        let (lo, hi) = image
            .symbols
            .text_range()
            .ok_or_else(|| image.missing("function symbols"))?;
        args.push(format!("program={lo:x}-{hi:x}"));
        let (starts, invocations) = system_calls(&image.objdump, receiver);
        if starts.is_empty() {
            return Err(image.missing(&format!("system call in {receiver}")));
        }
        args.extend(starts.iter().map(|a| format!("start={a:x}")));
        let (mut g, mut seen) = (Vec::new(), std::collections::BTreeSet::new());
        // Skipped code (the floor's own thread) is never instrumented.
        for a in invocations {
            seen.insert(a);
            args.push(format!("mark={a:x}"));
            g.push(Group::Invocation);
        }
        for (group, fragment) in marks {
            let found = image.symbols.ranges_containing(fragment);
            // Identical functions may share one body: count each address
            // once.
            for (entry, _) in found {
                if !seen.insert(entry) {
                    continue;
                }
                args.push(format!("mark={entry:x}"));
                g.push(*group);
            }
        }
        for (group, _) in marks {
            if !g.contains(group) {
                let names: Vec<&str> = marks
                    .iter()
                    .filter(|(h, _)| h == group)
                    .map(|(_, f)| *f)
                    .collect();
                return Err(image.missing(&format!(
                    "function named like any of {names:?} (renamed or inlined? qemu/src/data_pages.rs)"
                )));
            }
        }
        groups.push(g);
        for fragment in skips {
            for (lo, hi) in image.symbols.ranges_containing(fragment) {
                args.push(format!("skip={lo:x}-{hi:x}"));
            }
        }
    }
    let dir = ws.target.join("data-pages");
    std::fs::create_dir_all(&dir).map_err(|e| Failure::msg(format!("{}: {e}", dir.display())))?;
    let (switch, out) = (dir.join("recording"), dir.join("messages.txt"));
    args.push(format!("switch={}", switch.display()));
    args.push(format!("out={}", out.display()));
    let mut traced = boot;
    traced.extra.extend([
        "-plugin".into(),
        format!("{},{}", plugin.display(), args.join(",")),
    ]);
    progress(
        "data-pages",
        "recording vm-server and the root task's floor pager",
    );
    let recorder = Recorder {
        boot: traced,
        timeout: o.timeout,
        switch,
        out,
    };
    let (messages, _) = recorder.record(FAULT_ROUNDS)?;
    let tallies = tally(&messages, &groups);
    if tallies.is_empty() {
        return Err(Failure::msg(format!(
            "{}: {} messages, none of the bench's kinds",
            recorder.out.display(),
            messages.len()
        )));
    }
    let images = [server, root];
    print!("{}", report(&tallies, &images));
    for pass in crate::swap_profile::Pass::BOTH {
        let name = pass.name();
        progress(
            "data-pages",
            format!("booting again: vm-server over bench-fault's timed {name} pass"),
        );
        let (messages, stop_line) = recorder.record(pass.window())?;
        let swap = crate::swap_profile::Profile::of(pass, &messages, &groups[SERVER], &stop_line)
            .ok_or_else(|| Failure::msg(format!("no {name} pass in `{stop_line}`")))?;
        print!("{}", swap.report(&images[SERVER].symbols));
    }
    Ok(true)
}

/// A boot of bench.spec with the plugin, and where it records.
struct Recorder {
    boot: crate::machine::BootOptions,
    timeout: std::time::Duration,
    switch: std::path::PathBuf,
    out: std::path::PathBuf,
}

impl Recorder {
    /// Boots with the plugin recording over `window` (its console lines):
    /// the messages recorded, and the line that closed the window.
    fn record(&self, window: (&str, &str)) -> Result<(Vec<Message>, String)> {
        let switch = &self.switch;
        let _ = std::fs::remove_file(switch);
        // Errors of the switch file, kept for after the boot.
        let failed: std::cell::RefCell<Option<std::io::Error>> = Default::default();
        let mut stop_line = String::new();
        boot_over_window(
            &self.boot,
            self.timeout,
            window,
            || *failed.borrow_mut() = std::fs::write(switch, b"").err(),
            |line| {
                stop_line = line.to_string();
                let mut f = failed.borrow_mut();
                *f = f.take().or(std::fs::remove_file(switch).err());
            },
        )?;
        if let Some(e) = failed.into_inner() {
            return Err(Failure::msg(format!("{}: {e}", switch.display())));
        }
        let text = std::fs::read_to_string(&self.out)
            .map_err(|e| Failure::msg(format!("{}: {e}", self.out.display())))?;
        Ok((text.lines().filter_map(parse_line).collect(), stop_line))
    }
}

/// One program's ELF as the report reads it.
pub struct Image {
    path: std::path::PathBuf,
    symbols: Symbols,
    data: PageSymbols,
    text: PageSymbols,
    objdump: String,
}

impl Image {
    fn of(elf: &Path) -> Result<Image> {
        let nm = nm(elf)?;
        Ok(Image {
            path: elf.to_path_buf(),
            symbols: Symbols::parse(&nm),
            data: PageSymbols::parse(&nm, &binutils("readelf", &["-SW"], elf)?),
            text: PageSymbols::text(&nm),
            objdump: disassembly(elf)?,
        })
    }

    fn missing(&self, what: &str) -> Failure {
        Failure::msg(format!("{}: no {what}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_and_bad_ones_do_not() {
        assert_eq!(
            parse_line(
                "M 1 1,0,2 9c4,d0 7fff80000:1000505d 13109:10005186 c10005:10005000 b10005000:2a"
            ),
            Some(Message {
                program: 1,
                counts: vec![1, 0, 2],
                ran: Ran {
                    insns: 2500,
                    blocks: 208,
                    code_pages: vec![(0x10005, 0x10005000)],
                    profile: vec![(0x10005000, 42)],
                },
                pages: vec![(0x7fff80000, 0x1000505d), (0x13109, 0x10005186)],
            })
        );
        assert_eq!(parse_line("M 0 1 1,1 zz:1"), None);
        assert_eq!(parse_line("X 0 1 1,1"), None);
        assert_eq!(parse_line("M 0 0 1,1 13109"), None);
        assert_eq!(parse_line("M 0 0 1,1 c13109"), None);
        assert_eq!(parse_line("M 0 0 1,1 b13109:zz"), None);
        assert_eq!(parse_line("M x 0 1,1"), None);
        // What it ran: two numbers, no fewer, no more.
        assert_eq!(parse_line("M 0 1 1 13109:1"), None);
        assert_eq!(parse_line("M 0 1 1,1,1 13109:1"), None);
        assert_eq!(parse_line("M 0 1"), None);
    }

    #[test]
    fn kinds_follow_the_marks() {
        use Group::*;
        fn count(v: &[(Group, u32)], g: Group) -> u32 {
            v.iter().filter(|x| x.0 == g).map(|x| x.1).sum()
        }
        let of = |v: &[(Group, u32)]| Kind::of(SERVER, |g| count(v, g));
        assert_eq!(of(&[(Request, 1)]), Some(Kind::Ping));
        assert_eq!(of(&[(Request, 1), (OtherRequest, 1)]), None);
        assert_eq!(
            of(&[(Fault, 1), (Invocation, 1), (ZeroFill, 1)]),
            Some(Kind::ZeroFill)
        );
        assert_eq!(of(&[(Fault, 1), (Invocation, 1)]), Some(Kind::Resident));
        assert_eq!(
            of(&[(Fault, 1), (Invocation, 2), (Copy, 1)]),
            Some(Kind::CopyOnWrite)
        );
        // Fault-around maps several pages: not one of the rows.
        assert_eq!(of(&[(Fault, 1), (Invocation, 9), (ZeroFill, 9)]), None);
        // The root task: a floor fault maps one frame; its other work none.
        let root = |v: &[(Group, u32)]| Kind::of(ROOT_TASK, |g| count(v, g));
        assert_eq!(root(&[(Invocation, 1)]), Some(Kind::FloorFault));
        assert_eq!(root(&[]), None);
        assert_eq!(Kind::of(7, |_| 1), None);
    }

    #[test]
    fn tally_drops_kernel_pages_and_counts_first_touches() {
        let groups = [vec![Group::Request]];
        let m = |pages: Vec<(u64, u64)>| Message {
            program: SERVER,
            counts: vec![1],
            ran: Ran {
                insns: pages.len() as u64,
                blocks: 1,
                code_pages: vec![(0x10005, 0x10005000)],
                // The first message is a sampled one.
                profile: if pages[0].1 == 0x10 {
                    vec![(0x10005000, 7)]
                } else {
                    Vec::new()
                },
            },
            pages,
        };
        let t = tally(
            &[
                m(vec![(0x100, 0x10), (0xf_ffff_fff8_073a, 0x11)]),
                m(vec![(0x100, 0x12), (0x200, 0x12)]),
            ],
            &groups,
        );
        let ping = &t[&Kind::Ping];
        assert_eq!(ping.messages, vec![1, 2]);
        assert_eq!(
            ping.ran.iter().map(|r| r.insns).collect::<Vec<_>>(),
            vec![2, 2]
        );
        assert_eq!(ping.pages[&0x100].0, 2);
        assert_eq!(ping.pages[&0x100].1.len(), 2);
        assert!(!ping.pages.contains_key(&0xf_ffff_fff8_073a));
        assert_eq!(ping.code_pages[&0x10005], (2, [(0x10005000, 2)].into()));
        assert_eq!((ping.profiled, ping.profile[&0x10005000]), (1, 7));
    }

    #[test]
    fn messages_start_after_the_receive_and_other_system_calls_are_invocations() {
        let dis = "\
0000000010005000 <_ZN9vm_server5serve17ha39a806910b16711E>:
    10005000:\tmov    %rbx,%r12
    10005003:\tsyscall
    10005005:\tmov    %rbx,%rsp

0000000010006000 <_ZN4sel48syscalls4call17h1301b203eec4554eE>:
    10006000:\tsyscall
    10006002:\tret
";
        assert_eq!(
            system_calls(dis, "_ZN9vm_server5serve17h"),
            (vec![0x10005005], vec![0x10006000])
        );
    }

    #[test]
    fn pages_are_described_by_the_symbols_over_them() {
        let data = PageSymbols::parse(
            "00000000100c6f60 0000000003000000 b _ZN9vm_server19__sel4_runtime_main4HEAP17hdc720a3edb83c348E\n\
             00000000130caf68 0000000000000008 b _ZN4sel411invocations11INVOCATIONS17h72fd38760f1fc900E\n\
             0000000010000010 0000000000000100 t _ZN9vm_server5serve17hd3f31768251f64e2E\n",
            "  [ 1] .text             PROGBITS        0000000010000000 001000 0b1cae 00  AX  0   0 16\n\
             \x20 [ 2] .rodata           PROGBITS        00000000100b2000 0b3000 006f64 00 AMS  0   0 16\n",
        );
        assert_eq!(data.describe(0x1018a), "__sel4_runtime_main::HEAP");
        assert_eq!(data.describe(0x130ca), "invocations::INVOCATIONS");
        assert!(data.describe(0x7fff80000).starts_with("outside"));
        assert_eq!(data.describe(0x100b3), ".rodata");
        let text = PageSymbols::text(
            "0000000010000010 0000000000001100 t _ZN9vm_server5serve17hd3f31768251f64e2E\n\
             00000000130caf68 0000000000000008 b _ZN4sel411invocations11INVOCATIONS17h72fd38760f1fc900E\n",
        );
        assert_eq!(text.describe(0x10001), "vm_server::serve");
        assert!(text.describe(0x130ca).starts_with("outside"));
        assert_eq!(
            short_name("_ZN9vm_server5serve17hd3f31768251f64e2E"),
            "vm_server::serve"
        );
    }
}
