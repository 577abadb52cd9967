//! Boot info parsing, from an image laid out field by field as
//! libsel4's packed `seL4_BootInfo` (independently of `bootinfo::layout`).

use sel4::{config, BootInfo, BootInfoError, Word};

/// Builds a boot info like a 512 MiB QEMU boot gives (plus a padding
/// chunk of extra boot info in the next page).
fn image() -> Vec<u8> {
    let mut b = Vec::new();
    let w = |b: &mut Vec<u8>, v: Word| b.extend_from_slice(&v.to_le_bytes());
    let region = |b: &mut Vec<u8>, s: Word, e: Word| {
        b.extend_from_slice(&s.to_le_bytes());
        b.extend_from_slice(&e.to_le_bytes());
    };
    w(&mut b, 4096); // extraLen
    w(&mut b, 0); // nodeID
    w(&mut b, 1); // numNodes
    w(&mut b, 0); // numIOPTLevels
    w(&mut b, 0x5e_f000); // ipcBuffer
    region(&mut b, 290, 1 << 16); // empty
    region(&mut b, 0, 0); // sharedFrames
    region(&mut b, 12, 150); // userImageFrames
    region(&mut b, 150, 155); // userImagePaging
    region(&mut b, 0, 0); // ioSpaceCaps
    region(&mut b, 155, 156); // extraBIPages
    b.push(16); // initThreadCNodeSizeBits (packed: next field unaligned)
    w(&mut b, 0); // initThreadDomain
    w(&mut b, 2_000); // archInfo (TSC MHz)
    region(&mut b, 156, 290); // untyped: 134 caps
    for i in 0..config::MAX_NUM_BOOTINFO_UNTYPED_CAPS {
        let (paddr, bits, dev) = match i {
            0 => (0x10_0000, 20, 0),
            1 => (0xfec0_0000, 12, 1),
            n if n < 134 => (0x20_0000 * n, 21, 0),
            _ => (0, 0, 0),
        };
        w(&mut b, paddr);
        b.extend_from_slice(&[0, 0, bits, dev]);
    }
    b.resize(4096, 0);
    // Extra boot info: one padding chunk filling the page.
    w(&mut b, 0);
    w(&mut b, 4096);
    b.resize(8192, 0);
    b
}

#[test]
fn parses_every_field() {
    let img = image();
    let bi = BootInfo::parse(&img).unwrap();
    assert_eq!(bi.extra_len(), 4096);
    assert_eq!(
        (bi.node_id(), bi.num_nodes(), bi.num_iopt_levels()),
        (0, 1, 0)
    );
    assert_eq!(bi.ipc_buffer() as usize, 0x5e_f000);
    assert_eq!(bi.empty(), 290..65536);
    assert_eq!(bi.user_image_frames(), 12..150);
    assert_eq!(bi.user_image_paging(), 150..155);
    assert_eq!(bi.extra_bi_pages(), 155..156);
    assert_eq!(bi.init_thread_cnode_size_bits(), 16);
    assert_eq!(bi.init_thread_domain(), 0);
    assert_eq!(bi.arch_info(), 2000);
    assert_eq!(bi.untyped(), 156..290);
}

#[test]
fn untyped_descriptors_pair_slots_with_descriptors() {
    let img = image();
    let bi = BootInfo::parse(&img).unwrap();
    let list: Vec<_> = bi.untyped_list().collect();
    assert_eq!(list.len(), 134);
    assert_eq!(list[0].cap.bits(), 156);
    assert_eq!(
        (list[0].paddr, list[0].size_bits, list[0].is_device),
        (0x10_0000, 20, false)
    );
    assert_eq!(
        (list[1].paddr, list[1].size(), list[1].is_device),
        (0xfec0_0000, 4096, true)
    );
    assert_eq!(list[133].cap.bits(), 289);
    assert_eq!(list[133].paddr, 0x20_0000 * 133);
    let ram: Word = list.iter().filter(|u| !u.is_device).map(|u| u.size()).sum();
    assert_eq!(ram, (1 << 20) + 132 * (1 << 21));
}

#[test]
fn extra_chunks_follow_the_first_page() {
    let img = image();
    let bi = BootInfo::parse(&img).unwrap();
    let chunks: Vec<_> = bi.extra_chunks().collect();
    assert_eq!(chunks.len(), 1);
    assert_eq!((chunks[0].0, chunks[0].1.len()), (0, 4096));
    // A slice that stops after the boot info has no extra part.
    let short = BootInfo::parse(&img[..4096]).unwrap();
    assert!(short.extra().is_none());
    assert_eq!(short.extra_chunks().count(), 0);
}

#[test]
fn rejects_bad_images() {
    let img = image();
    assert_eq!(
        BootInfo::parse(&img[..100]).unwrap_err(),
        BootInfoError::TooShort
    );
    let mut bad = img.clone();
    // untyped.end (after archInfo) pushed beyond the descriptor array
    let off = sel4::bootinfo::layout::UNTYPED + 8;
    bad[off..off + 8]
        .copy_from_slice(&(156 + config::MAX_NUM_BOOTINFO_UNTYPED_CAPS + 1).to_le_bytes());
    assert_eq!(
        BootInfo::parse(&bad).unwrap_err(),
        BootInfoError::BadUntypedRegion
    );
}

#[test]
fn from_ptr_covers_the_extra_pages() {
    let img = image();
    // SAFETY: `img` says extraLen 4096 and is 8192 bytes, exactly the page
    // plus extra page `from_ptr` reads; it outlives `bi`, the last use of
    // which is the assert below, and nothing writes it meanwhile.
    let bi = unsafe { BootInfo::from_ptr(img.as_ptr()) };
    assert_eq!(bi.extra().map(<[u8]>::len), Some(4096));
}
