//! The index file layout, big-endian:
//!
//! ```text
//! header (64 bytes):
//!    0 u32 magic "FMQI" | 4 u32 version (1) | 8 u32 slots | 12 u32 entries
//!   16 u64 begin store time (ms) | 24 u64 begin commit-log offset
//!   32 u32 state (0 dirty, 1 clean) | 36 u32 next entry (valid when clean)
//!   40..60 zero | 60 u32 CRC32C of bytes 0..60
//! slots: `slots` x u32, the newest entry whose hash maps there (0 = none)
//! entries: `entries` x 20 bytes: u32 key hash | u64 commit-log offset
//!          | u32 store time, seconds after begin | u32 previous entry
//! ```
//!
//! Entry 0 is never used, so 0 means "none".

use crate::error::Damage;

pub(crate) const HEADER_LEN: u64 = 64;
pub(crate) const ENTRY_LEN: u64 = 20;
pub(crate) const SLOT_LEN: u64 = 4;
const MAGIC: u32 = 0x464D_5149;
const VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) slots: u32,
    pub(crate) entries: u32,
    pub(crate) begin_ts: u64,
    pub(crate) begin_phy: u64,
    pub(crate) clean: bool,
    pub(crate) next: u32,
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&VERSION.to_be_bytes());
        b[8..12].copy_from_slice(&self.slots.to_be_bytes());
        b[12..16].copy_from_slice(&self.entries.to_be_bytes());
        b[16..24].copy_from_slice(&self.begin_ts.to_be_bytes());
        b[24..32].copy_from_slice(&self.begin_phy.to_be_bytes());
        b[32..36].copy_from_slice(&u32::from(self.clean).to_be_bytes());
        b[36..40].copy_from_slice(&self.next.to_be_bytes());
        let crc = ferromq_protocol::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_be_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8; HEADER_LEN as usize]) -> Result<Self, Damage> {
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
        if ferromq_protocol::crc32c(&b[..60]) != u32_at(60) {
            return Err(Damage::ChecksumMismatch);
        }
        if u32_at(0) != MAGIC {
            return Err(Damage::BadMagic(u32_at(0)));
        }
        if u32_at(4) != VERSION {
            return Err(Damage::UnsupportedVersion(u32_at(4)));
        }
        Ok(Self {
            slots: u32_at(8),
            entries: u32_at(12),
            begin_ts: u64_at(16),
            begin_phy: u64_at(24),
            clean: u32_at(32) == 1,
            next: u32_at(36),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) hash: u32,
    pub(crate) phys: u64,
    pub(crate) delta_s: u32,
    pub(crate) prev: u32,
}

impl Entry {
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.hash.to_be_bytes());
        out.extend_from_slice(&self.phys.to_be_bytes());
        out.extend_from_slice(&self.delta_s.to_be_bytes());
        out.extend_from_slice(&self.prev.to_be_bytes());
    }

    pub(crate) fn decode(b: &[u8]) -> Self {
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Self {
            hash: u32_at(0),
            phys: (u64::from(u32_at(4)) << 32) | u64::from(u32_at(8)),
            delta_s: u32_at(12),
            prev: u32_at(16),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_detects_damage() {
        let h = Header {
            slots: 8,
            entries: 32,
            begin_ts: 1_700_000_000_000,
            begin_phy: 4096,
            clean: true,
            next: 17,
        };
        let b = h.encode();
        assert_eq!(Header::decode(&b), Ok(h));
        for i in 0..64 {
            let mut d = b;
            d[i] ^= 0x08;
            assert!(Header::decode(&d).is_err(), "flip at {i}");
        }
        let mut d = b;
        d[4..8].copy_from_slice(&2u32.to_be_bytes());
        let crc = ferromq_protocol::crc32c(&d[..60]);
        d[60..64].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(Header::decode(&d), Err(Damage::UnsupportedVersion(2)));
    }
}
