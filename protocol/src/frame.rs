//! Frames: the unit of every exchange on a connection (layout in the crate
//! docs). [`FrameCodec`] checks the length prefix against its limit before it
//! buffers anything and tells "need more bytes" (`Ok(None)`) from "invalid"
//! (`Err`).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::FrameError;
use crate::limits::{DEFAULT_MAX_FRAME_LEN, FRAME_FIXED_LEN, MAX_HEADER_LEN, PROTOCOL_VERSION};

const FLAG_RESPONSE: u8 = 0b01;
const FLAG_ONEWAY: u8 = 0b10;

/// Which way a frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A request that expects a response.
    Request,
    /// A request that expects no response.
    Oneway,
    /// The answer to a request.
    Response,
}

/// One decoded frame. `code` is a request code on requests and a response
/// code on responses; it is kept raw so an unknown code can be answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Request, oneway request or response.
    pub kind: FrameKind,
    /// Raw request or response code.
    pub code: u16,
    /// Pairs a response with its request.
    pub request_id: u64,
    /// Postcard-encoded header.
    pub header: Bytes,
    /// Raw body.
    pub body: Bytes,
}

impl Frame {
    /// Number of bytes [`FrameCodec::encode`] writes for this frame,
    /// including the length prefix.
    pub fn encoded_len(&self) -> usize {
        4 + FRAME_FIXED_LEN + self.header.len() + self.body.len()
    }
}

/// Most room [`FrameCodec::decode`] reserves past an incomplete frame for
/// the frames behind it (Netty's adaptive receive buffers stop at the same
/// size): bounds what a connection keeps after a burst of large frames.
const READ_AHEAD_MAX: usize = 64 << 10;

/// Splits a byte stream into frames and writes frames into one.
#[derive(Clone, Debug)]
pub struct FrameCodec {
    max_frame_len: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameCodec {
    /// A codec that rejects frames longer than `max_frame_len` bytes
    /// (everything after the length prefix).
    pub fn new(max_frame_len: usize) -> Self {
        Self { max_frame_len }
    }

    /// The configured maximum frame length.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Takes one whole frame off the front of `src`.
    ///
    /// Returns `Ok(None)` when `src` does not hold a whole frame yet (and
    /// reserves room for it, bounded by the limit, and for at most
    /// 64 KiB of the frames behind it).
    ///
    /// # Errors
    /// A [`FrameError`] when the stream is invalid; the caller should close
    /// the connection, since frame boundaries are lost.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max_frame_len {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        if len < FRAME_FIXED_LEN {
            return Err(FrameError::Truncated("frame shorter than its fixed header"));
        }
        if src.len() < 4 + len {
            // Room for the rest of this frame and for some of the frames
            // behind it, so one read can take several: a sender with many
            // requests in flight has them queued on the socket.
            let behind = (2 * len).min(READ_AHEAD_MAX);
            src.reserve(4 + len - src.len() + behind);
            return Ok(None);
        }
        src.advance(4);
        let frame = src.split_to(len).freeze();
        Self::parse(frame).map(Some)
    }

    fn parse(mut buf: Bytes) -> Result<Frame, FrameError> {
        let version = buf.get_u8();
        if version != PROTOCOL_VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        let flags = buf.get_u8();
        let kind = match flags {
            0 => FrameKind::Request,
            FLAG_ONEWAY => FrameKind::Oneway,
            FLAG_RESPONSE => FrameKind::Response,
            other => return Err(FrameError::InvalidFlags(other)),
        };
        let code = buf.get_u16();
        let request_id = buf.get_u64();
        let header_len = buf.get_u32() as usize;
        if header_len > MAX_HEADER_LEN {
            return Err(FrameError::HeaderTooLarge {
                len: header_len,
                max: MAX_HEADER_LEN,
            });
        }
        if header_len > buf.len() {
            return Err(FrameError::Truncated("header longer than the frame"));
        }
        let header = buf.split_to(header_len);
        Ok(Frame {
            kind,
            code,
            request_id,
            header,
            body: buf,
        })
    }

    /// Appends `frame` to `dst`.
    ///
    /// # Errors
    /// [`FrameError::TooLarge`] or [`FrameError::HeaderTooLarge`] if the frame
    /// would break the limits the peer enforces; nothing is written then.
    pub fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        dst.reserve(frame.encoded_len());
        self.encode_head(frame, dst)?;
        dst.put_slice(&frame.body);
        Ok(())
    }

    /// Appends everything of `frame` but its body to `dst`: what goes on
    /// the wire right before `frame.body`, for a writer that sends the body
    /// from where it is instead of copying it.
    ///
    /// # Errors
    /// As [`FrameCodec::encode`]; nothing is written then.
    pub fn encode_head(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        if frame.header.len() > MAX_HEADER_LEN {
            return Err(FrameError::HeaderTooLarge {
                len: frame.header.len(),
                max: MAX_HEADER_LEN,
            });
        }
        let len = FRAME_FIXED_LEN + frame.header.len() + frame.body.len();
        if len > self.max_frame_len {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        let flags = match frame.kind {
            FrameKind::Request => 0,
            FrameKind::Oneway => FLAG_ONEWAY,
            FrameKind::Response => FLAG_RESPONSE,
        };
        dst.reserve(4 + FRAME_FIXED_LEN + frame.header.len());
        // Both lengths are bounded by limits far below u32::MAX.
        dst.put_u32(len as u32);
        dst.put_u8(PROTOCOL_VERSION);
        dst.put_u8(flags);
        dst.put_u16(frame.code);
        dst.put_u64(frame.request_id);
        dst.put_u32(frame.header.len() as u32);
        dst.put_slice(&frame.header);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Frame {
        Frame {
            kind: FrameKind::Request,
            code: 10,
            request_id: 42,
            header: Bytes::from_static(b"hdr"),
            body: Bytes::from_static(b"body"),
        }
    }

    fn encoded(f: &Frame) -> BytesMut {
        let mut b = BytesMut::new();
        FrameCodec::default().encode(f, &mut b).unwrap();
        b
    }

    #[test]
    fn truncated_frames_wait_for_more() {
        let full = encoded(&sample());
        for cut in 0..full.len() {
            let mut part = BytesMut::from(&full[..cut]);
            assert!(
                matches!(FrameCodec::default().decode(&mut part), Ok(None)),
                "cut {cut}"
            );
        }
        let mut whole = full.clone();
        assert_eq!(
            FrameCodec::default().decode(&mut whole).unwrap(),
            Some(sample())
        );
        assert!(whole.is_empty());
    }

    #[test]
    fn an_incomplete_frame_leaves_room_for_the_frames_behind_it() {
        let mut frame = sample();
        frame.body = Bytes::from(vec![7u8; 40_000]);
        let full = encoded(&frame);
        let len = full.len() - 4;
        let mut part = BytesMut::from(&full[..1000]);
        assert!(FrameCodec::default().decode(&mut part).unwrap().is_none());
        assert!(
            part.capacity() >= full.len() + (2 * len).min(READ_AHEAD_MAX),
            "{}",
            part.capacity()
        );
        // Two frames arriving in one read come out one after the other.
        part.extend_from_slice(&full[1000..]);
        part.extend_from_slice(&full);
        let mut codec = FrameCodec::default();
        assert_eq!(codec.decode(&mut part).unwrap(), Some(frame.clone()));
        assert_eq!(codec.decode(&mut part).unwrap(), Some(frame));
        assert!(part.is_empty());
        // What is reserved past the frame is bounded.
        let mut big = BytesMut::from(&(8u32 << 20).to_be_bytes()[..]);
        assert!(FrameCodec::new(16 << 20)
            .decode(&mut big)
            .unwrap()
            .is_none());
        assert!(big.capacity() <= (8 << 20) + 4 + READ_AHEAD_MAX + 4096);
    }

    #[test]
    fn oversized_length_is_rejected_before_buffering() {
        let mut b = BytesMut::from(&[0xFF, 0xFF, 0xFF, 0xF0][..]);
        let err = FrameCodec::new(1024).decode(&mut b).unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                len: 0xFFFF_FFF0,
                max: 1024
            }
        ));
        assert!(b.capacity() < 1024);
    }

    #[test]
    fn length_below_fixed_header_is_an_error() {
        let mut b = BytesMut::from(&[0, 0, 0, 3, 1, 0, 0][..]);
        assert!(matches!(
            FrameCodec::default().decode(&mut b),
            Err(FrameError::Truncated(_))
        ));
    }

    #[test]
    fn header_length_beyond_frame_is_an_error() {
        let mut b = encoded(&sample());
        // header length field sits at offset 4 + 12
        b[16..20].copy_from_slice(&1000u32.to_be_bytes());
        assert!(matches!(
            FrameCodec::default().decode(&mut b),
            Err(FrameError::Truncated(_))
        ));
        let mut b = encoded(&sample());
        b[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            FrameCodec::default().decode(&mut b),
            Err(FrameError::HeaderTooLarge { .. })
        ));
    }

    #[test]
    fn bad_version_and_flags_are_errors() {
        let mut b = encoded(&sample());
        b[4] = 9;
        assert!(matches!(
            FrameCodec::default().decode(&mut b),
            Err(FrameError::UnsupportedVersion(9))
        ));
        let mut b = encoded(&sample());
        b[5] = 0x80;
        assert!(matches!(
            FrameCodec::default().decode(&mut b),
            Err(FrameError::InvalidFlags(0x80))
        ));
    }

    #[test]
    fn encode_refuses_what_the_peer_would_reject() {
        let mut f = sample();
        f.body = Bytes::from(vec![0u8; 2048]);
        let mut b = BytesMut::new();
        assert!(matches!(
            FrameCodec::new(1024).encode(&f, &mut b),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(b.is_empty());
    }

    proptest! {
        #[test]
        fn round_trip(kind in 0u8..3, code in any::<u16>(), id in any::<u64>(),
                      header in proptest::collection::vec(any::<u8>(), 0..300),
                      body in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let kind = [FrameKind::Request, FrameKind::Oneway, FrameKind::Response][kind as usize];
            let f = Frame { kind, code, request_id: id, header: header.into(), body: body.into() };
            let mut b = encoded(&f);
            b.extend_from_slice(&encoded(&f));
            let mut c = FrameCodec::default();
            prop_assert_eq!(c.decode(&mut b).unwrap(), Some(f.clone()));
            prop_assert_eq!(c.decode(&mut b).unwrap(), Some(f));
            prop_assert!(b.is_empty());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut b = BytesMut::from(&bytes[..]);
            let mut c = FrameCodec::new(4096);
            while let Ok(Some(_)) = c.decode(&mut b) {}
        }
    }
}
