//! Replays synthetic (or recorded) access traces against every replacement policy and prints faults, page-ins and page-outs per policy.
//!
//! ```text
//! cargo run --release -p vm-swap --example trace_replay            # all synthetic workloads
//! cargo run --release -p vm-swap --example trace_replay -- --quick # smaller traces
//! cargo run --release -p vm-swap --example trace_replay -- FILE FRAMES...
//! ```
//!
//! FILE is a binary trace recorded on the live system
//! (`vm_swap::trace_file`, recognised by its magic; FRAMES default to the
//! recorded pool), or text with one step per line: `r N`, `w N` or `f N`
//! (read, write, free of page key N). Every table ends with Belady's OPT
//! for the same trace and frames; `vs-OPT` is page-ins over OPT's.

use std::time::Instant;
use vm_swap::trace::{
    belady, fork_heavy, format_table, looping, parse_trace, replay_pool, sequential, zipf, TraceOp,
};
use vm_swap::trace_file::{replay_recorded, RecordedTrace};

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
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let frames: Vec<u32> = args[1..]
            .iter()
            .map(|a| a.parse().expect("frame count"))
            .collect();
        if bytes.starts_with(&vm_swap::trace_file::MAGIC) {
            let t = RecordedTrace::decode(&bytes).unwrap_or_else(|e| panic!("{path}: {e:?}"));
            println!(
                "{path}: recorded under {} with {} frames; live: {:?}",
                t.header.policy(),
                t.header.frames,
                t.live_counts()
            );
            for pool in replay_recorded(&t, &frames) {
                println!("{}", format_table(path, &pool));
            }
            return;
        }
        let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        let trace = parse_trace(&text).unwrap_or_else(|line| panic!("{path}:{line}: bad step"));
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
    // The same with a hot set larger than memory, so that hot pages are
    // evicted and come back between scans (see docs/policies.md: with
    // the 200-page hot set in 250 frames, 2Q never sees a re-use).
    let mut mixed = Vec::new();
    let hot = zipf(400, 100_000 / scale, 1.0, 20, 4);
    for (i, chunk) in hot.chunks(5_000 / scale).enumerate() {
        mixed.extend_from_slice(chunk);
        mixed.extend(sequential(600, 1, false).into_iter().map(|op| match op {
            TraceOp::Read(k) => TraceOp::Read(vm_swap::PageKey(k.0 + 10_000 * (i as u64 + 1))),
            other => other,
        }));
    }
    report(
        "zipf hot set over memory + one-time scans",
        &mixed,
        &[250, 500],
    );
}
