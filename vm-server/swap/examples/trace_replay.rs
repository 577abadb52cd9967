//! Replays synthetic (or recorded) access traces against every replacement policy and prints faults, page-ins and page-outs per policy.
//!
//! ```text
//! cargo run --release -p vm-swap --example trace_replay            # all synthetic workloads
//! cargo run --release -p vm-swap --example trace_replay -- --quick # smaller traces
//! cargo run --release -p vm-swap --example trace_replay -- FILE FRAMES...
//! ```
//!
//! A recorded trace has one step per line: `r N`, `w N` or `f N` (read,
//! write, free of page key N).

use std::time::Instant;
use vm_swap::trace::{
    belady, fork_heavy, format_table, looping, parse_trace, replay_pool, sequential, zipf, TraceOp,
};

fn report(name: &str, trace: &[TraceOp], frames: &[u32]) {
    for &f in frames {
        let t0 = Instant::now();
        let pool = replay_pool(trace, f);
        let title = format!(
            "{name}: {} steps, {f} frames ({:.1} ms for all policies and OPT)",
            trace.len(),
            t0.elapsed().as_secs_f64() * 1e3
        );
        println!("{}", format_table(&title, &pool));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(path) = args.first().filter(|a| !a.starts_with("--")) {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let trace = parse_trace(&text).unwrap_or_else(|line| panic!("{path}:{line}: bad step"));
        let frames: Vec<u32> = args[1..]
            .iter()
            .map(|a| a.parse().expect("frame count"))
            .collect();
        report(
            path,
            &trace,
            if frames.is_empty() { &[64] } else { &frames },
        );
        return;
    }
    // The working sets are 1000 pages; frame counts are 1/8 (the issue's
    // memory-pressure ratio), 1/2 and 9/10 of that.
    let scale = if args.iter().any(|a| a == "--quick") {
        10
    } else {
        1
    };
    let ws = 1000u64;
    let frames = [125, 500, 900];
    report("belady (FIFO anomaly)", &belady(), &[3, 4]);
    report(
        "sequential scan x3, writes",
        &sequential(ws, 3, true),
        &frames,
    );
    report(
        "zipf s=1.0, 30% writes",
        &zipf(ws, 200_000 / scale, 1.0, 30, 1),
        &frames,
    );
    report(
        "looping over 1.2x memory-size set",
        &looping(ws, 100_000 / scale, false),
        &[833],
    );
    report(
        "fork-heavy: 8 forks, share then diverge",
        &fork_heavy(ws / 2, 8, 20_000 / scale, 3),
        &frames,
    );
    // A hot zipf set disturbed by periodic one-time scans.
    let mut mixed = Vec::new();
    let hot = zipf(200, 100_000 / scale, 1.0, 20, 4);
    for (i, chunk) in hot.chunks(5_000 / scale).enumerate() {
        mixed.extend_from_slice(chunk);
        mixed.extend(sequential(600, 1, false).into_iter().map(|op| match op {
            TraceOp::Read(k) => TraceOp::Read(vm_swap::PageKey(k.0 + 10_000 * (i as u64 + 1))),
            other => other,
        }));
    }
    report("zipf hot set + one-time scans", &mixed, &[250, 500]);
}
