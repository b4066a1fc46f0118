//! Recovery at open: find the valid end of the commit log, cut everything
//! after it, and bring the consume queues and the index in line with it.
//!
//! The scan starts at the checkpoint's cq-consistent offset D, not at the
//! start of the log, so startup cost follows the amount written since the
//! last checkpoint (about a second of traffic), not the store's size. On a
//! clean stop D is the end of the log and the "scan" is one read that finds
//! unwritten space.

use std::collections::{HashMap, HashSet};

use ferromq_protocol::record::RecordRef;
use ferromq_protocol::{QueueId, TopicName};

use super::checkpoint::{self, Checkpoint, QueueMark};
use super::commit_log::{CommitLog, LogIo};
use super::config::StoreConfig;
use super::consume_queue::{ConsumeQueues, CqEntry, KnownQueue, CONSUMEQUEUE_DIR};
use super::epoch::Epochs;
use super::error::StoreError;
use super::index::hash::record_hashes;
use super::index::{Index, IndexItem, IndexPos, IndexState};
use super::replica::reset;
use super::scan::{scan_counted, ScanStats, StopReason};
use super::shared::{Parts, RecoveryStats};
use super::COMMITLOG_DIR;

/// Index entries buffered during recovery before one write.
const INDEX_BATCH: usize = 4096;

pub(crate) fn recover(config: &StoreConfig, unclean: bool) -> Result<Parts, StoreError> {
    // A reset a crash interrupted is finished first: it replaces
    // everything the rest reads.
    reset::apply_pending(&config.dir, config.segment_size)?;
    let ck = match checkpoint::read(&config.dir) {
        Ok(ck) => ck,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring unreadable checkpoint; scanning the whole commit log");
            None
        }
    };
    let log = CommitLog::open(
        &config.dir.join(COMMITLOG_DIR),
        config.segment_size,
        LogIo {
            prefill: config.prefill(),
            recycle: config.recycle_segments,
            direct_io: config.direct_io,
            cache_size: config.log_cache_size,
        },
    )?;
    let scan_from = scan_start(&log, ck.as_ref())?;
    let mut read = ScanStats::default();
    let (end, why) = scan_counted(&log, scan_from, None, &mut read, |_, _| Ok(()))?;
    report(unclean, scan_from, end, &why, ck.as_ref());
    refuse_mass_loss(&log, end, ck.as_ref())?;

    log.truncate(end)?;
    // A crashed process may have left written-but-unsynced records in the
    // page cache; they become durable before anyone can read them.
    log.sync_range(scan_from, end)?;

    let log_start = log.min_offset();
    let known: HashMap<(TopicName, QueueId), KnownQueue> = ck
        .iter()
        .flat_map(|c| c.queues.iter())
        .map(|q| {
            let k = KnownQueue {
                count: q.count,
                min: q.min,
            };
            ((q.topic.clone(), q.queue_id), k)
        })
        .collect();
    let (cqs, lagging) = ConsumeQueues::load(
        &config.dir.join(CONSUMEQUEUE_DIR),
        config.cq_entries_per_file,
        &known,
        end,
        log_start,
    )?;
    // Entries pointing below the log's start (retention deleted their
    // segments, maybe just before a crash) are not served any more.
    for cq in cqs.all() {
        cq.advance_min(log_start)?;
        cq.drop_files_below_min()?;
    }

    // The index is consistent at D like the queues, unless the checkpoint
    // does not fit the log; then it is rebuilt from the log's start.
    let d = ck.as_ref().map(|c| c.cq_consistent);
    let state = match (ck.as_ref(), d) {
        (Some(c), Some(d)) if (log_start..=end).contains(&d) => c.index,
        _ => IndexState::Unknown,
    };
    let (index, index_ok) = Index::open(
        &config.dir,
        config.index_hash_slots,
        config.index_max_entries,
        state,
    )?;
    let index_from = match d {
        Some(d) if index_ok => d,
        _ => log_start,
    };

    // Queues are only created for records past D: anything older belongs to
    // a queue the checkpoint knew (and so exists now) or to a deleted topic.
    let mut redo = Redispatch {
        cqs: &cqs,
        create_from: d.unwrap_or(0),
        lagging: lagging
            .iter()
            .map(|l| (l.topic.clone(), l.queue_id))
            .collect(),
        added: 0,
    };
    let mut items = Vec::new();
    let mut hashes = Vec::new();
    let from = lagging
        .iter()
        .map(|l| l.from)
        .fold(scan_from, u64::min)
        .min(index_from);
    scan_counted(&log, from, Some(end), &mut read, |pos, rec| {
        if pos >= index_from {
            hashes.clear();
            record_hashes(rec, &mut hashes);
            items.extend(hashes.iter().map(|&hash| IndexItem {
                hash,
                phys: pos,
                ts: rec.store_timestamp,
            }));
            if items.len() >= INDEX_BATCH {
                index.add(&items)?;
                items.clear();
            }
        }
        redo.record(pos, rec)
    })?;
    index.add(&items)?;
    if redo.added > 0 || !lagging.is_empty() || index_from < scan_from {
        tracing::info!(
            entries = redo.added,
            rebuilt_queues = lagging.len(),
            index_from,
            "consume queues and index rebuilt from the commit log"
        );
    }
    // A queue never restarts below what the checkpoint recorded, even if
    // retention left nothing of it in the log.
    for ((topic, queue_id), k) in &known {
        if let Some(cq) = cqs.get(topic.as_str(), *queue_id) {
            if cq.min() == cq.max() && cq.max() < k.count {
                cq.start_at(k.count)?;
            }
        }
    }

    // A queue that holds nothing and that the checkpoint does not know had
    // its only records cut (a torn tail, or a truncation a crash
    // interrupted): as if they had never been appended, it goes.
    for cq in cqs.all() {
        if cq.max() == 0 && !known.contains_key(&(cq.topic().clone(), cq.queue_id())) {
            cqs.remove_unused(cq.topic().as_str(), cq.queue_id())?;
        }
    }

    // Start from a fresh, durable checkpoint so the next recovery begins here.
    let mut queues = Vec::new();
    for cq in cqs.all() {
        let n = cq.max();
        cq.sync(n)?;
        queues.push(QueueMark {
            topic: cq.topic().clone(),
            queue_id: cq.queue_id(),
            count: n,
            min: cq.min(),
        });
    }
    let snap = index.snapshot();
    index.persist(snap.as_ref(), false)?;
    checkpoint::write(
        &config.dir,
        &Checkpoint {
            flushed: end,
            cq_consistent: end,
            index: snap.map_or(IndexState::Empty, |(f, next)| {
                IndexState::At(IndexPos { base: f.base, next })
            }),
            queues,
        },
    )?;
    // After the log's end is settled: epochs that start past it go.
    let epochs = Epochs::load(config.dir.clone(), end)?;
    Ok(Parts {
        log,
        cqs,
        index,
        epochs,
        end,
        recovery: RecoveryStats {
            scan_from,
            bytes_read: read.bytes,
            lowest_read: read.lowest,
        },
    })
}

/// Puts records back into the consume queues during recovery.
struct Redispatch<'a> {
    cqs: &'a ConsumeQueues,
    create_from: u64,
    lagging: HashSet<(TopicName, QueueId)>,
    added: u64,
}

impl Redispatch<'_> {
    fn record(&mut self, pos: u64, rec: &RecordRef<'_>) -> Result<(), StoreError> {
        let topic = TopicName::new(rec.topic)
            .map_err(|e| StoreError::Corrupt(format!("record at {pos}: {e}")))?;
        let cq = if pos >= self.create_from {
            self.cqs.get_or_create(&topic, rec.queue_id)?
        } else if self.lagging.contains(&(topic.clone(), rec.queue_id)) {
            match self.cqs.get(topic.as_str(), rec.queue_id) {
                Some(cq) => cq,
                None => return Ok(()),
            }
        } else {
            return Ok(());
        };
        let q = rec.queue_offset.get();
        let max = cq.max();
        if q < max {
            return Ok(()); // already there
        }
        if q > max {
            if cq.min() != max {
                tracing::warn!(%topic, queue_id = %rec.queue_id, queue_offset = q, max, offset = pos,
                    "record does not follow its consume queue (deleted topic?); not indexed");
                return Ok(());
            }
            // An empty queue whose older records retention deleted: it
            // starts at the first one the log still has.
            cq.start_at(q)?;
        }
        let entry = CqEntry {
            offset: pos,
            size: rec.size as u32,
            tag_hash: rec.tag_hash(),
        };
        cq.append(q, &[entry], rec.store_timestamp)?;
        self.added += 1;
        Ok(())
    }
}

/// Where the scan for the log's end begins: the checkpoint's cq-consistent
/// offset, moved back to any segment whose file is short (damaged or torn
/// while being created; the checkpoint cannot vouch for it), or the start of
/// the log without a usable checkpoint.
fn scan_start(log: &CommitLog, ck: Option<&Checkpoint>) -> Result<u64, StoreError> {
    let bases = log.bases();
    let Some(&first) = bases.first() else {
        if let Some(c) = ck.filter(|c| c.flushed > 0) {
            return Err(StoreError::Corrupt(format!(
                "the checkpoint says the commit log is durable up to offset {}, but commitlog/ holds no segment",
                c.flushed
            )));
        }
        return Ok(0);
    };
    let cap = bases.last().map_or(first, |b| b + log.segment_size());
    let mut from = match ck {
        Some(c) if (first..=cap).contains(&c.cq_consistent) => c.cq_consistent,
        Some(c) => {
            tracing::warn!(
                cq_consistent = c.cq_consistent,
                first,
                cap,
                "checkpoint does not match the commit log; scanning all of it"
            );
            first
        }
        None => first,
    };
    for b in bases {
        let short = log
            .segment(b)
            .map(|s| s.len_on_disk())
            .transpose()?
            .is_some_and(|len| len < log.segment_size());
        if short {
            if b < from {
                tracing::warn!(
                    segment = b,
                    "commit-log segment is shorter than its size; scanning it"
                );
            }
            from = from.min(b);
            break;
        }
    }
    Ok(from)
}

/// Cutting the log normally drops only a torn tail. If the cut would delete
/// whole segments that an fdatasync had covered, the disk lost or damaged
/// acknowledged data in the middle of the log: refuse, rather than throw
/// away everything after the damage. An operator who accepts the loss
/// removes the checkpoint; recovery then keeps the valid prefix.
fn refuse_mass_loss(log: &CommitLog, end: u64, ck: Option<&Checkpoint>) -> Result<(), StoreError> {
    let Some(c) = ck.filter(|c| end < c.flushed) else {
        return Ok(());
    };
    let cut_base = log.segment_base(end);
    let lost = log
        .bases()
        .into_iter()
        .filter(|&b| b > cut_base && b < c.flushed)
        .count();
    if lost == 0 {
        return Ok(());
    }
    Err(StoreError::Corrupt(format!(
        "commit log is invalid at offset {end}, but offset {} was durable; cutting there would \
         delete {lost} segment(s) of acknowledged messages. Repair or restore the segment, or \
         remove the checkpoint file to accept the loss",
        c.flushed
    )))
}

fn report(unclean: bool, from: u64, end: u64, why: &StopReason, ck: Option<&Checkpoint>) {
    if unclean {
        tracing::warn!(scanned_from = from, end, stop = ?why, "recovered after an unclean stop");
    } else {
        tracing::info!(end, "commit log opened");
    }
    if let StopReason::Invalid(reason) = why {
        tracing::warn!(offset = end, %reason, "cut the commit log at the first invalid record");
    }
    if let Some(c) = ck.filter(|c| end < c.flushed) {
        // Data an fdatasync had covered is gone: the disk lost it. Refusing
        // to start would not bring it back; say so loudly instead.
        tracing::error!(end, flushed = c.flushed, "commit log ends before its checkpointed durable offset: acknowledged messages were lost by the disk");
    }
}
