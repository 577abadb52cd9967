//! `cargo run -p capdl --example check -- FILE [IMAGE...]`: validates a spec
//! file and prints each component's CSpace layout (and a paged client's
//! limits and name group), or the errors as
//! `FILE:line:col: message`. Without IMAGEs, every image the spec names is
//! taken as known.

use capdl::{slots, syntax, Spec};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: check FILE [IMAGE...]");
        return ExitCode::from(2);
    };
    let src = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut images: Vec<String> = args[1..].to_vec();
    if images.is_empty() {
        if let Ok(ast) = syntax::parse(&src) {
            images = ast
                .components
                .iter()
                .filter_map(|c| c.image.as_ref().map(|i| i.value.clone()))
                .collect();
        }
    }
    let images: Vec<&str> = images.iter().map(String::as_str).collect();
    match capdl::load(&src, &images) {
        Ok(spec) => {
            print_layout(&spec);
            println!(
                "ok: {} objects, {} components, {} bytes compact",
                spec.objects.len(),
                spec.components.len(),
                capdl::encode(&spec).len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{path}:{e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn print_layout(spec: &Spec) {
    let obj = |id: u16| spec.objects[id as usize].name.as_str();
    for c in &spec.components {
        println!(
            "{} ({}), prio {}, mcp {}, CNode 2^{}:",
            c.name, c.image, c.priority, c.max_priority, c.cnode_bits
        );
        println!("  {:>6}  own TCB, CNode, VSpace, IPC buffer", "1-4");
        if let Some(f) = c.fault {
            println!(
                "  {:>6}  fault endpoint {} (badge {})",
                slots::FAULT_EP,
                obj(f.object),
                f.badge
            );
        }
        if c.asid_pool {
            println!("  {:>6}  ASID pool", slots::ASID_POOL);
        }
        for cap in &c.caps {
            let o = &spec.objects[cap.object as usize];
            if let capdl::ObjectKind::Frame { .. } = o.kind {
                let n = o.kind.slots() as u32;
                let range = format!("{}-{}", cap.slot, cap.slot + n - 1);
                println!("  {range:>6}  {} ({}, {n} frames)", o.name, cap.rights);
            } else {
                println!(
                    "  {:>6}  {} ({}, badge {})",
                    cap.slot, o.name, cap.rights, cap.badge
                );
            }
        }
        if let Some(u) = c.untyped {
            println!(
                "  {:>6}  untyped {} MiB ({} slots)",
                u.slot,
                u.size >> 20,
                slots::UNTYPED_REGION
            );
        }
        for p in &c.io_ports {
            println!("  {:>6}  I/O ports {:#x}-{:#x}", p.slot, p.first, p.last);
        }
        for i in &c.irqs {
            println!(
                "  {:>6}  IRQ {} -> {}",
                i.slot,
                i.vector,
                obj(i.notification)
            );
        }
        for m in &c.device_memory {
            println!(
                "  {:>6}  device frames {:#x} + {:#x}",
                m.slot, m.paddr, m.size
            );
        }
        for cl in &c.clients {
            println!(
                "  {:>6}  client {}: TCB, CNode, VSpace",
                cl.slot, spec.components[cl.client as usize].name
            );
        }
        println!("  {:>6}  first free slot", c.first_free_slot);
        if let Some(l) = c.limits {
            let group = c.name_group.as_deref().unwrap_or("(its own)");
            print!("  limits:");
            for f in capdl::LimitField::ALL {
                match l.get(f) {
                    capdl::Limits::UNLIMITED => print!(" {} unlimited", f.keyword()),
                    v if f.is_size() => print!(" {} {}K", f.keyword(), v as u64 * 4),
                    v => print!(" {} {v}", f.keyword()),
                }
            }
            println!("; name group {group}");
        }
    }
}
