//! `seL4_MessageInfo`: the one-word tag of every IPC message.
//!
//! Layout from libsel4's `shared_types_64.bf`: label (bits 12..32),
//! capsUnwrapped (9..12), extraCaps (7..9), length (0..7).

use crate::Word;

/// The tag of an IPC message: label, caps unwrapped, extra caps and length in words.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MessageInfo(Word);

impl MessageInfo {
    /// Largest label the 20-bit field holds.
    pub const MAX_LABEL: Word = (1 << 20) - 1;
    /// Largest length, in message registers, the 7-bit field holds.
    pub const MAX_LENGTH: Word = (1 << 7) - 1;

    /// Packs the four fields; each is truncated to its field width.
    pub const fn new(label: Word, caps_unwrapped: Word, extra_caps: Word, length: Word) -> Self {
        Self(
            ((label & 0xf_ffff) << 12)
                | ((caps_unwrapped & 0x7) << 9)
                | ((extra_caps & 0x3) << 7)
                | (length & 0x7f),
        )
    }

    /// The message's label (the invocation label for kernel objects).
    pub const fn label(self) -> Word {
        (self.0 >> 12) & 0xf_ffff
    }

    /// Bitmask of the extra caps the kernel unwrapped into badges.
    pub const fn caps_unwrapped(self) -> Word {
        (self.0 >> 9) & 0x7
    }

    /// Number of extra caps sent with the message.
    pub const fn extra_caps(self) -> Word {
        (self.0 >> 7) & 0x3
    }

    /// Number of message registers used.
    pub const fn length(self) -> Word {
        self.0 & 0x7f
    }

    /// The raw word, as the kernel sees it in rsi.
    pub const fn into_word(self) -> Word {
        self.0
    }

    /// Reinterprets a raw word (only the low 32 bits are meaningful).
    pub const fn from_word(w: Word) -> Self {
        Self(w & 0xffff_ffff)
    }
}
