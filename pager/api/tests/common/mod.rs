//! Shared set-up of the pager-api tests: a channel in test memory, the two
//! ends over it, and a pager component with files in memory.
#![allow(dead_code)]

use pager_api::*;
use std::collections::{BTreeMap, BTreeSet};

/// A fresh zeroed channel (ring page + `buffers` buffers), page aligned,
/// alive for the rest of the test run; returns its base.
pub fn channel(buffers: u64) -> *mut u8 {
    let mem: &'static mut [u8] = vec![0u8; (buffers as usize + 2) * PAGE_SIZE].leak();
    let off = mem.as_ptr().align_offset(PAGE_SIZE);
    &mut mem[off] as *mut u8
}

/// The ring page of the channel at `base`.
pub fn ring(base: *mut u8) -> PagerRing {
    // SAFETY: `channel` leaked a page-aligned region with the ring page
    // first; the tests touch it only through ring views.
    unsafe { PagerRing::new(base) }
}

/// A view of the data window of the channel at `base` (one per end).
pub fn window(base: *mut u8, buffers: u64) -> Window {
    // SAFETY: the window follows the ring page in the leaked region and
    // is reached only through `Window` views, one per end.
    unsafe { Window::new(base.wrapping_add(PAGE_SIZE), buffers) }
}

/// A notifier that does nothing (the test loop drives both ends).
#[derive(Debug, Default)]
pub struct Quiet;

impl Notifier for Quiet {
    fn kick(&mut self) {}
    fn wait(&mut self) {}
}

/// Both ends of a fresh channel of `buffers` buffers and `cluster` pages.
pub fn pair(buffers: u64, cluster: u64) -> (VmEnd<Quiet>, PagerEnd<Quiet>, PagerRing) {
    let base = channel(buffers);
    let vm = VmEnd::new(ring(base), window(base, buffers), cluster, Quiet).unwrap();
    let pager = PagerEnd::new(ring(base), window(base, buffers), cluster, Quiet);
    (vm, pager, ring(base))
}

/// A pager component: files in memory behind a pager end.
pub struct FilePager<N: Notifier> {
    pub end: PagerEnd<N>,
    /// Contents by key; pages past a file's end read as zero, writes
    /// past it extend it.
    pub files: BTreeMap<u64, Vec<u8>>,
    /// Keys answered `Zero`.
    pub holes: BTreeSet<u64>,
    pub closed: Vec<u64>,
    /// Refusals the end reported, in order.
    pub refused: Vec<(u64, PagerError)>,
    /// Fail the next page-in or write-back with this error.
    pub fail_next: Option<PagerError>,
    /// Take nothing (a pager that hangs).
    pub hold: bool,
    /// Answer each batch in reverse order.
    pub reverse: bool,
    pub reads: u64,
    pub writes: u64,
}

impl<N: Notifier> FilePager<N> {
    pub fn new(end: PagerEnd<N>) -> Self {
        FilePager {
            end,
            files: BTreeMap::new(),
            holes: BTreeSet::new(),
            closed: Vec::new(),
            refused: Vec::new(),
            fail_next: None,
            hold: false,
            reverse: false,
            reads: 0,
            writes: 0,
        }
    }

    /// Page `pindex` of file `key`.
    pub fn page(&self, key: u64, pindex: u64) -> Vec<u8> {
        let mut out = vec![0u8; PAGE_SIZE];
        if let Some(f) = self.files.get(&key) {
            let lo = pindex as usize * PAGE_SIZE;
            if lo < f.len() {
                let hi = (lo + PAGE_SIZE).min(f.len());
                out[..hi - lo].copy_from_slice(&f[lo..hi]);
            }
        }
        out
    }

    /// Takes every request waiting and answers it; returns how many were
    /// taken.
    pub fn serve(&mut self) -> usize {
        if self.hold {
            return 0;
        }
        let mut answers = Vec::new();
        while let Some(inc) = self.end.take() {
            match inc {
                Incoming::Refused { tag, error } => {
                    self.refused.push((tag, error));
                    answers.push((tag, Err(error)));
                }
                Incoming::Request(r) => {
                    if let Some(a) = self.exec(r) {
                        answers.push((r.tag, a));
                    }
                }
            }
        }
        let n = answers.len();
        if self.reverse {
            answers.reverse();
        }
        for (tag, a) in answers {
            self.end.complete(tag, a);
        }
        self.end.kick();
        n
    }

    fn exec(&mut self, r: Request) -> Option<Result<Outcome, PagerError>> {
        let (key, pindex) = match r.kind {
            RequestKind::Close { key } => {
                self.closed.push(key);
                return None;
            }
            RequestKind::PageIn { key, pindex, .. }
            | RequestKind::WriteBack { key, pindex, .. } => (key, pindex),
        };
        if let Some(e) = self.fail_next.take() {
            return Some(Err(e));
        }
        Some(match r.kind.operation() {
            Operation::PageIn => {
                self.reads += 1;
                if self.holes.contains(&key) {
                    return Some(Ok(Outcome::Zero));
                }
                let count = self.end.buffers(&r).len() / PAGE_SIZE;
                let data: Vec<u8> = (0..count as u64)
                    .flat_map(|i| self.page(key, pindex + i))
                    .collect();
                self.end.buffers_mut(&r).copy_from_slice(&data);
                Ok(Outcome::Supplied)
            }
            _ => {
                self.writes += 1;
                let data = self.end.buffers(&r).to_vec();
                let f = self.files.entry(key).or_default();
                let lo = pindex as usize * PAGE_SIZE;
                if f.len() < lo + data.len() {
                    f.resize(lo + data.len(), 0);
                }
                f[lo..lo + data.len()].copy_from_slice(&data);
                Ok(Outcome::Written)
            }
        })
    }
}
