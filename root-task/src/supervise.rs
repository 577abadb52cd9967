//! Starting the components and watching them: the root task keeps a control
//! endpoint on which each component reports when its work is done (test
//! programs report their verdict), and ends the run when all have reported.

use crate::component::Component;
use crate::{images, RootState};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use sel4::{CPtr, CapRights, MessageInfo, ObjectType};
use sel4_root_task::println;

/// Label of a component's report on the control endpoint; MR0 = 1 for success.
pub const REPORT_LABEL: u64 = 1;

/// The running system as the root task sees it.
pub struct System {
    control: CPtr,
    components: Vec<Component>,
}

/// Creates, loads and starts every component.
pub fn start_components(state: &mut RootState) -> Result<System, String> {
    let control = state
        .untyped
        .allocate(&mut state.slots, ObjectType::Endpoint, 0)
        .map_err(|e| format!("control endpoint: {e}"))?;
    let mut components = Vec::new();
    for (id, name) in ["client-hello"].into_iter().enumerate() {
        let Some(image) = images::find(name) else {
            return Err(format!(
                "image {name} was not embedded (build with `cargo qemu build`)"
            ));
        };
        let id = id as u64 + 1;
        let mut c = Component::create(state, id, name, image, 8)?;
        c.give(
            state,
            "root",
            control,
            CapRights::new(true, false, true),
            Some(id),
            0,
        )?;
        c.start(state, 0, 100, 100, true)?;
        println!(
            "root-task:   started {name} (id {id}, entry {:#x}, {} image pages)",
            c.entry,
            c.image_frames.len()
        );
        components.push(c);
    }
    Ok(System {
        control,
        components,
    })
}

/// Waits for every component's report; prints one test line per component.
pub fn run(system: &mut System) -> bool {
    println!("TEST PLAN {}", system.components.len());
    let mut pending: Vec<u64> = system.components.iter().map(|c| c.id).collect();
    let mut all_ok = true;
    while !pending.is_empty() {
        let (info, badge) = sel4::recv(system.control);
        let Some(pos) = pending.iter().position(|&id| id == badge) else {
            println!("root-task: report from unknown or finished component {badge}");
            continue;
        };
        let name = &system
            .components
            .iter()
            .find(|c| c.id == badge)
            .unwrap()
            .name;
        let ok = info.label() == REPORT_LABEL && sel4::get_mr(0) == 1;
        if ok {
            println!("TEST PASS component-start-{name}");
        } else {
            println!("TEST FAIL component-start-{name}: reported failure");
        }
        all_ok &= ok;
        pending.swap_remove(pos);
        sel4::reply(MessageInfo::new(0, 0, 0, 0));
    }
    all_ok
}
