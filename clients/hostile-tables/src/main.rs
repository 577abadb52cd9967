//! System test, hostile: a client that makes page tables with sparse touches until the VM server stops it.
//!
//! Reserves 1 GiB of anonymous memory (one page directory's worth,
//! aligned) and touches one page every 2 MiB, so every touch needs a
//! page table of its own. It checks that each touch adds page tables and
//! that they reach exactly the spec's limit (`ClientStats`); then it
//! announces its end, `STATUS_KILLED + QuotaPageTables` (semantics:
//! quota-page-tables: a fault past the limit cannot be satisfied, so the
//! server stops the client), and touches the next 2 MiB. Surviving that
//! touch is a failure. The root task's cleanup check then sees every
//! table it took given back.
#![no_std]
#![no_main]

use sel4_root_task::control::{expect_exit, STATUS_KILLED};
use vm_client::vm_api::{ApiError, ClientStats, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

const GIB: u64 = 1 << 30;
/// Pages one page table maps: the stride of the touches.
const STRIDE: u64 = (2 << 20) / PAGE_SIZE;
/// Touches in the region: one per page table it spans.
const TOUCHES: u64 = GIB / PAGE_SIZE / STRIDE;

fn stats(env: &mut Env) -> ClientStats {
    env.vm.client_stats().unwrap_or_default()
}

fn main(env: &mut Env) -> u64 {
    env.plan(2);
    let start = stats(env);
    let limit = start.page_tables_limit;
    let mut req = MmapRequest::anon(GIB, Prot::RW);
    // In one page directory: every touch needs exactly one new table
    // (the first one the directory, and a directory pointer table if it
    // has none yet, as well).
    req.align = GIB;
    let region = Region::map(&mut env.vm, &req);
    let region = match region {
        Ok(r) if start.page_tables + 3 <= limit && limit < TOUCHES => r,
        other => {
            env.check(
                "sparse-touches-add-page-tables",
                false,
                format_args!(
                    "page tables {} of {limit} (expected a small limit from the spec); \
                     mmap of 1 GiB {other:?}",
                    start.page_tables
                ),
            );
            return env.failures();
        }
    };
    // Touch 2 MiB apart while there is room for a table.
    let (mut touched, mut tables, mut grew) = (0, start.page_tables, true);
    while touched < TOUCHES {
        if tables >= limit {
            break;
        }
        region.write(touched * STRIDE, 0, touched);
        touched += 1;
        let now = stats(env).page_tables;
        grew &= now > tables;
        tables = now;
    }
    println!(
        "{}: {touched} sparse touches, {tables} of {limit} page tables",
        env.name()
    );
    env.check(
        "sparse-touches-add-page-tables",
        grew && touched > 0,
        format_args!(
            "{touched} touches from {} tables: one did not add a table",
            start.page_tables
        ),
    );
    env.check(
        "page-tables-reach-the-limit",
        tables == limit,
        format_args!("{tables} page tables after {touched} touches, limit {limit}"),
    );
    // semantics: quota-page-tables
    let failures = env.failures();
    expect_exit(if failures == 0 {
        STATUS_KILLED + ApiError::QuotaPageTables.code()
    } else {
        failures
    });
    if touched < TOUCHES {
        println!(
            "{}: touching 2 MiB further at {:#x}; the VM server must stop me",
            env.name(),
            region.page_addr(touched * STRIDE)
        );
        region.write(touched * STRIDE, 0, touched);
    }
    println!(
        "{}: the touch past the page-table limit went through",
        env.name()
    );
    failures + 1
}
