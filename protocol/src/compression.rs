//! Message body compression: pure functions shared by producers (which
//! compress), consumers (which decompress) and, later, the broker.
//!
//! A compressed body is flagged in the record's flags
//! ([`record::COMPRESSION_MASK`] bits) and laid out as:
//!
//! ```text
//! offset size  field
//!      0    4  original (uncompressed) body length, big-endian u32
//!      4    ..  the compressed data (LZ4: one LZ4 block, no frame header)
//! ```
//!
//! The length prefix lets a reader refuse an oversized body *before*
//! allocating for it, and check that the data decompresses to exactly that
//! many bytes. The record's CRC already covers the body, so the LZ4 frame
//! format (with its own checksums) would only add bytes.
//!
//! Decompression never trusts the input: the declared length is checked
//! against a caller-given limit (normally [`crate::MAX_UNCOMPRESSED_BODY`]), the
//! output buffer is exactly that long, and corrupt data is a
//! [`CompressionError`], never a panic.

use bytes::Bytes;

use crate::error::CompressionError;
#[cfg(feature = "lz4")]
use crate::limits::MAX_UNCOMPRESSED_BODY;
use crate::record::{self, StoredMessage};

/// Bytes of the original-length prefix of a compressed body.
pub const COMPRESSED_PREFIX_LEN: usize = 4;

/// Compresses `body` with LZ4 into the compressed-body layout, or `None` if
/// that would not be smaller than `body` (incompressible data is sent as
/// it is), or if `body` is over [`MAX_UNCOMPRESSED_BODY`] (no reader would
/// accept it).
#[cfg(feature = "lz4")]
pub fn compress_lz4(body: &[u8]) -> Option<Bytes> {
    if body.len() > MAX_UNCOMPRESSED_BODY {
        return None;
    }
    let len = u32::try_from(body.len()).ok()?;
    let max = lz4_flex::block::get_maximum_output_size(body.len());
    let mut out = vec![0u8; COMPRESSED_PREFIX_LEN + max];
    out[..COMPRESSED_PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
    // The buffer has the size lz4_flex asks for, so this cannot fail; if it
    // did anyway, sending the body uncompressed is always correct.
    let n = lz4_flex::block::compress_into(body, &mut out[COMPRESSED_PREFIX_LEN..]).ok()?;
    let total = COMPRESSED_PREFIX_LEN + n;
    if total >= body.len() {
        return None;
    }
    out.truncate(total);
    Some(Bytes::from(out))
}

/// The compression bits of record `flags`, as one of the
/// `record::COMPRESSION_*` values.
pub fn compression_of(flags: u32) -> u32 {
    flags & record::COMPRESSION_MASK
}

/// The original body of a body stored with record `flags`: `body` itself
/// (shared, not copied) when it is not compressed.
///
/// # Errors
/// [`CompressionError::TooLarge`] if the body declares more than `max`
/// bytes uncompressed (nothing is allocated then);
/// [`CompressionError::Corrupt`] if it does not decompress to exactly the
/// declared length; [`CompressionError::Unsupported`] for a codec this
/// build cannot read (zstd, or LZ4 without the `lz4` feature).
pub fn decompress(flags: u32, body: &Bytes, max: usize) -> Result<Bytes, CompressionError> {
    #[cfg(not(feature = "lz4"))]
    let _ = max;
    match compression_of(flags) {
        record::COMPRESSION_NONE => Ok(body.clone()),
        #[cfg(feature = "lz4")]
        record::COMPRESSION_LZ4 => decompress_lz4(body, max).map(Bytes::from),
        other => Err(CompressionError::Unsupported(other)),
    }
}

#[cfg(feature = "lz4")]
fn decompress_lz4(body: &[u8], max: usize) -> Result<Vec<u8>, CompressionError> {
    let Some((prefix, data)) = body.split_first_chunk::<COMPRESSED_PREFIX_LEN>() else {
        return Err(CompressionError::Corrupt(format!(
            "compressed body of {} bytes is shorter than its length prefix",
            body.len()
        )));
    };
    let len = u32::from_be_bytes(*prefix) as usize;
    if len > max {
        return Err(CompressionError::TooLarge { len, max });
    }
    let mut out = vec![0u8; len];
    let n = lz4_flex::block::decompress_into(data, &mut out)
        .map_err(|e| CompressionError::Corrupt(format!("lz4: {e}")))?;
    if n != len {
        return Err(CompressionError::Corrupt(format!(
            "decompressed to {n} bytes, the prefix declares {len}"
        )));
    }
    Ok(out)
}

/// Replaces a decoded message's body by its original and clears the
/// compression bits of its flags, so applications never see compressed
/// bytes. `stored_size` keeps the size of the record as stored.
///
/// # Errors
/// As [`decompress`]; the message is unchanged then.
pub fn decompress_message(m: &mut StoredMessage, max: usize) -> Result<(), CompressionError> {
    if compression_of(m.flags) == record::COMPRESSION_NONE {
        return Ok(());
    }
    m.message.body = decompress(m.flags, &m.message.body, max)?;
    m.flags &= !record::COMPRESSION_MASK;
    Ok(())
}

#[cfg(all(test, feature = "lz4"))]
mod tests {
    use bytes::BytesMut;
    use proptest::prelude::*;

    use super::*;
    use crate::record::{BornInfo, COMPRESSION_LZ4, COMPRESSION_ZSTD};
    use crate::{Message, TopicName};

    fn text(n: usize) -> Vec<u8> {
        b"the quick brown fox jumps over the lazy dog; "
            .iter()
            .copied()
            .cycle()
            .take(n)
            .collect()
    }

    #[test]
    fn repetitive_text_round_trips_smaller() {
        let body = text(64 * 1024);
        let c = compress_lz4(&body).unwrap();
        assert!(c.len() < body.len() / 10, "{} bytes", c.len());
        let back = decompress(COMPRESSION_LZ4, &c, MAX_UNCOMPRESSED_BODY).unwrap();
        assert_eq!(&back[..], &body[..]);
    }

    #[test]
    fn incompressible_or_tiny_bodies_stay_as_they_are() {
        // xorshift64: no repeats for LZ4 to find.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(compress_lz4(&random).is_none());
        assert!(compress_lz4(b"abc").is_none());
        assert!(compress_lz4(b"").is_none());
    }

    #[test]
    fn uncompressed_body_is_shared_not_copied() {
        let b = Bytes::from_static(b"plain");
        let out = decompress(0, &b, 1).unwrap();
        assert_eq!(out.as_ptr(), b.as_ptr());
    }

    #[test]
    fn declared_length_over_the_limit_is_refused_before_allocating() {
        let mut c = BytesMut::from(&compress_lz4(&text(10_000)).unwrap()[..]);
        c[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        let e = decompress(COMPRESSION_LZ4, &c.freeze(), MAX_UNCOMPRESSED_BODY).unwrap_err();
        assert!(matches!(e, CompressionError::TooLarge { .. }), "{e}");
        let c = compress_lz4(&text(10_000)).unwrap();
        assert_eq!(
            decompress(COMPRESSION_LZ4, &c, 9_999),
            Err(CompressionError::TooLarge {
                len: 10_000,
                max: 9_999
            })
        );
    }

    #[test]
    fn wrong_declared_length_and_garbage_are_corrupt() {
        let c = compress_lz4(&text(10_000)).unwrap();
        for declared in [9_999u32, 10_001, 0] {
            let mut b = BytesMut::from(&c[..]);
            b[..4].copy_from_slice(&declared.to_be_bytes());
            let e = decompress(COMPRESSION_LZ4, &b.freeze(), MAX_UNCOMPRESSED_BODY).unwrap_err();
            assert!(matches!(e, CompressionError::Corrupt(_)), "{declared}: {e}");
        }
        assert!(matches!(
            decompress(COMPRESSION_LZ4, &Bytes::from_static(b"ab"), 100),
            Err(CompressionError::Corrupt(_))
        ));
        assert_eq!(
            decompress(COMPRESSION_ZSTD, &c, 100),
            Err(CompressionError::Unsupported(COMPRESSION_ZSTD))
        );
    }

    #[test]
    fn message_is_decompressed_in_place_and_flag_cleared() {
        let body = text(8192);
        let m = Message::new(TopicName::new("T").unwrap(), compress_lz4(&body).unwrap());
        let mut buf = BytesMut::new();
        let born = BornInfo {
            timestamp: 1,
            host: "127.0.0.1:0".parse().unwrap(),
            flags: COMPRESSION_LZ4 | 0x100,
            reconsume_times: 0,
        };
        record::encode(&m, born, 1 << 20, &mut buf).unwrap();
        let mut stored = record::decode(&buf.freeze()).unwrap();
        let size = stored.stored_size;
        decompress_message(&mut stored, MAX_UNCOMPRESSED_BODY).unwrap();
        assert_eq!(&stored.message.body[..], &body[..]);
        assert_eq!(stored.flags, 0x100, "only the compression bits cleared");
        assert_eq!(stored.stored_size, size);
        assert!((size as usize) < body.len());
    }

    proptest! {
        #[test]
        fn round_trip(body in proptest::collection::vec(0u8..4, 0..20_000)) {
            if let Some(c) = compress_lz4(&body) {
                prop_assert!(c.len() < body.len());
                let back = decompress(COMPRESSION_LZ4, &c, body.len()).unwrap();
                prop_assert_eq!(&back[..], &body[..]);
            }
        }

        #[test]
        fn garbage_never_panics(len in 0u32..100_000, data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut b = len.to_be_bytes().to_vec();
            b.extend_from_slice(&data);
            let _ = decompress(COMPRESSION_LZ4, &Bytes::from(b), 100_000);
            let _ = decompress(COMPRESSION_LZ4, &Bytes::from(data), 100_000);
        }

        #[test]
        fn flipped_bytes_never_panic(flip in 4usize..200, bit in 0u8..8) {
            let c = compress_lz4(&text(5000)).unwrap();
            let mut b = BytesMut::from(&c[..]);
            let i = flip % b.len();
            b[i] ^= 1 << bit;
            let _ = decompress(COMPRESSION_LZ4, &b.freeze(), MAX_UNCOMPRESSED_BODY);
        }
    }
}
