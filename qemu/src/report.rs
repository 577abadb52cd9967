//! The system-test protocol on the serial console, and the tally of results.
//!
//! Programs in the booted system print one line per test outcome:
//! `TEST PASS <name>` or `TEST FAIL <name>: <reason>`, and the root task
//! announces how many outcomes to expect with `TEST PLAN <n>` (the sum over
//! all `PLAN` lines). A test that never reports, a boot that times out and
//! a failure exit code each count as a failure, so a crash cannot pass.

/// One system-test outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Collects outcomes from console lines.
#[derive(Debug, Default)]
pub struct Tally {
    pub planned: usize,
    pub outcomes: Vec<Outcome>,
}

impl Tally {
    /// Reads one console line; returns the outcome it reported, if any.
    pub fn observe(&mut self, line: &str) -> Option<&Outcome> {
        // Other output may share the line's start (the kernel prints
        // without line discipline), so look for the marker anywhere.
        let at = line.find("TEST ")?;
        let rest = &line[at + 5..];
        if let Some(n) = rest.strip_prefix("PLAN ") {
            self.planned += n.trim().parse::<usize>().unwrap_or(0);
            return None;
        }
        let (passed, body) = if let Some(b) = rest.strip_prefix("PASS ") {
            (true, b)
        } else if let Some(b) = rest.strip_prefix("FAIL ") {
            (false, b)
        } else {
            return None;
        };
        let (name, detail) = match body.split_once(": ") {
            Some((n, d)) if !passed => (n.trim(), d.trim()),
            _ => (body.trim(), ""),
        };
        if name.is_empty() {
            return None;
        }
        self.outcomes.push(Outcome {
            name: name.to_string(),
            passed,
            detail: detail.to_string(),
        });
        self.outcomes.last()
    }

    /// Records a pass found outside the console protocol (a sweep's seed).
    pub fn pass(&mut self, name: &str) {
        self.outcomes.push(Outcome {
            name: name.to_string(),
            passed: true,
            detail: String::new(),
        });
    }

    /// Records a failure found outside the console protocol (timeout, exit code).
    pub fn fail(&mut self, name: &str, detail: impl Into<String>) {
        self.outcomes.push(Outcome {
            name: name.to_string(),
            passed: false,
            detail: detail.into(),
        });
    }

    /// Outcomes planned but never reported.
    pub fn missing(&self) -> usize {
        self.planned.saturating_sub(self.outcomes.len())
    }

    /// Records a check done on the host, printed as `test host::NAME`.
    pub fn host_check(&mut self, name: &str, result: std::result::Result<(), String>) {
        match result {
            Ok(()) => {
                println!("test host::{name} ... ok");
                self.pass(name);
            }
            Err(e) => {
                println!("test host::{name} ... FAILED: {e}");
                self.fail(name, e);
            }
        }
    }

    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.passed).count() + self.missing()
    }
}

/// Adds up the `test result:` lines of `cargo test` output.
pub fn cargo_test_counts(line: &str) -> Option<(usize, usize)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let mut passed = None;
    let mut failed = None;
    for part in rest.split([';', '.']) {
        let part = part.trim();
        if let Some(n) = part.strip_suffix(" passed") {
            passed = n.trim().parse().ok();
        } else if let Some(n) = part.strip_suffix(" failed") {
            failed = n.trim().parse().ok();
        }
    }
    Some((passed?, failed?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_pass_fail_and_missing() {
        let mut t = Tally::default();
        t.observe("TEST PLAN 3");
        assert!(t.observe("TEST PASS boot-info").unwrap().passed);
        let o = t.observe("root: TEST FAIL fault: wrong value 7").unwrap();
        assert_eq!(
            (o.name.as_str(), o.detail.as_str(), o.passed),
            ("fault", "wrong value 7", false)
        );
        assert!(t.observe("unrelated line").is_none());
        assert_eq!((t.passed(), t.failed(), t.missing()), (1, 2, 1));
    }

    #[test]
    fn cargo_test_lines_parse() {
        let l = "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(cargo_test_counts(l), Some((12, 0)));
        let l = "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(cargo_test_counts(l), Some((3, 2)));
        assert_eq!(cargo_test_counts("running 3 tests"), None);
    }
}
