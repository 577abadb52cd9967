//! Translation between the wire types of `vm-api` and the VM core's types.
//! The numbers are equal by design (see `vm-api`'s "Numbering"), so each
//! conversion is a re-tagging; keeping them in one place makes a mismatch
//! a compile error here rather than a silent misreading.

use vm_api::{ApiError, MapFlags as WireFlags, MapSource as WireSource, Prot as WireProt};
use vm_core::{
    Advice, Handle, Inheritance, MapFlags, MapSource, MmapArgs, MsyncFlags, Prot, VmError,
};

pub fn prot(p: WireProt) -> Prot {
    Prot::from_bits_truncate(p.bits() as u8)
}

pub fn mmap_args(r: &vm_api::MmapRequest) -> MmapArgs {
    MmapArgs {
        addr: r.addr,
        len: r.len,
        prot: prot(r.prot),
        max_prot: prot(r.max_prot),
        flags: map_flags(r.flags),
        source: match r.source {
            WireSource::Anonymous => MapSource::Anonymous,
            WireSource::Handle { handle, offset } => MapSource::Handle {
                handle: Handle(handle.0),
                offset,
            },
        },
        align: r.align,
    }
}

fn map_flags(f: WireFlags) -> MapFlags {
    MapFlags::from_bits_truncate(f.bits() as u8)
}

pub fn msync_flags(f: vm_api::MsyncFlags) -> MsyncFlags {
    MsyncFlags::from_bits_truncate(f.bits() as u8)
}

pub fn advice(a: vm_api::Advice) -> Advice {
    match a {
        vm_api::Advice::Normal => Advice::Normal,
        vm_api::Advice::Random => Advice::Random,
        vm_api::Advice::Sequential => Advice::Sequential,
        vm_api::Advice::WillNeed => Advice::WillNeed,
        vm_api::Advice::DontNeed => Advice::DontNeed,
        vm_api::Advice::Free => Advice::Free,
        vm_api::Advice::HugePage => Advice::HugePage,
        vm_api::Advice::NoHugePage => Advice::NoHugePage,
    }
}

pub fn inheritance(i: vm_api::Inheritance) -> Inheritance {
    match i {
        vm_api::Inheritance::Share => Inheritance::Share,
        vm_api::Inheritance::Copy => Inheritance::Copy,
        vm_api::Inheritance::None => Inheritance::None,
    }
}

/// The core's error as the wire error with the same code.
pub fn error(e: VmError) -> ApiError {
    ApiError::from_code(e.code() as u64).unwrap_or(ApiError::InvalidArgument)
}
