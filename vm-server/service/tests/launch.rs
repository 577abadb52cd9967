//! Programs paged from files through the service (docs/pager.md, "Programs paged from files"): two clients of one program started from its ELF file's pager object — text shared page for page, data copy-on-write with its bss zeroed — and the refusals that stop only the client they concern.

use vm_api::{ApiError, MsyncFlags};
use vm_core::ram_pager::RamPager;
use vm_core::{SpaceId, Vm, VmConfig, PAGE_SIZE};
use vm_service::{ClientId, ExitStatus, Message, Privileges, Service};

mod common;
use common::{client as as_badge, with_sim, Svc, TestPlatform};

const P: u64 = PAGE_SIZE;
const FRAMES: u32 = 256;
const PAGER_BADGE: ClientId = 0x1000;
const CHANNEL: u32 = 0;
/// The program file's key, and a file that is no ELF file.
const KEY: u64 = 40;
const JUNK: u64 = 41;
const ENTRY: u64 = 0x40_0100;
const TEXT: u64 = 0x40_0000;
/// The data segment: file bytes `0x2100..0x2400` at `DATA`, then bss up
/// to `DATA + 0x3000`.
const DATA: u64 = 0x40_2100;
const FILE_LEN: usize = 0x3000;

/// The program file: a pattern (non-zero everywhere, so unzeroed tail
/// bytes show), with an ELF header and two program headers on top.
fn program_file() -> Vec<u8> {
    let mut f: Vec<u8> = (0..FILE_LEN).map(|i| (i * 7 % 251) as u8 + 1).collect();
    let mut h = Vec::new();
    h.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    h.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    h.extend_from_slice(&62u16.to_le_bytes()); // x86-64
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&ENTRY.to_le_bytes());
    h.extend_from_slice(&64u64.to_le_bytes()); // program headers
                                               // Section headers at the end of the file (past the first page), as
                                               // `ld` puts them: the loader must not need them.
    h.extend_from_slice(&(FILE_LEN as u64 - 0x200).to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 2, 64, 8, 7] {
        h.extend_from_slice(&half.to_le_bytes());
    }
    // (flags, offset, vaddr, filesz, memsz)
    for (flags, offset, vaddr, filesz, memsz) in [
        (5u32, 0u64, TEXT, 0x1800u64, 0x1800u64),
        (6, 0x2100, DATA, 0x300, 0x3000),
    ] {
        h.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        h.extend_from_slice(&flags.to_le_bytes());
        for w in [offset, vaddr, vaddr, filesz, memsz, P] {
            h.extend_from_slice(&w.to_le_bytes());
        }
    }
    f[..h.len()].copy_from_slice(&h);
    f
}

/// A service with pager channel `CHANNEL` holding the program file and
/// a junk file, its pager attached, and no clients yet.
fn service() -> Svc {
    // Programs link at 4 MiB, as the VM server's clients do.
    let config = VmConfig {
        user_min: 0x10_0000,
        ..VmConfig::default()
    };
    let mut vm = Vm::new(config, FRAMES).unwrap();
    let mut pager = RamPager::new(4);
    pager.files.insert(KEY, program_file());
    pager.files.insert(JUNK, vec![0x5a; 2 * P as usize]);
    vm.pager_attach(CHANNEL, Box::new(pager)).unwrap();
    let mut svc = Service::new(vm, TestPlatform::new(FRAMES));
    svc.add_pager_channel(CHANNEL);
    let c = as_badge(&mut svc, PAGER_BADGE).pager_challenge().unwrap();
    svc.platform.attach_words.insert(CHANNEL, c);
    as_badge(&mut svc, PAGER_BADGE).pager_attach(c).unwrap();
    svc
}

/// Client `id` waiting to start from `program`.
fn program_client(svc: &mut Svc, id: ClientId, program: &str) -> SpaceId {
    let space = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
    svc.add_program_client(id, format!("c{id}"), space, Privileges::default(), program)
        .unwrap();
    space
}

/// Completions until nothing is left to wait for.
fn settle(svc: &mut Svc) {
    for _ in 0..16 {
        svc.handle(Message::SwapSignal);
    }
}

fn bytes(svc: &mut Svc, space: SpaceId, va: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    with_sim(svc, |s| s.read(space, va, &mut b)).unwrap();
    b
}

#[test]
fn two_clients_of_one_program_share_its_text_and_keep_their_data() {
    let mut svc = service();
    let a = program_client(&mut svc, 1, "prog");
    let b = program_client(&mut svc, 2, "prog");
    let file = program_file();
    // The pager asks which programs are wanted: one, by name.
    let name = as_badge(&mut svc, PAGER_BADGE)
        .pager_program_name(0)
        .unwrap();
    assert_eq!(name.as_str(), "prog");
    assert_eq!(
        as_badge(&mut svc, PAGER_BADGE).pager_program_name(1),
        Err(ApiError::NoSuchName)
    );
    // Only the attached pager may ask or answer.
    assert_eq!(
        as_badge(&mut svc, 1).pager_program_name(0),
        Err(ApiError::NotPermitted)
    );
    assert_eq!(
        as_badge(&mut svc, 1).pager_program(0, 0, KEY, FILE_LEN as u64),
        Err(ApiError::NotPermitted)
    );
    as_badge(&mut svc, PAGER_BADGE)
        .pager_program(0, 0, KEY, FILE_LEN as u64)
        .unwrap();
    assert_eq!(
        as_badge(&mut svc, PAGER_BADGE).pager_program(0, 0, KEY, FILE_LEN as u64),
        Err(ApiError::Busy),
        "answered once"
    );
    assert!(svc.platform.started.is_empty(), "waiting for the page-in");
    settle(&mut svc);
    assert_eq!(svc.launches_waiting(), 0);
    assert_eq!(svc.platform.started, vec![(1, ENTRY), (2, ENTRY)]);
    assert!(svc.platform.reaped.is_empty());

    for space in [a, b] {
        // Text: the file's bytes.
        assert_eq!(bytes(&mut svc, space, TEXT, 0x1800), file[..0x1800]);
        // Data: the file's bytes, zeros after them in their page, bss.
        assert_eq!(bytes(&mut svc, space, DATA, 0x300), file[0x2100..0x2400]);
        assert!(bytes(&mut svc, space, DATA + 0x300, 0x3000 - 0x300)
            .iter()
            .all(|&x| x == 0));
    }
    // semantics: exec-text-shared — one frame per text page for both.
    for page in 0..2 {
        let fa = svc.vm.extract(a, TEXT + page * P).unwrap();
        assert!(fa.is_some());
        assert_eq!(fa, svc.vm.extract(b, TEXT + page * P).unwrap());
    }
    // Data is copy-on-write: a's write is a's own.
    with_sim(&mut svc, |s| s.write(a, DATA + 8, b"mine")).unwrap();
    assert_eq!(bytes(&mut svc, b, DATA + 8, 4), file[0x2108..0x210c]);
    // The text is not writable.
    assert!(with_sim(&mut svc, |s| s.write(a, TEXT, b"x")).is_err());
    // The file cache holds the file's pages once.
    let st = vm_service::stats::global(&svc);
    assert!(st.filepages <= 3, "{st:?}");
    // Every handle is closed again: the mappings hold the object.
    assert_eq!(
        as_badge(&mut svc, 1).msync(TEXT, P, MsyncFlags::INVALIDATE),
        Ok(())
    );
    assert_eq!(bytes(&mut svc, a, TEXT, 16), file[..16]);
}

#[test]
fn a_program_that_cannot_start_stops_only_its_clients() {
    let mut svc = service();
    program_client(&mut svc, 1, "missing");
    program_client(&mut svc, 2, "junk");
    program_client(&mut svc, 3, "prog");
    let space = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
    assert_eq!(
        svc.add_program_client(9, "bad".into(), space, Privileges::default(), ""),
        Err(ApiError::InvalidArgument)
    );
    let pager = |svc: &mut Svc, i, e, k, s| as_badge(svc, PAGER_BADGE).pager_program(i, e, k, s);
    // A failure names no object.
    assert_eq!(
        pager(&mut svc, 0, 1, KEY, 0),
        Err(ApiError::MalformedRequest)
    );
    assert_eq!(pager(&mut svc, 7, 0, KEY, 1), Err(ApiError::NoSuchName));
    pager(&mut svc, 0, 1, 0, 0).unwrap();
    pager(&mut svc, 1, 0, JUNK, 2 * P).unwrap();
    pager(&mut svc, 2, 0, KEY, FILE_LEN as u64).unwrap();
    settle(&mut svc);
    assert_eq!(
        svc.platform.reaped,
        vec![
            (1, ExitStatus::Killed(Some(ApiError::NoSuchName))),
            (2, ExitStatus::Killed(Some(ApiError::InvalidArgument))),
        ]
    );
    assert_eq!(svc.platform.started, vec![(3, ENTRY)]);
    assert_eq!(svc.launches_waiting(), 0);
}
