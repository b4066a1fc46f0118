//! Lookups beside the queue read path: a record by commit-log offset (the
//! offset message id), by key or unique id through the index, and a queue
//! offset by store time.

use std::collections::HashSet;

use bytes::Bytes;
use ferromq_protocol::record::{self, raw, Peek, MIN_RECORD_LEN, RECORD_FIXED_LEN};
use ferromq_protocol::{CommitLogOffset, QueueId, QueueOffset, TopicName};

use super::consume_queue::ConsumeQueue;
use super::error::StoreError;
use super::index::hash::{has_key, has_unique_id, key_hash};
use super::MessageStore;

/// Bytes read at an offset before the record's size is known: most
/// records fit, so most lookups are one pread.
const PROBE_LEN: u64 = 4096;

impl MessageStore {
    /// The whole record starting exactly at `offset`, verified. `None` if
    /// the offset is below the log's start (retention), past what is
    /// visible, or not the start of a record.
    ///
    /// # Errors
    /// I/O errors reading the segment.
    pub fn read_at(&self, offset: CommitLogOffset) -> Result<Option<Bytes>, StoreError> {
        let s = &self.shared;
        let at = offset.get();
        let seg_end = s.log.segment_base(at).saturating_add(s.log.segment_size());
        let limit = s.visible().min(seg_end);
        if at < s.log.min_offset() || at.saturating_add(MIN_RECORD_LEN as u64) > limit {
            return Ok(None);
        }
        let head = match s.log.read_probe(at, (limit - at).min(PROBE_LEN) as usize) {
            Ok(b) => b,
            // Retention deleted the segment between the check and the read.
            Err(_) if at < s.log.min_offset() => return Ok(None),
            Err(e) => return Err(e),
        };
        let size = match record::peek(&head) {
            Peek::Record(n) if n >= MIN_RECORD_LEN && at + n as u64 <= limit => n,
            _ => return Ok(None),
        };
        let rec = if size <= head.len() {
            head.slice(..size)
        } else {
            s.log.read_probe(at, size)?
        };
        match record::parse(&rec) {
            Ok(r) if r.commit_log_offset.get() == at && r.size == size => Ok(Some(rec)),
            Ok(_) => Ok(None),
            Err(e) => {
                tracing::debug!(offset = at, error = %e, "no valid record at this offset");
                Ok(None)
            }
        }
    }

    /// Records of `topic` having `key` among their keys, stored within
    /// `[begin_ms, end_ms]`, newest first, at most `max`.
    ///
    /// # Errors
    /// I/O errors reading the index or the log.
    pub fn query_by_key(
        &self,
        topic: &TopicName,
        key: &str,
        max: usize,
        begin_ms: u64,
        end_ms: u64,
    ) -> Result<Vec<Bytes>, StoreError> {
        self.lookup(topic, key, max, (begin_ms, end_ms), |r| has_key(r, key))
    }

    /// The record of `topic` whose unique id (`UNIQ_KEY` property) is
    /// `unique_id`; the newest if a retried send stored it twice.
    ///
    /// # Errors
    /// I/O errors reading the index or the log.
    pub fn query_by_unique_id(
        &self,
        topic: &TopicName,
        unique_id: &str,
    ) -> Result<Option<Bytes>, StoreError> {
        let found = self.lookup(topic, unique_id, 1, (0, u64::MAX), |r| {
            has_unique_id(r, unique_id)
        })?;
        Ok(found.into_iter().next())
    }

    /// Walks the index for `topic#key` and keeps the records that really
    /// match (hashes collide; the record decides).
    fn lookup(
        &self,
        topic: &TopicName,
        key: &str,
        max: usize,
        (begin, end): (u64, u64),
        matches: impl Fn(&record::RecordRef<'_>) -> bool,
    ) -> Result<Vec<Bytes>, StoreError> {
        let mut out = Vec::new();
        if max == 0 || key.is_empty() || begin > end {
            return Ok(out);
        }
        let mut seen = HashSet::new();
        let log_min = self.shared.log.min_offset();
        let hash = key_hash(topic.as_str(), key);
        self.shared
            .index
            .lookup(hash, begin, end, log_min, |phys| {
                if !seen.insert(phys) {
                    return Ok(true);
                }
                let Some(rec) = self.read_at(CommitLogOffset::new(phys))? else {
                    return Ok(true);
                };
                let keep = record::parse(&rec).is_ok_and(|r| {
                    r.topic == topic.as_str()
                        && (begin..=end).contains(&r.store_timestamp)
                        && matches(&r)
                });
                if keep {
                    out.push(rec);
                }
                Ok(out.len() < max)
            })?;
        Ok(out)
    }

    /// The first queue offset whose message was stored at or after
    /// `timestamp_ms` (binary search over the queue, reading store times
    /// from the log): the min offset if everything is newer, the max offset
    /// if nothing is; 0 for an unknown queue.
    pub fn offset_by_timestamp(
        &self,
        topic: &TopicName,
        queue_id: QueueId,
        timestamp_ms: u64,
    ) -> QueueOffset {
        let Some(cq) = self.shared.cqs.get(topic.as_str(), queue_id) else {
            return QueueOffset::new(0);
        };
        let (mut lo, mut hi) = (cq.min(), cq.max());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.store_time(&cq, mid) {
                Ok(ts) if ts >= timestamp_ms => hi = mid,
                Ok(_) => lo = mid + 1,
                Err(e) => {
                    tracing::warn!(%topic, %queue_id, queue_offset = mid, error = %e, "offset by timestamp: unreadable entry");
                    return QueueOffset::new(cq.min());
                }
            }
        }
        QueueOffset::new(lo)
    }

    /// Store time of the message at queue offset `q`. Reads the fixed
    /// header only (a search probes ~30 messages, which may be large),
    /// checked against the consume-queue entry instead of by CRC.
    fn store_time(&self, cq: &ConsumeQueue, q: u64) -> Result<u64, StoreError> {
        let e = cq
            .read(q, 1)?
            .first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt(format!("no entry at queue offset {q}")))?;
        let len = RECORD_FIXED_LEN.min(e.size as usize);
        let head = self.shared.log.read_probe(e.offset, len)?;
        let stamped = (
            record::peek(&head),
            raw::commit_log_offset(&head),
            raw::store_timestamp(&head),
        );
        match stamped {
            (Peek::Record(n), Some(phys), Some(ts)) if n == e.size as usize && phys == e.offset => {
                Ok(ts)
            }
            _ => Err(StoreError::Corrupt(format!(
                "record at commit-log offset {} does not match its consume-queue entry",
                e.offset
            ))),
        }
    }

    /// First commit-log offset still stored (moves up with retention).
    pub fn commit_log_min_offset(&self) -> CommitLogOffset {
        CommitLogOffset::new(self.shared.log.min_offset())
    }

    /// Used fraction (0.0 to 1.0) of the file system holding the store;
    /// 0.0 if it cannot be measured (logged).
    pub fn disk_usage(&self) -> f64 {
        match self.shared.retention.disk.usage() {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "cannot measure disk usage");
                0.0
            }
        }
    }
}
