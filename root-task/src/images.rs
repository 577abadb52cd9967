//! The component images embedded in the root task (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/images.rs"));

/// The ELF image called `name`, if it was embedded.
pub fn find(name: &str) -> Option<&'static [u8]> {
    IMAGES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}
