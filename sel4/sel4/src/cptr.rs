//! Capability pointers and typed capability wrappers.
//!
//! A `CPtr` is an address in the caller's CSpace; with the root CNode's guard
//! set up as seL4 does for the initial thread, slot `n` of the root CNode is
//! simply `CPtr(n)`. Typed wrappers (`Cap<Tcb>`, `Cap<Untyped>`, ...) give
//! each kernel object its own invocation methods (generated from the
//! interface XML, see `invocations`), so a TCB method cannot be called on
//! an endpoint by mistake.

use crate::Word;
use core::fmt;
use core::marker::PhantomData;

/// A capability address in the caller's CSpace.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CPtr(Word);

impl CPtr {
    /// Wraps a raw capability address.
    pub const fn from_bits(bits: Word) -> Self {
        Self(bits)
    }

    /// The raw capability address.
    pub const fn bits(self) -> Word {
        self.0
    }

    /// Views this address as a capability of type `T`.
    pub const fn cast<T: CapType>(self) -> Cap<T> {
        Cap::from_cptr(self)
    }
}

impl fmt::Debug for CPtr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CPtr({:#x})", self.0)
    }
}

/// A kind of kernel object a capability can refer to.
pub trait CapType: Copy {
    /// Name for debug output.
    const NAME: &'static str;
}

/// A capability to an object of kind `T`.
#[derive(PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cap<T: CapType> {
    cptr: CPtr,
    _kind: PhantomData<T>,
}

impl<T: CapType> Clone for Cap<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: CapType> Copy for Cap<T> {}

impl<T: CapType> Cap<T> {
    /// Wraps a capability address as a capability of kind `T`.
    pub const fn from_cptr(cptr: CPtr) -> Self {
        Self {
            cptr,
            _kind: PhantomData,
        }
    }

    /// Wraps a raw capability address.
    pub const fn from_bits(bits: Word) -> Self {
        Self::from_cptr(CPtr::from_bits(bits))
    }

    /// The capability's address.
    pub const fn cptr(self) -> CPtr {
        self.cptr
    }

    /// The raw capability address.
    pub const fn bits(self) -> Word {
        self.cptr.bits()
    }

    /// Views the same slot as another kind of capability.
    pub const fn cast<U: CapType>(self) -> Cap<U> {
        Cap::from_cptr(self.cptr)
    }
}

impl<T: CapType> fmt::Debug for Cap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cap<{}>({:#x})", T::NAME, self.bits())
    }
}

macro_rules! cap_types {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Marker types for each kind of capability.
        pub mod cap_type {
            $(
                $(#[$doc])*
                #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
                pub struct $name;
                impl super::CapType for $name {
                    const NAME: &'static str = stringify!($name);
                }
            )*
        }
        /// Aliases `Cap<cap_type::X>` as `X`, as rust-sel4 names them.
        pub mod cap {
            $( pub type $name = super::Cap<super::cap_type::$name>; )*
        }
    };
}

cap_types! {
    /// Any capability (no typed methods beyond CNode operations on it).
    Unspecified,
    Null,
    Untyped,
    Endpoint,
    Notification,
    Tcb,
    CNode,
    IrqControl,
    IrqHandler,
    AsidControl,
    AsidPool,
    DomainSet,
    /// x86_64 top-level paging structure (PML4): the VSpace root.
    VSpace,
    /// Level-3 paging structure.
    PDPT,
    PageDirectory,
    PageTable,
    /// A 4 KiB or 2 MiB frame.
    Granule,
    LargePage,
    IOPortControl,
    IOPort,
    IOSpace,
    IOPageTable,
    Reply,
    /// VT-x objects (only with `CONFIG_VTX`).
    VCpu,
    EptPml4,
    EptPdpt,
    EptPd,
    EptPt,
}
