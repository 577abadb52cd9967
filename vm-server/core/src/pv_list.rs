//! `PvList`: where one frame is mapped, the pmap's reverse map per frame (BSD's `pv_entry` list), its first place kept inline.
//!
//! Every pmap keeps one per frame (the simulator's and the seL4 one), so
//! a frame can be unmapped everywhere (`page_protect`, pageout). Most
//! frames are mapped in one space at a time: a `Vec` per frame allocated
//! 64 bytes of heap for that one place. Here the first place lives in the
//! list itself (24 bytes, a `Vec`'s size) and only a frame mapped in
//! several places (fork, shared memory) takes heap for the others.

use crate::types::SpaceId;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// The `va` of an empty first place: no mapping starts at the last byte.
const NO_PLACE: u64 = u64::MAX;

/// The places (space, page address) one frame is mapped at, in no
/// particular order. Owned by its pmap, which keeps one per frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PvList {
    /// The first place, or `va == NO_PLACE` for none.
    first: (SpaceId, u64),
    /// The others, only while there are any. Boxed so the list is a thin
    /// pointer beside the first place (24 bytes, not 40): one per frame.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<(SpaceId, u64)>>>,
}

impl Default for PvList {
    fn default() -> Self {
        PvList {
            first: (SpaceId(0), NO_PLACE),
            more: None,
        }
    }
}

impl PvList {
    /// No places.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the frame is mapped nowhere.
    pub fn is_empty(&self) -> bool {
        self.first.1 == NO_PLACE
    }

    /// The one place the frame is mapped at, if it has exactly one.
    pub fn sole(&self) -> Option<(SpaceId, u64)> {
        (!self.is_empty() && self.more.is_none()).then_some(self.first)
    }

    /// Places the frame is mapped at.
    pub fn len(&self) -> usize {
        if self.is_empty() {
            return 0;
        }
        1 + self.more.as_ref().map_or(0, |m| m.len())
    }

    /// Adds a place. The caller has not recorded it before.
    pub fn push(&mut self, space: SpaceId, va: u64) {
        debug_assert_ne!(va, NO_PLACE, "no mapping starts at the last byte");
        if self.is_empty() {
            self.first = (space, va);
        } else {
            self.push_more(space, va);
        }
    }

    /// `push` of a second or later place.
    // Out of line: most frames have one mapping; the fault path's code
    // stays on few pages (docs/performance.md, "Code pages").
    #[inline(never)]
    fn push_more(&mut self, space: SpaceId, va: u64) {
        self.more.get_or_insert_with(Box::default).push((space, va));
    }

    /// Removes a place; false if the frame was not mapped there.
    pub fn remove(&mut self, space: SpaceId, va: u64) -> bool {
        if self.is_empty() {
            return false;
        }
        if self.first == (space, va) {
            self.first = self.pop_more().unwrap_or((SpaceId(0), NO_PLACE));
            return true;
        }
        let Some(more) = self.more.as_mut() else {
            return false;
        };
        let Some(i) = more.iter().position(|&p| p == (space, va)) else {
            return false;
        };
        more.swap_remove(i);
        if more.is_empty() {
            self.more = None;
        }
        true
    }

    /// The places, the first one first.
    pub fn iter(&self) -> impl Iterator<Item = (SpaceId, u64)> + '_ {
        let first = (!self.is_empty()).then_some(self.first);
        let more = self.more.iter().flat_map(|m| m.iter().copied());
        first.into_iter().chain(more)
    }

    /// Takes one of the other places, dropping their heap when none is left.
    fn pop_more(&mut self) -> Option<(SpaceId, u64)> {
        let more = self.more.as_mut()?;
        let p = more.pop();
        if more.is_empty() {
            self.more = None;
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_frame_mapped_once_takes_no_heap() {
        let mut pv = PvList::new();
        assert!(pv.is_empty());
        pv.push(SpaceId(3), 0x4000);
        assert!(pv.more.is_none());
        assert_eq!(pv.iter().collect::<Vec<_>>(), [(SpaceId(3), 0x4000)]);
        pv.push(SpaceId(4), 0x4000);
        assert_eq!(pv.len(), 2);
        assert!(pv.remove(SpaceId(3), 0x4000));
        // The other place moved inline; the heap is gone again.
        assert!(pv.more.is_none());
        assert_eq!(pv.iter().collect::<Vec<_>>(), [(SpaceId(4), 0x4000)]);
        assert!(!pv.remove(SpaceId(3), 0x4000));
        assert!(pv.remove(SpaceId(4), 0x4000));
        assert!(pv.is_empty());
        assert_eq!(pv.len(), 0);
        assert_eq!(core::mem::size_of::<PvList>(), 24);
    }

    proptest! {
        /// Any sequence of pushes and removes leaves the same places as a
        /// plain list, whatever the order.
        #[test]
        fn holds_what_a_vec_holds(ops in proptest::collection::vec((any::<bool>(), 0u32..4, 0u64..6), 0..64)) {
            let (mut pv, mut model) = (PvList::new(), Vec::<(SpaceId, u64)>::new());
            for (add, s, page) in ops {
                let place = (SpaceId(s), page * 4096);
                if add {
                    if !model.contains(&place) {
                        pv.push(place.0, place.1);
                        model.push(place);
                    }
                } else {
                    let had = model.iter().position(|&p| p == place).map(|i| model.swap_remove(i));
                    prop_assert_eq!(pv.remove(place.0, place.1), had.is_some());
                }
                let mut got: Vec<_> = pv.iter().collect();
                let mut want = model.clone();
                got.sort_unstable_by_key(|&(s, a)| (s.0, a));
                want.sort_unstable_by_key(|&(s, a)| (s.0, a));
                prop_assert_eq!(got, want);
                prop_assert_eq!(pv.len(), model.len());
                prop_assert_eq!(pv.more.is_some(), model.len() > 1);
            }
        }
    }
}
