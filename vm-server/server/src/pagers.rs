//! Pager channels (docs/pager.md): every frame object the spec names `*_pager` is mapped, made a `pager_api::ChannelPager` and attached to the VM as pager `0, 1, ...` in the order of the start-info page; its pager attaches later by the challenge it writes into the channel's attach word.
//!
//! Wiring by convention, nothing in the root task: a channel `X_pager`
//! (ring page + data window, shared with its pager only) comes with a
//! doorbell cap `X_pager_bell` (the pager's bound notification); the
//! pager's completions arrive as signals on the server's own bound
//! notification (`swap_done`, badge bit `NOTIFY_BADGE`), where every
//! completion is polled anyway.

use crate::Server;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use pager_api::{
    ChannelPager, PagerRing, Sel4Notifier, VmEnd, Window, ATTACH_WORD_OFFSET, PAGE_SIZE,
};
use sel4::cap;
use sel4_root_task::println;
use sel4_root_task::start_info::StartInfo;

/// Where pager channel `i` is mapped: `PAGER_CHANNELS_VADDR + i *
/// PAGER_CHANNEL_SPAN`.
const PAGER_CHANNELS_VADDR: u64 = 0x31_0000_0000;
/// Room for one channel (a ring page and up to 4095 buffers).
const PAGER_CHANNEL_SPAN: u64 = 16 << 20;
/// Name suffix of a pager channel's frame object, and of its doorbell.
const CHANNEL_SUFFIX: &str = "_pager";
const BELL_SUFFIX: &str = "_bell";
/// The server's own bound notification (the pagers signal it).
const DONE: &str = "swap_done";

/// Where the attached channels are: pager id -> base address.
#[derive(Default)]
pub struct PagerChannels {
    bases: Vec<(u32, u64)>,
}

impl PagerChannels {
    /// The attach word of channel `pager`'s ring page, as its pager last
    /// wrote it.
    pub fn attach_word(&self, pager: u32) -> Option<u64> {
        let &(_, base) = self.bases.iter().find(|(id, _)| *id == pager)?;
        let at = (base + ATTACH_WORD_OFFSET as u64) as *const u64;
        // SAFETY: the channel's ring page is mapped read-write at `base`
        // for good (`attach_pagers`); the word is 8-byte aligned inside
        // it, touched by no ring code, and read volatile because the
        // pager writes it from another address space.
        Some(u64::from_le(unsafe { core::ptr::read_volatile(at) }))
    }
}

/// Maps and attaches every `*_pager` channel the spec gives; a channel
/// that cannot be set up is reported and skipped.
pub fn attach_pagers(info: &StartInfo, server: &mut Server) {
    let names: Vec<(String, u64, u64)> = info
        .caps()
        .iter()
        .filter(|c| c.name().ends_with(CHANNEL_SUFFIX))
        .map(|c| (String::from(c.name()), c.slot, c.data))
        .collect();
    for (name, slot, pages) in names {
        let id = server.platform.pagers.bases.len() as u32;
        match attach_one(info, server, id, &name, slot, pages) {
            Ok(()) => println!(
                "vm-server: pager channel {id}: {name} ({} buffers of {PAGE_SIZE} bytes, cluster {})",
                pages - 1,
                pager_api::SYSTEM_CLUSTER
            ),
            Err(e) => println!("vm-server: pager channel {name} not attached: {e}"),
        }
    }
}

/// Channel `name` (`pages` frames from `slot`) as pager `id`.
fn attach_one(
    info: &StartInfo,
    server: &mut Server,
    id: u32,
    name: &str,
    slot: u64,
    pages: u64,
) -> Result<(), String> {
    if pages < 2 || pages * PAGE_SIZE as u64 > PAGER_CHANNEL_SPAN {
        return Err(format!("{pages} pages: need a ring page and buffers"));
    }
    let bell_name = format!("{name}{BELL_SUFFIX}");
    let doorbell = info
        .cap(&bell_name)
        .ok_or_else(|| format!("no {bell_name} doorbell"))?;
    let done = info
        .cap(DONE)
        .ok_or_else(|| format!("no {DONE} notification"))?;
    let base = PAGER_CHANNELS_VADDR + u64::from(id) * PAGER_CHANNEL_SPAN;
    let own = cap::VSpace::from_bits(crate::platform::slots::VSPACE);
    for i in 0..pages {
        let frame = cap::Granule::from_bits(slot + i);
        let k = &mut server.platform.pmap.kernel;
        let mut make = |ty| k.object(ty, 0);
        sel4_objects::map_page(
            own,
            frame,
            base + i * PAGE_SIZE as u64,
            sel4::CapRights::read_write(),
            &mut make,
        )
        .map_err(|e| format!("page {i}: {e}"))?;
    }
    // SAFETY: the ring page was just mapped read-write at `base` for
    // good, shared only with the channel's pager.
    let ring = unsafe { PagerRing::new(base as *mut u8) };
    // SAFETY: the data window follows it, mapped the same way; the VM end
    // is its only view in this server.
    let window = unsafe { Window::new((base + PAGE_SIZE as u64) as *mut u8, pages - 1) };
    let bell = Sel4Notifier { doorbell, done };
    let end = VmEnd::new(ring, window, pager_api::SYSTEM_CLUSTER, bell)
        .map_err(|e| format!("channel: {e:?}"))?;
    server
        .vm
        .pager_attach(id, Box::new(ChannelPager::new(end)))
        .map_err(|e| format!("attach: {e:?}"))?;
    server.platform.pagers.bases.push((id, base));
    server.add_pager_channel(id);
    Ok(())
}
