//! Checks a producer's batch before anything is queued: every record must
//! verify, belong to the topic, respect the body limit, and the count must
//! match. Runs on the caller's task so CRC work is spread over the runtime
//! instead of serialised in the writer.

use ferromq_protocol::record::{self, MIN_RECORD_LEN};
use ferromq_protocol::TopicName;

use super::commit_log::EOS_MARKER_LEN;
use super::error::AppendError;

/// What the writer and dispatcher need per record, so they never re-parse.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordMeta {
    pub(crate) size: u32,
    pub(crate) tag_hash: u64,
}

pub(crate) fn validate(
    topic: &TopicName,
    records: &[u8],
    count: u32,
    max_body: usize,
    segment_size: u64,
) -> Result<Vec<RecordMeta>, AppendError> {
    let invalid = |m: String| Err(AppendError::Invalid(m));
    if count == 0 || records.is_empty() {
        return invalid("empty batch".into());
    }
    if records.len() as u64 + EOS_MARKER_LEN > segment_size {
        return invalid(format!(
            "batch of {} bytes does not fit in a commit-log segment of {segment_size} bytes",
            records.len()
        ));
    }
    // `count` comes from the wire: never let it size an allocation alone.
    let cap = (count as usize).min(records.len() / MIN_RECORD_LEN + 1);
    let mut metas = Vec::with_capacity(cap);
    let mut pos = 0;
    while pos < records.len() {
        let i = metas.len();
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
        if rec.body().len() > max_body {
            return invalid(format!(
                "record {i}: body of {} bytes exceeds the maximum of {max_body}",
                rec.body().len()
            ));
        }
        metas.push(RecordMeta {
            size: rec.size as u32,
            tag_hash: rec.tag_hash(),
        });
        pos += rec.size;
    }
    if metas.len() != count as usize {
        return invalid(format!(
            "batch holds {} records, {count} announced",
            metas.len()
        ));
    }
    Ok(metas)
}
