//! Walks the commit log record by record, verifying each one, until the
//! first thing that is not a valid record: this is how recovery finds the
//! end of the log and how it re-reads records to rebuild consume queues.

use std::sync::Arc;

use ferromq_protocol::record::{self, Peek, RecordRef, MIN_RECORD_LEN};

use super::commit_log::{CommitLog, EOS_MARKER_LEN};
use super::error::StoreError;
use super::fsutil::{AlignedBuf, ALIGN};
use super::segment::Segment;

/// Bytes read per pread while scanning.
const CHUNK: u64 = 1 << 20;

/// Why a scan stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// Reached the requested limit.
    Limit,
    /// Zeroes: space never written.
    Unwritten,
    /// The log ends exactly at a segment boundary.
    SegmentBoundary,
    /// Bytes that are not a valid record: a torn or corrupt tail.
    Invalid(String),
}

/// Calls `f(offset, record)` for each valid record from `from` (a record
/// boundary) until `limit` or the first invalid record; returns where it
/// stopped.
#[cfg(test)]
pub(crate) fn scan(
    log: &CommitLog,
    from: u64,
    limit: Option<u64>,
    f: impl FnMut(u64, &RecordRef<'_>) -> Result<(), StoreError>,
) -> Result<(u64, StopReason), StoreError> {
    scan_counted(log, from, limit, &mut ScanStats::default(), f)
}

/// What a scan read from disk: recovery reports it, and a test proves
/// that recovery does not read below the checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ScanStats {
    pub(crate) bytes: u64,
    /// Lowest commit-log offset read; `u64::MAX` if none.
    pub(crate) lowest: u64,
}

impl Default for ScanStats {
    fn default() -> Self {
        Self {
            bytes: 0,
            lowest: u64::MAX,
        }
    }
}

/// As `scan`, adding what it reads to `stats`.
pub(crate) fn scan_counted(
    log: &CommitLog,
    from: u64,
    limit: Option<u64>,
    stats: &mut ScanStats,
    mut f: impl FnMut(u64, &RecordRef<'_>) -> Result<(), StoreError>,
) -> Result<(u64, StopReason), StoreError> {
    let seg_size = log.segment_size();
    let mut r = ChunkReader {
        stats,
        buf: AlignedBuf::new(0),
        lo: 0,
        hi: 0,
        start: 0,
    };
    let mut pos = from;
    loop {
        if limit.is_some_and(|l| pos >= l) {
            return Ok((pos, StopReason::Limit));
        }
        let Some(seg) = log.segment(pos) else {
            return Ok((pos, StopReason::SegmentBoundary));
        };
        let seg_end = seg.base() + seg_size;
        let room = seg_end - pos;
        if room < EOS_MARKER_LEN {
            return Ok((pos, StopReason::Invalid("no room for an end marker".into())));
        }
        let head = r.get(&seg, seg_end, pos, EOS_MARKER_LEN as usize)?;
        let size = match record::peek(head) {
            Peek::Record(size) => size,
            Peek::EndOfSegment(remaining) => {
                if remaining as u64 != room {
                    return Ok((
                        pos,
                        StopReason::Invalid(format!(
                            "end-of-segment marker says {remaining} bytes remain, {room} do"
                        )),
                    ));
                }
                pos += room;
                continue;
            }
            Peek::Invalid(0) if head.iter().all(|&b| b == 0) => {
                return Ok((pos, StopReason::Unwritten))
            }
            Peek::Invalid(magic) => {
                return Ok((pos, StopReason::Invalid(format!("bad magic {magic:#010x}"))))
            }
            Peek::NeedMore => return Ok((pos, StopReason::Invalid("short read".into()))),
        };
        if size < MIN_RECORD_LEN || size as u64 + EOS_MARKER_LEN > room {
            return Ok((
                pos,
                StopReason::Invalid(format!("implausible record size {size}")),
            ));
        }
        let bytes = r.get(&seg, seg_end, pos, size)?;
        let rec = match record::parse(bytes) {
            Ok(rec) => rec,
            Err(e) => return Ok((pos, StopReason::Invalid(e.to_string()))),
        };
        if rec.commit_log_offset.get() != pos {
            // A valid record stamped for another position: stale bytes.
            return Ok((
                pos,
                StopReason::Invalid(format!(
                    "record stamped for offset {} (old bytes of a reused segment, or damage)",
                    rec.commit_log_offset
                )),
            ));
        }
        f(pos, &rec)?;
        pos += size as u64;
    }
}

/// Keeps one window of a segment in memory so small records cost no syscall.
struct ChunkReader<'s> {
    stats: &'s mut ScanStats,
    /// The window is `buf[lo..hi]`; with direct I/O, `buf` also holds the
    /// alignment slack around it.
    buf: AlignedBuf,
    lo: usize,
    hi: usize,
    /// Commit-log offset of `buf[lo]`.
    start: u64,
}

impl ChunkReader<'_> {
    /// `len` bytes at `pos`; the caller ensures `pos + len <= seg_end`.
    fn get(
        &mut self,
        seg: &Arc<Segment>,
        seg_end: u64,
        pos: u64,
        len: usize,
    ) -> Result<&[u8], StoreError> {
        let window = (self.hi - self.lo) as u64;
        let have = pos >= self.start && pos + len as u64 <= self.start + window;
        // A window never spans segments, so an offset inside it is in `seg`.
        if !have {
            let n = CHUNK.min(seg_end - pos).max(len as u64) as usize;
            // Segments written with O_DIRECT are not in the page cache:
            // read them the same way, from the page (ALIGN) `pos` is in
            // (segment bases and sizes are multiples of ALIGN then).
            let skip = if seg.is_direct() {
                (pos % ALIGN) as usize
            } else {
                0
            };
            let total = (skip + n).next_multiple_of(ALIGN as usize);
            if self.buf.len() < total {
                self.buf = AlignedBuf::new(total);
            }
            let at = pos - skip as u64 - seg.base();
            let dst = &mut self.buf.as_mut_slice()[..total];
            if seg.is_direct() {
                seg.read_direct_at(dst, at)?;
            } else {
                seg.read_zero_filled(&mut dst[..n], at)?;
            }
            self.lo = skip;
            self.hi = skip + n;
            self.start = pos;
            self.stats.bytes += n as u64;
            self.stats.lowest = self.stats.lowest.min(pos);
        }
        let from = self.lo + (pos - self.start) as usize;
        Ok(&self.buf.as_slice()[from..from + len])
    }
}
