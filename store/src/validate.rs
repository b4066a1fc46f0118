//! Checks a producer's batch before anything is queued: every record must
//! verify, belong to the topic, respect the body and batch limits, and the
//! count must match. Runs on the caller's task so CRC work (and the hashing
//! of index keys) is spread over the runtime instead of serialised in the
//! writer or dispatcher.

use ferromq_protocol::record::{self, MIN_RECORD_LEN};
use ferromq_protocol::TopicName;

use super::commit_log::EOS_MARKER_LEN;
use super::error::AppendError;
use super::index::hash::TopicHasher;

/// What the writer and dispatcher need per record, so they never re-parse.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordMeta {
    pub(crate) size: u32,
    pub(crate) tag_hash: u64,
    /// How many of the batch's `key_hashes` belong to this record (they
    /// follow those of the records before it).
    pub(crate) keys: u32,
}

/// A checked batch.
#[derive(Debug, Default)]
pub(crate) struct Validated {
    pub(crate) metas: Vec<RecordMeta>,
    /// Index hashes of all records, in record order.
    pub(crate) key_hashes: Vec<u32>,
}

/// The limits a batch is checked against.
pub(crate) struct Limits {
    pub(crate) max_body: usize,
    pub(crate) max_batch: usize,
    pub(crate) segment_size: u64,
}

pub(crate) fn validate(
    topic: &TopicName,
    records: &[u8],
    count: u32,
    limits: &Limits,
) -> Result<Validated, AppendError> {
    let invalid = |m: String| Err(AppendError::Invalid(m));
    if count == 0 || records.is_empty() {
        return invalid("empty batch".into());
    }
    // A single record is bounded by the body limit alone, so a message of
    // the maximum size is never refused as a "batch".
    if count > 1 && records.len() > limits.max_batch {
        return invalid(format!(
            "batch of {} bytes exceeds the maximum batch size of {} bytes; send fewer messages per batch",
            records.len(),
            limits.max_batch
        ));
    }
    if records.len() as u64 + EOS_MARKER_LEN > limits.segment_size {
        return invalid(format!(
            "batch of {} bytes does not fit in a commit-log segment of {} bytes",
            records.len(),
            limits.segment_size
        ));
    }
    // `count` comes from the wire: never let it size an allocation alone.
    let cap = (count as usize).min(records.len() / MIN_RECORD_LEN + 1);
    let mut out = Validated {
        metas: Vec::with_capacity(cap),
        key_hashes: Vec::new(),
    };
    let hasher = TopicHasher::new(topic.as_str());
    let mut pos = 0;
    while pos < records.len() {
        let i = out.metas.len();
        if i >= count as usize {
            return invalid(format!(
                "batch holds more than the {count} records announced"
            ));
        }
        let rec = match record::parse(&records[pos..]) {
            Ok(r) => r,
            Err(e) => return invalid(format!("record {i} (byte {pos}): {e}")),
        };
        if rec.topic != topic.as_str() {
            return invalid(format!(
                "record {i} is for topic {:?}, not {topic:?}",
                rec.topic
            ));
        }
        if rec.body().len() > limits.max_body {
            return invalid(format!(
                "record {i}: body of {} bytes exceeds the maximum of {}",
                rec.body().len(),
                limits.max_body
            ));
        }
        let keys = hasher.record(&rec, &mut out.key_hashes);
        out.metas.push(RecordMeta {
            size: rec.size as u32,
            tag_hash: rec.tag_hash(),
            keys,
        });
        pos += rec.size;
    }
    if out.metas.len() != count as usize {
        return invalid(format!(
            "batch holds {} records, {count} announced",
            out.metas.len()
        ));
    }
    Ok(out)
}
