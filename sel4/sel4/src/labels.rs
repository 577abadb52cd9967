//! System call numbers and invocation labels, generated from
//! `syscall.xml` and the interface XML files.

include!(concat!(env!("OUT_DIR"), "/syscalls.rs"));
include!(concat!(env!("OUT_DIR"), "/invocation_labels.rs"));

impl InvocationLabel {
    /// The label as a message-info word field.
    pub const fn value(self) -> crate::Word {
        self as crate::Word
    }
}
