//! A QEMU TCG plugin that records, for each message a program handles
//! (the VM server, and the root task's floor pager beside it), the
//! distinct data pages its code touches, the instructions, blocks and
//! distinct code pages it ran, and how often it entered each of a few
//! marked functions (`cargo qemu bench --data-pages`,
//! qemu/src/data_pages.rs).
//!
//! **Why.** Under TCG every page-table switch empties QEMU's software TLB,
//! so each page a message touches first costs a guest page walk again
//! (docs/performance.md, "Where a fault's cycles go"). QEMU's `-d` logs
//! show the code side but not the data side; a plugin sees every load and
//! store.
//!
//! **What.** Arguments, `key=value` after the plugin path (numbers in hex):
//! - `program=<lo>-<hi>` (repeated): a program's text; only instructions
//!   in a program are instrumented, and each program has its own messages;
//! - `skip=<lo>-<hi>` (repeated): instructions left out (a thread that
//!   runs the program's code for someone else);
//! - `start=<address>` (repeated): an instruction a message of the program
//!   holding it starts at (the one after its receive system call);
//! - `mark=<address>` (repeated, at most [`MAX_MARKS`] a program): function
//!   entries to count per message;
//! - `switch=<file>`: messages are recorded only while it exists (the host
//!   tool creates it and removes it at console lines);
//! - `out=<file>`: one line per message:
//!   `M <program> <count of each of its marks, comma-separated>
//!   <instructions>,<blocks> <page>:<first pc> ... c<page>:<first pc> ...`
//!   (hex), a page being an address shifted right by 12: the data pages,
//!   then the code pages (`c`). Blocks are the translation blocks entered,
//!   chained or looked up; a block's code pages are those of its first and
//!   last instruction. Every [`PROFILE_EVERY`]th message of a program
//!   also lists the instructions it ran per block, `b<first pc>:<count>`.
//!
//! A message is what runs from one start to the next; the instructions of
//! other address spaces at the same addresses (all programs but the VM
//! server link at 4 MiB) would count too, so the host tool only reads the
//! root task's messages from its floor rounds, when nothing else runs.
//!
//! The plugin API is QEMU 7.2's, version 1 (`include/qemu/qemu-plugin.h`);
//! only the handful of functions below are declared. QEMU runs TCG on one
//! thread for this machine (one vCPU), so the callbacks never race; the
//! state is behind a `Mutex` all the same.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Mutex;

type PluginId = u64;
type MemInfo = u32;
#[repr(C)]
struct Tb {
    _opaque: [u8; 0],
}
#[repr(C)]
struct Insn {
    _opaque: [u8; 0],
}
type ExecCallback = extern "C" fn(vcpu: c_uint, userdata: *mut c_void);
type MemCallback = extern "C" fn(vcpu: c_uint, info: MemInfo, vaddr: u64, userdata: *mut c_void);
type TranslateCallback = extern "C" fn(id: PluginId, tb: *mut Tb);
type ExitCallback = extern "C" fn(id: PluginId, userdata: *mut c_void);

/// Marks a message counts entries of.
const MAX_MARKS: usize = 4096;
/// One message in this many lists its instructions per block (a sample:
/// every message would write tens of megabytes).
const PROFILE_EVERY: u64 = 16;
/// `QEMU_PLUGIN_CB_NO_REGS`.
const NO_REGS: c_int = 0;
/// `QEMU_PLUGIN_MEM_RW`.
const MEM_RW: c_int = 3;

unsafe extern "C" {
    fn qemu_plugin_register_vcpu_tb_trans_cb(id: PluginId, cb: TranslateCallback);
    fn qemu_plugin_register_vcpu_tb_exec_cb(
        tb: *mut Tb,
        cb: ExecCallback,
        flags: c_int,
        userdata: *mut c_void,
    );
    fn qemu_plugin_register_atexit_cb(id: PluginId, cb: ExitCallback, userdata: *mut c_void);
    fn qemu_plugin_tb_n_insns(tb: *const Tb) -> usize;
    fn qemu_plugin_tb_get_insn(tb: *const Tb, idx: usize) -> *mut Insn;
    fn qemu_plugin_insn_vaddr(insn: *const Insn) -> u64;
    fn qemu_plugin_register_vcpu_insn_exec_cb(
        insn: *mut Insn,
        cb: ExecCallback,
        flags: c_int,
        userdata: *mut c_void,
    );
    fn qemu_plugin_register_vcpu_mem_cb(
        insn: *mut Insn,
        cb: MemCallback,
        flags: c_int,
        rw: c_int,
        userdata: *mut c_void,
    );
}

/// The version of the plugin API this plugin is built against.
#[unsafe(no_mangle)]
pub static qemu_plugin_version: c_int = 1;

/// One instrumented program: its text range, where its messages start,
/// the marks it counts, and the message being recorded.
struct Program {
    lo: u64,
    hi: u64,
    starts: BTreeSet<u64>,
    /// Marked addresses and their indices (an address marked twice counts
    /// under its first index).
    marks: BTreeMap<u64, usize>,
    /// Recording the current message (the switch existed at its start).
    on: bool,
    counts: Vec<u32>,
    /// Distinct pages in first-touch order, with the touching instruction.
    pages: Vec<(u64, u64)>,
    /// Instructions and blocks run, distinct code pages reached (with the
    /// block that reached each first).
    insns: u64,
    blocks: u64,
    code_pages: Vec<(u64, u64)>,
    /// Instructions run per block (by its first instruction), kept for
    /// the messages that list them; and the messages recorded so far.
    profile: BTreeMap<u64, u64>,
    recorded: u64,
}

/// A translated block of a program: its first and last instruction, its
/// instruction count and its program.
struct Block {
    first: u64,
    last: u64,
    insns: u64,
    program: usize,
}

/// What the arguments set.
struct Recorder {
    programs: Vec<Program>,
    /// Instructions left out although inside a program's text.
    skips: Vec<(u64, u64)>,
    switch: PathBuf,
    out: BufWriter<File>,
    /// Every block translated so far, indexed by its callbacks' user data
    /// (QEMU retranslates rarely: after its code buffer fills).
    blocks: Vec<Block>,
}

/// Written only by QEMU's TCG thread (see the module doc).
static RECORDER: Mutex<Option<Recorder>> = Mutex::new(None);

impl Recorder {
    fn program_of(&self, pc: u64) -> Option<usize> {
        if self.skips.iter().any(|s| s.0 <= pc && pc < s.1) {
            return None;
        }
        self.programs.iter().position(|p| p.lo <= pc && pc < p.hi)
    }

    fn end_message(&mut self, program: usize) {
        let p = &self.programs[program];
        if !p.on {
            return;
        }
        let counts: Vec<String> = p.counts.iter().map(|c| format!("{c:x}")).collect();
        let mut line = format!(
            "M {program} {} {:x},{:x}",
            counts.join(","),
            p.insns,
            p.blocks
        );
        for (page, pc) in &p.pages {
            line.push_str(&format!(" {page:x}:{pc:x}"));
        }
        for (page, pc) in &p.code_pages {
            line.push_str(&format!(" c{page:x}:{pc:x}"));
        }
        for (pc, n) in &p.profile {
            line.push_str(&format!(" b{pc:x}:{n:x}"));
        }
        // A lost line loses only a sample; the host tool counts what came.
        let _ = writeln!(self.out, "{line}");
    }
}

fn with_recorder(f: impl FnOnce(&mut Recorder)) {
    if let Ok(mut g) = RECORDER.lock() {
        if let Some(r) = g.as_mut() {
            f(r);
        }
    }
}

impl Recorder {
    /// Ends `program`'s message and starts its next.
    fn start_message(&mut self, program: usize) {
        self.end_message(program);
        let on = self.switch.exists();
        // The host tool stops the boot soon after it removes the switch,
        // without QEMU's exit callbacks: write everything out now.
        if self.programs[program].on && !on {
            let _ = self.out.flush();
        }
        let p = &mut self.programs[program];
        p.on = on;
        p.counts.iter_mut().for_each(|c| *c = 0);
        p.pages.clear();
        p.insns = 0;
        p.blocks = 0;
        p.code_pages.clear();
        p.profile.clear();
        if on {
            p.recorded += 1;
        }
    }
}

extern "C" fn on_start(_vcpu: c_uint, userdata: *mut c_void) {
    with_recorder(|r| r.start_message(userdata as usize));
}

/// A block's callback runs before its first instruction's, so a block
/// that starts a message starts it here.
extern "C" fn on_block(_vcpu: c_uint, userdata: *mut c_void) {
    with_recorder(|r| {
        let Some(b) = r.blocks.get(userdata as usize) else {
            return;
        };
        let (program, first, last, insns) = (b.program, b.first, b.last, b.insns);
        if r.programs[program].starts.contains(&first) {
            r.start_message(program);
        }
        let p = &mut r.programs[program];
        if !p.on {
            return;
        }
        p.insns += insns;
        p.blocks += 1;
        for page in [first >> 12, last >> 12] {
            if !p.code_pages.iter().any(|x| x.0 == page) {
                p.code_pages.push((page, first));
            }
        }
        if p.recorded % PROFILE_EVERY == 1 {
            *p.profile.entry(first).or_default() += insns;
        }
    });
}

extern "C" fn on_mark(_vcpu: c_uint, userdata: *mut c_void) {
    let (program, mark) = ((userdata as usize) >> 16, (userdata as usize) & 0xffff);
    with_recorder(|r| {
        let p = &mut r.programs[program];
        if p.on {
            p.counts[mark] += 1;
        }
    });
}

extern "C" fn on_memory(_vcpu: c_uint, _info: MemInfo, vaddr: u64, userdata: *mut c_void) {
    let pc = userdata as u64;
    with_recorder(|r| {
        let Some(program) = r.program_of(pc) else {
            return;
        };
        let p = &mut r.programs[program];
        let page = vaddr >> 12;
        if p.on && !p.pages.iter().any(|x| x.0 == page) {
            p.pages.push((page, pc));
        }
    });
}

extern "C" fn on_translate(_id: PluginId, tb: *mut Tb) {
    let Ok(mut g) = RECORDER.lock() else { return };
    let Some(r) = g.as_mut() else { return };
    // SAFETY: `tb` is the block QEMU hands this callback, valid during it.
    let n = unsafe { qemu_plugin_tb_n_insns(tb) };
    let pc_of = |i: usize| {
        // SAFETY: callers pass `i` below the block's instruction count;
        // the instruction is the block's, valid during the callback.
        unsafe { qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, i)) }
    };
    if n > 0 {
        let (first, last) = (pc_of(0), pc_of(n - 1));
        if let Some(program) = r.program_of(first) {
            r.blocks.push(Block {
                first,
                last,
                insns: n as u64,
                program,
            });
            let index = r.blocks.len() - 1;
            // SAFETY: `tb` is valid during this callback, `on_block` has
            // the API's signature, the user data is a plain index.
            unsafe { qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, NO_REGS, index as _) };
        }
    }
    for i in 0..n {
        // SAFETY: `i` is below the block's instruction count.
        let insn = unsafe { qemu_plugin_tb_get_insn(tb, i) };
        // SAFETY: `insn` is one of this block's, valid during the callback.
        let pc = unsafe { qemu_plugin_insn_vaddr(insn) };
        let Some(program) = r.program_of(pc) else {
            continue;
        };
        let p = &r.programs[program];
        // The registrations below: `insn` is valid during this callback,
        // the callbacks are `extern "C"` with the API's signatures, and
        // the user data are plain numbers, never dereferenced.
        // A start at a block's first instruction is `on_block`'s.
        if p.starts.contains(&pc) && i > 0 {
            // SAFETY: as above.
            unsafe {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, NO_REGS, program as _)
            };
        }
        if let Some(&m) = p.marks.get(&pc) {
            let data = program << 16 | m;
            // SAFETY: as above.
            unsafe { qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, NO_REGS, data as _) };
        }
        // SAFETY: as above.
        unsafe { qemu_plugin_register_vcpu_mem_cb(insn, on_memory, NO_REGS, MEM_RW, pc as _) };
    }
}

extern "C" fn on_exit(_id: PluginId, _userdata: *mut c_void) {
    with_recorder(|r| {
        for p in 0..r.programs.len() {
            r.end_message(p);
        }
        let _ = r.out.flush();
    });
}

/// Called once when QEMU loads the plugin; returns non-zero to refuse.
///
/// # Safety
/// QEMU passes `argc` valid C strings in `argv` (the API's contract).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qemu_plugin_install(
    id: PluginId,
    _info: *const c_void,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    let mut args = Vec::new();
    for i in 0..argc.max(0) as usize {
        // SAFETY: QEMU's contract above: `argv[i]` for i < argc is a C string.
        args.push(
            unsafe { CStr::from_ptr(*argv.add(i)) }
                .to_string_lossy()
                .into_owned(),
        );
    }
    match Recorder::from_args(&args) {
        Ok(r) => {
            *RECORDER.lock().expect("first use") = Some(r);
            // SAFETY: both callbacks have the API's signatures.
            unsafe {
                qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
                qemu_plugin_register_atexit_cb(id, on_exit, core::ptr::null_mut());
            }
            0
        }
        Err(e) => {
            eprintln!("qemu-data-pages: {e}");
            1
        }
    }
}

impl Recorder {
    fn from_args(args: &[String]) -> Result<Recorder, String> {
        let (mut out, mut switch) = (None, None);
        let (mut programs, mut skips, mut starts, mut marks) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for a in args {
            let (k, v) = a
                .split_once('=')
                .ok_or(format!("argument {a:?} is not key=value"))?;
            let num = |s: &str| {
                u64::from_str_radix(s.trim_start_matches("0x"), 16)
                    .map_err(|e| format!("{k}={v}: {e}"))
            };
            let range = || -> Result<(u64, u64), String> {
                let (lo, hi) = v.split_once('-').ok_or(format!("{k}={v}: not lo-hi"))?;
                Ok((num(lo)?, num(hi)?))
            };
            match k {
                "program" => programs.push(range()?),
                "skip" => skips.push(range()?),
                "start" => starts.push(num(v)?),
                "mark" => marks.push(num(v)?),
                "switch" => switch = Some(PathBuf::from(v)),
                "out" => out = Some(File::create(v).map_err(|e| format!("{v}: {e}"))?),
                _ => return Err(format!("unknown argument {k:?}")),
            }
        }
        let mut programs: Vec<Program> = programs
            .into_iter()
            .map(|(lo, hi)| Program {
                lo,
                hi,
                starts: BTreeSet::new(),
                marks: BTreeMap::new(),
                on: false,
                counts: Vec::new(),
                pages: Vec::new(),
                insns: 0,
                blocks: 0,
                code_pages: Vec::new(),
                profile: BTreeMap::new(),
                recorded: 0,
            })
            .collect();
        fn owner(programs: &mut [Program], a: u64) -> Result<&mut Program, String> {
            programs
                .iter_mut()
                .find(|p| p.lo <= a && a < p.hi)
                .ok_or(format!("{a:#x} is in no program"))
        }
        for a in starts {
            owner(&mut programs, a)?.starts.insert(a);
        }
        for a in marks {
            let p = owner(&mut programs, a)?;
            let index = p.counts.len();
            p.marks.entry(a).or_insert(index);
            p.counts.push(0);
            if p.counts.len() > MAX_MARKS {
                return Err(format!("at most {MAX_MARKS} marks a program"));
            }
        }
        if programs.is_empty() {
            return Err("no program=".into());
        }
        Ok(Recorder {
            programs,
            skips,
            switch: switch.ok_or("no switch=")?,
            out: BufWriter::new(out.ok_or("no out=")?),
            blocks: Vec::new(),
        })
    }
}
