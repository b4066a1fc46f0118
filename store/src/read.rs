//! `MessageStore::read` and friends: consume-queue entries, then the
//! records they point at, each verified before it is served.

use std::sync::atomic::Ordering;

use ferromq_protocol::record;
use ferromq_protocol::{QueueId, QueueOffset, TopicName};

use super::consume_queue::{ConsumeQueue, CqEntry};
use super::error::StoreError;
use super::types::{ReadResult, ReadStatus, Records};
use super::MessageStore;

/// Most entries one read looks at, whatever the caller asks for.
const MAX_READ_ENTRIES: u64 = 8192;
/// Entries fetched from the consume queue per pread.
const ENTRY_CHUNK: u64 = 256;
/// Adjacent records are read with one pread up to this many bytes.
const MAX_COALESCED_READ: u64 = 4 << 20;

impl MessageStore {
    /// Reads up to `max_messages` records (and about `max_bytes`; at least
    /// one if there is any) of a queue from `offset`. Only visible entries
    /// are served. Records adjacent in the log (the usual case) come from
    /// one pread into one buffer; each returned `Bytes` is a slice of it.
    ///
    /// An offset below the queue's min (retention deleted what it pointed
    /// at, possibly while this read ran) is `OffsetTooSmall` with
    /// `next_offset` = min.
    ///
    /// # Errors
    /// `Io` reading files; `Corrupt` if a record fails verification or does
    /// not match its consume-queue entry (logged). If valid records precede
    /// the bad one they are returned first and the next read reports it.
    pub fn read(
        &self,
        topic: &TopicName,
        queue_id: QueueId,
        offset: QueueOffset,
        max_messages: u32,
        max_bytes: u32,
    ) -> Result<ReadResult, StoreError> {
        let Some(cq) = self.shared.cqs.get(topic.as_str(), queue_id) else {
            return Ok(result(ReadStatus::NoQueue, Records::default(), 0, 0, 0));
        };
        let at = offset.get();
        if let Some(early) = unreadable(&cq, at) {
            return Ok(early);
        }
        let (min, max) = (cq.min(), cq.max());
        let want = (max - at)
            .min(u64::from(max_messages.max(1)))
            .min(MAX_READ_ENTRIES);
        let entries = match entries_within(&cq, at, want, u64::from(max_bytes)) {
            Ok(e) => e,
            Err(e) => return moved_or(&cq, at, e),
        };
        let mut records = Records::with_capacity(entries.len());
        if let Err(e) = self.read_contiguous(&cq, at, &entries, &mut records) {
            if records.is_empty() {
                return moved_or(&cq, at, e);
            }
            tracing::warn!(error = %e, "returning the records before a corrupt one");
        }
        let next = at + records.len() as u64;
        Ok(result(ReadStatus::Found, records, next, min, max))
    }

    /// Like [`Self::read`], but only entries whose consume-queue tag hash
    /// `accept` takes are read from the log: a subscription to some tags
    /// skips the others without touching their records. `next_offset` is
    /// past every entry looked at, taken or skipped; `Found` may come with
    /// no records when nothing in the scanned range matched.
    ///
    /// # Errors
    /// As [`Self::read`].
    pub fn read_matching(
        &self,
        topic: &TopicName,
        queue_id: QueueId,
        offset: QueueOffset,
        max_messages: u32,
        max_bytes: u32,
        accept: &dyn Fn(u64) -> bool,
    ) -> Result<ReadResult, StoreError> {
        let Some(cq) = self.shared.cqs.get(topic.as_str(), queue_id) else {
            return Ok(result(ReadStatus::NoQueue, Records::default(), 0, 0, 0));
        };
        let at = offset.get();
        if let Some(early) = unreadable(&cq, at) {
            return Ok(early);
        }
        let (min, max) = (cq.min(), cq.max());
        let end = at + (max - at).min(MAX_READ_ENTRIES);
        let (max_messages, max_bytes) = (max_messages.max(1) as usize, u64::from(max_bytes));
        let mut picked: Vec<(u64, CqEntry)> = Vec::new();
        let mut bytes = 0u64;
        let mut pos = at;
        'scan: while pos < end {
            let chunk = match cq.read(pos, (end - pos).min(ENTRY_CHUNK)) {
                Ok(c) => c,
                Err(e) => return moved_or(&cq, at, e),
            };
            if chunk.is_empty() {
                break;
            }
            for (k, e) in chunk.iter().enumerate() {
                let q = pos + k as u64;
                if !accept(e.tag_hash) {
                    continue;
                }
                let full = picked.len() >= max_messages || bytes + u64::from(e.size) > max_bytes;
                if full && !picked.is_empty() {
                    // Not looked at yet as far as the caller knows.
                    pos = q;
                    break 'scan;
                }
                bytes += u64::from(e.size);
                picked.push((q, *e));
            }
            pos += chunk.len() as u64;
        }
        let mut records = Records::with_capacity(picked.len());
        let mut next = pos;
        let mut i = 0;
        // Runs of consecutive queue offsets share the adjacent-record read.
        while i < picked.len() {
            let mut j = i + 1;
            while j < picked.len() && picked[j].0 == picked[j - 1].0 + 1 {
                j += 1;
            }
            let run: Vec<CqEntry> = picked[i..j].iter().map(|(_, e)| *e).collect();
            let before = records.len();
            if let Err(e) = self.read_contiguous(&cq, picked[i].0, &run, &mut records) {
                if records.is_empty() {
                    return moved_or(&cq, at, e);
                }
                tracing::warn!(error = %e, "returning the records before a corrupt one");
                next = picked[i].0 + (records.len() - before) as u64;
                break;
            }
            i = j;
        }
        Ok(result(ReadStatus::Found, records, next, min, max))
    }

    /// Reads the records of `entries` (queue offsets from `first`) into
    /// `out`: one pread per run of records adjacent in the log (up to
    /// `MAX_COALESCED_READ` bytes, never across a segment), sliced without
    /// copying, each verified.
    pub(crate) fn read_contiguous(
        &self,
        cq: &ConsumeQueue,
        first: u64,
        entries: &[CqEntry],
        out: &mut Records,
    ) -> Result<(), StoreError> {
        let log = &self.shared.log;
        let mut i = 0;
        while i < entries.len() {
            let start = entries[i].offset;
            let base = log.segment_base(start);
            let mut j = i + 1;
            while j < entries.len()
                && entries[j].offset == entries[j - 1].end()
                && log.segment_base(entries[j].offset) == base
                && entries[j].end() - start <= MAX_COALESCED_READ
            {
                j += 1;
            }
            let run = log.read(start, (entries[j - 1].end() - start) as usize)?;
            self.shared.stats.read_calls.fetch_add(1, Ordering::Relaxed);
            let mut good = 0;
            let mut failed = None;
            for (k, e) in entries[i..j].iter().enumerate() {
                let from = (e.offset - start) as usize;
                let rec = &run[from..from + e.size as usize];
                if let Err(err) = verify(cq, first + (i + k) as u64, e, rec) {
                    failed = Some(err);
                    break;
                }
                good += 1;
            }
            // The verified records only; a run holds whole records.
            let verified = &entries[i..i + good];
            let len = verified.last().map_or(0, |e| (e.end() - start) as usize);
            out.push_run(run.slice(..len), verified.iter().map(|e| e.size));
            if let Some(err) = failed {
                return Err(err);
            }
            i = j;
        }
        Ok(())
    }

    /// Store timestamp of the last visible message in the queue, 0 if none.
    pub fn last_store_timestamp(&self, topic: &TopicName, queue_id: QueueId) -> u64 {
        let Some(cq) = self.shared.cqs.get(topic.as_str(), queue_id) else {
            return 0;
        };
        let ts = cq.last_timestamp();
        let max = cq.max();
        if ts != 0 || max == 0 || max <= cq.min() {
            return ts;
        }
        // Not seen since open: read the last record once and remember it.
        let found = cq.read(max - 1, 1).and_then(|e| {
            let e = e
                .first()
                .copied()
                .ok_or_else(|| StoreError::Corrupt("consume-queue entry vanished".into()))?;
            let rec = self.shared.log.read_probe(e.offset, e.size as usize)?;
            verify(&cq, max - 1, &e, &rec)?;
            let r = record::parse(&rec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(r.store_timestamp)
        });
        match found {
            Ok(ts) => {
                cq.note_timestamp(ts);
                ts
            }
            Err(e) => {
                tracing::warn!(%topic, %queue_id, error = %e, "cannot read the last message's timestamp");
                0
            }
        }
    }
}

/// The answer for an offset with nothing to read at it (below the queue's
/// min, at its end, or past it), or `None` if it can be read.
fn unreadable(cq: &ConsumeQueue, at: u64) -> Option<ReadResult> {
    let (min, max) = (cq.min(), cq.max());
    let (status, next) = if at < min {
        (ReadStatus::OffsetTooSmall, min)
    } else if at == max {
        (ReadStatus::NoNewMessage, at)
    } else if at > max {
        (ReadStatus::OffsetOverflow, max)
    } else {
        return None;
    };
    Some(result(status, Records::default(), next, min, max))
}

/// Up to `want` entries from `at`, as many as fit in `max_bytes` (at least
/// one).
fn entries_within(
    cq: &ConsumeQueue,
    at: u64,
    want: u64,
    max_bytes: u64,
) -> Result<Vec<CqEntry>, StoreError> {
    let mut out: Vec<CqEntry> = Vec::new();
    let mut bytes = 0u64;
    let mut pos = at;
    while pos < at + want {
        let chunk = cq.read(pos, (at + want - pos).min(ENTRY_CHUNK))?;
        if chunk.is_empty() {
            break;
        }
        for e in &chunk {
            bytes += u64::from(e.size);
            if bytes > max_bytes && !out.is_empty() {
                return Ok(out);
            }
            out.push(*e);
        }
        pos += chunk.len() as u64;
    }
    Ok(out)
}

/// A read that failed because retention moved the queue's min past it is
/// "offset too small", not an error.
fn moved_or(cq: &ConsumeQueue, at: u64, err: StoreError) -> Result<ReadResult, StoreError> {
    let min = cq.min();
    if at < min {
        return Ok(result(
            ReadStatus::OffsetTooSmall,
            Records::default(),
            min,
            min,
            cq.max(),
        ));
    }
    Err(err)
}

/// A record is served only if it verifies and is the one the entry names.
pub(crate) fn verify(
    cq: &ConsumeQueue,
    queue_offset: u64,
    e: &CqEntry,
    rec: &[u8],
) -> Result<(), StoreError> {
    let bad = |why: String| {
        let msg = format!(
            "record at commit-log offset {} for {}/{} queue offset {queue_offset}: {why}",
            e.offset,
            cq.topic(),
            cq.queue_id()
        );
        tracing::error!("{msg}");
        Err(StoreError::Corrupt(msg))
    };
    let r = match record::parse(rec) {
        Ok(r) => r,
        Err(err) => return bad(err.to_string()),
    };
    if r.size != e.size as usize
        || r.commit_log_offset.get() != e.offset
        || r.topic != cq.topic().as_str()
        || r.queue_id != cq.queue_id()
        || r.queue_offset.get() != queue_offset
    {
        return bad(format!(
            "it is {}/{} queue offset {} at {}",
            r.topic, r.queue_id, r.queue_offset, r.commit_log_offset
        ));
    }
    Ok(())
}

fn result(status: ReadStatus, records: Records, next: u64, min: u64, max: u64) -> ReadResult {
    ReadResult {
        status,
        records,
        next_offset: QueueOffset::new(next),
        min_offset: QueueOffset::new(min),
        max_offset: QueueOffset::new(max),
    }
}
