//! Turns seL4's C names into Rust ones, as rust-sel4 spells them.

/// Splits a CamelCase word into parts: `IPCBuffer` -> `IPC`, `Buffer`;
/// `GetIOAPIC` -> `Get`, `IOAPIC`; digits stay with what precedes them
/// (`In8`, `X86`).
fn camel_parts(word: &str) -> Vec<String> {
    let cs: Vec<char> = word.chars().collect();
    let mut parts = Vec::new();
    let mut cur = String::new();
    for i in 0..cs.len() {
        let c = cs[i];
        let prev = if i > 0 { Some(cs[i - 1]) } else { None };
        let next = cs.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            });
        if boundary && !cur.is_empty() {
            parts.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

/// `seL4_X86_PageDirectory` -> `x86_page_directory`, `GetIOAPIC` ->
/// `get_ioapic`. `CNode` and `VSpace` are one word (`cnode`, `vspace`),
/// as in rust-sel4.
pub fn snake(name: &str) -> String {
    let name = name.strip_prefix("seL4_").unwrap_or(name);
    let mut parts = Vec::new();
    for seg in name.split('_').filter(|s| !s.is_empty()) {
        let seg = seg.replace("CNode", "Cnode").replace("VSpace", "Vspace");
        parts.extend(camel_parts(&seg).into_iter().map(|p| p.to_lowercase()));
    }
    parts.join("_")
}

/// A parameter name: [`snake`], with a `_` after Rust keywords.
pub fn param(name: &str) -> String {
    let s = snake(name);
    match s.as_str() {
        "type" | "in" | "ref" | "move" | "mod" | "fn" | "match" | "loop" => format!("{s}_"),
        _ => s,
    }
}

/// `TCB` -> `Tcb`, `X86_PageTable` -> `X86PageTable`, `X86_4K` -> `X86_4K`
/// (an underscore is kept only where a part starts with a digit).
pub fn camel(name: &str) -> String {
    let mut out = String::new();
    for seg in name.split('_').filter(|s| !s.is_empty()) {
        if seg.starts_with(|c: char| c.is_ascii_digit()) && !out.is_empty() {
            out.push('_');
            out.push_str(seg);
            continue;
        }
        for p in camel_parts(seg) {
            let mut cs = p.chars();
            let first = cs.next().unwrap();
            let rest: String = cs.collect();
            let all_caps = rest.chars().all(|c| !c.is_lowercase());
            out.push(first.to_ascii_uppercase());
            out.push_str(&if all_caps { rest.to_lowercase() } else { rest });
        }
    }
    out
}

/// `seL4_PageTableBits` -> `PAGE_TABLE_BITS`, `seL4_X86_VCPUBits` ->
/// `X86_VCPU_BITS`.
pub fn screaming(name: &str) -> String {
    snake(name).to_uppercase()
}
