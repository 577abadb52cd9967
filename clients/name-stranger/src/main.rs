//! System test: holds a shared-memory name in a group of its own while `client-name-prober` looks for it from another.
//!
//! Creates the name `SECRET` in its own name group, then tells the
//! prober it exists by consenting to one handle pushed from it
//! (`handle_accept`); the prober, finding the name invisible from its
//! group (semantics: names-group), consents to one push from here once
//! it is done, so this client pushes until that goes through (or finds
//! the prober gone, which it is once done). The name
//! must have survived the prober's unlink attempt: this client, its
//! creator, unlinks it last. Both know each other's client id from the
//! spec (a spec client's id is its badge).
#![no_std]
#![no_main]

use vm_client::vm_api::{ApiError, Prot, PAGE_SIZE};
use vm_client::Env;

vm_client::client_main!(main);

/// `client-name-prober`'s client id: its badge in capdl/system.spec.
const PROBER: u64 = 18;
/// The name, in this client's own group (see client-name-prober).
const SECRET: &str = "name-probe-secret";
/// Yields to wait for the prober at most.
const SPINS: u64 = 4_000_000;

fn main(env: &mut Env) -> u64 {
    env.plan(2);
    let name = env.vm.shm_create(SECRET, PAGE_SIZE, Prot::RW);
    let token = env.vm.shm_create("", PAGE_SIZE, Prot::RW);
    // The name exists: the prober may push one handle here now.
    let accepted = env.vm.handle_accept(PROBER, 1);
    let (Ok(name), Ok(token), Ok(())) = (name, token, accepted) else {
        env.check(
            "prober-finished",
            false,
            format_args!(
                "create {name:?}, token {token:?}, accept from client {PROBER}: {accepted:?}"
            ),
        );
        return env.failures();
    };
    // The prober consents to one push from here once it is done (its own
    // check says it did), and then goes on to its own group and exits: a
    // push that finds it gone (`BadClient`, after this client was slow
    // under the others' paging) comes after it was done too.
    let mut pushed = Err(ApiError::Protection);
    for _ in 0..SPINS {
        pushed = env.vm.handle_share(token, PROBER, Prot::READ);
        if pushed != Err(ApiError::Protection) {
            break;
        }
        sel4::yield_now();
    }
    env.check(
        "prober-finished",
        matches!(pushed, Ok(_) | Err(ApiError::BadClient)),
        format_args!("push into client {PROBER}: {pushed:?} (Protection: it never consented)"),
    );
    // semantics: names-group, names-unlink (the prober's unlink from
    // another group found nothing to remove)
    let unlinked = env.vm.shm_unlink(SECRET);
    let closed = env
        .vm
        .handle_close(name)
        .and_then(|()| env.vm.handle_close(token));
    env.check(
        "own-name-survived-the-probe",
        unlinked.is_ok() && closed.is_ok(),
        format_args!("unlink {SECRET:?} {unlinked:?}; close {closed:?}"),
    );
    env.failures()
}
