//! A QEMU TCG plugin that records, for each message the VM server
//! handles, the distinct data pages its code touches and how often it
//! entered each of a few marked functions (`cargo qemu bench
//! --data-pages`, qemu/src/data_pages.rs).
//!
//! **Why.** Under TCG every page-table switch empties QEMU's software TLB,
//! so each page a message touches first costs a guest page walk again
//! (docs/performance.md, "Where a fault's cycles go"). QEMU's `-d` logs
//! show the code side but not the data side; a plugin sees every load and
//! store.
//!
//! **What.** Arguments, `key=value` after the plugin path:
//! - `lo`, `hi`: the server's text; only its instructions are instrumented;
//! - `start` (repeated): an instruction a message starts at (the one after
//!   the server loop's receive system call);
//! - `mark` (repeated, at most [`MAX_MARKS`]): function entries to count per message;
//! - `switch`: a file; messages are recorded only while it exists (the
//!   host tool creates it and removes it at console lines);
//! - `out`: where to write one line per message:
//!   `M <count of each mark, comma-separated> <page>:<first pc> ...`, both in
//!   hex, the page being the address shifted right by 12.
//!
//! The plugin API is QEMU 7.2's, version 1 (`include/qemu/qemu-plugin.h`);
//! only the handful of functions below are declared. QEMU runs TCG on one
//! thread for this machine (one vCPU), so the callbacks never race; the
//! state is behind a `Mutex` all the same.

use std::collections::BTreeSet;
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
const MAX_MARKS: usize = 64;
/// `QEMU_PLUGIN_CB_NO_REGS`.
const NO_REGS: c_int = 0;
/// `QEMU_PLUGIN_MEM_RW`.
const MEM_RW: c_int = 3;

unsafe extern "C" {
    fn qemu_plugin_register_vcpu_tb_trans_cb(id: PluginId, cb: TranslateCallback);
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

/// What the arguments set, and the message being recorded.
struct Recorder {
    lo: u64,
    hi: u64,
    starts: BTreeSet<u64>,
    marks: Vec<u64>,
    switch: PathBuf,
    out: BufWriter<File>,
    /// Recording the current message (the switch existed at its start).
    on: bool,
    counts: Vec<u32>,
    /// Distinct pages in first-touch order, with the touching instruction.
    pages: Vec<(u64, u64)>,
}

/// Written only by QEMU's TCG thread (see the module doc).
static RECORDER: Mutex<Option<Recorder>> = Mutex::new(None);

impl Recorder {
    fn end_message(&mut self) {
        if !self.on {
            return;
        }
        let counts: Vec<String> = self.counts.iter().map(|c| format!("{c:x}")).collect();
        let mut line = format!("M {}", counts.join(","));
        for (page, pc) in &self.pages {
            line.push_str(&format!(" {page:x}:{pc:x}"));
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

extern "C" fn on_start(_vcpu: c_uint, _userdata: *mut c_void) {
    with_recorder(|r| {
        r.end_message();
        let was_on = r.on;
        r.on = r.switch.exists();
        // The host tool stops the boot soon after it removes the switch,
        // without QEMU's exit callbacks: write everything out now.
        if was_on && !r.on {
            let _ = r.out.flush();
        }
        r.counts.iter_mut().for_each(|c| *c = 0);
        r.pages.clear();
    });
}

extern "C" fn on_mark(_vcpu: c_uint, userdata: *mut c_void) {
    let index = userdata as usize;
    with_recorder(|r| {
        if r.on {
            r.counts[index] += 1;
        }
    });
}

extern "C" fn on_memory(_vcpu: c_uint, _info: MemInfo, vaddr: u64, userdata: *mut c_void) {
    let pc = userdata as u64;
    with_recorder(|r| {
        let page = vaddr >> 12;
        if r.on && !r.pages.iter().any(|p| p.0 == page) {
            r.pages.push((page, pc));
        }
    });
}

extern "C" fn on_translate(_id: PluginId, tb: *mut Tb) {
    let Ok(g) = RECORDER.lock() else { return };
    let Some(r) = g.as_ref() else { return };
    // SAFETY: `tb` is the block QEMU hands this callback, valid during it.
    let n = unsafe { qemu_plugin_tb_n_insns(tb) };
    for i in 0..n {
        // SAFETY: `i` is below the block's instruction count.
        let insn = unsafe { qemu_plugin_tb_get_insn(tb, i) };
        // SAFETY: `insn` is one of this block's, valid during the callback.
        let pc = unsafe { qemu_plugin_insn_vaddr(insn) };
        if pc < r.lo || pc >= r.hi {
            continue;
        }
        // The registrations below: `insn` is valid during this callback,
        // the callbacks are `extern "C"` with the API's signatures, and
        // the user data are plain numbers, never dereferenced.
        if r.starts.contains(&pc) {
            // SAFETY: as above.
            unsafe { qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, NO_REGS, 0 as _) };
        }
        for (m, _) in r.marks.iter().enumerate().filter(|(_, a)| **a == pc) {
            // SAFETY: as above.
            unsafe { qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, NO_REGS, m as _) };
        }
        // SAFETY: as above.
        unsafe { qemu_plugin_register_vcpu_mem_cb(insn, on_memory, NO_REGS, MEM_RW, pc as _) };
    }
}

extern "C" fn on_exit(_id: PluginId, _userdata: *mut c_void) {
    with_recorder(|r| {
        r.end_message();
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
            let marks = r.marks.len();
            *RECORDER.lock().expect("first use") = Some(Recorder {
                counts: vec![0; marks],
                ..r
            });
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
        let (mut lo, mut hi, mut out, mut switch) = (None, None, None, None);
        let (mut starts, mut marks) = (BTreeSet::new(), Vec::new());
        for a in args {
            let (k, v) = a
                .split_once('=')
                .ok_or(format!("argument {a:?} is not key=value"))?;
            let num = || {
                u64::from_str_radix(v.trim_start_matches("0x"), 16)
                    .map_err(|e| format!("{k}={v}: {e}"))
            };
            match k {
                "lo" => lo = Some(num()?),
                "hi" => hi = Some(num()?),
                "start" => {
                    starts.insert(num()?);
                }
                "mark" => marks.push(num()?),
                "switch" => switch = Some(PathBuf::from(v)),
                "out" => out = Some(File::create(v).map_err(|e| format!("{v}: {e}"))?),
                _ => return Err(format!("unknown argument {k:?}")),
            }
        }
        if marks.len() > MAX_MARKS {
            return Err(format!("at most {MAX_MARKS} marks"));
        }
        Ok(Recorder {
            lo: lo.ok_or("no lo=")?,
            hi: hi.ok_or("no hi=")?,
            starts,
            marks,
            switch: switch.ok_or("no switch=")?,
            out: BufWriter::new(out.ok_or("no out=")?),
            on: false,
            counts: Vec::new(),
            pages: Vec::new(),
        })
    }
}
