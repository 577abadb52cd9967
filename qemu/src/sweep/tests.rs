//! Unit tests of the sweep: parsing a run's output, judging it, the
//! failure report, and whole runs of a stand-in test binary.

use super::*;

const PANIC: &str = "seed 3: starting\n\
    thread 'model_random_sequences' panicked at vm-server/core/tests/model.rs:213:9:\n\
    model test failed: seed 3 step 4711: 0x10000: byte 5 is 1, model 0\n\
    last operations:\n  \
    4709 fault s1 0x10000 W\n  \
    4710 fork s1 -> s2\n\
    (rerun with VM_MODEL_SEED=3)\n\
    note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";

fn suite(name: &str) -> &'static Suite {
    SUITES.iter().find(|s| s.name == name).unwrap()
}

#[test]
fn panics_parse_to_step_and_trace() {
    let v = judge(
        false,
        "exit status: 101",
        "",
        PANIC,
        "model_random_sequences",
    );
    assert!(!v.passed);
    assert_eq!(
        v.headline(),
        "model test failed: seed 3 step 4711: 0x10000: byte 5 is 1, model 0"
    );
    assert_eq!(v.step, Some(4711));
    assert_eq!(v.trace, ["4709 fault s1 0x10000 W", "4710 fork s1 -> s2"]);
    assert!(!v.message.contains("RUST_BACKTRACE"));
}

#[test]
fn a_run_passes_only_if_it_ran_a_test() {
    let ok = "running 1 test\ntest model_random_sequences ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out; finished in 0.18s\n";
    assert!(judge(true, "exit status: 0", ok, "", "f").passed);
    let none = "running 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 2 filtered out\n";
    let v = judge(true, "exit status: 0", none, "", "no_such_fn");
    assert!(!v.passed);
    assert!(v.headline().contains("no test named no_such_fn ran"));
    let v = judge(false, "signal: 11 (SIGSEGV)", "", "some output\n", "f");
    assert!(v.headline().contains("signal: 11"), "{}", v.message);
    assert_eq!(v.step, None);
}

#[test]
fn seeds_parse() {
    assert_eq!(parse_seeds("1..20"), Ok(1..=19));
    assert_eq!(parse_seeds("1..=1000"), Ok(1..=1000));
    assert_eq!(parse_seeds("17"), Ok(17..=17));
    assert!(parse_seeds("5..5").is_err());
    assert!(parse_seeds("3..=1").is_err());
    assert!(parse_seeds("x..3").is_err());
    assert!(parse_seeds("0..0").is_err());
}

#[test]
fn the_bounded_sweep_is_big_enough_and_names_real_suites() {
    let seeds: u64 = BOUNDED.iter().map(|&(_, a, b)| b - a + 1).sum();
    assert!(seeds >= 100 && seeds * BOUNDED_LEN >= 2_000_000);
    for (s, _, _) in BOUNDED {
        suite(s);
    }
}

#[test]
fn failure_reports_name_the_first_divergence_and_the_commands() {
    let run = Run {
        suite: suite(PRESSURE),
        seed: 1017,
        len: 20_000,
        exe: Path::new("/x"),
        dir: Path::new("/"),
    };
    let plain = judge(false, "exit status: 101", "", PANIC, "f");
    let earlier = judge(
        false,
        "exit status: 101",
        "",
        &PANIC.replace("4711", "4650"),
        "f",
    );
    let text = failure_report(&run, &plain, Some(&earlier));
    assert!(text.contains("--- sweep::model-pressure/seed-1017 (20000 steps, VM_MODEL_PRESSURE=1)"));
    assert!(text.contains("first divergence: step 4650, found by the rerun with VM_MODEL_PEEK=1 VM_MODEL_TRACE=60, 61 step(s) before the run failed at step 4711"), "{text}");
    assert!(text.contains("operations leading to step 4650"));
    assert!(text.contains("\n  VM_MODEL_SEED=1017 VM_MODEL_OPS=20000 VM_MODEL_PRESSURE=1 cargo test --release -p vm-core --test model model_random_sequences -- --nocapture\n"));
    assert!(text.contains("VM_MODEL_PRESSURE=1 VM_MODEL_PEEK=1 VM_MODEL_TRACE=60 cargo test"));

    let same = failure_report(&run, &plain, Some(&plain));
    assert!(same.contains("first divergence: step 4711, where the run failed"));
    let pass = judge(true, "", "test result: ok. 1 passed; 0 failed;", "", "f");
    assert!(failure_report(&run, &plain, Some(&pass)).contains("not reproduced"));
    let unreduced = failure_report(&run, &plain, None);
    assert!(unreduced.contains("  4710 fork s1 -> s2"));
    assert!(!unreduced.contains("first divergence"));
}

/// A stand-in test binary: fails at step 4711, or 4650 with
/// `VM_MODEL_PEEK` (the reduction finds an earlier divergence).
const FAKE: &str = r#"#!/bin/sh
step=4711; [ -n "$VM_MODEL_PEEK" ] && step=4650
[ "$VM_MODEL_SEED" = 9 ] && sleep 5
[ "$VM_MODEL_SEED" = 2 ] && { echo 'test result: ok. 1 passed; 0 failed;'; exit 0; }
echo 'running 1 test'
echo "thread 'model_random_sequences' panicked at tests/model.rs:1:1:" >&2
echo "model test failed: seed $VM_MODEL_SEED step $step: ops $VM_MODEL_OPS pressure ${VM_MODEL_PRESSURE:-no}" >&2
echo 'last operations:' >&2
echo "  $((step - 1)) fork s1" >&2
echo "(rerun with VM_MODEL_SEED=$VM_MODEL_SEED)" >&2
echo 'note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace' >&2
exit 101
"#;

#[test]
fn runs_execute_and_reduce_end_to_end() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("qemu-sweep-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("fake-model");
    std::fs::write(&exe, FAKE).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = |seed| Run {
        suite: suite(PRESSURE),
        seed,
        len: 300,
        exe: &exe,
        dir: &dir,
    };
    let long = Duration::from_secs(30);
    assert!(run(2).execute(false, long).passed);
    let plain = run(5).execute(false, long);
    assert_eq!(plain.step, Some(4711));
    assert!(plain.rerun);
    assert_eq!(
        plain.headline(),
        "model test failed: seed 5 step 4711: ops 300 pressure 1"
    );
    let peek = run(5).execute(true, long);
    assert_eq!(
        (peek.step, peek.trace.as_slice()),
        (Some(4650), &["4649 fork s1".to_string()][..])
    );
    let text = failure_report(&run(5), &plain, Some(&peek));
    assert!(text.contains("first divergence: step 4650"), "{text}");
    let hung = run(9).execute(false, Duration::from_millis(300));
    assert!(!hung.passed && !hung.rerun);
    assert!(hung.headline().starts_with("timed out"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pool_runs_everything_once() {
    let items: Vec<u64> = (0..50).collect();
    let mut seen = [0; 50];
    pool(
        &items,
        3,
        Duration::from_millis(5),
        |&x| x * 2,
        |e| {
            if let Some((i, r)) = e {
                assert_eq!(r, 2 * i as u64);
                seen[i] += 1;
            }
        },
    );
    assert!(seen.iter().all(|&n| n == 1));
}
