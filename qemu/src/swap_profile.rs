//! `cargo qemu bench --data-pages`, second and third boots: what the VM
//! server runs per page bench-fault's timed swap passes move (written
//! out, read in): instructions, kernel invocations and messages per
//! page, and the instructions by function.
//!
//! **Why.** The swap rows are far below their goal, and the kernel's part
//! of a page moved (one `Page_Map`, one `Page_Unmap`) is a small share of
//! a page's time (`vm-swap-*-bound-mbps`; docs/performance.md, "The
//! swap rows' bound"). What is left is the server's own work and the
//! disk's waits; this says how much of the first there is and where.
//!
//! **How.** For each pass ([`Pass::window`]) the data-pages plugin
//! records the VM server's messages from the line bench-fault prints just
//! before the timed pass to the pass's `BENCH` line, which names the
//! pages it wrote out and read in. The window also holds the floor rounds between the
//! pass's rounds (block-test's and the root task's own, not the VM
//! server's) and the `Stats` requests around them, a few messages.

use crate::data_pages::{by_function, Group, Message};
use crate::hot_text::Symbols;
use std::collections::BTreeMap;

/// A timed swap pass of bench-fault's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    Out,
    In,
}

impl Pass {
    pub const BOTH: [Pass; 2] = [Pass::Out, Pass::In];

    /// bench-fault's line before the timed pass, and the pass's `BENCH`
    /// line after it.
    pub fn window(self) -> (&'static str, &'static str) {
        match self {
            Pass::Out => ("bench-fault: timed swap-out pass", "BENCH vm-swap-out-mbps"),
            Pass::In => ("bench-fault: timed swap-in pass", "BENCH vm-swap-in-mbps"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Pass::Out => "swap-out",
            Pass::In => "swap-in",
        }
    }

    /// What the pass does to the pages it moves.
    fn moves(self) -> &'static str {
        match self {
            Pass::Out => "written out",
            Pass::In => "read in",
        }
    }
}

/// What the VM server ran over a pass's window.
#[derive(Debug, PartialEq)]
pub struct Profile {
    pub pass: Pass,
    pub messages: u64,
    pub insns: u64,
    pub invocations: u64,
    /// Pages the pass read in, and wrote out meanwhile (its `BENCH` line).
    pub pages_in: u64,
    pub pages_out: u64,
    /// The sampled messages' instructions by block, and their total.
    pub sampled: u64,
    pub sampled_insns: u64,
    pub by_block: BTreeMap<u64, u64>,
}

impl Profile {
    /// The profile of `pass` from the server's `messages` (`groups`: its
    /// marks' groups), and the pages the pass's `BENCH` line `stop_line`
    /// names; `None` without them.
    pub fn of(
        pass: Pass,
        messages: &[Message],
        groups: &[Group],
        stop_line: &str,
    ) -> Option<Profile> {
        let (pages_out, pages_in) = pages_moved(stop_line)?;
        let mut p = Profile {
            pass,
            messages: 0,
            insns: 0,
            invocations: 0,
            pages_in,
            pages_out,
            sampled: 0,
            sampled_insns: 0,
            by_block: BTreeMap::new(),
        };
        for m in messages
            .iter()
            .filter(|m| m.program == crate::data_pages::SERVER)
        {
            p.messages += 1;
            p.insns += m.ran.insns;
            p.invocations += groups
                .iter()
                .zip(&m.counts)
                .filter(|(g, _)| **g == Group::Invocation)
                .map(|(_, c)| u64::from(*c))
                .sum::<u64>();
            if !m.ran.profile.is_empty() {
                p.sampled += 1;
                p.sampled_insns += m.ran.insns;
                for (pc, n) in &m.ran.profile {
                    *p.by_block.entry(*pc).or_default() += n;
                }
            }
        }
        Some(p)
    }

    /// The report: per page the pass moved, then by function (those with
    /// a fiftieth of the instructions or more), the sampled messages'
    /// instructions scaled to all of them.
    pub fn report(&self, symbols: &Symbols) -> String {
        let (name, moves) = (self.pass.name(), self.pass.moves());
        let (moved, other, other_moves) = match self.pass {
            Pass::Out => (self.pages_out, self.pages_in, Pass::In.moves()),
            Pass::In => (self.pages_in, self.pages_out, Pass::Out.moves()),
        };
        let pages = moved.max(1) as f64;
        let mut s = format!(
            "\n{name} pass (bench-fault's timed rounds): {} VM-server messages for {moved} pages {moves} ({other} {other_moves})\n\
             per page {moves}: {:.0} instructions, {:.2} kernel invocations, {:.3} messages\n",
            self.messages,
            self.insns as f64 / pages,
            self.invocations as f64 / pages,
            self.messages as f64 / pages
        );
        if self.sampled_insns == 0 {
            return s;
        }
        let (total, v) = by_function(&self.by_block, symbols, 50);
        // Sampled instructions to all of the window's, per page.
        let scale = self.insns as f64 / self.sampled_insns as f64 / pages;
        s.push_str(&format!(
            "{name} pass: instructions per page {moves} by function ({} sampled messages)\n",
            self.sampled
        ));
        for (f, n) in v {
            s.push_str(&format!(
                "{:>8.0} {:>5.2}  {f}\n",
                n as f64 * scale,
                n as f64 / total as f64
            ));
        }
        s
    }
}

/// `(out, in)` from a swap pass's `BENCH` line: `...; <out> pages out,
/// <in> in; ...`, or for swap-in `<needed> needed in, <in> read in`:
/// the pages the server read, whose work the profile divides.
fn pages_moved(line: &str) -> Option<(u64, u64)> {
    let rest = &line[line.find("; ")? + 2..];
    let mut w = rest.split_whitespace();
    let out = w.next()?.parse().ok()?;
    (w.next()? == "pages" && w.next()? == "out,").then_some(())?;
    let ins = w.next()?.parse().ok()?;
    if w.next()? != "needed" {
        return Some((out, ins));
    }
    (w.next()? == "in,").then_some(())?;
    Some((out, w.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_pages::parse_line;

    #[test]
    fn the_pass_line_names_the_pages_moved() {
        assert_eq!(
            pages_moved("BENCH vm-swap-in-mbps 132 MB/s (45 MiB in 360 ms over 4 rounds; 1712 pages out, 11647 in; pool 4300 pages, TSC 2596 MHz)"),
            Some((1712, 11647))
        );
        assert_eq!(
            pages_moved("BENCH vm-swap-in-mbps 180 MB/s (42 MiB in 267 ms over 4 rounds; 1712 pages out, 10810 needed in, 12457 read in; pool 4300 pages, TSC 2596 MHz)"),
            Some((1712, 12457))
        );
        assert_eq!(pages_moved("BENCH vm-swap-in-mbps 132 MB/s"), None);
        assert_eq!(pages_moved("x; 12 pages in, 3 out;"), None);
    }

    #[test]
    fn the_profile_counts_the_servers_messages_per_page_read_in() {
        // Marks: an invocation, then a fault entry.
        let groups = [Group::Invocation, Group::Fault];
        let messages: Vec<Message> = [
            "M 0 3,1 3e8,10 13109:10005186",
            "M 0 1,0 64,4 13109:10005186 b10000000:50 b10001000:14",
            // The root task's: not the server's.
            "M 1 1 1000,10",
        ]
        .iter()
        .map(|l| parse_line(l).expect("a plugin line"))
        .collect();
        let line = "BENCH vm-swap-in-mbps 1 MB/s (1 MiB in 1 ms over 4 rounds; 1 pages out, 10 in; pool 4 pages)";
        let p = Profile::of(Pass::In, &messages, &groups, line).expect("a profile");
        assert_eq!(
            (p.messages, p.insns, p.invocations, p.pages_in, p.pages_out),
            (2, 1100, 4, 10, 1)
        );
        assert_eq!((p.sampled, p.sampled_insns), (1, 100));
        let symbols = Symbols::parse(
            "0000000010000000 0000000000001000 T _ZN1a4hot117h0123456789abcdefE\n\
             0000000010001000 0000000000001000 T _ZN1a4hot217h0123456789abcdefE\n",
        );
        let r = p.report(&symbols);
        assert!(
            r.contains("2 VM-server messages for 10 pages read in (1 written out)"),
            "{r}"
        );
        assert!(
            r.contains(
                "per page read in: 110 instructions, 0.40 kernel invocations, 0.200 messages"
            ),
            "{r}"
        );
        // 80 of the sample's 100 instructions in hot1: 80 x 11 per page.
        assert!(
            r.lines()
                .any(|l| l.trim_start().starts_with("88  0.80  a::hot1")),
            "{r}"
        );
        assert!(
            r.lines()
                .any(|l| l.trim_start().starts_with("22  0.20  a::hot2")),
            "{r}"
        );
        // The swap-out pass's report counts per page written out.
        let out = Profile::of(Pass::Out, &messages, &groups, line).expect("a profile");
        let r = out.report(&symbols);
        assert!(r.starts_with("\nswap-out pass"), "{r}");
        assert!(r.contains("for 1 pages written out (10 read in)"), "{r}");
        assert!(
            r.contains(
                "per page written out: 1100 instructions, 4.00 kernel invocations, 2.000 messages"
            ),
            "{r}"
        );
        assert!(
            r.lines()
                .any(|l| l.trim_start().starts_with("880  0.80  a::hot1")),
            "{r}"
        );
    }
}
