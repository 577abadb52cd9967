//! Replays synthetic access traces against every replacement policy and prints faults, page-ins and page-outs per policy.
fn main() {}
