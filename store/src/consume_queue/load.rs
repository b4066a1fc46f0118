//! Loading one consume queue at startup and cutting it back to entries that
//! are valid against the recovered commit log.
//!
//! Cost is bounded by the checkpoint: entries below the count the checkpoint
//! recorded were fsynced and are trusted, so only the tail written since is
//! scanned. A queue holding fewer entries than the checkpoint says (a file
//! truncated or deleted behind the broker's back) is *lagging*: it is scanned
//! from its start, and recovery refills it from the commit log.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use ferromq_protocol::{QueueId, TopicName};

use super::{Bounds, ConsumeQueue, CqEntry, CqFile, CQ_ENTRY_LEN};
use crate::error::{io_at, StoreError};
use crate::fsutil::{numbered_files, sync_dir};

/// Entries read per pread while scanning a tail: small at first (most tails
/// are short, and every queue is scanned at startup), doubling up to the max.
const FIRST_CHUNK_ENTRIES: u64 = 64;
const MAX_CHUNK_ENTRIES: u64 = 4096;

pub(crate) struct Loaded {
    pub(crate) cq: ConsumeQueue,
    /// `Some(commit-log offset)` when the queue lost entries the checkpoint
    /// counted; recovery re-dispatches into it from that offset.
    pub(crate) lagging_from: Option<u64>,
}

pub(crate) struct LoadParams {
    pub(crate) per_file: u64,
    /// Entries the checkpoint says were durable, if it knows the queue.
    pub(crate) known: Option<u64>,
    /// The queue's min offset at the checkpoint (retention may have moved
    /// it into the middle of the first file, or past every file).
    pub(crate) known_min: Option<u64>,
    /// Recovered end of the commit log: entries reaching past it are cut.
    pub(crate) log_end: u64,
    /// First commit-log offset still stored.
    pub(crate) log_start: u64,
}

pub(crate) fn load(
    dir: PathBuf,
    topic: TopicName,
    queue_id: QueueId,
    p: &LoadParams,
) -> Result<Loaded, StoreError> {
    let file_bytes = p.per_file * CQ_ENTRY_LEN;
    let mut files: Vec<Arc<CqFile>> = Vec::new();
    let mut damaged = false;
    let mut stray = Vec::new();
    for (byte_base, path) in numbered_files(&dir)? {
        if byte_base % file_bytes != 0 {
            return Err(StoreError::Corrupt(format!(
                "consume-queue file {} does not match cq_entries_per_file {} (was it changed?)",
                path.display(),
                p.per_file
            )));
        }
        let first = byte_base / CQ_ENTRY_LEN;
        let follows = files.last().is_none_or(|f| f.first + p.per_file == first);
        if !follows || damaged {
            // A gap: everything after it is rebuilt from the commit log.
            damaged = true;
            stray.push(path);
            continue;
        }
        let f = CqFile::open(path, first)?;
        let len = f
            .file
            .metadata()
            .map_err(io_at("stat consume-queue file", &f.path))?
            .len();
        if len != file_bytes {
            damaged = true;
        }
        files.push(Arc::new(f));
    }
    let file_min = files.first().map_or(0, |f| f.first);
    // Entries below a retained min may never have been written (a queue
    // rebuilt to start mid-file), so scanning starts at the min.
    let min = p.known_min.map_or(file_min, |m| m.max(file_min));
    let cap = files.last().map_or(0, |f| f.first + p.per_file);

    // Trust the checkpointed prefix when its last entry is still there.
    let mut start = (min, None);
    if let Some(k) = p.known.filter(|&k| !damaged && k > min && k <= cap) {
        if let Some(e) = entry_at(&files, p.per_file, k - 1)? {
            if e.size != 0 && e.end() <= p.log_end {
                start = (k, Some(e));
            }
        }
    }
    let (count, garbage) = scan_tail(&files, p, start.0, start.1)?;

    let lagging = p.known.is_some_and(|k| count < k);
    let lagging_from = if lagging {
        let from = match count.checked_sub(1).filter(|&c| c >= min) {
            Some(last) => entry_at(&files, p.per_file, last)?.map_or(p.log_start, |e| e.end()),
            None => p.log_start,
        };
        tracing::warn!(queue = %dir.display(), entries = count, expected = ?p.known, "consume queue lost entries; rebuilding it from the commit log");
        Some(from)
    } else {
        None
    };

    cut_after(
        &dir,
        &mut files,
        &mut stray,
        p.per_file,
        count,
        garbage || damaged,
    )?;
    // Entries past the trusted prefix may only be in the page cache of a
    // crashed process: the next checkpoint must fsync them.
    let synced = start.0.min(count);
    let bounds = Bounds {
        min: min.min(count),
        max: count,
        synced,
    };
    let cq = ConsumeQueue::with_files(dir, topic, queue_id, p.per_file, files, bounds);
    Ok(Loaded { cq, lagging_from })
}

/// Counts valid entries from `start`: non-empty, in commit-log order, inside
/// the recovered log. Returns the count and whether non-zero bytes follow it
/// (an invalid entry, or stale entries beyond a hole that a crash left when
/// later sectors reached the disk before earlier ones); those must be wiped
/// before new entries are appended, or they could later pass as valid.
fn scan_tail(
    files: &[Arc<CqFile>],
    p: &LoadParams,
    start: u64,
    prev: Option<CqEntry>,
) -> Result<(u64, bool), StoreError> {
    let mut idx = start;
    let mut prev_end = prev.map_or(0, |e| e.end());
    let mut chunk = FIRST_CHUNK_ENTRIES;
    for f in files {
        if f.first + p.per_file <= idx {
            continue;
        }
        while idx < f.first + p.per_file {
            let n = (f.first + p.per_file - idx).min(chunk);
            chunk = (chunk * 2).min(MAX_CHUNK_ENTRIES);
            let mut buf = vec![0u8; (n * CQ_ENTRY_LEN) as usize];
            f.read_zero_filled(&mut buf, (idx - f.first) * CQ_ENTRY_LEN)?;
            for (i, e) in CqEntry::decode_all(&buf).into_iter().enumerate() {
                if e.size == 0 {
                    let rest = &buf[i * CQ_ENTRY_LEN as usize..];
                    return Ok((idx, rest.iter().any(|&b| b != 0)));
                }
                if e.offset < prev_end || e.end() > p.log_end {
                    return Ok((idx, true));
                }
                prev_end = e.end();
                idx += 1;
            }
        }
    }
    Ok((idx, false))
}

fn entry_at(files: &[Arc<CqFile>], per_file: u64, idx: u64) -> Result<Option<CqEntry>, StoreError> {
    let Some(f) = files
        .iter()
        .find(|f| f.first <= idx && idx < f.first + per_file)
    else {
        return Ok(None);
    };
    let mut buf = [0u8; CQ_ENTRY_LEN as usize];
    f.read_zero_filled(&mut buf, (idx - f.first) * CQ_ENTRY_LEN)?;
    Ok(CqEntry::decode(&buf))
}

/// Removes files past entry `count` and, if needed, wipes the rest of the
/// file holding it, so stale entries can never reappear as valid ones.
fn cut_after(
    dir: &std::path::Path,
    files: &mut Vec<Arc<CqFile>>,
    stray: &mut Vec<PathBuf>,
    per_file: u64,
    count: u64,
    wipe: bool,
) -> Result<(), StoreError> {
    let keep = files
        .iter()
        .position(|f| f.first + per_file > count)
        .map_or(files.len(), |i| i + 1);
    stray.extend(files.drain(keep..).map(|f| f.path.clone()));
    for path in stray.iter() {
        fs::remove_file(path).map_err(io_at("remove consume-queue file", path))?;
    }
    if !stray.is_empty() {
        sync_dir(dir)?;
    }
    if let Some(f) = files.last().filter(|f| wipe && count < f.first + per_file) {
        f.file
            .set_len((count - f.first) * CQ_ENTRY_LEN)
            .and_then(|()| f.file.set_len(per_file * CQ_ENTRY_LEN))
            .and_then(|()| f.file.sync_all())
            .map_err(io_at("truncate consume-queue file", &f.path))?;
    }
    Ok(())
}
