//! The root task's control endpoint: how components talk to the root task
//! after boot. Every component finds a cap to it, badged with its
//! component id + 1, in [`ROOT_SLOT`] of its CSpace.
//!
//! | label | sender | words | meaning |
//! | --- | --- | --- | --- |
//! | [`EXIT_REPORT`] | a pager | badge, status | a client of the pager ended with `status` (0 = success) |
//! | [`EXPECT_EXIT`] | a client | status | "the status my pager will report for me is `status`" (a test that ends by a fault says so first) |
//! | [`DONE`] | an `awaited` component | status | "I have finished" (0 = success): its test verdict |
//! | [`CONSOLE`] | any component (`NBSend`) | length, bytes | one console line, printed whole (see `console`) |
//!
//! The root task ends the run when every paged client has ended and every
//! component the spec marks `awaited` has reported `DONE`; which ones it
//! waits for is fixed by the spec before anything runs, so a component
//! that finishes early or late cannot be missed.
//!
//! The root task replies to each Call with an empty message.

use sel4::{CPtr, MessageInfo, Word};

/// Slot of the root task's control endpoint cap in every component.
pub const ROOT_SLOT: Word = 7;
/// A pager reports that a client ended.
pub const EXIT_REPORT: Word = 2;
/// A client announces the exit status to expect.
pub const EXPECT_EXIT: Word = 3;
/// An `awaited` component reports that it finished.
pub const DONE: Word = 4;
/// A component's console line (`Send`, no reply): MR0 = length in bytes,
/// the bytes packed little-endian from MR1 on. The root task prints it
/// whole, so lines of different components never interleave.
pub const CONSOLE: Word = 5;
/// Status a pager reports for a client it stopped after an unresolvable
/// fault: this base plus the `vm-api` error code of the reason (or 0 for a
/// fault that is not a page fault).
pub const STATUS_KILLED: Word = 0x1_0000;

/// Tells the root task which exit status to expect for the caller.
pub fn expect_exit(status: Word) {
    sel4::set_mr(0, status);
    sel4::call(
        CPtr::from_bits(ROOT_SLOT),
        MessageInfo::new(EXPECT_EXIT, 0, 0, 1),
    );
}

/// Tells the root task the caller (a component the spec marks `awaited`)
/// has finished with `status` (0 = success). Returns once the root task
/// has recorded it; the caller may then stop (e.g. wait forever).
pub fn done(status: Word) {
    sel4::set_mr(0, status);
    sel4::call(CPtr::from_bits(ROOT_SLOT), MessageInfo::new(DONE, 0, 0, 1));
}

/// Badge of the root task's own cap to a pager's endpoint: the pager answers
/// `Stats` from it (and nothing else), so the root task can check after the
/// last client ended that the pager got every resource back.
pub const OBSERVER_BADGE: Word = (1 << 28) - 1;
