//! Decompression of a body under a size limit: the first four bytes are
//! the record's flags, the rest the body. Must never panic, and never give
//! back more than the limit.
#![no_main]

use bytes::Bytes;
use ferromq_protocol::compression;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let flags = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let body = Bytes::copy_from_slice(&data[4..]);
    if let Ok(out) = compression::decompress(flags, &body, MAX) {
        assert!(out.len() <= MAX);
    }
});
