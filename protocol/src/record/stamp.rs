//! Changing a record in place: the broker's store fields and the CRC.

use std::net::SocketAddr;

use super::{
    be32, host_bytes, HOST_LEN, OFF_CRC, OFF_PHYS_OFFSET, OFF_QUEUE_ID, OFF_QUEUE_OFFSET,
    OFF_RECONSUME, OFF_STORE_HOST, OFF_STORE_TS,
};
use crate::ids::{CommitLogOffset, QueueId, QueueOffset};

/// Fields the broker stamps when it appends a record.
#[derive(Clone, Copy, Debug)]
pub struct StoreStamp {
    /// Queue the record goes to.
    pub queue_id: QueueId,
    /// Its position in that queue.
    pub queue_offset: QueueOffset,
    /// Its position in the commit log.
    pub commit_log_offset: CommitLogOffset,
    /// Store time, ms since the epoch.
    pub timestamp: u64,
    /// The broker's address.
    pub host: SocketAddr,
}

/// Recomputes the CRC of a whole record in place.
pub fn seal(record: &mut [u8]) {
    let crc = crate::crc32c(&record[OFF_CRC + 4..]);
    record[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Writes the broker's store fields into a checked record and updates its
/// CRC for the changed bytes only (see `crc_update`): no pass over the
/// body, and a record whose CRC was wrong before stays wrong.
pub fn stamp(record: &mut [u8], s: &StoreStamp) {
    const FROM: usize = OFF_CRC + 4;
    let mut before = [0u8; OFF_RECONSUME - FROM];
    before.copy_from_slice(&record[FROM..OFF_RECONSUME]);
    record[OFF_QUEUE_ID..OFF_QUEUE_ID + 4].copy_from_slice(&s.queue_id.get().to_be_bytes());
    record[OFF_QUEUE_OFFSET..OFF_QUEUE_OFFSET + 8]
        .copy_from_slice(&s.queue_offset.get().to_be_bytes());
    record[OFF_PHYS_OFFSET..OFF_PHYS_OFFSET + 8]
        .copy_from_slice(&s.commit_log_offset.get().to_be_bytes());
    record[OFF_STORE_TS..OFF_STORE_TS + 8].copy_from_slice(&s.timestamp.to_be_bytes());
    record[OFF_STORE_HOST..OFF_STORE_HOST + HOST_LEN].copy_from_slice(&host_bytes(s.host));
    let crc = be32(&record[OFF_CRC..]);
    let crc = crate::crc_update::update(
        crc,
        record.len() - FROM,
        0,
        &before,
        &record[FROM..OFF_RECONSUME],
    );
    record[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::fixtures::{born, encoded, sample};
    use crate::record::{decode, parse, OFF_BORN_TS, RECORD_FIXED_LEN};

    #[test]
    fn stamp_then_decode() {
        let mut b = encoded(&sample());
        let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        stamp(
            &mut b,
            &StoreStamp {
                queue_id: QueueId::new(3),
                queue_offset: QueueOffset::new(77),
                commit_log_offset: CommitLogOffset::new(4096),
                timestamp: 1_700_000_000_123,
                host,
            },
        );
        let m = decode(&b.freeze()).unwrap();
        assert_eq!(m.message, sample());
        assert_eq!(m.queue_id, QueueId::new(3));
        assert_eq!(m.queue_offset, QueueOffset::new(77));
        assert_eq!(m.commit_log_offset, CommitLogOffset::new(4096));
        assert_eq!(m.store_host, host);
        assert_eq!(m.born_host, born().host);
        assert_eq!(m.msg_id().to_string().len(), 32);
    }

    /// Stamping updates the CRC exactly as a full reseal would, twice in a
    /// row too (a record stamped again on a send-back), and a record that
    /// was corrupt before stamping is still caught after.
    #[test]
    fn stamping_keeps_good_records_good_and_bad_ones_bad() {
        let s = |q: u64| StoreStamp {
            queue_id: QueueId::new(5),
            queue_offset: QueueOffset::new(q),
            commit_log_offset: CommitLogOffset::new(q.wrapping_mul(1000) + 7),
            timestamp: 1_700_000_000_000 + q,
            host: "[2001:db8::1]:10911".parse().unwrap(),
        };
        let mut b = encoded(&sample());
        for q in [1, u64::MAX / 3] {
            stamp(&mut b, &s(q));
            let mut resealed = b.clone();
            seal(&mut resealed);
            assert_eq!(b, resealed, "stamp {q}");
            assert!(parse(&b).is_ok());
        }
        let good = encoded(&sample());
        for i in [RECORD_FIXED_LEN + 3, good.len() - 1, OFF_BORN_TS] {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            stamp(&mut bad, &s(9));
            assert!(parse(&bad).is_err(), "corruption at {i} laundered by stamp");
        }
    }
}
