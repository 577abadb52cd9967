//! Kernel object types and sizes (generated from libsel4's objecttype.h
//! and sel4_arch constants.h under our kernel configuration).

use crate::Word;

include!(concat!(env!("OUT_DIR"), "/object_types.rs"));

impl ObjectType {
    /// The number `untyped_retype` takes.
    pub const fn value(self) -> Word {
        self as Word
    }

    /// log2 of the bytes an object takes when retyped with `size_bits`:
    /// untyped `size_bits`, a CNode of 2^`size_bits` slots `size_bits +
    /// SLOT_BITS`, other types their fixed size (`size_bits` is ignored).
    pub const fn physical_size_bits(self, size_bits: usize) -> usize {
        match self.fixed_size_bits() {
            Some(bits) => bits,
            None => match self {
                Self::CapTable => size_bits + consts::SLOT_BITS,
                _ => size_bits,
            },
        }
    }
}

/// Size constants (`seL4_PageBits`, `seL4_TCBBits`, ...) and other
/// `#define`s of libsel4's x86_64 `constants.h`.
pub mod consts {
    use crate::Word;
    include!(concat!(env!("OUT_DIR"), "/constants.rs"));
}
