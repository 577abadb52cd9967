//! The validated system model: what the root task realises at boot. Every
//! reference is an index that is known to be in range and every capability
//! has its slot already assigned, so a [`Spec`] needs no further checking by
//! its consumer (the decoder re-checks indices and slots of untrusted bytes).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// seL4 badges on this kernel are 28 bits; 0 means unbadged.
pub const BADGE_BITS: u32 = 28;
pub const MAX_BADGE: u64 = (1 << BADGE_BITS) - 1;
/// Pages are 4 KiB; every size in the spec is a multiple of this.
pub const PAGE_SIZE: u64 = 4096;
/// seL4 IRQ numbers a user IRQ handler may take on pc99 (CPU vector 0x30 + n).
pub const MAX_IRQ_VECTOR: u64 = 107;
/// Component CNode sizes (radix bits) the spec may ask for.
pub const MIN_CNODE_BITS: u8 = 9;
pub const MAX_CNODE_BITS: u8 = 20;

/// Defaults for fields a component may leave out.
pub mod defaults {
    pub const PRIORITY: u8 = 100;
    pub const MAX_PRIORITY: u8 = 0;
    pub const STACK_SIZE: u64 = 64 * 1024;
    pub const CNODE_BITS: u8 = 12;
    /// The limits of a paged client whose spec sets neither a field of its
    /// own nor the field in `limits default { }` (see `capdl/README.md` for
    /// why these values).
    pub const LIMITS: super::Limits = super::Limits {
        resident_pages: super::Limits::UNLIMITED,
        wired_pages: (4 << 20) / super::PAGE_SIZE as u32,
        swap_slots: super::Limits::UNLIMITED,
        map_entries: 1024,
        handles: 256,
        page_tables: 256,
        children: 16,
        objects: super::Limits::UNLIMITED,
    };
}

/// Most clients one pager can have: the pager-info page the root task
/// writes (`sel4_root_task::start_info::PagerInfo`) holds this many.
pub const MAX_PAGER_CLIENTS: usize = 30;
/// Most device regions one pager can hold for its clients: the
/// device-info page (`sel4_root_task::start_info::DeviceInfo`) holds this
/// many.
pub const MAX_PAGER_DEVICES: usize = 16;
/// Longest `pageout_policy` name: the pager-info page's field holds it
/// with a terminating zero (`sel4_root_task::start_info::NAME_LEN`).
pub const MAX_POLICY_NAME: usize = 23;
/// The largest `trace_ring`: the VM server's own bound
/// (`vm_core::trace::MAX_TRACE_RING`).
pub const MAX_TRACE_RING: u32 = 1 << 18;
/// The most `large_pages` a pager may have (8 GiB of them).
pub const MAX_LARGE_PAGES: u32 = 4096;
/// Bytes of a pager's untyped grant besides its large pages: its pool of
/// 4 KiB frames and its paging structures need at least this much.
pub const LARGE_PAGES_SPARE_UNTYPED: u64 = 4 << 20;
/// One large page: 2 MiB.
pub const LARGE_PAGE_SIZE: u64 = 2 << 20;
/// The largest `device_frame` object (one slot per page in its pager).
pub const MAX_DEVICE_FRAME: u64 = 1 << 30;

/// The fixed layout of every component's CSpace (its root CNode). Components
/// may use these constants directly; grant slots vary and are found in the
/// [`super::Component`] (the root task can pass the blob to components).
pub mod slots {
    use super::Slot;
    /// Always empty (seL4's null cap pointer).
    pub const NULL: Slot = 0;
    /// The component's own TCB.
    pub const TCB: Slot = 1;
    /// The component's own root CNode.
    pub const CNODE: Slot = 2;
    /// The component's own VSpace (PML4).
    pub const VSPACE: Slot = 3;
    /// The frame of its IPC buffer.
    pub const IPC_BUFFER: Slot = 4;
    /// The badged fault endpoint cap (write + grant-reply), if `fault` is set;
    /// it is the TCB's fault endpoint CPtr.
    pub const FAULT_EP: Slot = 5;
    /// An ASID pool, if `asid_pool` is set.
    pub const ASID_POOL: Slot = 6;
    /// Slots 7..=15 are reserved for the root task's future use.
    pub const FIRST_CAPS_TABLE: Slot = 16;
    /// The last slot a `caps { }` entry may name.
    pub const LAST_CAPS_TABLE: Slot = 255;
    /// Grants (untyped, I/O ports, IRQs, device frames, pager clients,
    /// the clients' device regions) are placed from here on, in that order.
    pub const FIRST_GRANT: Slot = 256;
    /// Slots of the untyped region when `untyped` is non-zero; the root task
    /// fills it from the start with power-of-two chunks, rest empty.
    pub const UNTYPED_REGION: Slot = 64;
    /// Each pager client takes three consecutive slots: TCB, CNode, VSpace.
    pub const CLIENT_TCB: Slot = 0;
    pub const CLIENT_CNODE: Slot = 1;
    pub const CLIENT_VSPACE: Slot = 2;
    pub const CLIENT_SLOTS: Slot = 3;
}

pub type Slot = u32;
/// Index into [`Spec::objects`].
pub type ObjectId = u16;
/// Index into [`Spec::components`].
pub type ComponentId = u16;

/// A kernel object shared between components, created once by the root task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub name: String,
    pub kind: ObjectKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `ep`: an IPC endpoint.
    Endpoint,
    /// `notification`: a notification object.
    Notification,
    /// `frame (SIZE)`: `size / 4K` physically contiguous 4K frames (the root
    /// task retypes them from one untyped), e.g. a buffer two components share
    /// or hand to a device.
    Frame { size: u64 },
    /// `device_frame (SIZE, paddr: P [, bus: B, dev: D, func: F, bar: N])`:
    /// the `size / 4K` device frames at physical address `paddr` (retyped
    /// from the kernel's device untyped), e.g. a PCI BAR, which the root
    /// task first places at `paddr` when `pci` names one. Paged clients
    /// are granted it in `devices { }`; their pager holds the frames.
    DeviceFrame {
        size: u64,
        paddr: u64,
        pci: Option<PciBar>,
    },
}

/// A PCI memory BAR the root task places at a device region's address
/// (through the configuration ports 0xcf8-0xcff) before anything runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PciBar {
    pub bus: u8,
    /// 0..=31.
    pub dev: u8,
    /// 0..=7.
    pub func: u8,
    /// The BAR's index, 0..=5.
    pub bar: u8,
}

impl ObjectKind {
    /// The spelling in the spec text.
    pub fn keyword(self) -> &'static str {
        match self {
            ObjectKind::Endpoint => "ep",
            ObjectKind::Notification => "notification",
            ObjectKind::Frame { .. } => "frame",
            ObjectKind::DeviceFrame { .. } => "device_frame",
        }
    }
    /// Slots a cap to this object takes: one per 4K frame, else one.
    pub fn slots(self) -> u64 {
        match self {
            ObjectKind::Frame { size } | ObjectKind::DeviceFrame { size, .. } => size / PAGE_SIZE,
            _ => 1,
        }
    }
    /// True for the kinds whose caps are frame caps (R/W rights only, no
    /// badge, one slot per page).
    pub fn is_frames(self) -> bool {
        matches!(
            self,
            ObjectKind::Frame { .. } | ObjectKind::DeviceFrame { .. }
        )
    }
}

/// Capability rights, seL4's four: read, write, grant, grant-reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Rights(pub u8);

impl Rights {
    pub const READ: Rights = Rights(1);
    pub const WRITE: Rights = Rights(2);
    pub const GRANT: Rights = Rights(4);
    pub const GRANT_REPLY: Rights = Rights(8);
    pub const ALL: Rights = Rights(15);
    pub const NONE: Rights = Rights(0);

    pub fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }
    pub fn read(self) -> bool {
        self.contains(Rights::READ)
    }
    pub fn write(self) -> bool {
        self.contains(Rights::WRITE)
    }
    pub fn grant(self) -> bool {
        self.contains(Rights::GRANT)
    }
    pub fn grant_reply(self) -> bool {
        self.contains(Rights::GRANT_REPLY)
    }
    /// Parses a rights word such as `RWG`; `None` on a bad or repeated letter.
    pub fn parse(word: &str) -> Option<Rights> {
        let mut r = Rights::NONE;
        for c in word.chars() {
            let bit = match c {
                'R' => Rights::READ,
                'W' => Rights::WRITE,
                'G' => Rights::GRANT,
                'P' => Rights::GRANT_REPLY,
                _ => return None,
            };
            if r.contains(bit) {
                return None;
            }
            r = r.union(bit);
        }
        if r == Rights::NONE {
            None
        } else {
            Some(r)
        }
    }
}

impl fmt::Display for Rights {
    /// As written in the spec: `RWGP` letters in that order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in [
            (Rights::READ, 'R'),
            (Rights::WRITE, 'W'),
            (Rights::GRANT, 'G'),
            (Rights::GRANT_REPLY, 'P'),
        ] {
            if self.contains(bit) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// A `caps { slot: object (rights, badge: N) }` entry. A cap to a frame
/// object fills `size / 4K` consecutive slots from `slot`, one frame cap each
/// (rights R/W only, no badge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    pub slot: Slot,
    pub object: ObjectId,
    pub rights: Rights,
    /// 0 = unbadged (the original cap).
    pub badge: u32,
}

/// The component's fault endpoint: a badged copy in [`slots::FAULT_EP`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultEp {
    pub object: ObjectId,
    pub badge: u32,
}

/// The component's untyped grant: `size` bytes in power-of-two chunks, placed
/// from `slot` on (at most [`slots::UNTYPED_REGION`] of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Untyped {
    pub size: u64,
    pub slot: Slot,
}

/// An inclusive I/O port range, granted as one IOPort cap at `slot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoPorts {
    pub first: u16,
    pub last: u16,
    pub slot: Slot,
}

/// Where an IRQ comes from (the arguments of IRQControl GetIOAPIC / GetMSI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqSource {
    Ioapic {
        ioapic: u8,
        pin: u8,
        /// true = level-triggered, false = edge.
        level: bool,
        /// true = active low, false = active high.
        active_low: bool,
    },
    Msi {
        bus: u8,
        dev: u8,
        func: u8,
        handle: u32,
    },
}

/// An IRQ handler cap at `slot`, bound to `notification` (badge `badge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Irq {
    pub source: IrqSource,
    /// The seL4 IRQ number, 0..=[`MAX_IRQ_VECTOR`].
    pub vector: u8,
    pub notification: ObjectId,
    pub badge: u32,
    pub slot: Slot,
}

/// Device memory: frame caps for `size / 4K` pages from `paddr`, placed in
/// consecutive slots from `slot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceMemory {
    pub paddr: u64,
    pub size: u64,
    pub slot: Slot,
}

impl DeviceMemory {
    pub fn pages(&self) -> u64 {
        self.size / PAGE_SIZE
    }
}

/// A paged client's grant of a `device_frame` object (`devices { NAME
/// (RIGHTS) }`): its pager lets it open the region with `rights` (R or
/// RW).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceGrant {
    pub object: ObjectId,
    pub rights: Rights,
}

/// A device region a pager holds for its clients: the frame caps of
/// `device_frame` object `object`, one per page, from `slot` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagerDevice {
    pub object: ObjectId,
    /// The object's pages (its size / 4K): the slots it fills.
    pub pages: u32,
    pub slot: Slot,
}

/// A component this one is the pager of: its TCB, CNode and VSpace caps sit
/// at `slot + slots::CLIENT_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagerClient {
    pub client: ComponentId,
    pub slot: Slot,
}

/// One field of a `limits { }` block, in the order of [`Limits`]' fields
/// (and of the pager-info page's `ClientLimits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitField {
    /// `resident = SIZE`: resident frames.
    Resident,
    /// `wired = SIZE`: wired (`mlock`ed) pages.
    Wired,
    /// `swap = SIZE`: swap slots.
    Swap,
    /// `map_entries = N`: mappings in its address space.
    MapEntries,
    /// `handles = N`: open handles plus named objects it created.
    Handles,
    /// `page_tables = N`: paging structures.
    PageTables,
    /// `children = N`: forked children alive at once, the whole fork family.
    Children,
    /// `objects = N`: VM objects (anonymous memory, shadows, shared-memory
    /// and file objects) charged to the fork family.
    Objects,
}

impl LimitField {
    pub const ALL: [LimitField; 8] = [
        LimitField::Resident,
        LimitField::Wired,
        LimitField::Swap,
        LimitField::MapEntries,
        LimitField::Handles,
        LimitField::PageTables,
        LimitField::Children,
        LimitField::Objects,
    ];

    /// The spelling in the spec text.
    pub fn keyword(self) -> &'static str {
        match self {
            LimitField::Resident => "resident",
            LimitField::Wired => "wired",
            LimitField::Swap => "swap",
            LimitField::MapEntries => "map_entries",
            LimitField::Handles => "handles",
            LimitField::PageTables => "page_tables",
            LimitField::Children => "children",
            LimitField::Objects => "objects",
        }
    }

    /// Written as a byte size (`16M`) and counted in 4 KiB pages; the
    /// others are plain counts.
    pub fn is_size(self) -> bool {
        matches!(
            self,
            LimitField::Resident | LimitField::Wired | LimitField::Swap
        )
    }

    /// The field called `word`, if any.
    pub fn from_keyword(word: &str) -> Option<LimitField> {
        LimitField::ALL.into_iter().find(|f| f.keyword() == word)
    }
}

/// The quotas of one paged client, in the units its pager counts (pages,
/// entries, objects); [`Limits::UNLIMITED`] means no limit. Never zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    pub resident_pages: u32,
    pub wired_pages: u32,
    pub swap_slots: u32,
    pub map_entries: u32,
    pub handles: u32,
    pub page_tables: u32,
    pub children: u32,
    pub objects: u32,
}

impl Limits {
    /// No limit (`unlimited` in the spec text).
    pub const UNLIMITED: u32 = u32::MAX;

    pub fn get(&self, f: LimitField) -> u32 {
        match f {
            LimitField::Resident => self.resident_pages,
            LimitField::Wired => self.wired_pages,
            LimitField::Swap => self.swap_slots,
            LimitField::MapEntries => self.map_entries,
            LimitField::Handles => self.handles,
            LimitField::PageTables => self.page_tables,
            LimitField::Children => self.children,
            LimitField::Objects => self.objects,
        }
    }

    pub fn set(&mut self, f: LimitField, v: u32) {
        let field = match f {
            LimitField::Resident => &mut self.resident_pages,
            LimitField::Wired => &mut self.wired_pages,
            LimitField::Swap => &mut self.swap_slots,
            LimitField::MapEntries => &mut self.map_entries,
            LimitField::Handles => &mut self.handles,
            LimitField::PageTables => &mut self.page_tables,
            LimitField::Children => &mut self.children,
            LimitField::Objects => &mut self.objects,
        };
        *field = v;
    }
}

impl Default for Limits {
    /// The built-in defaults, [`defaults::LIMITS`].
    fn default() -> Self {
        defaults::LIMITS
    }
}

/// A right a pager grants one of its clients beyond the requests every
/// client may make (`privileges { NAME ... }` in a paged client's block).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Privilege {
    /// `swapctl`: detach and attach the pager's swap device (`SwapOff`,
    /// `SwapOn`).
    Swapctl,
    /// `observe`: read every client's counters (`ClientList`), as
    /// `vmstat` does; a client's own (`ClientStats`) and the global ones
    /// (`Stats`) are open to everyone.
    Observe,
}

impl Privilege {
    pub const ALL: [Privilege; 2] = [Privilege::Swapctl, Privilege::Observe];

    /// The spelling in the spec text.
    pub fn keyword(self) -> &'static str {
        match self {
            Privilege::Swapctl => "swapctl",
            Privilege::Observe => "observe",
        }
    }

    /// The privilege called `word`, if any.
    pub fn from_keyword(word: &str) -> Option<Privilege> {
        Privilege::ALL.into_iter().find(|p| p.keyword() == word)
    }

    /// Its bit in [`Privileges`] (and on the pager-info page).
    pub const fn bit(self) -> u16 {
        match self {
            Privilege::Swapctl => 1,
            Privilege::Observe => 2,
        }
    }
}

/// A set of [`Privilege`]s as bits (the compact form and the pager-info
/// page carry these bits); empty for every component without a pager.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Privileges(pub u16);

impl Privileges {
    pub const NONE: Privileges = Privileges(0);
    /// Every bit that names a privilege; the others are reserved.
    pub const KNOWN: u16 = {
        let mut bits = 0;
        let mut i = 0;
        while i < Privilege::ALL.len() {
            bits |= Privilege::ALL[i].bit();
            i += 1;
        }
        bits
    };

    pub fn contains(self, p: Privilege) -> bool {
        self.0 & p.bit() != 0
    }
    pub fn with(self, p: Privilege) -> Privileges {
        Privileges(self.0 | p.bit())
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The privileges in the set, in [`Privilege::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Privilege> {
        Privilege::ALL
            .into_iter()
            .filter(move |&p| self.contains(p))
    }
}

/// One program the root task starts: a thread in its own CSpace and VSpace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    /// The program image (a binary crate built for seL4).
    pub image: String,
    pub priority: u8,
    /// Maximum controlled priority (the TCB's MCP).
    pub max_priority: u8,
    pub stack_size: u64,
    /// Radix of the root CNode: 2^cnode_bits slots.
    pub cnode_bits: u8,
    pub fault: Option<FaultEp>,
    /// The component that resolves this one's faults and gets its caps.
    pub pager: Option<ComponentId>,
    /// A notification bound to the component's TCB (seL4 TCB_BindNotification),
    /// so one `Recv` on an endpoint also returns its signals.
    pub bound_notification: Option<ObjectId>,
    pub asid_pool: bool,
    /// The root task waits for this component's `DONE` report (its test
    /// verdict) before it ends the run, as it waits for paged clients.
    pub awaited: bool,
    /// The program is not in the boot image: its pager maps it from the
    /// file `/bin/<image>` of its file pager (docs/pager.md, "Programs
    /// paged from files"). Only for paged clients.
    pub image_from_files: bool,
    /// A pager's replacement policy by name (`pageout_policy = NAME`, at
    /// most [`MAX_POLICY_NAME`] bytes); `None`: the pager's default. The
    /// spec language does not know the names: the pager does, and the
    /// host tool checks them against it (`cargo qemu`).
    pub pageout_policy: Option<String>,
    /// A pager's live trace (`trace_ring = N`): record faults, page-ins,
    /// page-outs and frees into a ring of N records and print them
    /// (docs/policies.md); `None` (the default): no tracing.
    pub trace_ring: Option<u32>,
    /// A pager's 2 MiB large frames (`large_pages = N`), retyped from
    /// its untyped grant beside its pool of 4 KiB frames
    /// (docs/large-pages.md); `None` (the default): none.
    pub large_pages: Option<u32>,
    /// A pager's transparent large pages (`transparent_large_pages`):
    /// any private anonymous 2 MiB chunk is promoted to a large page once
    /// fully resident, not only `MADV_HUGEPAGE` ones. Needs `large_pages`.
    pub transparent_large_pages: bool,
    /// Sorted by slot.
    pub caps: Vec<Cap>,
    pub untyped: Option<Untyped>,
    pub io_ports: Vec<IoPorts>,
    pub irqs: Vec<Irq>,
    pub device_memory: Vec<DeviceMemory>,
    /// The components whose pager this one is, in spec order.
    pub clients: Vec<PagerClient>,
    /// A paged client's quotas, every field resolved (its own `limits`
    /// field, else the spec's `limits default`, else [`defaults::LIMITS`]);
    /// `None` for a component without a pager.
    pub limits: Option<Limits>,
    /// The name group of a paged client (`names = GROUP`): shared-memory
    /// names are visible only inside one group. `None`: a group of its own.
    pub name_group: Option<String>,
    /// What the pager lets this paged client do beyond the ordinary
    /// requests (`privileges { }`); empty for a component without a pager.
    pub privileges: Privileges,
    /// A paged client's device grants (`devices { }`), in spec order;
    /// empty for a component without a pager.
    pub devices: Vec<DeviceGrant>,
    /// For a pager: the device regions its clients are granted, each
    /// once, in object order, with their frame caps' slots.
    pub device_regions: Vec<PagerDevice>,
    /// The first slot the root task leaves free for the component's own use.
    pub first_free_slot: Slot,
}

impl Component {
    /// Number of slots in the root CNode.
    pub fn cnode_slots(&self) -> u64 {
        1u64 << self.cnode_bits
    }
    /// The caps-table entry that starts at `slot`, if any.
    pub fn cap_at(&self, slot: Slot) -> Option<&Cap> {
        self.caps
            .binary_search_by_key(&slot, |c| c.slot)
            .ok()
            .map(|i| &self.caps[i])
    }
}

/// The whole system.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Spec {
    pub objects: Vec<Object>,
    pub components: Vec<Component>,
}

impl Spec {
    /// Make every pager run replacement policy `name` (`cargo qemu
    /// --policy`), whatever its `pageout_policy` says. Fails, changing
    /// nothing, if the name is empty or too long, or no component is a
    /// pager.
    pub fn set_pageout_policy(&mut self, name: &str) -> Result<(), String> {
        if name.is_empty() || name.len() > MAX_POLICY_NAME {
            return Err(alloc::format!(
                "policy name {name:?}: 1 to {MAX_POLICY_NAME} bytes"
            ));
        }
        self.for_every_pager("run a policy", |c| c.pageout_policy = Some(name.into()))
    }

    /// Make every pager record a live trace into a ring of `records`
    /// (`cargo qemu trace`). Fails, changing nothing, if `records` is not
    /// 1..=[`MAX_TRACE_RING`] or no component is a pager.
    pub fn set_trace_ring(&mut self, records: u32) -> Result<(), String> {
        if records == 0 || records > MAX_TRACE_RING {
            return Err(alloc::format!(
                "trace ring of {records} records: 1 to {MAX_TRACE_RING}"
            ));
        }
        self.for_every_pager("trace", |c| c.trace_ring = Some(records))
    }

    /// Apply `set` to every pager (a component with clients); fails,
    /// changing nothing, when there is none (`to` says what for).
    fn for_every_pager(
        &mut self,
        to: &str,
        mut set: impl FnMut(&mut Component),
    ) -> Result<(), String> {
        let mut pagers = self
            .components
            .iter_mut()
            .filter(|c| !c.clients.is_empty())
            .peekable();
        if pagers.peek().is_none() {
            return Err(alloc::format!("the spec has no pager to {to}"));
        }
        pagers.for_each(&mut set);
        Ok(())
    }

    pub fn object_id(&self, name: &str) -> Option<ObjectId> {
        self.objects
            .iter()
            .position(|o| o.name == name)
            .map(|i| i as ObjectId)
    }
    pub fn component_id(&self, name: &str) -> Option<ComponentId> {
        self.components
            .iter()
            .position(|c| c.name == name)
            .map(|i| i as ComponentId)
    }
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }
    /// The slot of the first caps-table cap of `component` to `object`.
    pub fn cap_slot(&self, component: &str, object: &str) -> Option<Slot> {
        let oid = self.object_id(object)?;
        let c = self.component(component)?;
        c.caps
            .iter()
            .find(|cap| cap.object == oid)
            .map(|cap| cap.slot)
    }
    /// The client of `pager` whose fault endpoint carries `badge`: how a pager
    /// maps a fault message's badge to the client's caps.
    pub fn client_by_fault_badge(&self, pager: ComponentId, badge: u32) -> Option<&PagerClient> {
        self.components
            .get(pager as usize)?
            .clients
            .iter()
            .find(|cl| {
                self.components
                    .get(cl.client as usize)
                    .and_then(|c| c.fault)
                    .is_some_and(|f| f.badge == badge)
            })
    }
    /// Every component's name-group number, by component index: the named
    /// groups are numbered 1, 2, ... in the order they first appear, and
    /// each component without `names` gets a number of its own after them.
    pub fn name_groups(&self) -> Vec<u32> {
        let mut named: Vec<&str> = Vec::new();
        for c in &self.components {
            if let Some(g) = c.name_group.as_deref() {
                if !named.contains(&g) {
                    named.push(g);
                }
            }
        }
        let mut next = named.len() as u32;
        self.components
            .iter()
            .map(|c| match c.name_group.as_deref() {
                Some(g) => named.iter().position(|n| *n == g).unwrap_or(0) as u32 + 1,
                None => {
                    next += 1;
                    next
                }
            })
            .collect()
    }

    /// The total untyped RAM granted to components.
    pub fn total_untyped(&self) -> u64 {
        self.components
            .iter()
            .filter_map(|c| c.untyped.map(|u| u.size))
            .sum()
    }
}
