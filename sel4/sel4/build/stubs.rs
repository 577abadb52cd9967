//! Generates one invocation stub per interface method, marshalling exactly
//! as libsel4's `tools/syscall_stub_gen.py` does.
//!
//! Rules reproduced from that script:
//! * the first cap (the invoked object) is the destination; other cap-typed
//!   params go, in order, to the extra caps;
//! * the other in-params are packed into message registers in order: each
//!   is aligned up to `min(its size, word size)` bits, so sub-word params
//!   (`seL4_Bool` = 1 bit, `seL4_Uint8` = 8, `int` = 32) share a word and a
//!   word-sized param starts a new one; bitfield structs
//!   (`seL4_CapRights_t`, `seL4_CapData_t`, `seL4_PrioProps_t`) are one
//!   word; `seL4_UserContext` is its members' words in XML order;
//! * out-params are unpacked with the same layout from the reply's message
//!   registers, starting at MR0;
//! * the message length is the number of words used, the label is the
//!   method's invocation label, and a non-zero reply label is the error.
//!
//! Each stub is split into a pure `encode::*` (args -> [`Request`]) and
//! `decode::*` (reply MRs -> outputs) so the layout is testable on the host;
//! the method on `Cap<...>` only adds the system call.

use crate::interface::{Interfaces, Method, Param, Struct};
use crate::names::{camel, param, snake};
use std::fmt::Write;

const WORD_BITS: u32 = 64;

/// How a parameter type is represented in Rust and in the message.
#[derive(Clone, Debug)]
enum Kind {
    /// A value of `bits` bits (<= one word): Rust type, word -> Rust conversion.
    Value {
        bits: u32,
        rust: &'static str,
        to_word: &'static str,
        from_word: &'static str,
    },
    /// A capability, carried as an extra cap.
    Cap { cap_type: &'static str },
    /// A multi-word struct from the XML, passed by reference.
    Struct { rust: String, members: Vec<String> },
}

fn kind_of(iface: &str, method: &str, p: &Param, structs: &[Struct]) -> Result<Kind, String> {
    let v = |bits, rust, to_word, from_word| Kind::Value {
        bits,
        rust,
        to_word,
        from_word,
    };
    Ok(match p.ty.as_str() {
        // Untyped_Retype's object type gets the typed enum.
        "seL4_Word" if iface == "seL4_Untyped" && method == "Retype" && p.name == "type" => {
            v(64, "ObjectType", "{}.value()", "")
        }
        "seL4_Word" | "seL4_Uint64" => v(64, "Word", "{}", "{}"),
        "long" => v(64, "i64", "{} as Word", "{} as i64"),
        "int" => v(32, "i32", "{} as Word", "{} as i32"),
        "seL4_Uint32" => v(32, "u32", "{} as Word", "{} as u32"),
        "seL4_Uint16" => v(16, "u16", "{} as Word", "{} as u16"),
        "seL4_Uint8" => v(8, "u8", "{} as Word", "{} as u8"),
        "seL4_Bool" => v(1, "bool", "{} as Word", "{} != 0"),
        "seL4_CapRights_t" => v(
            64,
            "CapRights",
            "{}.into_word()",
            "CapRights::from_word({})",
        ),
        "seL4_CapData_t" => v(64, "CapData", "{}.into_word()", "CapData::from_word({})"),
        "seL4_PrioProps_t" => v(
            64,
            "PrioProps",
            "{}.into_word()",
            "PrioProps::from_word({})",
        ),
        "seL4_X86_VMAttributes" => v(
            64,
            "VmAttributes",
            "{}.into_word()",
            "VmAttributes::from_word({})",
        ),
        ty if structs.iter().any(|s| s.name == ty) => {
            let s = structs.iter().find(|s| s.name == ty).unwrap();
            Kind::Struct {
                rust: camel(ty.trim_start_matches("seL4_")),
                members: s.members.clone(),
            }
        }
        ty => Kind::Cap {
            cap_type: param_cap_type(ty, &p.name)?,
        },
    })
}

/// The typed capability a cap parameter takes. The XML types some caps
/// loosely (`vspace_root` is an `seL4_CNode`, `vroot` an `seL4_CPtr`), so
/// the parameter name refines the type where the XML is vague.
fn param_cap_type(ty: &str, name: &str) -> Result<&'static str, String> {
    Ok(match (ty, name) {
        (_, "vspace_root" | "vroot" | "pml4") if ty != "seL4_X86_EPTPML4" => "VSpace",
        (_, "bufferFrame") => "Granule",
        (_, "notification") => "Notification",
        (_, "tcb" | "source" | "thread") => "Tcb",
        ("seL4_CNode", "ioPort") => "IOPort",
        ("seL4_CNode", _) => "CNode",
        ("seL4_TCB", _) => "Tcb",
        ("seL4_Untyped", _) => "Untyped",
        ("seL4_X64_PML4", _) => "VSpace",
        ("seL4_X86_IOSpace", _) => "IOSpace",
        ("seL4_X86_EPTPML4", _) => "EptPml4",
        ("seL4_CPtr", _) => "Unspecified",
        _ => return Err(format!("unknown parameter type {ty} (param {name})")),
    })
}

/// The capability kinds whose wrappers get an interface's methods.
fn service_cap_types(iface: &str) -> Result<&'static [&'static str], String> {
    Ok(match iface {
        "seL4_Untyped" => &["Untyped"],
        "seL4_TCB" => &["Tcb"],
        "seL4_CNode" => &["CNode"],
        "seL4_IRQControl" => &["IrqControl"],
        "seL4_IRQHandler" => &["IrqHandler"],
        "seL4_DomainSet" => &["DomainSet"],
        "seL4_X86_PDPT" => &["PDPT"],
        "seL4_X86_PageDirectory" => &["PageDirectory"],
        "seL4_X86_PageTable" => &["PageTable"],
        "seL4_X86_IOPageTable" => &["IOPageTable"],
        // One interface for every frame size.
        "seL4_X86_Page" => &["Granule", "LargePage"],
        "seL4_X86_ASIDControl" => &["AsidControl"],
        "seL4_X86_ASIDPool" => &["AsidPool"],
        "seL4_X86_IOPort" => &["IOPort"],
        "seL4_X86_VCPU" => &["VCpu"],
        "seL4_X86_EPTPDPT" => &["EptPdpt"],
        "seL4_X86_EPTPD" => &["EptPd"],
        "seL4_X86_EPTPT" => &["EptPt"],
        _ => return Err(format!("no capability type for interface {iface}")),
    })
}

/// The Rust name of a parameter (`Untyped_Retype`'s `type` is `object_type`).
fn arg_name(m: &Method, p: &Param) -> String {
    if m.interface == "seL4_Untyped" && m.name == "Retype" && p.name == "type" {
        "object_type".to_string()
    } else {
        param(&p.name)
    }
}

/// Where each param sits: `(index, first bit, size in bits)`, per
/// `get_parameter_positions` of `syscall_stub_gen.py`.
fn positions(sizes: &[u32]) -> Vec<(u32, u32)> {
    let mut used = 0u32;
    let mut out = Vec::new();
    for &size in sizes {
        assert!(size.is_power_of_two() || size % WORD_BITS == 0);
        let align = size.min(WORD_BITS);
        used = used.div_ceil(align) * align;
        out.push((used, size));
        used += size;
    }
    out
}

fn size_bits(k: &Kind) -> u32 {
    match k {
        Kind::Value { bits, .. } => *bits,
        Kind::Cap { .. } => WORD_BITS,
        Kind::Struct { members, .. } => WORD_BITS * members.len() as u32,
    }
}

fn rust_in_type(k: &Kind) -> String {
    match k {
        Kind::Value { rust, .. } => rust.to_string(),
        Kind::Cap { cap_type } => format!("Cap<cap_type::{cap_type}>"),
        Kind::Struct { rust, .. } => format!("&{rust}"),
    }
}

fn rust_out_type(k: &Kind) -> String {
    match k {
        Kind::Value { rust, .. } => rust.to_string(),
        Kind::Struct { rust, .. } => rust.clone(),
        Kind::Cap { .. } => "Word".into(),
    }
}

/// A method with its params classified.
struct Stub<'a> {
    m: &'a Method,
    fn_name: String,
    caps: Vec<(String, Kind)>,
    ins: Vec<(String, Kind)>,
    outs: Vec<(String, Kind)>,
}

impl Stub<'_> {
    /// Words of the request, each a list of OR-ed Rust expressions.
    fn in_words(&self) -> Vec<Vec<String>> {
        let sizes: Vec<u32> = self.ins.iter().map(|(_, k)| size_bits(k)).collect();
        let mut words: Vec<Vec<String>> = Vec::new();
        for ((name, kind), (first, bits)) in self.ins.iter().zip(positions(&sizes)) {
            let (w, off) = ((first / WORD_BITS) as usize, first % WORD_BITS);
            let need = w + (bits as usize).div_ceil(WORD_BITS as usize);
            if words.len() < need {
                words.resize(need, Vec::new());
            }
            match kind {
                Kind::Value { to_word, .. } => {
                    let mut e = to_word.replace("{}", name);
                    if bits < WORD_BITS {
                        e = format!("({e} & {:#x})", (1u64 << bits) - 1);
                        if off != 0 {
                            e = format!("({e} << {off})");
                        }
                    }
                    words[w].push(e);
                }
                Kind::Struct { members, .. } => {
                    for (i, m) in members.iter().enumerate() {
                        words[w + i].push(format!("{name}.{m}"));
                    }
                }
                Kind::Cap { .. } => unreachable!(),
            }
        }
        words
    }

    /// Rust expressions for each out-param, reading MRs through `mr(i)`.
    fn out_exprs(&self) -> Vec<String> {
        let sizes: Vec<u32> = self.outs.iter().map(|(_, k)| size_bits(k)).collect();
        self.outs
            .iter()
            .zip(positions(&sizes))
            .map(|((_, kind), (first, bits))| {
                let (w, off) = (first / WORD_BITS, first % WORD_BITS);
                match kind {
                    Kind::Value { from_word, .. } => {
                        let mut e = format!("mr({w})");
                        if off != 0 {
                            e = format!("({e} >> {off})");
                        }
                        if bits < WORD_BITS {
                            e = format!("({e} & {:#x})", (1u64 << bits) - 1);
                        }
                        from_word.replace("{}", &e)
                    }
                    Kind::Struct { rust, members } => {
                        let fields: Vec<String> = members
                            .iter()
                            .enumerate()
                            .map(|(i, m)| format!("{m}: mr({})", w as usize + i))
                            .collect();
                        format!(
                            "{rust} {{\n            {},\n        }}",
                            fields.join(",\n            ")
                        )
                    }
                    Kind::Cap { .. } => unreachable!(),
                }
            })
            .collect()
    }

    fn out_struct_name(&self) -> String {
        format!(
            "{}{}",
            camel(self.m.interface.trim_start_matches("seL4_")),
            self.m.name
        )
    }

    /// The Rust type a successful call returns.
    fn ok_type(&self) -> String {
        match self.outs.len() {
            0 => "()".into(),
            1 => rust_out_type(&self.outs[0].1),
            _ => self.out_struct_name(),
        }
    }
}

fn classify<'a>(m: &'a Method, structs: &[Struct]) -> Result<Stub<'a>, String> {
    let mut stub = Stub {
        m,
        fn_name: format!("{}_{}", snake(&m.interface), snake(&m.name)),
        caps: vec![],
        ins: vec![],
        outs: vec![],
    };
    for p in &m.params {
        let k = kind_of(&m.interface, &m.name, p, structs)
            .map_err(|e| format!("{}_{}: {e}", m.interface, m.name))?;
        let name = arg_name(m, p);
        match (&k, p.dir_in) {
            (Kind::Cap { .. }, true) => stub.caps.push((name, k)),
            (Kind::Cap { .. }, false) => return Err(format!("{}: out cap param", m.id)),
            (_, true) => stub.ins.push((name, k)),
            (_, false) => stub.outs.push((name, k)),
        }
    }
    Ok(stub)
}

/// `fn name(params) -> ret {`, one param per line when it gets long.
fn signature(indent: &str, name: &str, params: &[String], ret: &str) -> String {
    let one = format!("{indent}pub fn {name}({}) -> {ret} {{", params.join(", "));
    if one.len() <= 100 {
        return one;
    }
    let mut s = format!("{indent}pub fn {name}(\n");
    for p in params {
        s.push_str(&format!("{indent}    {p},\n"));
    }
    s.push_str(&format!("{indent}) -> {ret} {{"));
    s
}

/// Emits `invocations.rs`: request/reply helpers' data, encoders,
/// decoders, output structs, and the methods on `Cap<...>`.
pub fn generate(ifs: &Interfaces) -> Result<String, String> {
    let stubs: Vec<Stub> = ifs
        .methods
        .iter()
        .map(|m| classify(m, &ifs.structs))
        .collect::<Result<_, _>>()?;
    let max_words = stubs.iter().map(|s| s.in_words().len()).max().unwrap_or(0);
    let max_caps = stubs.iter().map(|s| s.caps.len()).max().unwrap_or(0);
    if max_caps > 3 {
        return Err("a method needs more than seL4_MsgMaxExtraCaps caps".into());
    }

    let mut o = String::new();
    o.push_str("// Generated by sel4/sel4/build/stubs.rs from the kernel's interface XML.\n\n");
    writeln!(o, "/// Most message registers any invocation sends.").unwrap();
    writeln!(o, "pub const MAX_REQUEST_WORDS: usize = {max_words};\n").unwrap();

    // Output structs for methods with several out-params.
    for s in stubs.iter().filter(|s| s.outs.len() > 1) {
        writeln!(o, "/// Results of `{}_{}`.", s.m.interface, s.m.name).unwrap();
        writeln!(o, "#[derive(Clone, Copy, Debug, PartialEq, Eq)]").unwrap();
        writeln!(o, "pub struct {} {{", s.out_struct_name()).unwrap();
        for (n, k) in &s.outs {
            writeln!(o, "    pub {n}: {},", rust_out_type(k)).unwrap();
        }
        writeln!(o, "}}\n").unwrap();
    }

    // Pure encoders.
    o.push_str("/// Pure marshalling: each method's arguments as a [`Request`].\n");
    o.push_str("pub mod encode {\n    #[allow(unused_imports)]\n    use super::*;\n");
    for s in &stubs {
        let mut params: Vec<String> = Vec::new();
        for (n, k) in s.ins.iter().chain(&s.caps) {
            params.push(format!("{n}: {}", rust_in_type(k)));
        }
        // Keep the XML's order of parameters.
        let order: Vec<String> =
            s.m.params
                .iter()
                .filter(|p| p.dir_in)
                .map(|p| {
                    let n = arg_name(s.m, p);
                    params
                        .iter()
                        .find(|q| q.starts_with(&format!("{n}:")))
                        .unwrap()
                        .clone()
                })
                .collect();
        let words: Vec<String> = s
            .in_words()
            .into_iter()
            .map(|w| {
                if w.is_empty() {
                    "0".to_string()
                } else {
                    // One OR-ed field per line when several share a word.
                    w.join("\n                    | ")
                }
            })
            .collect();
        let caps: Vec<String> = s.caps.iter().map(|(n, _)| format!("{n}.cptr()")).collect();
        writeln!(o, "\n    /// Request of `{}_{}`.", s.m.interface, s.m.name).unwrap();
        writeln!(o, "    #[inline]").unwrap();
        if order.len() > 7 {
            writeln!(o, "    #[allow(clippy::too_many_arguments)]").unwrap();
        }
        writeln!(o, "{}", signature("    ", &s.fn_name, &order, "Request")).unwrap();
        writeln!(o, "        Request::new(").unwrap();
        writeln!(o, "            InvocationLabel::{},", s.m.id).unwrap();
        if words.is_empty() {
            writeln!(o, "            &[],").unwrap();
        } else {
            writeln!(o, "            &[").unwrap();
            for w in &words {
                writeln!(o, "                {w},").unwrap();
            }
            writeln!(o, "            ],").unwrap();
        }
        writeln!(o, "            &[{}],", caps.join(", ")).unwrap();
        writeln!(o, "        )").unwrap();
        writeln!(o, "    }}").unwrap();
    }
    o.push_str("}\n\n");

    // Pure decoders.
    o.push_str("/// Pure unmarshalling: each method's outputs from reply MR `i` = `mr(i)`.\n");
    o.push_str("pub mod decode {\n    #[allow(unused_imports)]\n    use super::*;\n");
    for s in stubs.iter().filter(|s| !s.outs.is_empty()) {
        let exprs = s.out_exprs();
        writeln!(o, "\n    /// Reply of `{}_{}`.", s.m.interface, s.m.name).unwrap();
        writeln!(o, "    #[inline]").unwrap();
        let params = ["mr: impl Fn(usize) -> Word".to_string()];
        writeln!(
            o,
            "{}",
            signature("    ", &s.fn_name, &params, &s.ok_type())
        )
        .unwrap();
        if s.outs.len() == 1 {
            writeln!(o, "        {}", exprs[0]).unwrap();
        } else {
            writeln!(o, "        {} {{", s.out_struct_name()).unwrap();
            for ((n, _), e) in s.outs.iter().zip(&exprs) {
                writeln!(o, "            {n}: {e},").unwrap();
            }
            writeln!(o, "        }}").unwrap();
        }
        writeln!(o, "    }}").unwrap();
    }
    o.push_str("}\n");

    // The methods, grouped per capability type.
    let mut by_type: Vec<(&str, Vec<&Stub>)> = Vec::new();
    for s in &stubs {
        for t in service_cap_types(&s.m.interface)? {
            match by_type.iter_mut().find(|(n, _)| n == t) {
                Some((_, v)) => v.push(s),
                None => by_type.push((t, vec![s])),
            }
        }
    }
    for (t, ss) in by_type {
        writeln!(o, "\nimpl Cap<cap_type::{t}> {{").unwrap();
        for s in ss {
            let args: Vec<String> =
                s.m.params
                    .iter()
                    .filter(|p| p.dir_in)
                    .map(|p| arg_name(s.m, p))
                    .collect();
            let params: Vec<String> = args
                .iter()
                .map(|n| {
                    let k = s.ins.iter().chain(&s.caps).find(|(m, _)| m == n).unwrap();
                    format!("{n}: {}", rust_in_type(&k.1))
                })
                .collect();
            writeln!(o).unwrap();
            let brief = if s.m.brief.is_empty() {
                String::new()
            } else {
                format!(": {}", s.m.brief)
            };
            writeln!(o, "    /// `{}_{}`{brief}.", s.m.interface, s.m.name).unwrap();
            let documented: Vec<_> =
                s.m.params
                    .iter()
                    .filter(|p| p.dir_in && !p.description.is_empty())
                    .collect();
            if !documented.is_empty() {
                writeln!(o, "    ///").unwrap();
                for p in documented {
                    writeln!(o, "    /// * `{}`: {}", arg_name(s.m, p), p.description).unwrap();
                }
            }
            if s.m.interface == "seL4_X86_PageDirectory" && s.m.name == "GetStatusBits" {
                writeln!(
                    o,
                    "    ///\n    /// The x86_64 kernel does not implement this call (ia32 only)."
                )
                .unwrap();
            }
            let mut sig = vec!["self".to_string()];
            sig.extend(params);
            if sig.len() > 7 {
                writeln!(o, "    #[allow(clippy::too_many_arguments)]").unwrap();
            }
            let ret = format!("Result<{}>", s.ok_type());
            writeln!(o, "{}", signature("    ", &s.fn_name, &sig, &ret)).unwrap();
            let line = format!(
                "        let request = encode::{}({});",
                s.fn_name,
                args.join(", ")
            );
            if line.len() <= 100 {
                writeln!(o, "{line}").unwrap();
            } else {
                writeln!(o, "        let request = encode::{}(", s.fn_name).unwrap();
                for a in &args {
                    writeln!(o, "            {a},").unwrap();
                }
                writeln!(o, "        );").unwrap();
            }
            if s.outs.is_empty() {
                writeln!(o, "        invoke(self.cptr(), &request).map(|_| ())").unwrap();
            } else {
                writeln!(o, "        invoke(self.cptr(), &request)?;").unwrap();
                writeln!(o, "        Ok(decode::{}(crate::get_mr))", s.fn_name).unwrap();
            }
            writeln!(o, "    }}").unwrap();
        }
        writeln!(o, "}}").unwrap();
    }
    Ok(o)
}

/// Emits the XML's `<struct>`s (e.g. `UserContext`) as `#[repr(C)]` word structs.
pub fn generate_structs(ifs: &Interfaces) -> String {
    let mut o = String::from(
        "// Generated by sel4/sel4/build/stubs.rs from the interface XML's <struct>s.\n",
    );
    for s in &ifs.structs {
        let rust = camel(s.name.trim_start_matches("seL4_"));
        writeln!(
            o,
            "\n/// `{}`: registers in the kernel's order (interface XML).",
            s.name
        )
        .unwrap();
        writeln!(o, "#[repr(C)]").unwrap();
        writeln!(o, "#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]").unwrap();
        writeln!(o, "pub struct {rust} {{").unwrap();
        for m in &s.members {
            writeln!(o, "    pub {m}: Word,").unwrap();
        }
        writeln!(o, "}}").unwrap();
        writeln!(o, "\nimpl {rust} {{").unwrap();
        writeln!(o, "    /// Member names in order (as the XML lists them).").unwrap();
        let names: Vec<String> = s.members.iter().map(|m| format!("{m:?}")).collect();
        writeln!(
            o,
            "    pub const FIELD_NAMES: [&'static str; {}] = [{}];",
            s.members.len(),
            names.join(", ")
        )
        .unwrap();
        writeln!(o, "}}").unwrap();
    }
    o
}
