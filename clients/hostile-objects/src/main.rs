//! System test, hostile: a client that makes VM objects until its objects quota stops it.
//!
//! Makes anonymous shared-memory objects until the VM server refuses
//! with `QuotaObjects`, and checks (semantics: quota-objects): the spec's
//! limit reaches the server (`ClientStats::objects_limit`); the refusal
//! comes exactly at it, counting the objects the client's own image and
//! stack already hold; at the limit an anonymous shared mapping is
//! refused too and maps nothing; a private mapping's object comes with
//! its first touch, once there is room; closing handles gives the room
//! back.
#![no_std]
#![no_main]

use vm_client::vm_api::{ApiError, ClientStats, Handle, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env};

vm_client::client_main!(main);

/// Objects it makes at most: far above the spec's limit (24), so a quota
/// that is not enforced fails the test instead of looping on.
const MAX_OBJECTS: usize = 256;

fn stats(env: &mut Env) -> ClientStats {
    env.vm.client_stats().unwrap_or_default()
}

fn main(env: &mut Env) -> u64 {
    env.plan(5);
    let start = stats(env);
    let limit = start.objects_limit;
    let sane = limit > start.group_objects + 2
        && limit < MAX_OBJECTS as u64
        && start.handles_limit > limit;
    env.check(
        "objects-limit-from-the-spec",
        sane,
        format_args!(
            "objects_limit {limit} (using {}), handles_limit {}: expected a small objects \
             limit from the spec, below the handles limit",
            start.group_objects, start.handles_limit
        ),
    );
    if !sane {
        return env.failures();
    }
    // Anonymous shared-memory objects until the quota refuses one.
    let mut handles = [Handle(0); MAX_OBJECTS];
    let (mut n, refused) = env.shm_until_refused(&mut handles);
    let full = stats(env);
    println!(
        "{}: {n} objects made, then {refused:?}; {} of {limit} objects in use",
        env.name(),
        full.group_objects
    );
    // semantics: quota-objects
    env.check(
        "create-refused-with-quota-objects",
        refused == Some(ApiError::QuotaObjects)
            && start.group_objects + n as u64 == limit
            && full.group_objects == limit,
        format_args!(
            "{} at start + {n} made, then {refused:?} (expected QuotaObjects at {limit}); \
             ClientStats: group_objects {}",
            start.group_objects, full.group_objects
        ),
    );
    if refused != Some(ApiError::QuotaObjects) || n == 0 {
        return env.failures();
    }
    // At the limit a shared anonymous mapping (its object made at once)
    // is refused and maps nothing.
    let shared = env.vm.mmap(&MmapRequest::anon_shared(PAGE_SIZE, Prot::RW));
    let after = stats(env);
    env.check(
        "shared-mapping-refused-and-nothing-mapped",
        shared == Err(ApiError::QuotaObjects)
            && after.map_entries == full.map_entries
            && after.group_objects == limit,
        format_args!(
            "mmap shared: {shared:?} (expected QuotaObjects); map entries {} -> {}, \
             objects {}",
            full.map_entries, after.map_entries, after.group_objects
        ),
    );
    // A private mapping makes no object until its first touch; with room
    // for one the touch succeeds (at the limit it would stop the client).
    let private = env.vm.mmap(&MmapRequest::anon(PAGE_SIZE, Prot::RW));
    let mapped_only = stats(env).group_objects;
    n -= 1;
    let closed = env.vm.handle_close(handles[n]);
    let room = stats(env).group_objects;
    if let Ok(a) = private {
        // SAFETY: a page just mapped read-write for this client.
        unsafe { (a as *mut u64).write_volatile(0x0b1e_c700) };
    }
    let touched = stats(env).group_objects;
    env.check(
        "private-object-on-first-touch",
        private.is_ok()
            && mapped_only == limit
            && closed.is_ok()
            && room == limit - 1
            && touched == limit,
        format_args!(
            "mmap private {private:?}: {mapped_only} objects (expected {limit}); close one \
             {closed:?}: {room}; after the first touch {touched} (expected {limit})"
        ),
    );
    // Closing every handle gives the room back; the touched page's object
    // stays until it is unmapped.
    let closed_all = (0..n)
        .map(|i| env.vm.handle_close(handles[i]))
        .filter(Result::is_ok)
        .count();
    let emptied = stats(env).group_objects;
    let unmapped = private.and_then(|a| env.vm.munmap(a, PAGE_SIZE));
    let end = stats(env).group_objects;
    env.check(
        "closing-gives-room-back",
        closed_all == n
            && emptied == start.group_objects + 1
            && unmapped.is_ok()
            && end == start.group_objects,
        format_args!(
            "closed {closed_all} of {n}: {emptied} objects (expected {}); munmap \
             {unmapped:?}: {end} (at start {})",
            start.group_objects + 1,
            start.group_objects
        ),
    );
    env.failures()
}
