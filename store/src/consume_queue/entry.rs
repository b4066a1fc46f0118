//! One consume-queue entry: 20 bytes, big-endian
//! `commit-log offset u64 | record size u32 | tag hash u64`.
//! An all-zero entry is unwritten space (a record is never 0 bytes long).

/// Size of one consume-queue entry.
pub(crate) const CQ_ENTRY_LEN: u64 = 20;

const LEN: usize = CQ_ENTRY_LEN as usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CqEntry {
    pub(crate) offset: u64,
    pub(crate) size: u32,
    pub(crate) tag_hash: u64,
}

impl CqEntry {
    pub(crate) fn end(&self) -> u64 {
        self.offset + u64::from(self.size)
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.tag_hash.to_be_bytes());
    }

    /// Decodes the entry at the front of `b` (at least 20 bytes).
    pub(crate) fn decode(b: &[u8]) -> Option<Self> {
        let b: &[u8; LEN] = b.get(..LEN)?.try_into().ok()?;
        let mut o = [0u8; 8];
        o.copy_from_slice(&b[..8]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[12..20]);
        Some(Self {
            offset: u64::from_be_bytes(o),
            size: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            tag_hash: u64::from_be_bytes(t),
        })
    }

    /// Decodes a buffer of back-to-back entries.
    pub(crate) fn decode_all(b: &[u8]) -> Vec<Self> {
        b.chunks_exact(LEN).filter_map(Self::decode).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let e = CqEntry {
            offset: 0x0102_0304_0506_0708,
            size: 300,
            tag_hash: u64::MAX - 1,
        };
        let mut b = Vec::new();
        e.encode_into(&mut b);
        assert_eq!(b.len(), LEN);
        assert_eq!(CqEntry::decode(&b), Some(e));
        assert_eq!(CqEntry::decode(&b[..19]), None);
        assert_eq!(e.end(), 0x0102_0304_0506_0708 + 300);
    }
}
