//! The frame decoder on arbitrary bytes, as a connection delivers them:
//! whole frames, a torn one, garbage. Must never panic, never allocate
//! past the limit, and end every input with a frame, "need more" or an
//! error.
#![no_main]

use bytes::BytesMut;
use ferromq_protocol::FrameCodec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut codec = FrameCodec::new(64 << 10);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        assert!(frame.encoded_len() <= 64 << 10);
    }
});
