//! Fuzz target: the request and reply decoders are total and canonical on arbitrary labels and words.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vm_api::{Operation, Reply, Request, MAX_WORDS};

fuzz_target!(|data: &[u8]| {
    // Byte 0 picks the label's source, bytes 1..9 are the label, the rest
    // are little-endian words.
    if data.len() < 9 {
        return;
    }
    let raw = u64::from_le_bytes(data[1..9].try_into().unwrap());
    let label = match data[0] % 3 {
        0 => Operation::ALL[(raw % Operation::ALL.len() as u64) as usize].label(),
        1 => raw % 0x200,
        _ => raw,
    };
    let words: Vec<u64> = data[9..]
        .chunks(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect();

    if let Ok(req) = Request::decode(label, &words) {
        let mut w = [0u64; MAX_WORDS];
        let (l, n) = req.encode(&mut w);
        assert_eq!(l, label);
        assert_eq!(&w[..n], &words[..]);
    }

    let op = Operation::ALL[(raw % Operation::ALL.len() as u64) as usize];
    let reply_label = if data[0] & 4 == 0 { 0 } else { raw % 0x110 };
    if let Ok(Ok(rep)) = Reply::decode(op, reply_label, &words) {
        let mut w = [0u64; MAX_WORDS];
        let (_, n) = rep.encode(&mut w);
        assert_eq!(&w[..n], &words[..n.min(words.len())]);
    }
});
