//! Stub marshalling checked against layouts worked out by hand from the
//! rules of libsel4's `syscall_stub_gen.py` (see build/README.md).

use sel4::invocations::{decode, encode, X86PageDirectoryGetStatusBits};
use sel4::{
    cap, CPtr, Cap, CapData, CapRights, InvocationLabel, MessageInfo, ObjectType, PrioProps,
    UserContext, VmAttributes, Word,
};

fn cnode(n: Word) -> cap::CNode {
    Cap::from_bits(n)
}

fn cptrs(v: &[Word]) -> Vec<CPtr> {
    v.iter().map(|&n| CPtr::from_bits(n)).collect()
}

#[test]
fn untyped_retype_puts_words_in_order_and_root_as_cap() {
    let r = encode::untyped_retype(ObjectType::Tcb, 0, cnode(2), 0, 0, 100, 1);
    assert_eq!(r.label, InvocationLabel::UntypedRetype);
    assert_eq!(r.mrs(), &[ObjectType::Tcb.value(), 0, 0, 0, 100, 1]);
    assert_eq!(r.caps(), &cptrs(&[2])[..]);
    let info = r.message_info();
    assert_eq!(
        (info.label(), info.extra_caps(), info.length()),
        (InvocationLabel::UntypedRetype as Word, 1, 6)
    );
}

#[test]
fn cnode_copy_gives_each_uint8_after_a_word_its_own_word() {
    // dest_index (word 0), dest_depth u8 (word 1), src_index aligned to
    // the next word (2), src_depth (3), rights (4); src_root is a cap.
    let r = encode::cnode_copy(10, 64, cnode(2), 5, 64, CapRights::read_write());
    assert_eq!(r.mrs(), &[10, 64, 5, 64, 0b011]);
    assert_eq!(r.caps(), &cptrs(&[2])[..]);
    let m = encode::cnode_mint(
        10,
        64,
        cnode(2),
        5,
        64,
        CapRights::all(),
        CapData::badge(0x42),
    );
    assert_eq!(m.mrs(), &[10, 64, 5, 64, 0b111, 0x42]);
    let mv = encode::cnode_move(10, 64, cnode(2), 5, 64);
    assert_eq!(
        (mv.mrs(), mv.label),
        (&[10, 64, 5, 64][..], InvocationLabel::CNodeMove)
    );
    let mu = encode::cnode_mutate(10, 64, cnode(2), 5, 64, CapData::badge(7));
    assert_eq!(mu.mrs(), &[10, 64, 5, 64, 7]);
    // depth is masked to 8 bits
    assert_eq!(encode::cnode_delete(7, 64).mrs(), &[7, 64]);
    assert_eq!(
        encode::cnode_revoke(7, 64).label,
        InvocationLabel::CNodeRevoke
    );
    assert_eq!(encode::cnode_save_caller(9, 64).mrs(), &[9, 64]);
}

#[test]
fn tcb_bools_and_u8_share_the_first_word() {
    // suspend_source bit 0, resume_target bit 1, transfer_frame bit 2,
    // transfer_integer bit 3, arch_flags u8 aligned to bit 8.
    let src: cap::Tcb = Cap::from_bits(1);
    let r = encode::tcb_copy_registers(src, true, false, true, true, 5);
    assert_eq!(r.mrs(), &[1 | 4 | 8 | (5 << 8)]);
    assert_eq!(r.caps(), &cptrs(&[1])[..]);
    assert_eq!(encode::tcb_read_registers(true, 0, 19).mrs(), &[1, 19]);
    assert_eq!(encode::tcb_set_priority(254).mrs(), &[254]);
}

#[test]
fn tcb_write_registers_sends_the_user_context_words() {
    let ctx = UserContext {
        rip: 0x1000,
        rsp: 0x2000,
        rax: 7,
        tls_base: 0xabc,
        ..Default::default()
    };
    let r = encode::tcb_write_registers(true, 0, 19, &ctx);
    assert_eq!(r.mrs().len(), 2 + 19);
    assert_eq!(&r.mrs()[..4], &[1, 19, 0x1000, 0x2000]);
    assert_eq!(r.mrs()[2 + 3], 7); // rax is the 4th member
    assert_eq!(r.mrs()[20], 0xabc);
    assert_eq!(r.message_info().length(), 21);
}

#[test]
fn tcb_configure_and_set_space() {
    let cs = cnode(2);
    let vs: cap::VSpace = Cap::from_bits(3);
    let buf: cap::Granule = Cap::from_bits(10);
    let r = encode::tcb_configure(
        9,
        PrioProps::new(255, 100),
        cs,
        CapData::guard(0, 48),
        vs,
        CapData::NONE,
        0x1000,
        buf,
    );
    let guard = (1 << 31) | (48 << 2);
    assert_eq!(r.mrs(), &[9, (255 << 8) | 100, guard, 0, 0x1000]);
    assert_eq!(r.caps(), &cptrs(&[2, 3, 10])[..]);
    let s = encode::tcb_set_space(9, cs, CapData::NONE, vs, CapData::NONE);
    assert_eq!((s.mrs(), s.caps()), (&[9, 0, 0][..], &cptrs(&[2, 3])[..]));
    let b = encode::tcb_set_ipc_buffer(0x5000, buf);
    assert_eq!((b.mrs(), b.caps()), (&[0x5000][..], &cptrs(&[10])[..]));
    assert_eq!(encode::tcb_resume().mrs(), &[] as &[Word]);
    assert_eq!(encode::tcb_resume().message_info().length(), 0);
}

#[test]
fn x86_paging_invocations() {
    let vs: cap::VSpace = Cap::from_bits(3);
    let p = encode::x86_page_map(vs, 0x40_0000, CapRights::read_only(), VmAttributes::DEFAULT);
    assert_eq!(
        (p.mrs(), p.caps()),
        (&[0x40_0000, 0b010, 0][..], &cptrs(&[3])[..])
    );
    let rm = encode::x86_page_remap(vs, CapRights::read_write(), VmAttributes::WRITE_COMBINING);
    assert_eq!(
        rm.mrs(),
        &[0b011, VmAttributes::WRITE_COMBINING.into_word()]
    );
    assert_eq!(encode::x86_page_unmap().mrs().len(), 0);
    assert_eq!(
        encode::x86_page_get_address().label,
        InvocationLabel::X86PageGetAddress
    );
    let pt = encode::x86_page_table_map(vs, 0x20_0000, VmAttributes::default());
    assert_eq!(
        (pt.mrs(), pt.caps()),
        (&[0x20_0000, 0][..], &cptrs(&[3])[..])
    );
    let pd = encode::x86_page_directory_map(vs, 0x4000_0000, VmAttributes::default());
    assert_eq!(pd.label, InvocationLabel::X86PageDirectoryMap);
    let pdpt = encode::x86_pdpt_map(vs, 0x80_0000_0000, VmAttributes::default());
    assert_eq!(
        (pdpt.mrs(), pdpt.label),
        (&[0x80_0000_0000, 0][..], InvocationLabel::X86PDPTMap)
    );
    let a = encode::x86_asid_pool_assign(vs);
    assert_eq!((a.mrs().len(), a.caps()), (0, &cptrs(&[3])[..]));
    let ut: cap::Untyped = Cap::from_bits(20);
    let mp = encode::x86_asid_control_make_pool(ut, cnode(2), 30, 64);
    assert_eq!((mp.mrs(), mp.caps()), (&[30, 64][..], &cptrs(&[20, 2])[..]));
}

#[test]
fn io_ports_and_irqs() {
    assert_eq!(encode::x86_io_port_in8(0x3f8).mrs(), &[0x3f8]);
    assert_eq!(encode::x86_io_port_out8(0xf4, 3).mrs(), &[0xf4, 3]);
    assert_eq!(
        encode::x86_io_port_out32(0xcf8, 0x8000_0000).mrs(),
        &[0xcf8, 0x8000_0000]
    );
    // int irq: 32 bits; index aligns to the next word; depth u8.
    let g = encode::irq_control_get(-1, cnode(2), 5, 64);
    assert_eq!(
        (g.mrs(), g.caps()),
        (&[0xffff_ffff, 5, 64][..], &cptrs(&[2])[..])
    );
    let io = encode::irq_control_get_ioapic(cnode(2), 5, 64, 0, 4, 0, 0, 36);
    assert_eq!(io.mrs(), &[5, 64, 0, 4, 0, 0, 36]);
    let msi = encode::irq_control_get_msi(cnode(2), 5, 64, 0, 3, 0, 0, 40);
    assert_eq!(msi.label, InvocationLabel::X86IRQIssueIRQHandlerMSI);
    assert_eq!(encode::irq_handler_ack().mrs().len(), 0);
    let n: cap::Notification = Cap::from_bits(11);
    assert_eq!(
        encode::irq_handler_set_notification(n).caps(),
        &cptrs(&[11])[..]
    );
}

#[test]
fn decoders_read_out_params_with_the_same_layout() {
    let mrs = [0x1ab, 0x22, 0x33];
    let mr = |i: usize| mrs[i];
    assert_eq!(decode::x86_io_port_in8(mr), 0xab);
    assert_eq!(decode::x86_io_port_in16(mr), 0x1ab);
    assert_eq!(decode::x86_page_get_address(mr), 0x1ab);
    assert_eq!(
        decode::x86_page_directory_get_status_bits(mr),
        X86PageDirectoryGetStatusBits {
            accessed: 0x1ab,
            dirty: 0x22
        }
    );
    let regs: Vec<Word> = (100..119).collect();
    let ctx = decode::tcb_read_registers(|i| regs[i]);
    assert_eq!(
        (ctx.rip, ctx.rsp, ctx.r15, ctx.tls_base),
        (100, 101, 117, 118)
    );
}

#[test]
fn requests_fit_the_message_info_fields() {
    let ctx = UserContext::default();
    let r = encode::tcb_write_registers(false, 0, 0, &ctx);
    let info = r.message_info();
    assert_eq!(MessageInfo::from_word(info.into_word()), info);
    assert!(info.length() <= MessageInfo::MAX_LENGTH);
    assert!(InvocationLabel::ALL
        .iter()
        .all(|l| l.value() <= MessageInfo::MAX_LABEL));
}

#[test]
fn object_physical_sizes() {
    assert_eq!(
        ObjectType::CapTable.physical_size_bits(12),
        12 + sel4::consts::SLOT_BITS
    );
    assert_eq!(ObjectType::Untyped.physical_size_bits(20), 20);
    assert_eq!(
        ObjectType::X86_4K.physical_size_bits(99),
        sel4::consts::PAGE_BITS
    );
}
