//! `MessageInfo` packing: round trips and field limits.

use sel4::{MessageInfo, Word};

#[test]
fn fields_round_trip() {
    for &(label, cu, ec, len) in &[
        (0, 0, 0, 0),
        (1, 2, 3, 4),
        (MessageInfo::MAX_LABEL, 7, 3, MessageInfo::MAX_LENGTH),
        (0x12345, 5, 1, 120),
    ] {
        let m = MessageInfo::new(label, cu, ec, len);
        assert_eq!(
            (m.label(), m.caps_unwrapped(), m.extra_caps(), m.length()),
            (label, cu, ec, len)
        );
        assert_eq!(MessageInfo::from_word(m.into_word()), m);
    }
}

#[test]
fn layout_matches_shared_types_bf() {
    // label 20 bits at 12, capsUnwrapped 3 at 9, extraCaps 2 at 7, length 7 at 0.
    assert_eq!(MessageInfo::new(1, 0, 0, 0).into_word(), 1 << 12);
    assert_eq!(MessageInfo::new(0, 1, 0, 0).into_word(), 1 << 9);
    assert_eq!(MessageInfo::new(0, 0, 1, 0).into_word(), 1 << 7);
    assert_eq!(MessageInfo::new(0, 0, 0, 1).into_word(), 1);
}

#[test]
fn oversized_fields_are_truncated_not_spilled() {
    let m = MessageInfo::new(
        MessageInfo::MAX_LABEL + 1,
        8,
        4,
        MessageInfo::MAX_LENGTH + 1,
    );
    assert_eq!(
        (m.label(), m.caps_unwrapped(), m.extra_caps(), m.length()),
        (0, 0, 0, 0)
    );
    assert_eq!(MessageInfo::from_word(Word::MAX).into_word(), 0xffff_ffff);
}
