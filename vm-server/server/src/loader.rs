//! Loading a client's program into its address space: each ELF segment
//! becomes a fixed, private anonymous mapping whose pages are filled from
//! the file, then given the segment's protection. The pages are ordinary
//! VM memory from then on, so a fork copies them on write like any other.

use crate::pmap::Sel4Pmap;
use alloc::format;
use alloc::string::String;
use elf::abi::{PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use elf::ElfBytes;
use vm_core::{Access, FaultOutcome, MapFlags, MmapArgs, Prot, SpaceId, Vm, PAGE_SIZE};

/// Loads `image` (an ELF file) into `space`. Segments must not share pages
/// (our linker script aligns them).
pub fn load(vm: &mut Vm, pmap: &mut Sel4Pmap, space: SpaceId, image: &[u8]) -> Result<u64, String> {
    let file =
        ElfBytes::<LittleEndian>::minimal_parse(image).map_err(|e| format!("bad ELF: {e:?}"))?;
    let segments = file.segments().ok_or("ELF has no program headers")?;
    for ph in segments.iter().filter(|p| p.p_type == PT_LOAD) {
        let data = file
            .segment_data(&ph)
            .map_err(|e| format!("segment data: {e:?}"))?;
        let start = ph.p_vaddr & !(PAGE_SIZE - 1);
        let end = (ph.p_vaddr + ph.p_memsz).next_multiple_of(PAGE_SIZE);
        let mut prot = Prot::READ;
        if ph.p_flags & PF_W != 0 {
            prot |= Prot::WRITE;
        }
        if ph.p_flags & PF_X != 0 {
            prot |= Prot::EXEC;
        }
        let mut args = MmapArgs::anon(end - start, Prot::RW).fixed(start);
        args.flags |= MapFlags::NOREPLACE;
        vm.mmap(space, &args, pmap)
            .map_err(|e| format!("segment at {start:#x}: {e:?}"))?;
        // Fill the pages the file covers; the rest of the segment (bss) is
        // zero-fill on demand.
        let file_end = ph.p_vaddr + ph.p_filesz;
        let mut page = start;
        while page < file_end {
            let frame = match vm.fault(space, page, Access::Write, pmap) {
                Ok(FaultOutcome::Mapped(m)) => m.frame,
                Ok(other) => return Err(format!("loading {page:#x}: {other:?}")),
                Err(e) => return Err(format!("loading {page:#x}: {e:?}")),
            };
            let bytes = pmap.pool.bytes(frame);
            let lo = page.max(ph.p_vaddr);
            let hi = (page + PAGE_SIZE).min(file_end);
            bytes[(lo - page) as usize..(hi - page) as usize]
                .copy_from_slice(&data[(lo - ph.p_vaddr) as usize..(hi - ph.p_vaddr) as usize]);
            page += PAGE_SIZE;
        }
        if prot != Prot::RW {
            vm.mprotect(space, start, end - start, prot, pmap)
                .map_err(|e| format!("segment protection at {start:#x}: {e:?}"))?;
        }
    }
    Ok(file.ehdr.e_entry)
}
