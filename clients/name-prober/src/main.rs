//! System test, hostile: a client that probes shared-memory names and handles it has no right to.
//!
//! Across name groups (semantics: names-group): `client-name-stranger`,
//! in a group of its own, holds the name `SECRET` until this client is
//! done; a name of another group does not exist for the caller, so
//! opening or unlinking it is `NoSuchName`, and this client can make the
//! same name in its own group. The two hand over by the receiver's
//! consent (`handle_accept`): the stranger consents to one push from this
//! client once its name exists, this client to one push from the
//! stranger once it is done (then it goes on to its own group, and may
//! exit before the stranger's push, which the stranger takes as done
//! too).
//! They know each other's client ids from the spec (a spec client's id
//! is its badge).
//!
//! Inside its own group `name-probe`, against `client-name-owner` (a
//! quota group of its own): opening the owner's name with more rights
//! than it allows is `Protection` (semantics: names-rights), unlinking it
//! is `Protection` (semantics: names-unlink), pushing a handle into the
//! owner before it consents is `Protection`, and with its consent a push
//! works once, with at most this client's rights (semantics:
//! handle-share; the owner checks what it received).
#![no_std]
#![no_main]

use vm_client::vm_api::{ApiError, Handle, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{Env, Region};

vm_client::client_main!(main);

/// `client-name-stranger`'s client id: its badge in capdl/system.spec.
const STRANGER: u64 = 20;
/// The stranger's name, in its own group.
const SECRET: &str = "name-probe-secret";
/// The owner's names in the group `name-probe`: the mailbox both write
/// (open with every right) and the object others may only read.
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
/// Yields to wait for the other side at most.
const SPINS: u64 = 4_000_000;

fn main(env: &mut Env) -> u64 {
    env.plan(8);
    across_groups(env);
    in_group(env);
    env.failures()
}

/// Pushes `handle` into client `to` (read-only) until it consents
/// (`Protection` until then), at most `SPINS` tries.
fn push_when_accepted(env: &mut Env, handle: Handle, to: u64) -> Result<Handle, ApiError> {
    let mut r = Err(ApiError::Protection);
    for _ in 0..SPINS {
        r = env.vm.handle_share(handle, to, Prot::READ);
        if r != Err(ApiError::Protection) {
            break;
        }
        sel4::yield_now();
    }
    r
}

fn across_groups(env: &mut Env) {
    // A handle to push: the handshake's only use for it.
    let token = env.vm.shm_create("", PAGE_SIZE, Prot::RW);
    let pushed = token.and_then(|t| push_when_accepted(env, t, STRANGER));
    if pushed.is_err() {
        env.check(
            "other-groups-name-is-invisible",
            false,
            format_args!("the stranger (client {STRANGER}) never took a handle: {pushed:?}"),
        );
        return;
    }
    // The stranger's name exists now, and until this client consents below.
    // semantics: names-group
    let open = env.vm.shm_open(SECRET, Prot::READ);
    env.check_err("other-groups-name-is-invisible", open, ApiError::NoSuchName);
    let unlink = env.vm.shm_unlink(SECRET);
    env.check_err(
        "other-groups-name-cannot-be-unlinked",
        unlink,
        ApiError::NoSuchName,
    );
    let mine = env.vm.shm_create(SECRET, PAGE_SIZE, Prot::READ);
    let gone = mine
        .and_then(|h| env.vm.handle_close(h))
        .and_then(|()| env.vm.shm_unlink(SECRET));
    env.check(
        "same-name-in-own-group",
        mine.is_ok() && gone.is_ok(),
        format_args!("create {SECRET:?} here {mine:?}; close and unlink {gone:?}"),
    );
    // Done: the stranger may push one handle here, which tells it so.
    let consent = env.vm.handle_accept(STRANGER, 1);
    env.check(
        "consented-to-the-strangers-push",
        consent.is_ok(),
        format_args!("handle_accept({STRANGER}, 1): {consent:?}"),
    );
    let _ = token.and_then(|t| env.vm.handle_close(t));
}

fn in_group(env: &mut Env) {
    let me = env.vm.client_stats().map_or(0, |s| s.client);
    // The owner's mailbox appears once it has set up.
    let mut mailbox = Err(ApiError::NoSuchName);
    for _ in 0..SPINS {
        mailbox = env.vm.shm_open(MAILBOX, Prot::RW);
        if mailbox != Err(ApiError::NoSuchName) {
            break;
        }
        sel4::yield_now();
    }
    let mailbox = mailbox
        .and_then(|h| Region::map(&mut env.vm, &MmapRequest::object(h, 0, PAGE_SIZE, Prot::RW)));
    let box_ready = match &mailbox {
        Ok(m) => m.wait_for(0, STATE, READY, SPINS),
        Err(_) => false,
    };
    let mailbox = match mailbox {
        Ok(m) if box_ready => m,
        other => {
            env.check(
                "open-above-creator-rights-refused",
                false,
                format_args!("the owner's mailbox: {other:?}, ready {box_ready}"),
            );
            return;
        }
    };
    let owner = mailbox.read(0, OWNER_ID);

    // semantics: names-rights
    let rw = env.vm.shm_open(OWNED, Prot::RW);
    let ro = env.vm.shm_open(OWNED, Prot::READ);
    env.check(
        "open-above-creator-rights-refused",
        rw == Err(ApiError::Protection) && ro.is_ok(),
        format_args!(
            "open for RW {rw:?} (expected Protection), for READ {ro:?} (expected a handle)"
        ),
    );

    // semantics: names-unlink
    let unlink = env.vm.shm_unlink(OWNED);
    let still = env
        .vm
        .shm_open(OWNED, Prot::READ)
        .and_then(|h| env.vm.handle_close(h));
    env.check(
        "unlink-of-others-name-refused",
        unlink == Err(ApiError::Protection) && still.is_ok(),
        format_args!("unlink {unlink:?} (expected Protection); the name is still there: {still:?}"),
    );

    // semantics: handle-share
    let Ok(ro) = ro else {
        env.check(
            "share-without-consent-refused",
            false,
            format_args!("no read handle to share"),
        );
        return;
    };
    let unasked = env.vm.handle_share(ro, owner, Prot::READ);
    env.check_err(
        "share-without-consent-refused",
        unasked,
        ApiError::Protection,
    );
    mailbox.write(0, PROBER_ID, me);
    mailbox.write(0, STATE, ASK);
    let consented = mailbox.wait_for(0, STATE, CONSENTED, SPINS);
    let above = env.vm.handle_share(ro, owner, Prot::RW);
    let given = env.vm.handle_share(ro, owner, Prot::READ);
    let again = env.vm.handle_share(ro, owner, Prot::READ);
    if let Ok(h) = given {
        mailbox.write(0, HANDLE, u64::from(h.0));
    }
    mailbox.write(0, STATE, PUSHED);
    let verified = mailbox.wait_for(0, STATE, VERIFIED, SPINS);
    env.check(
        "share-with-consent-keeps-at-most-senders-rights",
        consented
            && above == Err(ApiError::Protection)
            && given.is_ok()
            && again == Err(ApiError::Protection)
            && verified,
        format_args!(
            "owner consented {consented}; push with RW from a read handle {above:?} \
             (expected Protection), with READ {given:?}, a second one {again:?} (expected \
             Protection: the consent was for one); owner verified {verified}"
        ),
    );
    mailbox.write(0, STATE, DONE);
    let _ = env.vm.handle_close(ro);
}
