//! The single writer thread: takes whatever appends are queued, assigns
//! commit-log and queue offsets in log order, stamps the records and writes
//! the group with one write per segment it touches (a pwrite through the
//! page cache, or with direct I/O one vectored O_DIRECT write of the
//! touched pages of the block cache, see `cache`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ferromq_protocol::record::{self, StoreStamp};
use ferromq_protocol::{CommitLogOffset, QueueOffset};

use super::commit_log::EOS_MARKER_LEN;
use super::config::FlushMode;
use super::dispatch::DispatchBatch;
use super::error::AppendError;
use super::fsutil::now_ms;
use super::replica::StoreRole;
use super::segment::Segment;
use super::shared::Shared;
use super::types::AppendResult;
use super::write_queue::{Work, WriteReq, Written};

/// A write group stops growing at about this many bytes, so one slow group
/// does not hold every queued append back.
const GROUP_BYTES: usize = 4 << 20;

pub(crate) fn run(shared: Arc<Shared>) {
    // Scratch for the page-cache path (direct I/O copies straight into
    // the block cache).
    let mut buf = Vec::new();
    while let Some(work) = shared.queue.take(GROUP_BYTES) {
        match work {
            Work::Appends(group) => {
                if let Some(m) = shared.poison_message() {
                    for mut req in group {
                        req.answer(Err(AppendError::Poisoned(m.clone())));
                    }
                    continue;
                }
                write_group(&shared, group, &mut buf);
            }
            Work::Replica(req) => super::replica::write::write(&shared, req, &mut buf),
        }
    }
    tracing::debug!(
        end = shared.written.load(Ordering::Acquire),
        "writer stopped"
    );
}

struct Placed {
    req: WriteReq,
    result: AppendResult,
    end: u64,
}

fn write_group(shared: &Shared, group: Vec<WriteReq>, buf: &mut Vec<u8>) {
    let seg_size = shared.log.segment_size();
    let mut offsets = shared.offsets.lock();
    let role = shared.role.get();
    if role != StoreRole::Master {
        // Queued before the store became a slave.
        for mut req in group {
            req.answer(Err(AppendError::WrongRole(role)));
        }
        return;
    }
    // Only the writer moves `written`, and a truncation (which holds
    // `offsets`) may have moved it back since the last group.
    let mut pos = shared.written.load(Ordering::Acquire);
    let now = now_ms();
    let host = shared.config.store_host;
    let mut placed: Vec<Placed> = Vec::with_capacity(group.len());
    // The part of the group in the current segment: from `buf_start`, the
    // records of `placed[seg_first..]`.
    let mut buf_start = pos;
    let mut seg_first = 0;
    // The error, and the request that was being placed when it happened.
    let mut failure: Option<(std::io::Error, Option<WriteReq>)> = None;
    let mut group = group.into_iter();
    let mut rolled = false;
    for mut req in group.by_ref() {
        let len = req.records.len() as u64;
        let seg_end = shared.log.segment_base(pos) + seg_size;
        if pos + len + EOS_MARKER_LEN > seg_end {
            // Close the segment with a marker and continue in a new one.
            let marker = record::end_of_segment((seg_end - pos) as u32);
            let mut parts = records_of(&placed[seg_first..]);
            parts.push(&marker);
            // The allocator has normally made the next segment already, so
            // this is a lookup, not a file creation with fsyncs.
            let roll = write_out(shared, buf_start, &parts, buf)
                .and_then(|()| shared.log.ensure_segment(seg_end).map(|_| ()));
            if let Err(e) = roll {
                failure = Some((e, Some(req)));
                break;
            }
            rolled = true;
            #[cfg(any(test, feature = "fault-injection"))]
            if shared
                .faults
                .crash_here(super::hooks::CrashPoint::AfterSegmentRoll)
            {
                shared.halt();
                let rest = placed.into_iter().map(|p| p.req).chain([req]).chain(group);
                for mut r in rest {
                    r.answer(Err(AppendError::ShuttingDown));
                }
                return;
            }
            pos = seg_end;
            buf_start = seg_end;
            seg_first = placed.len();
        }
        if !req.claim.take() {
            // Its caller stopped waiting (see `append`) and answered that
            // nothing was written; so nothing is.
            continue;
        }
        let next = offsets
            .entry(req.topic.clone())
            .or_default()
            .entry(req.queue_id)
            .or_insert(0);
        let first_q = *next;
        let mut rel = 0usize;
        for (i, m) in req.metas.iter().enumerate() {
            let size = m.size as usize;
            record::stamp(
                &mut req.records[rel..rel + size],
                &StoreStamp {
                    queue_id: req.queue_id,
                    queue_offset: QueueOffset::new(first_q + i as u64),
                    commit_log_offset: CommitLogOffset::new(pos + rel as u64),
                    timestamp: now,
                    host,
                },
            );
            rel += size;
        }
        *next += req.metas.len() as u64;
        let result = AppendResult {
            queue_offset: QueueOffset::new(first_q),
            commit_log_offset: CommitLogOffset::new(pos),
            count: req.metas.len() as u32,
        };
        pos += len;
        // Answered now, before the device write: a caller whose write
        // then stalls knows its place and can report a flush timeout.
        req.answer(Ok(Written { result, end: pos }));
        placed.push(Placed {
            req,
            result,
            end: pos,
        });
    }
    if failure.is_none() && placed.len() > seg_first {
        if let Err(e) = write_out(shared, buf_start, &records_of(&placed[seg_first..]), buf) {
            failure = Some((e, None));
        }
    }
    if let Some((e, req)) = failure {
        // Part of the group may be on disk; none of it is acknowledged, and
        // the store stops writing so the log cannot grow past a hole.
        let msg = format!("commit-log write failed: {e}");
        shared.poison(msg.clone());
        // Callers already answered with their place see the poisoning
        // while they wait for the flush.
        let rest = placed.into_iter().map(|p| p.req).chain(req).chain(group);
        for mut r in rest {
            r.answer(Err(AppendError::Poisoned(msg.clone())));
        }
        return;
    }
    publish(shared, pos, placed, now);
    drop(offsets);
    if shared.config.flush == FlushMode::Async {
        // Async mode: visible once written, so the entries are built right
        // here; a hand-off to the dispatcher thread cost a wake-up per
        // group. (Poisoning and injected crashes are reported through the
        // store's state; the next group sees them.)
        let _ = super::dispatch::dispatch_visible(shared);
    }
    if rolled {
        // After `written` moved into the new segment, so the allocator
        // sees which one is next.
        shared.allocator.wake.notify();
    }
}

fn records_of(placed: &[Placed]) -> Vec<&[u8]> {
    placed.iter().map(|p| &p.req.records[..]).collect()
}

/// Writes `parts`, back to back, at `start` (all in one segment); `buf` is
/// scratch space for the page-cache path.
pub(crate) fn write_out(
    shared: &Shared,
    start: u64,
    parts: &[&[u8]],
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    let seg: Arc<Segment> = match shared.log.segment(start) {
        Some(s) => s,
        None => shared.log.ensure_segment(shared.log.segment_base(start))?,
    };
    #[cfg(any(test, feature = "fault-injection"))]
    {
        let delay = *shared.faults.write_delay.lock();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
    }
    shared.log.write(&seg, start, parts, buf)?;
    shared.stats.write_groups.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Hands the written batches to the dispatcher, then moves `written`: in
/// that order, so whatever `written` covers is already queued for dispatch.
fn publish(shared: &Shared, end: u64, placed: Vec<Placed>, now: u64) {
    let appends = placed.len() as u64;
    let batches = placed.into_iter().map(|p| {
        let WriteReq {
            topic,
            queue_id,
            metas,
            key_hashes,
            permit,
            ..
        } = p.req;
        DispatchBatch {
            topic,
            queue_id,
            first_queue_offset: p.result.queue_offset.get(),
            first_offset: p.result.commit_log_offset.get(),
            end: p.end,
            metas,
            key_hashes,
            store_ts: now,
            restart: false,
            _permit: Some(permit),
        }
    });
    publish_batches(shared, end, batches, appends);
}

/// Queues `batches` for dispatch, then moves `written` to `end` (see
/// [`publish`]) and wakes the flusher. Also the slave's path.
pub(crate) fn publish_batches(
    shared: &Shared,
    end: u64,
    batches: impl Iterator<Item = DispatchBatch>,
    appends: u64,
) {
    let mut messages = 0;
    {
        let mut pending = shared.dispatch.pending.lock();
        for b in batches {
            messages += b.metas.len() as u64;
            pending.push_back(b);
        }
    }
    shared.written.store(end, Ordering::Release);
    shared.stats.appends.fetch_add(appends, Ordering::Relaxed);
    shared.stats.messages.fetch_add(messages, Ordering::Relaxed);
    // In sync mode the flusher (which also dispatches) has work now; in
    // async mode the writer dispatches itself and the flusher runs on its
    // interval.
    if shared.config.flush == FlushMode::Sync {
        shared.flusher.wake.notify();
    }
}
