//! The wire numbering equals the VM core's, which the server's translation
//! (`vm-server/service/src/convert.rs`) relies on: error codes, protection
//! and flag bits, advice and inheritance order.

use vm_api::{Advice, ApiError, Inheritance, MapFlags, Mincore, MsyncFlags, Prot};

#[test]
fn error_codes_match_the_core_one_to_one() {
    for e in vm_core::VmError::ALL {
        let api = ApiError::from_code(e.code() as u64)
            .unwrap_or_else(|| panic!("{e:?} has no wire code"));
        // `QuotaExceeded(Resident)` is `QuotaResident` on the wire.
        let core = format!("{e:?}")
            .replace("QuotaExceeded(", "Quota")
            .replace(')', "");
        assert_eq!(format!("{api:?}"), core, "code {}", e.code());
    }
}

#[test]
fn bits_match_the_core() {
    assert_eq!(Prot::READ.bits() as u8, vm_core::Prot::READ.bits());
    assert_eq!(Prot::WRITE.bits() as u8, vm_core::Prot::WRITE.bits());
    assert_eq!(Prot::EXEC.bits() as u8, vm_core::Prot::EXEC.bits());
    assert_eq!(Prot::all().bits() as u8, vm_core::Prot::all().bits());
    for (w, c) in [
        (MapFlags::SHARED, vm_core::MapFlags::SHARED),
        (MapFlags::PRIVATE, vm_core::MapFlags::PRIVATE),
        (MapFlags::FIXED, vm_core::MapFlags::FIXED),
        (MapFlags::NOREPLACE, vm_core::MapFlags::NOREPLACE),
        (MapFlags::OVERLAY, vm_core::MapFlags::OVERLAY),
    ] {
        assert_eq!(w.bits() as u8, c.bits());
    }
    for (w, c) in [
        (MsyncFlags::ASYNC, vm_core::MsyncFlags::ASYNC),
        (MsyncFlags::SYNC, vm_core::MsyncFlags::SYNC),
        (MsyncFlags::INVALIDATE, vm_core::MsyncFlags::INVALIDATE),
    ] {
        assert_eq!(w.bits() as u8, c.bits());
    }
    assert_eq!(Mincore::INCORE.bits(), vm_core::MINCORE_INCORE);
    assert_eq!(Mincore::REFERENCED.bits(), vm_core::MINCORE_REFERENCED);
    assert_eq!(Mincore::MODIFIED.bits(), vm_core::MINCORE_MODIFIED);
}

#[test]
fn enumerations_list_the_core_variants_in_order() {
    let advice = [
        (Advice::Normal, vm_core::Advice::Normal),
        (Advice::Random, vm_core::Advice::Random),
        (Advice::Sequential, vm_core::Advice::Sequential),
        (Advice::WillNeed, vm_core::Advice::WillNeed),
        (Advice::DontNeed, vm_core::Advice::DontNeed),
        (Advice::Free, vm_core::Advice::Free),
        (Advice::HugePage, vm_core::Advice::HugePage),
        (Advice::NoHugePage, vm_core::Advice::NoHugePage),
    ];
    for (i, (w, c)) in advice.iter().enumerate() {
        assert_eq!(*w as u64, i as u64);
        assert_eq!(format!("{w:?}"), format!("{c:?}"));
    }
    let inheritance = [
        (Inheritance::Share, vm_core::Inheritance::Share),
        (Inheritance::Copy, vm_core::Inheritance::Copy),
        (Inheritance::None, vm_core::Inheritance::None),
    ];
    for (i, (w, c)) in inheritance.iter().enumerate() {
        assert_eq!(*w as u64, i as u64);
        assert_eq!(format!("{w:?}"), format!("{c:?}"));
    }
}
