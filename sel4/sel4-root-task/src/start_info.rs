//! The start-info page: how a component learns who it is and where its
//! capabilities are.
//!
//! The root task writes one page per component, maps it read-only at
//! [`START_INFO_VADDR`] in the component's VSpace, and starts the component
//! with that address in rdi. The page names every capability the system
//! spec gave the component (name -> slot in its CNode), so programs look
//! their caps up by the names the spec uses instead of hard-coded slots.

use sel4::{CPtr, Word};

/// Where each component's IPC buffer is mapped: above the range a pager
/// manages for its clients (`VmConfig::user_max` stays below it), so no
/// client mapping can collide with it.
pub const IPC_BUFFER_VADDR: u64 = 0x7fff_8000_0000;
/// Where the start-info page is mapped in every component.
pub const START_INFO_VADDR: u64 = IPC_BUFFER_VADDR + 0x1000;
/// "seL4SINF": marks a page the root task wrote.
pub const START_INFO_MAGIC: u64 = 0x464e_4953_344c_6573;
/// Longest component or capability name, in bytes.
pub const NAME_LEN: usize = 24;
/// Most capabilities one component can be given by name.
pub const MAX_CAPS: usize = 80;
/// Most untyped chunks one component can be granted.
pub const MAX_UNTYPED: usize = 64;

/// One named capability of the component.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NamedCap {
    pub name: [u8; NAME_LEN],
    pub slot: Word,
    /// Extra word the spec attaches (e.g. a badge, a size, a port range).
    pub data: Word,
}

/// The start-info page (fits in 4 KiB).
#[repr(C)]
pub struct StartInfo {
    pub magic: u64,
    pub name: [u8; NAME_LEN],
    /// This component's id in the system (its index in the spec).
    pub id: Word,
    /// Its CNode's size, 2^bits slots, all reachable with depth 64.
    pub cnode_size_bits: Word,
    /// First free slot of its CNode; later slots are the component's to use.
    pub first_free_slot: Word,
    /// The untyped grant: `untyped_count` caps from `untyped_first_slot`,
    /// chunk `i` of 2^`untyped_size_bits[i]` bytes.
    pub untyped_first_slot: Word,
    pub untyped_count: Word,
    pub untyped_size_bits: [u8; MAX_UNTYPED],
    pub num_caps: Word,
    pub caps: [NamedCap; MAX_CAPS],
}

const _: () = assert!(core::mem::size_of::<StartInfo>() <= 4096);

/// Copies `s` into a fixed, zero-padded name field (truncating at NAME_LEN).
pub fn encode_name(s: &str) -> [u8; NAME_LEN] {
    let mut out = [0u8; NAME_LEN];
    let n = s.len().min(NAME_LEN);
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}

fn decode_name(n: &[u8; NAME_LEN]) -> &str {
    let len = n.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    core::str::from_utf8(&n[..len]).unwrap_or("?")
}

impl StartInfo {
    /// The component's name.
    pub fn name(&self) -> &str {
        decode_name(&self.name)
    }

    /// The untyped grant as (cap, size in bits) pairs.
    pub fn untyped(&self) -> impl Iterator<Item = (sel4::cap::Untyped, u8)> + '_ {
        let n = (self.untyped_count as usize).min(MAX_UNTYPED);
        (0..n).map(|i| {
            (
                sel4::cap::Untyped::from_bits(self.untyped_first_slot + i as Word),
                self.untyped_size_bits[i],
            )
        })
    }

    /// The named capabilities.
    pub fn caps(&self) -> &[NamedCap] {
        &self.caps[..(self.num_caps as usize).min(MAX_CAPS)]
    }

    /// Slot of the capability the spec called `name`.
    pub fn cap(&self, name: &str) -> Option<CPtr> {
        self.named(name).map(|c| CPtr::from_bits(c.slot))
    }

    /// The whole entry of the capability the spec called `name`.
    pub fn named(&self, name: &str) -> Option<&NamedCap> {
        self.caps().iter().find(|c| decode_name(&c.name) == name)
    }

    /// Adds a named capability. Returns false when the table is full.
    pub fn push(&mut self, name: &str, slot: Word, data: Word) -> bool {
        let i = self.num_caps as usize;
        if i >= MAX_CAPS {
            return false;
        }
        self.caps[i] = NamedCap {
            name: encode_name(name),
            slot,
            data,
        };
        self.num_caps += 1;
        true
    }
}

impl NamedCap {
    /// The capability's name.
    pub fn name(&self) -> &str {
        decode_name(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_caps_round_trip() {
        // SAFETY: StartInfo is repr(C) integers and byte arrays; all zeros
        // is a valid (empty) value.
        let mut si: StartInfo = unsafe { core::mem::zeroed() };
        assert!(si.push("vm", 5, 0x12));
        assert!(si.push("a-very-long-capability-name-truncated", 6, 0));
        assert_eq!(si.cap("vm"), Some(CPtr::from_bits(5)));
        assert_eq!(si.named("vm").unwrap().data, 0x12);
        assert_eq!(si.cap("a-very-long-capability-n"), Some(CPtr::from_bits(6)));
        assert_eq!(si.cap("missing"), None);
    }

    #[test]
    fn table_fills_up() {
        // SAFETY: as above: all zeros is an empty StartInfo.
        let mut si: StartInfo = unsafe { core::mem::zeroed() };
        for i in 0..MAX_CAPS {
            assert!(si.push("x", i as Word, 0));
        }
        assert!(!si.push("y", 0, 0));
    }
}

/// Where a pager finds the description of its clients (one page, written
/// by the root task for components the spec names as a pager).
pub const PAGER_INFO_VADDR: u64 = START_INFO_VADDR + 0x1000;
/// Most clients one pager can have: as many as fit the page (the capdl
/// validator refuses a pager with more).
pub const MAX_PAGER_CLIENTS: usize = capdl::MAX_PAGER_CLIENTS;
/// "seL4PAGR".
pub const PAGER_INFO_MAGIC: u64 = 0x5247_4150_344c_6573;

/// A paged client's quotas, from the spec's `limits` (its own field, else
/// `limits default`, else capdl's built-in default), in the units the pager
/// counts; [`ClientLimits::UNLIMITED`] means no limit.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientLimits {
    /// Resident frames.
    pub resident_pages: u32,
    /// Wired (`mlock`ed) pages.
    pub wired_pages: u32,
    /// Swap slots.
    pub swap_slots: u32,
    /// Mappings (map entries) in its address space.
    pub map_entries: u32,
    /// Open handles plus named objects it created.
    pub handles: u32,
    /// Paging structures.
    pub page_tables: u32,
    /// Forked children alive at once, counting the whole fork family.
    pub children: u32,
    /// VM objects charged to the fork family.
    pub objects: u32,
}

impl ClientLimits {
    /// No limit.
    pub const UNLIMITED: u32 = u32::MAX;
}

impl From<capdl::Limits> for ClientLimits {
    fn from(l: capdl::Limits) -> Self {
        ClientLimits {
            resident_pages: l.resident_pages,
            wired_pages: l.wired_pages,
            swap_slots: l.swap_slots,
            map_entries: l.map_entries,
            handles: l.handles,
            page_tables: l.page_tables,
            children: l.children,
            objects: l.objects,
        }
    }
}

/// One client of a pager: where its caps are in the pager's CSpace and
/// what the pager needs to start it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PagerClientInfo {
    pub name: [u8; NAME_LEN],
    /// The badge on the client's fault and request endpoint caps.
    pub badge: Word,
    /// Slots in the pager's CSpace.
    pub tcb: Word,
    pub cnode: Word,
    pub vspace: Word,
    pub start_info_frame: Word,
    /// Slot of the client's request-endpoint cap in the client's CSpace.
    pub request_slot: Word,
    pub cnode_bits: Word,
    pub priority: Word,
    /// The client's ELF file, mapped read-only in the pager.
    pub image_vaddr: Word,
    pub image_len: Word,
    /// Its quotas.
    pub limits: ClientLimits,
    /// Its name group: shared-memory names are visible only between
    /// clients with the same number (1, 2, ...; a client in a group of its
    /// own has a number no one else has; there are fewer groups than
    /// components, whose count is a `u16`).
    pub name_group: u16,
    /// What the spec lets it do beyond the ordinary requests: the bits of
    /// `capdl::Privileges` (`privileges { swapctl }` is
    /// `capdl::Privilege::Swapctl.bit()`).
    pub privileges: u16,
}

/// The pager-info pages (two: the client table fills the first and 240
/// bytes of the second).
#[repr(C)]
pub struct PagerInfo {
    pub magic: u64,
    pub count: Word,
    pub clients: [PagerClientInfo; MAX_PAGER_CLIENTS],
    /// For client `i` whose program is not in the boot image (capdl's
    /// `image_from_files`), its image name: the pager maps the file
    /// `/bin/<name>` of its file pager. All zero for the others (their
    /// image is mapped at `image_vaddr`).
    pub programs: [[u8; NAME_LEN]; MAX_PAGER_CLIENTS],
    /// The replacement policy the spec chose for this pager (capdl's
    /// `pageout_policy`); all zero: the pager's default.
    pub pageout_policy: [u8; NAME_LEN],
    /// The pager's live trace ring in records (capdl's `trace_ring`); 0:
    /// no tracing.
    pub trace_ring: u32,
    /// The pager's 2 MiB large frames (capdl's `large_pages`), to retype
    /// from its untyped grant; 0: none.
    pub large_pages: u32,
    /// 1: transparent large pages (capdl's `transparent_large_pages`).
    pub transparent_large_pages: u32,
}

/// Bytes the root task maps at [`PAGER_INFO_VADDR`].
pub const PAGER_INFO_PAGES: usize = 2;
const _: () = assert!(core::mem::size_of::<PagerInfo>() <= PAGER_INFO_PAGES * 4096);

impl PagerClientInfo {
    /// The client's name.
    pub fn name(&self) -> &str {
        decode_name(&self.name)
    }
}

impl PagerInfo {
    /// The clients (bounded by the table size whatever `count` says).
    pub fn clients(&self) -> &[PagerClientInfo] {
        &self.clients[..(self.count as usize).min(MAX_PAGER_CLIENTS)]
    }

    /// The spec's replacement policy for this pager, if it names one.
    pub fn pageout_policy(&self) -> Option<&str> {
        (self.pageout_policy[0] != 0).then(|| decode_name(&self.pageout_policy))
    }

    /// The spec's trace ring for this pager, if it asks for one.
    pub fn trace_ring(&self) -> Option<u32> {
        (self.trace_ring != 0).then_some(self.trace_ring)
    }

    /// The spec's large frames for this pager (0: none).
    pub fn large_pages(&self) -> u32 {
        self.large_pages
    }

    /// Whether the spec asks this pager for transparent large pages.
    pub fn transparent_large_pages(&self) -> bool {
        self.transparent_large_pages != 0
    }

    /// Client `i`'s program file name when it is paged from files.
    pub fn program(&self, i: usize) -> Option<&str> {
        let n = self.programs.get(i)?;
        (n[0] != 0).then(|| decode_name(n))
    }
}

#[cfg(test)]
mod pager_info_tests {
    use super::*;

    #[test]
    fn limits_keep_their_order() {
        // The layout the pager reads: eight u32 in the order of capdl's
        // `LimitField::ALL`, then the group and the privileges (u16 each).
        let mut l = capdl::Limits::default();
        for (i, f) in capdl::LimitField::ALL.into_iter().enumerate() {
            l.set(f, 100 + i as u32);
        }
        let c = ClientLimits::from(l);
        // SAFETY: ClientLimits is repr(C), eight u32 and nothing else.
        let words: [u32; 8] = unsafe { core::mem::transmute(c) };
        assert_eq!(words, [100, 101, 102, 103, 104, 105, 106, 107]);
        assert_eq!(core::mem::size_of::<ClientLimits>(), 32);
        assert_eq!(
            core::mem::offset_of!(PagerClientInfo, name_group),
            core::mem::offset_of!(PagerClientInfo, limits) + 32
        );
        assert_eq!(
            core::mem::offset_of!(PagerClientInfo, privileges),
            core::mem::offset_of!(PagerClientInfo, name_group) + 2
        );
        // Thirty clients of 144 bytes (the name groups and privileges
        // padded to a word) run 240 bytes into the second page.
        assert_eq!(core::mem::size_of::<PagerClientInfo>(), 144);
        assert_eq!(core::mem::offset_of!(PagerInfo, programs), 4336);
        assert_eq!(
            ClientLimits::from(capdl::defaults::LIMITS).resident_pages,
            ClientLimits::UNLIMITED
        );
    }
}
