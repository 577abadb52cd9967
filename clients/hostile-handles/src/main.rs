//! System test, hostile: a client that makes shared-memory handles and names until its quota stops it.
//!
//! Creates anonymous shared-memory objects until the VM server refuses
//! with `QuotaHandles`, and checks (semantics: quota-handles): the
//! refusal comes exactly at the spec's limit as `ClientStats` reports
//! it; a named object counts two (its handle and its name), so with room
//! for one it is refused and no name appears, with room for two it is
//! made; the name keeps counting after its handle is closed, until it is
//! unlinked; closing handles gives the room back.
#![no_std]
#![no_main]

use vm_client::vm_api::{ApiError, ClientStats, Handle, Prot, PAGE_SIZE};
use vm_client::{println, Env};

vm_client::client_main!(main);

/// Handles it makes at most: far above the spec's limit (32), so a quota
/// that is not enforced fails the test instead of looping on.
const MAX_HANDLES: usize = 512;
/// The named object (its own name group: nobody else sees it).
const NAME: &str = "hostile-handles-named";

fn stats(env: &mut Env) -> ClientStats {
    env.vm.client_stats().unwrap_or_default()
}

fn main(env: &mut Env) -> u64 {
    env.plan(5);
    let start = stats(env);
    let limit = start.handles_limit;
    if !(limit > start.group_handles + 2 && limit < MAX_HANDLES as u64) {
        env.check(
            "create-refused-with-quota-handles",
            false,
            format_args!(
                "handles_limit {limit} (using {}): expected a small limit from the spec",
                start.group_handles
            ),
        );
        return env.failures();
    }
    // Anonymous objects until the quota refuses one.
    let mut handles = [Handle(0); MAX_HANDLES];
    let (mut n, refused) = env.shm_until_refused(&mut handles);
    let full = stats(env);
    println!(
        "{}: {n} anonymous objects, then {refused:?}; {} of {limit} handles in use",
        env.name(),
        full.group_handles
    );
    // semantics: quota-handles
    let reached = start.group_handles + n as u64;
    env.check(
        "create-refused-with-quota-handles",
        refused == Some(ApiError::QuotaHandles),
        format_args!("after {n} objects: {refused:?}, expected QuotaHandles"),
    );
    env.check(
        "count-matches-client-stats",
        full.group_handles == limit && reached == limit && full.handles == full.group_handles,
        format_args!(
            "{} at start + {n} made = {reached}; ClientStats: group_handles {}, handles {}, \
             handles_limit {limit}",
            start.group_handles, full.group_handles, full.handles
        ),
    );
    if refused != Some(ApiError::QuotaHandles) || n < 2 {
        return env.failures();
    }

    // A named object is two: with room for one it is refused, and no name
    // appears (shm_open finds none); with room for two it is made.
    n -= 1;
    let closed = env.vm.handle_close(handles[n]);
    let one_room = env.vm.shm_create(NAME, PAGE_SIZE, Prot::RW);
    let no_name = env.vm.shm_open(NAME, Prot::READ);
    let after_refusal = stats(env).group_handles;
    n -= 1;
    let closed_2 = env.vm.handle_close(handles[n]);
    let named = env.vm.shm_create(NAME, PAGE_SIZE, Prot::RW);
    let with_name = stats(env).group_handles;
    env.check(
        "named-object-counts-two",
        closed.is_ok()
            && one_room == Err(ApiError::QuotaHandles)
            && no_name == Err(ApiError::NoSuchName)
            && after_refusal == limit - 1
            && closed_2.is_ok()
            && named.is_ok()
            && with_name == limit,
        format_args!(
            "room for one: create named {one_room:?} (expected QuotaHandles), open it \
             {no_name:?} (expected NoSuchName), {after_refusal} in use (expected {}); \
             room for two: create named {named:?}, {with_name} in use (expected {limit}); \
             closes {closed:?} {closed_2:?}",
            limit - 1
        ),
    );

    // The name counts until it is unlinked, not until its handle closes.
    let closed_named = named.and_then(|h| env.vm.handle_close(h));
    let name_only = stats(env).group_handles;
    let unlinked = env.vm.shm_unlink(NAME);
    let neither = stats(env).group_handles;
    env.check(
        "name-counts-until-unlinked",
        closed_named.is_ok() && name_only == limit - 1 && unlinked.is_ok() && neither == limit - 2,
        format_args!(
            "close the named handle {closed_named:?}: {name_only} in use (expected {}); \
             unlink {unlinked:?}: {neither} in use (expected {})",
            limit - 1,
            limit - 2
        ),
    );

    // Closing every handle gives the room back: a whole quota's worth of
    // objects can be made again.
    let closed_all = (0..n)
        .map(|i| env.vm.handle_close(handles[i]))
        .filter(Result::is_ok)
        .count();
    let emptied = stats(env).group_handles;
    let room = (limit - emptied) as usize;
    let mut remade = 0;
    while remade < room {
        match env.vm.shm_create("", PAGE_SIZE, Prot::RW) {
            Ok(h) => handles[remade] = h,
            Err(_) => break,
        }
        remade += 1;
    }
    let refilled = stats(env).group_handles;
    let closed_again = (0..remade)
        .map(|i| env.vm.handle_close(handles[i]))
        .filter(Result::is_ok)
        .count();
    let end = stats(env).group_handles;
    env.check(
        "closing-gives-room-back",
        closed_all == n
            && emptied == start.group_handles
            && remade == room
            && refilled == limit
            && closed_again == remade
            && end == emptied,
        format_args!(
            "closed {closed_all} of {n}: {emptied} in use (at start {}); made {remade} of \
             {room} again ({refilled} in use, expected {limit}), closed {closed_again}; \
             {end} in use at the end",
            start.group_handles
        ),
    );
    env.failures()
}
