//! Message bodies. Random bytes, so that a broker or client that compresses
//! bodies cannot make the benchmark look better than real data would. The
//! e2e run puts a stamp at the front of each body: which run sent it and when
//! it was due, as µs since an `Instant` both sides of the process share
//! (monotonic, unlike wall-clock timestamps).

use bytes::{BufMut, Bytes, BytesMut};
use rand::RngCore;

/// Bytes the e2e stamp takes: run id, sequence, due time (3 × u64).
pub const STAMP_LEN: usize = 24;

/// A random body of `size` bytes, shared by all sends (cloning `Bytes` is a
/// reference count, so the hot path does not copy or allocate it).
pub fn random_body(size: usize) -> Bytes {
    let mut v = vec![0u8; size];
    rand::rng().fill_bytes(&mut v);
    Bytes::from(v)
}

/// The stamp of an e2e message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub run: u64,
    pub seq: u64,
    /// When the send was due, in µs after the run's origin `Instant`.
    pub due_us: u64,
}

impl Stamp {
    /// `filler` with its first [`STAMP_LEN`] bytes replaced by the stamp.
    pub fn body(&self, filler: &Bytes) -> Bytes {
        let mut b = BytesMut::with_capacity(filler.len().max(STAMP_LEN));
        b.put_u64_le(self.run);
        b.put_u64_le(self.seq);
        b.put_u64_le(self.due_us);
        if filler.len() > STAMP_LEN {
            b.put_slice(&filler[STAMP_LEN..]);
        }
        b.freeze()
    }

    /// The stamp at the front of `body`, if it is long enough.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let word = |i: usize| {
            let bytes: [u8; 8] = body.get(i * 8..i * 8 + 8)?.try_into().ok()?;
            Some(u64::from_le_bytes(bytes))
        };
        Some(Self {
            run: word(0)?,
            seq: word(1)?,
            due_us: word(2)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_and_keeps_the_size() {
        let filler = random_body(100);
        let s = Stamp {
            run: 0xdead_beef,
            seq: 42,
            due_us: 1_234_567,
        };
        let b = s.body(&filler);
        assert_eq!(b.len(), 100);
        assert_eq!(&b[STAMP_LEN..], &filler[STAMP_LEN..]);
        assert_eq!(Stamp::parse(&b), Some(s));
        assert_eq!(Stamp::parse(&b[..20]), None);
    }

    #[test]
    fn bodies_are_random() {
        let (a, b) = (random_body(64), random_body(64));
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
