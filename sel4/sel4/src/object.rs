//! Kernel object types and sizes (generated from libsel4's objecttype.h
//! and sel4_arch constants.h under our kernel configuration).

use crate::Word;

include!(concat!(env!("OUT_DIR"), "/object_types.rs"));

impl ObjectType {
    /// The number `untyped_retype` takes.
    pub const fn value(self) -> Word {
        self as Word
    }
}

/// Size constants (`seL4_PageBits`, `seL4_TCBBits`, ...) and other
/// `#define`s of libsel4's x86_64 `constants.h`.
pub mod consts {
    use crate::Word;
    include!(concat!(env!("OUT_DIR"), "/constants.rs"));
}
