//! Checks a chunk of the master's log before a slave queues it: whole
//! records, each verified (CRC, layout) and stamped for exactly the
//! offset it will have, each leaving room for a marker in its segment,
//! and end-of-segment markers exactly where a segment of this size ends.
//! Runs on the caller's task, as `validate` does for appends, so the CRC
//! work is not serialised in the writer.
//!
//! The result ([`Plan`]) is what the writer and the dispatcher need
//! without parsing again: where each piece of the chunk goes, and the
//! records as runs for the dispatcher.

use std::ops::Range;

use ferromq_protocol::record::{self, Peek};
use ferromq_protocol::TopicName;

use crate::commit_log::EOS_MARKER_LEN;
use crate::dispatch::DispatchBatch;
use crate::error::AppendError;
use crate::index::hash::TopicHasher;
use crate::validate::RecordMeta;

/// Bytes of the chunk that lie in one segment, back to back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    /// Commit-log offset of the first byte.
    pub(crate) at: u64,
    /// Where they are in the chunk.
    pub(crate) bytes: Range<usize>,
    /// They end with the segment's end marker: the log goes on at the
    /// next segment's base.
    pub(crate) ends_segment: bool,
}

/// A checked chunk.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) pieces: Vec<Piece>,
    /// Records of one queue, adjacent in the log, with consecutive
    /// queue offsets and one store time (the master stored them in one
    /// write group): one dispatch batch each.
    pub(crate) runs: Vec<DispatchBatch>,
    pub(crate) records: u32,
    /// Commit-log offset just past the chunk.
    pub(crate) end: u64,
}

/// Checks `bytes`, meant for commit-log offset `offset` in a log of
/// `segment_size` segments.
///
/// # Errors
/// `Invalid`, saying what is wrong and where.
pub(crate) fn plan(offset: u64, bytes: &[u8], segment_size: u64) -> Result<Plan, AppendError> {
    let invalid = |at: u64, why: String| {
        Err(AppendError::Invalid(format!(
            "replicated bytes at commit-log offset {at}: {why}"
        )))
    };
    if bytes.is_empty() {
        return invalid(offset, "empty".into());
    }
    let mut p = Plan::default();
    let mut pos = offset;
    let (mut i, mut piece_from, mut piece_at) = (0usize, 0usize, offset);
    while i < bytes.len() {
        let seg_end = pos - pos % segment_size + segment_size;
        match record::peek(&bytes[i..]) {
            Peek::EndOfSegment(rest) => {
                if rest as u64 != seg_end - pos {
                    return invalid(
                        pos,
                        format!(
                            "end-of-segment marker says {rest} bytes remain, {} do",
                            seg_end - pos
                        ),
                    );
                }
                i += EOS_MARKER_LEN as usize;
                p.pieces.push(Piece {
                    at: piece_at,
                    bytes: piece_from..i,
                    ends_segment: true,
                });
                (pos, piece_from, piece_at) = (seg_end, i, seg_end);
            }
            Peek::Record(size) => {
                let Some(raw) = bytes.get(i..i.saturating_add(size)) else {
                    return invalid(
                        pos,
                        format!(
                            "partial record: {size} bytes announced, {} left",
                            bytes.len() - i
                        ),
                    );
                };
                let rec = match record::parse(raw) {
                    Ok(r) => r,
                    Err(e) => return invalid(pos, e.to_string()),
                };
                if rec.commit_log_offset.get() != pos {
                    return invalid(
                        pos,
                        format!("record stamped for offset {}", rec.commit_log_offset),
                    );
                }
                if pos + size as u64 + EOS_MARKER_LEN > seg_end {
                    return invalid(
                        pos,
                        format!(
                            "record of {size} bytes leaves no room for the segment's end marker"
                        ),
                    );
                }
                add_record(&mut p, pos, &rec)?;
                i += size;
                pos += size as u64;
            }
            Peek::NeedMore => return invalid(pos, "partial record header".into()),
            Peek::Invalid(magic) => {
                return invalid(
                    pos,
                    format!("neither a record nor a marker (magic {magic:#010x})"),
                )
            }
        }
    }
    if piece_from < bytes.len() {
        p.pieces.push(Piece {
            at: piece_at,
            bytes: piece_from..bytes.len(),
            ends_segment: false,
        });
    }
    p.end = pos;
    Ok(p)
}

/// Adds a verified record at `pos` to the plan's runs.
fn add_record(p: &mut Plan, pos: u64, rec: &record::RecordRef<'_>) -> Result<(), AppendError> {
    let q = rec.queue_offset.get();
    let follows = p.runs.last().is_some_and(|r| {
        r.end == pos
            && r.queue_id == rec.queue_id
            && r.topic.as_str() == rec.topic
            && r.first_queue_offset + r.metas.len() as u64 == q
            && r.store_ts == rec.store_timestamp
    });
    if !follows {
        let topic = TopicName::new(rec.topic)
            .map_err(|e| AppendError::Invalid(format!("record at {pos}: {e}")))?;
        p.runs.push(DispatchBatch {
            topic,
            queue_id: rec.queue_id,
            first_queue_offset: q,
            first_offset: pos,
            end: pos,
            metas: Vec::new(),
            key_hashes: Vec::new(),
            store_ts: rec.store_timestamp,
            restart: false,
            _permit: None,
        });
    }
    if let Some(run) = p.runs.last_mut() {
        let keys = TopicHasher::new(rec.topic).record(rec, &mut run.key_hashes);
        run.metas.push(RecordMeta {
            size: rec.size as u32,
            tag_hash: rec.tag_hash(),
            keys,
        });
        run.end = pos + rec.size as u64;
    }
    p.records += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use ferromq_protocol::record::{BornInfo, StoreStamp};
    use ferromq_protocol::{CommitLogOffset, Message, QueueOffset};

    use super::*;
    use ferromq_protocol::QueueId;

    const SEG: u64 = 4096;

    /// A record of `topic`/`queue` at queue offset `q`, stored at `ts`,
    /// stamped for commit-log offset `at`.
    fn rec(topic: &str, queue: u32, q: u64, ts: u64, at: u64) -> BytesMut {
        let m = Message::new(
            TopicName::new(topic).unwrap(),
            Bytes::from_static(&[1; 300]),
        )
        .with_key("k");
        let born = BornInfo {
            timestamp: 1,
            host: "10.0.0.1:1".parse().unwrap(),
            flags: 0,
            reconsume_times: 0,
        };
        let mut b = BytesMut::new();
        record::encode(&m, born, 1 << 20, &mut b).unwrap();
        record::stamp(
            &mut b,
            &StoreStamp {
                queue_id: QueueId::new(queue),
                queue_offset: QueueOffset::new(q),
                commit_log_offset: CommitLogOffset::new(at),
                timestamp: ts,
                host: "10.0.0.2:2".parse().unwrap(),
            },
        );
        b
    }

    #[test]
    fn runs_follow_queues_and_write_groups_and_pieces_follow_segments() {
        // Segment 0 near its end: A/0 q5, A/0 q6 (same group), B/1 q0,
        // then a marker; segment 1: A/0 q7 (a later group).
        let len = rec("A", 0, 0, 0, 0).len() as u64;
        let from = SEG - 3 * len - 50;
        let mut chunk = BytesMut::new();
        let mut at = from;
        for (t, qid, q, ts) in [("A", 0, 5, 10), ("A", 0, 6, 10), ("B", 1, 0, 10)] {
            let r = rec(t, qid, q, ts, at);
            at += r.len() as u64;
            chunk.extend_from_slice(&r);
        }
        let marker_at = at;
        assert!(marker_at + len > SEG, "the next record would not fit");
        chunk.extend_from_slice(&record::end_of_segment((SEG - at) as u32));
        let in_seg_0 = chunk.len();
        chunk.extend_from_slice(&rec("A", 0, 7, 11, SEG));

        let p = plan(from, &chunk, SEG).unwrap();
        assert_eq!(p.records, 4);
        let runs: Vec<_> = p
            .runs
            .iter()
            .map(|r| {
                (
                    r.topic.as_str(),
                    r.queue_id.get(),
                    r.first_queue_offset,
                    r.metas.len(),
                    r.first_offset,
                )
            })
            .collect();
        assert_eq!(
            runs,
            [
                ("A", 0, 5, 2, from),
                ("B", 1, 0, 1, from + 2 * len),
                ("A", 0, 7, 1, SEG)
            ]
        );
        assert_eq!(p.runs[0].key_hashes.len(), 2, "one key each");
        assert_eq!(
            p.pieces,
            [
                Piece {
                    at: from,
                    bytes: 0..in_seg_0,
                    ends_segment: true
                },
                Piece {
                    at: SEG,
                    bytes: in_seg_0..chunk.len(),
                    ends_segment: false
                },
            ]
        );
        assert_eq!(p.end, SEG + (chunk.len() - in_seg_0) as u64);

        // The same bytes meant for another offset: the stamps disagree.
        assert!(plan(from + 1, &chunk, SEG).is_err());
        // A record that would leave no room for the marker.
        let late = rec("A", 0, 5, 10, SEG - len);
        assert!(plan(SEG - len, &late, SEG).is_err());
    }
}
