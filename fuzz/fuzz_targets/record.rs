//! The message record parser and verifier on arbitrary bytes, as a send's
//! body or a segment read from disk would give them, and the raw field
//! access that skips full parsing.
#![no_main]

use bytes::Bytes;
use ferromq_protocol::record::{self, raw};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let buf = Bytes::copy_from_slice(data);
    let _ = record::decode(&buf);
    let _ = record::decode_all(&buf);
    let _ = record::peek(data);
    if let Ok(r) = record::parse(data) {
        let _ = r.body();
        let _ = r.properties().count();
        let _ = r.tag_hash();
    }
    for rec in raw::records(data) {
        let _ = raw::commit_log_offset(rec);
        let _ = raw::store_timestamp(rec);
        let _ = raw::tags(rec);
        let _ = raw::property(rec, "KEYS");
    }
});
