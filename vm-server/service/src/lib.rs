//! The VM server's decisions as a pure `no_std` library: which client a message is from, faults that wait for swap I/O with their reply kept, retrying them after completions, pageout after messages, the OOM killer, stopping a client with I/O in flight, fork, and every `vm-api` request.
//!
//! The seL4 binary (`vm-server/server`) keeps only kernel calls: it
//! decodes each received message into a [`Message`], calls
//! [`Service::handle`], and sends the [`Outcome`]; everything it does
//! for the service (saving and answering reply caps, suspending threads,
//! making a forked child's TCB and CNode, the exit report to the root
//! task) goes through the [`Platform`] trait. The host simulation
//! (`tests/server_sim.rs`) implements `Platform` with the VM core's
//! simulated MMU, a RAM-disk swap device that delays, reorders and fails
//! requests, and simulated client threads, and drives the same code with
//! random interleavings, checking every byte against a model.
//!
//! | module | owns |
//! | --- | --- |
//! | [`service`] | clients, waiting faults, message handling, OOM killer, stopping clients, fork |
//! | [`platform`] | the machine side the service calls |
//! | `requests` | the `VmService` implementation: one VM call per request |
//! | [`stats`] | the `Stats` and `ClientStats` replies |
//! | [`convert`] | wire types to core types |
//! | [`heap`] | the heap bound: per-item costs and the arithmetic over every client's limits |

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod convert;
pub mod heap;
pub mod platform;
mod requests;
pub mod service;
pub mod stats;

pub use platform::{ClientId, KernelCounters, Platform};
pub use service::{Client, ExitStatus, Message, Outcome, ReplyMsg, Service, FIRST_CHILD};
