//! The master's side of replication: the commit log byte for byte.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use ferromq_protocol::record::{self, raw, Peek};
use ferromq_protocol::CommitLogOffset;

use super::MAX_REPLICATED_CHUNK;
use crate::commit_log::EOS_MARKER_LEN;
use crate::error::StoreError;
use crate::MessageStore;

impl MessageStore {
    /// The commit log from `offset` (a record boundary: the slave's log
    /// end), as it lies on disk: whole records and the end-of-segment
    /// markers between them, about `max_bytes` (at least one record if
    /// one is there), and the offset that follows them. Only flushed bytes
    /// are served, in either flush mode, so a slave never holds bytes its
    /// master could still lose in a crash. Empty (and `offset` back) when
    /// nothing new is flushed. After a marker the next offset is the next
    /// segment's base: the slave continues there, as the master did.
    /// `max_bytes` is capped at [`MAX_REPLICATED_CHUNK`], the most
    /// `append_replicated` takes.
    ///
    /// Records are checked for their place (each names its own offset),
    /// not for their CRC: the slave verifies every record before it
    /// writes it. Blocking (it reads the disk, or the block cache).
    ///
    /// # Errors
    /// `OffsetOutOfRange` below the log's start (retention deleted it: the
    /// slave must start again from `commit_log_min_offset`) or beyond its
    /// end; `NotRecordBoundary` if `offset` is inside a record; `Corrupt`
    /// or `Io` reading the log.
    pub fn read_raw(
        &self,
        offset: CommitLogOffset,
        max_bytes: usize,
    ) -> Result<(Bytes, CommitLogOffset), StoreError> {
        let s = &self.shared;
        let at = offset.get();
        let flushed = s.flushed.load(Ordering::Acquire);
        let (min, end) = (s.log.min_offset(), s.written.load(Ordering::Acquire));
        if at < min || at > end {
            return Err(StoreError::OffsetOutOfRange {
                offset: at,
                min,
                end,
            });
        }
        // Never more than a slave takes in one call.
        let max_bytes = max_bytes.min(MAX_REPLICATED_CHUNK);
        let mut parts: Vec<Bytes> = Vec::new();
        let mut taken = 0usize;
        let mut pos = at;
        while pos < flushed && (taken < max_bytes || parts.is_empty()) {
            let seg_end = s.log.segment_base(pos) + s.log.segment_size();
            let room = (max_bytes.saturating_sub(taken) as u64).max(EOS_MARKER_LEN);
            let chunk = s
                .log
                .read(pos, (flushed.min(seg_end) - pos).min(room) as usize)?;
            let (n, next) = whole(&chunk, pos, seg_end, pos == at)?;
            let piece = if n == 0 && parts.is_empty() {
                // One record larger than `max_bytes`: served alone.
                let size = first_size(&chunk, pos)?;
                if pos + size as u64 > flushed.min(seg_end) {
                    return Err(corrupt(pos, "record crosses the flushed end"));
                }
                s.log.read(pos, size)?
            } else {
                chunk.slice(..n)
            };
            if piece.is_empty() {
                break;
            }
            taken += piece.len();
            pos = if n > 0 {
                next
            } else {
                pos + piece.len() as u64
            };
            parts.push(piece);
        }
        let bytes = match parts.len() {
            0 => Bytes::new(),
            1 => parts.pop().unwrap_or_default(),
            _ => {
                let mut b = BytesMut::with_capacity(taken);
                for p in &parts {
                    b.extend_from_slice(p);
                }
                b.freeze()
            }
        };
        Ok((bytes, CommitLogOffset::new(pos)))
    }
}

/// How many bytes at the front of `chunk` (read at `pos`, in the segment
/// ending at `seg_end`) are whole records and markers, and where the log
/// continues after them. `first`: `pos` is the caller's offset, so a bad
/// record there means the offset is not a boundary.
fn whole(chunk: &[u8], pos: u64, seg_end: u64, first: bool) -> Result<(usize, u64), StoreError> {
    let mut i = 0usize;
    while i < chunk.len() {
        let at = pos + i as u64;
        match record::peek(&chunk[i..]) {
            Peek::Record(size) => {
                if i + size > chunk.len() {
                    break;
                }
                if raw::commit_log_offset(&chunk[i..]) != Some(at) {
                    return Err(misplaced(at, first && i == 0));
                }
                i += size;
            }
            Peek::EndOfSegment(rest) if rest as u64 == seg_end - at => {
                return Ok((i + EOS_MARKER_LEN as usize, seg_end));
            }
            Peek::NeedMore => break,
            Peek::EndOfSegment(_) | Peek::Invalid(_) => {
                return Err(misplaced(at, first && i == 0));
            }
        }
    }
    Ok((i, pos + i as u64))
}

/// Size of the record at the front of `chunk` (read at `pos`).
fn first_size(chunk: &[u8], pos: u64) -> Result<usize, StoreError> {
    match record::peek(chunk) {
        Peek::Record(size) if size >= record::MIN_RECORD_LEN => Ok(size),
        _ => Err(corrupt(pos, "no record here")),
    }
}

fn misplaced(at: u64, callers_offset: bool) -> StoreError {
    if callers_offset {
        StoreError::NotRecordBoundary(at)
    } else {
        corrupt(at, "not a record stamped for this offset")
    }
}

fn corrupt(at: u64, why: &str) -> StoreError {
    StoreError::Corrupt(format!("commit log at offset {at}: {why}"))
}
