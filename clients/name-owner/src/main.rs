//! System test: the owner of the names `client-name-prober` attacks inside their name group.
//!
//! Creates, in the group `name-probe`, a mailbox (others may open it with
//! every right) and the object `OWNED` (others may only read it), then
//! follows the prober's steps through the mailbox: it consents to one
//! handle pushed by the prober and checks what arrived (semantics:
//! handle-share): the handle reads the object, carries no more than the
//! sender's read right, and counts against this client's quota
//! (semantics: quota-handles). At the end, the creator unlinks its names
//! (semantics: names-unlink), which the prober could not.
#![no_std]
#![no_main]

use vm_client::vm_api::{ApiError, Handle, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{Env, Region};

vm_client::client_main!(main);

/// The mailbox and the read-only object (see client-name-prober).
const MAILBOX: &str = "name-probe-mailbox";
const OWNED: &str = "name-probe-owned";
/// Words of the mailbox.
const STATE: u64 = 0;
const OWNER_ID: u64 = 1;
const PROBER_ID: u64 = 2;
const HANDLE: u64 = 3;
/// `STATE`, in order.
const READY: u64 = 1;
const ASK: u64 = 2;
const CONSENTED: u64 = 3;
const PUSHED: u64 = 4;
const VERIFIED: u64 = 5;
const DONE: u64 = 6;
/// Word 0 of `OWNED`.
const MARK: u64 = 0x0a3e_d0b1;
/// Yields to wait for the prober at most.
const SPINS: u64 = 4_000_000;

fn main(env: &mut Env) -> u64 {
    env.plan(4);
    let me = env.vm.client_stats().map_or(0, |s| s.client);
    let map = |env: &mut Env, h: Handle| {
        Region::map(&mut env.vm, &MmapRequest::object(h, 0, PAGE_SIZE, Prot::RW))
    };
    let mailbox = env
        .vm
        .shm_create(MAILBOX, PAGE_SIZE, Prot::RW)
        .and_then(|h| map(env, h));
    let owned = env
        .vm
        .shm_create(OWNED, PAGE_SIZE, Prot::READ)
        .and_then(|h| map(env, h));
    let (Ok(mailbox), Ok(owned)) = (mailbox, owned) else {
        env.check(
            "received-handle-reads-the-object",
            false,
            format_args!("create and map: mailbox {mailbox:?}, object {owned:?}"),
        );
        return env.failures();
    };
    owned.write(0, 0, MARK);
    mailbox.write(0, OWNER_ID, me);
    mailbox.write(0, STATE, READY);

    // The prober asks for consent after its refused push.
    let asked = mailbox.wait_for(0, STATE, ASK, SPINS);
    let prober = mailbox.read(0, PROBER_ID);
    let before = env.vm.client_stats().map_or(0, |s| s.group_handles);
    let accepted = env.vm.handle_accept(prober, 1);
    mailbox.write(0, STATE, CONSENTED);
    let pushed = mailbox.wait_for(0, STATE, PUSHED, SPINS);
    let after = env.vm.client_stats().map_or(0, |s| s.group_handles);
    let received = Handle(mailbox.read(0, HANDLE) as u32);

    // semantics: handle-share
    let read = Region::map(
        &mut env.vm,
        &MmapRequest::object(received, 0, PAGE_SIZE, Prot::READ),
    );
    let seen = read.map(|r| r.read(0, 0));
    env.check(
        "received-handle-reads-the-object",
        asked && accepted.is_ok() && pushed && seen == Ok(MARK),
        format_args!(
            "asked {asked}, accept from client {prober} {accepted:?}, pushed {pushed}; \
             mapping handle {} read {seen:x?}, expected {MARK:#x}",
            received.0
        ),
    );
    let write = env
        .vm
        .mmap(&MmapRequest::object(received, 0, PAGE_SIZE, Prot::RW));
    env.check_err("received-handle-is-read-only", write, ApiError::Protection);
    // semantics: quota-handles (a handle pushed in is charged to the receiver)
    env.check(
        "pushed-handle-charged-to-receiver",
        after == before + 1,
        format_args!("handles and names {before} before the push, {after} after"),
    );
    mailbox.write(0, STATE, VERIFIED);

    // semantics: names-unlink (the creator may)
    let done = mailbox.wait_for(0, STATE, DONE, SPINS);
    let unlinked = env.vm.shm_unlink(OWNED);
    let unlinked_box = env.vm.shm_unlink(MAILBOX);
    env.check(
        "creator-unlinks-its-names",
        done && unlinked.is_ok() && unlinked_box.is_ok(),
        format_args!("prober done {done}; unlink {unlinked:?}, mailbox {unlinked_box:?}"),
    );
    env.failures()
}
