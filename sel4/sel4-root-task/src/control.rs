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
//! | [`PANIC`] | a component without a panic hook (servers, drivers, test components) | length, bytes | "I panicked with this message" (truncated to what fits); it then suspends itself |
//! | [`FLOOR_ROUND`] | a benchmark | kind ([`FLOOR_IPC`], [`FLOOR_FAULT`] or [`FLOOR_MAP_UNMAP`]) | "measure one round of that floor now"; the reply's MR0 is its median in cycles (label 1, no words: no floors in this boot, or the sender used its 96 rounds) |
//!
//! Exit statuses a pager reports: 0 = success, anything below
//! [`STATUS_KILLED`] is the client's own `exit` status, [`STATUS_KILLED`]
//! plus a `vm-api` error code means its pager stopped it after a fault it
//! could not resolve, and [`STATUS_PANICKED`] means it panicked (the client
//! runtime's panic hook asks the pager to end it with that status).
//!
//! The root task ends the run when every paged client has ended and every
//! component the spec marks `awaited` has reported `DONE`; which ones it
//! waits for is fixed by the spec before anything runs, so a component
//! that finishes early or late cannot be missed. A `PANIC` ends the run at
//! once, as a failure: a pager or driver that panicked leaves the others
//! unable to finish.
//!
//! The root task replies to each Call with an empty message (but never to
//! `PANIC`). `CONSOLE` and `PANIC` carry text the same way: MR0 = length in
//! bytes, the bytes packed little-endian from MR1 on ([`pack_text`],
//! [`unpack_text`]).

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
/// A component without a panic hook reports its panic (a `Call` the root
/// task never answers): MR0 = message length in bytes, the bytes packed
/// little-endian from MR1 on (as [`CONSOLE`]). The root task fails the run.
pub const PANIC: Word = 6;
/// A benchmark asks for one round of a floor benchmark, to interleave
/// with its own measurements (`cargo qemu bench`): MR0 = the kind.
pub const FLOOR_ROUND: Word = 7;
/// [`FLOOR_ROUND`] kinds: the bare IPC round trip, the bare fault
/// served by mapping a ready frame, and a frame's map and unmap alone.
pub const FLOOR_IPC: Word = 0;
pub const FLOOR_FAULT: Word = 1;
pub const FLOOR_MAP_UNMAP: Word = 2;

/// One round of floor benchmark `kind` ([`FLOOR_IPC`], [`FLOOR_FAULT`],
/// [`FLOOR_MAP_UNMAP`]), measured by the root task now: its median in
/// cycles, or `None` when this boot has no floors.
pub fn floor_round(kind: Word) -> Option<Word> {
    sel4::set_mr(0, kind);
    let info = sel4::call(
        CPtr::from_bits(ROOT_SLOT),
        MessageInfo::new(FLOOR_ROUND, 0, 0, 1),
    );
    (info.label() == 0 && info.length() == 1).then(|| sel4::get_mr(0))
}

/// Status a pager reports for a client it stopped after an unresolvable
/// fault: this base plus the `vm-api` error code of the reason (or 0 for a
/// fault that is not a page fault).
pub const STATUS_KILLED: Word = 0x1_0000;
/// Status of a client that panicked: the client runtime's panic hook asks
/// its pager to end it with this status (an ordinary `vm-api` `Exit`). A
/// client that panics on purpose announces it with [`expect_exit`].
pub const STATUS_PANICKED: Word = 0x2_0000;

/// Most text bytes one message carries: the registers after the length.
pub const TEXT_MAX: usize = (sel4::MSG_MAX_LENGTH - 1) * 8;

/// Packs `text` into message registers `msg` (MR0 = length, the bytes
/// little-endian from MR1 on), truncated to what `msg` holds; returns the
/// number of registers used, the message length to send.
pub fn pack_text(msg: &mut [Word], text: &[u8]) -> usize {
    let Some((len_mr, rest)) = msg.split_first_mut() else {
        return 0;
    };
    let text = &text[..text.len().min(rest.len() * 8)];
    *len_mr = text.len() as Word;
    for (mr, chunk) in rest.iter_mut().zip(text.chunks(8)) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        *mr = Word::from_le_bytes(w);
    }
    1 + text.len().div_ceil(8)
}

/// Unpacks text that [`pack_text`] packed into the `msg` registers (only
/// those received: the message's length) into `out`; returns how many
/// bytes it wrote, never more than the registers or `out` hold.
pub fn unpack_text(msg: &[Word], out: &mut [u8]) -> usize {
    let Some((&len, rest)) = msg.split_first() else {
        return 0;
    };
    let len = (len as usize).min(rest.len() * 8).min(out.len());
    for (i, w) in rest.iter().take(len.div_ceil(8)).enumerate() {
        let n = (len - i * 8).min(8);
        out[i * 8..i * 8 + n].copy_from_slice(&w.to_le_bytes()[..n]);
    }
    len
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &[u8], regs: usize) -> (usize, Vec<u8>) {
        let mut msg = vec![0xdead_beef; regs];
        let words = pack_text(&mut msg, text);
        let mut out = vec![0u8; TEXT_MAX];
        let n = unpack_text(&msg[..words], &mut out);
        out.truncate(n);
        (words, out)
    }

    #[test]
    fn text_round_trips_through_registers() {
        for len in [0usize, 1, 7, 8, 9, 16, 100] {
            let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let (words, back) = round_trip(&text, sel4::MSG_MAX_LENGTH);
            assert_eq!(back, text, "length {len}");
            assert_eq!(words, 1 + len.div_ceil(8), "length {len}");
        }
    }

    #[test]
    fn long_text_is_truncated_to_the_registers() {
        let text = vec![b'x'; TEXT_MAX + 50];
        let (words, back) = round_trip(&text, sel4::MSG_MAX_LENGTH);
        assert_eq!(words, sel4::MSG_MAX_LENGTH);
        assert_eq!(back.len(), TEXT_MAX);
        // Fewer registers, less text.
        let (words, back) = round_trip(b"hello, panicking world", 3);
        assert_eq!((words, back.as_slice()), (3, &b"hello, panicking"[..]));
        assert_eq!(pack_text(&mut [], b"lost"), 0);
    }

    #[test]
    fn unpacking_trusts_no_length_word() {
        // A length past the registers received or the buffer given.
        let msg = [1000, u64::from_le_bytes(*b"12345678")];
        let mut out = [0u8; 64];
        assert_eq!(unpack_text(&msg, &mut out), 8);
        assert_eq!(&out[..8], b"12345678");
        let mut small = [0u8; 3];
        assert_eq!(unpack_text(&msg, &mut small), 3);
        assert_eq!(&small, b"123");
        assert_eq!(unpack_text(&[], &mut out), 0);
    }
}
