//! The VM server's decisions as a pure `no_std` library: which client a message is from, faults that wait for swap I/O with their reply kept, retrying them after completions, pageout after messages, the OOM killer, stopping a client with I/O in flight, fork, every `vm-api` request, and swap control.
//!
//! The seL4 binary (`vm-server/server`) keeps only kernel calls: it
//! decodes each received message into a [`Message`], calls
//! [`Service::handle_into`] with its reply buffer, and sends the
//! [`Answer`] (host callers use [`Service::handle`], whose [`Outcome`]
//! carries the reply's words); everything it does
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
//! | [`service`] | the `Service`: its clients, waiting faults, handling one message, pageout before it |
//! | [`message`] | the loop's boundary: `Message` in, `Answer` (or `Outcome`) out |
//! | `faults` | page faults, waiting for swap I/O, retries, the OOM killer |
//! | `clients` | stopping, freeing and forking clients |
//! | [`platform`] | the machine side the service calls, how a client ended |
//! | `requests` | the `VmService` implementation: one VM call per request |
//! | `swapctl` | swap device statistics, swapoff and swapon, the detached device |
//! | `pagers` | file mappings: the pager registry (badge to channel, by challenge), `PagerCreate`, `msync(SYNC)` replies that wait |
//! | [`idle`] | the idle thread's calls (frames zeroed ahead in idle time) and `IdleWait` |
//! | [`devices`] | device regions: the registry by name, `DeviceOpen` for the clients the spec grants them |
//! | [`stats`] | the `Stats`, `ClientStats` and `ClientList` replies |
//! | [`convert`] | wire types to core types |
//! | [`heap`] | the heap bound: per-item costs and the arithmetic over every client's limits |
//! | `trace` | the live trace: resolved faults into the VM's ring, `TRACE` lines out |

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod clients;
pub mod convert;
pub mod devices;
mod faults;
pub mod heap;
pub mod idle;
mod launch;
pub mod message;
pub mod pagers;
pub mod platform;
mod requests;
pub mod service;
pub mod stats;
mod swapctl;
mod trace;

pub use devices::{DeviceGrants, DeviceRegion};
pub use message::{Answer, Message, Outcome, ReplyMsg};
pub use platform::{ClientId, ExitStatus, KernelCounters, Platform};
pub use service::{Client, Privileges, Service, CLIENT_ID_END, FIRST_CHILD};
