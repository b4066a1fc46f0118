//! The commit log's block cache, used when segments are written with
//! O_DIRECT (`StoreConfig::direct_io`).
//!
//! The log is cut into aligned blocks (1 MiB, or less for small segments). The writer copies
//! each group into the cached block(s) it falls in and writes the touched
//! 4 KiB pages from there with one vectored O_DIRECT write (the device gets
//! a request per block at once): the page cache is never filled,
//! and the memory the log passes through is the same few blocks over and
//! over. Readers copy out of cached blocks; a block that is not cached is
//! read from the segment (O_DIRECT, whole block) into a free or evicted
//! slot (clock replacement), so a consumer catching up reads the disk in
//! whole-block requests whichever queue asks first. After a miss that
//! follows a cached block (a reader moving forward), the read-ahead
//! threads load the next [`READ_AHEAD`] blocks of the segment (if written
//! and not cached), so the disk works while the consumer processes what it
//! got.
//!
//! Invariants:
//! * Every byte below the writer's position is on disk before a reader can
//!   ask for it (readers only read records already dispatched), so a block
//!   loaded from disk is correct up to there.
//! * Every device write puts whole pages on disk, the partly filled last
//!   one included, so a block reloaded from disk holds everything written
//!   into it. The block the writer is in is pinned (never evicted) only so
//!   that the writer does not reload it.
//! * After an open the writer's first block is loaded from disk before the
//!   writer adds to it: its first write rewrites the page it continues in.
//! * Nothing waits for a slot lock while holding the map, and eviction
//!   only `try_write`s, so there is no lock-order cycle. Only the writer
//!   holds several slots at once (read-locked until its device write is
//!   done), at most half of them, so an eviction always finds a victim.
//!   (`clear` write-locks slots under the map, but runs only while the
//!   writer holds none: at open, before it starts, and in a truncation,
//!   which holds it still.)

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use bytes::{Bytes, BytesMut};
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::fsutil::{AlignedBuf, ALIGN};
use super::segment::Segment;

/// Largest cached block; smaller segment sizes get smaller blocks
/// ([`block_size`]).
pub(crate) const MAX_BLOCK: u64 = 1 << 20;
/// Most blocks one device write covers (see `Blocks::write`).
const MAX_BLOCKS_PER_WRITE: usize = 16;
/// Base of a slot that holds nothing valid.
const EMPTY: u64 = u64::MAX;
/// Blocks loaded ahead after a read missed.
pub(crate) const READ_AHEAD: u64 = 4;
/// Threads loading read-ahead blocks, so that the device has more than
/// one read to work on.
const READ_AHEAD_THREADS: usize = 2;

/// The cache block size for a segment size: the largest power of two up
/// to [`MAX_BLOCK`] that divides it, so a block never spans two segments.
/// `None` if that is below [`ALIGN`] (no direct I/O then).
pub(crate) fn block_size(segment_size: u64) -> Option<u64> {
    let b = (1u64 << segment_size.trailing_zeros().min(63)).min(MAX_BLOCK);
    (b >= ALIGN).then_some(b)
}

struct Slot {
    /// Commit-log offset of the block held, or `EMPTY`.
    base: u64,
    /// Allocated on first use, so a small store uses little memory.
    block: Option<AlignedBuf>,
}

impl Slot {
    fn data(&self) -> &[u8] {
        self.block.as_ref().map_or(&[], AlignedBuf::as_slice)
    }
}

struct State {
    /// Block base → slot. May hold stale entries (a slot that failed to
    /// load or was reused); the slot's own `base` is the truth.
    map: HashMap<u64, usize>,
    /// Clock hand for eviction.
    hand: usize,
    /// Base of the block the writer is in.
    pinned: u64,
}

pub(crate) struct BlockCache {
    blocks: Arc<Blocks>,
    /// Requests to the read-ahead threads; dropped first on drop, which
    /// ends them.
    ahead: Option<SyncSender<Ahead>>,
    threads: Vec<JoinHandle<()>>,
}

/// A block for a read-ahead thread to load.
struct Ahead {
    seg: Arc<Segment>,
    base: u64,
}

struct Blocks {
    /// Bytes per block.
    block: u64,
    segment_size: u64,
    slots: Box<[RwLock<Slot>]>,
    referenced: Box<[AtomicBool]>,
    /// Loaded by read-ahead and not read since: the first read of it asks
    /// for the next blocks, so a sequential reader keeps the disk busy.
    ahead_unread: Box<[AtomicBool]>,
    state: Mutex<State>,
    /// End of what the writer has written (read-ahead stays below it).
    end: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    read_ahead: AtomicU64,
}

/// Cache hit and miss counts (blocks looked up by readers), and blocks
/// loaded by read-ahead.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CacheStats {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) read_ahead: u64,
}

fn align_up(n: usize) -> usize {
    n.next_multiple_of(ALIGN as usize)
}

/// The blocks of `block` bytes that `[offset, offset + len)` touches, as
/// (block base, range within the block).
fn pieces(offset: u64, len: usize, block: u64) -> impl Iterator<Item = (u64, usize, usize)> {
    let end = offset + len as u64;
    // An empty range touches no block.
    let first = if len == 0 {
        end
    } else {
        offset - offset % block
    };
    (first..end).step_by(block as usize).map(move |b| {
        let from = (offset.max(b) - b) as usize;
        let to = (end.min(b + block) - b) as usize;
        (b, from, to)
    })
}

impl BlockCache {
    /// A cache of `bytes` (at least two blocks) in blocks of `block` bytes
    /// (see [`block_size`]) for a log of `segment_size` segments, with its
    /// read-ahead threads.
    pub(crate) fn new(bytes: u64, block: u64, segment_size: u64) -> io::Result<Self> {
        let blocks = Arc::new(Blocks::new(bytes, block, segment_size));
        let (tx, rx) = sync_channel(16);
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(READ_AHEAD_THREADS);
        for _ in 0..READ_AHEAD_THREADS {
            let weak = Arc::downgrade(&blocks);
            let rx = rx.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("ferromq-store-readahead".into())
                    .spawn(move || read_ahead(weak, &rx))?,
            );
        }
        Ok(Self {
            blocks,
            ahead: Some(tx),
            threads,
        })
    }

    pub(crate) fn stats(&self) -> CacheStats {
        self.blocks.stats()
    }

    /// Forgets every block and sets the end of the log (after the log was
    /// cut at open or by a truncation; the writer holds no block then).
    pub(crate) fn reset(&self, end: u64) {
        self.blocks.clear();
        self.blocks.end.store(end, Ordering::Release);
    }

    /// See [`Blocks::write`].
    pub(crate) fn write(&self, seg: &Segment, start: u64, parts: &[&[u8]]) -> io::Result<()> {
        self.blocks.write(seg, start, parts)
    }

    /// Reads `len` bytes at commit-log offset `offset` (inside `seg`).
    pub(crate) fn read(&self, seg: &Arc<Segment>, offset: u64, len: usize) -> io::Result<Bytes> {
        let mut out = BytesMut::with_capacity(len);
        for (b, from, to) in pieces(offset, len, self.blocks.block) {
            let (g, more) = self.blocks.reader_block(seg, b)?;
            out.extend_from_slice(&g.data()[from..to]);
            drop(g);
            if more {
                self.read_ahead_after(seg, b);
            }
        }
        Ok(out.freeze())
    }

    /// `len` bytes at `offset` if every block they lie in is cached;
    /// `None` otherwise (nothing is loaded or evicted).
    pub(crate) fn read_if_cached(&self, offset: u64, len: usize) -> Option<Bytes> {
        let blocks = &self.blocks;
        let mut out = BytesMut::with_capacity(len);
        for (b, from, to) in pieces(offset, len, blocks.block) {
            let g = blocks.slots[blocks.slot_of(b)?].read();
            if g.base != b {
                return None;
            }
            out.extend_from_slice(&g.data()[from..to]);
            drop(g);
            blocks.hits.fetch_add(1, Ordering::Relaxed);
        }
        Some(out.freeze())
    }

    /// Asks the read-ahead threads for the blocks after `b` in its segment
    /// that are written and not cached. Never waits: with the threads busy,
    /// requests are dropped.
    fn read_ahead_after(&self, seg: &Arc<Segment>, b: u64) {
        let Some(tx) = &self.ahead else { return };
        let blocks = &self.blocks;
        let seg_end = seg.base() + blocks.segment_size;
        let written = blocks.end.load(Ordering::Acquire);
        for k in 1..=READ_AHEAD {
            let base = b + k * blocks.block;
            if base + blocks.block > seg_end.min(written) {
                break;
            }
            if blocks.is_cached(base) {
                continue;
            }
            let req = Ahead {
                seg: seg.clone(),
                base,
            };
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(req) {
                break;
            }
        }
    }
}

impl Drop for BlockCache {
    fn drop(&mut self) {
        self.ahead = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A read-ahead thread: loads requested blocks until the cache is gone.
fn read_ahead(blocks: Weak<Blocks>, rx: &Mutex<Receiver<Ahead>>) {
    loop {
        // The lock is held only while waiting for the next request; the
        // other threads wait for the lock meanwhile.
        let Ok(Ahead { seg, base }) = rx.lock().recv() else {
            break;
        };
        let Some(blocks) = blocks.upgrade() else {
            break;
        };
        if blocks.is_cached(base) {
            continue;
        }
        let loaded = blocks.install(&seg, base, true).map(|g| g.map(|(i, _)| i));
        match loaded {
            Ok(Some(i)) => {
                blocks.ahead_unread[i].store(true, Ordering::Relaxed);
                blocks.read_ahead.fetch_add(1, Ordering::Relaxed);
            }
            Ok(None) => {}
            // A reader that needs the block meets the error itself.
            Err(e) => tracing::debug!(base, error = %e, "read-ahead failed"),
        }
    }
}

impl Blocks {
    fn new(bytes: u64, block: u64, segment_size: u64) -> Self {
        let n = (bytes / block).max(2) as usize;
        Self {
            block,
            segment_size,
            slots: (0..n)
                .map(|_| {
                    RwLock::new(Slot {
                        base: EMPTY,
                        block: None,
                    })
                })
                .collect(),
            referenced: (0..n).map(|_| AtomicBool::new(false)).collect(),
            ahead_unread: (0..n).map(|_| AtomicBool::new(false)).collect(),
            state: Mutex::new(State {
                map: HashMap::with_capacity(n),
                hand: 0,
                pinned: EMPTY,
            }),
            end: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            read_ahead: AtomicU64::new(0),
        }
    }

    fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            read_ahead: self.read_ahead.load(Ordering::Relaxed),
        }
    }

    /// The slot the map names for block `b` (check its `base`).
    fn slot_of(&self, b: u64) -> Option<usize> {
        self.state.lock().map.get(&b).copied()
    }

    fn is_cached(&self, b: u64) -> bool {
        self.slot_of(b)
            .is_some_and(|i| self.slots[i].try_read().is_none_or(|s| s.base == b))
    }

    fn clear(&self) {
        let mut st = self.state.lock();
        st.map.clear();
        st.pinned = EMPTY;
        for s in self.slots.iter() {
            s.write().base = EMPTY;
        }
    }

    /// Writes `parts`, back to back, at commit-log offset `start` (inside
    /// `seg`): copies them into the cached blocks, zeroes the rest of the
    /// last page, and writes every touched page with O_DIRECT. Only the
    /// writer calls this.
    fn write(&self, seg: &Segment, start: u64, parts: &[&[u8]]) -> io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let size = self.block;
        // Blocks held for one device write: at most half the cache, so
        // readers always find slots (and a tiny cache writes block by
        // block).
        let most = (self.slots.len() / 2).clamp(1, MAX_BLOCKS_PER_WRITE);
        let mut parts = parts.iter().copied();
        let mut cur: &[u8] = &[];
        // The touched pages of the blocks filled so far, read-locked until
        // they are written; consecutive in the segment.
        let mut pages: Vec<(RwLockReadGuard<'_, Slot>, u64, usize, usize)> = Vec::new();
        for (b, at, end) in pieces(start, total, size) {
            let pad = align_up(end);
            let mut g = self.writer_block(seg, b, at > 0)?;
            let block = g
                .block
                .get_or_insert_with(|| AlignedBuf::new(size as usize))
                .as_mut_slice();
            let mut w = at;
            while w < end {
                if cur.is_empty() {
                    match parts.next() {
                        Some(p) => cur = p,
                        None => break,
                    }
                }
                let k = cur.len().min(end - w);
                block[w..w + k].copy_from_slice(&cur[..k]);
                cur = &cur[k..];
                w += k;
            }
            block[end..pad].fill(0);
            let from = at - at % ALIGN as usize;
            pages.push((RwLockWriteGuard::downgrade(g), b, from, pad));
            if pages.len() == most {
                self.write_pages(seg, &mut pages, b + end as u64)?;
            }
        }
        let end = start + total as u64;
        self.write_pages(seg, &mut pages, end)
    }

    /// Writes the pages of `pages` (consecutive in `seg`) with one call,
    /// so a group that spans blocks reaches the device as several requests
    /// at once; unlocks them and moves the end of the written data to
    /// `end`.
    fn write_pages(
        &self,
        seg: &Segment,
        pages: &mut Vec<(RwLockReadGuard<'_, Slot>, u64, usize, usize)>,
        end: u64,
    ) -> io::Result<()> {
        let Some(&(_, b, from, _)) = pages.first() else {
            return Ok(());
        };
        let mut bufs: Vec<io::IoSlice<'_>> = pages
            .iter()
            .map(|(g, _, from, pad)| io::IoSlice::new(&g.data()[*from..*pad]))
            .collect();
        let written = seg.write_direct_vectored_at(&mut bufs, b + from as u64 - seg.base());
        drop(bufs);
        pages.clear();
        written?;
        self.end.store(end, Ordering::Release);
        Ok(())
    }

    /// The writer's block `b`, pinned; loaded from disk if it is not cached
    /// and the writer continues inside it (`need_head`).
    fn writer_block(
        &self,
        seg: &Segment,
        b: u64,
        need_head: bool,
    ) -> io::Result<RwLockWriteGuard<'_, Slot>> {
        self.state.lock().pinned = b;
        loop {
            if let Some(i) = self.slot_of(b) {
                let g = self.slots[i].write();
                if g.base == b {
                    return Ok(g);
                }
            }
            // `None`: installed by a reader meanwhile; found next round.
            if let Some((_, g)) = self.install(seg, b, need_head)? {
                return Ok(g);
            }
        }
    }

    /// Block `b` for reading, and whether to read ahead after it: it was
    /// loaded by read-ahead and not read since, or it was loaded now and
    /// the block before it is cached (a reader moving forward; a reader
    /// that jumped here gets just this block, so scattered readers do not
    /// each evict three).
    fn reader_block(&self, seg: &Segment, b: u64) -> io::Result<(RwLockReadGuard<'_, Slot>, bool)> {
        loop {
            if let Some(i) = self.slot_of(b) {
                let g = self.slots[i].read();
                if g.base == b {
                    self.referenced[i].store(true, Ordering::Relaxed);
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    let more = self.ahead_unread[i].swap(false, Ordering::Relaxed);
                    return Ok((g, more));
                }
            }
            let sequential = b >= seg.base() + self.block && self.is_cached(b - self.block);
            if let Some((_, g)) = self.install(seg, b, true)? {
                self.misses.fetch_add(1, Ordering::Relaxed);
                return Ok((RwLockWriteGuard::downgrade(g), sequential));
            }
        }
    }

    /// Puts block `b` into a free or evicted slot, read from disk if
    /// `load`. `None` if another thread installed it first.
    fn install(
        &self,
        seg: &Segment,
        b: u64,
        load: bool,
    ) -> io::Result<Option<(usize, RwLockWriteGuard<'_, Slot>)>> {
        let (i, mut g) = loop {
            let mut st = self.state.lock();
            if let Some(&i) = st.map.get(&b) {
                if self.slots[i].try_read().is_none_or(|s| s.base == b) {
                    return Ok(None);
                }
            }
            if let Some((i, g)) = self.victim(&mut st) {
                if g.base != EMPTY && st.map.get(&g.base) == Some(&i) {
                    st.map.remove(&g.base);
                }
                st.map.insert(b, i);
                self.referenced[i].store(true, Ordering::Relaxed);
                self.ahead_unread[i].store(false, Ordering::Relaxed);
                break (i, g);
            }
            // Every slot is busy for a moment (being read or loaded).
            drop(st);
            std::thread::yield_now();
        };
        g.base = EMPTY;
        let size = self.block as usize;
        let block = g.block.get_or_insert_with(|| AlignedBuf::new(size));
        if load {
            seg.read_direct_at(block.as_mut_slice(), b - seg.base())?;
        }
        g.base = b;
        Ok(Some((i, g)))
    }

    /// A slot to reuse, write-locked: clock over the slots, skipping the
    /// writer's block, recently used blocks (once) and locked slots.
    fn victim(&self, st: &mut State) -> Option<(usize, RwLockWriteGuard<'_, Slot>)> {
        let n = self.slots.len();
        for _ in 0..3 * n {
            let i = st.hand;
            st.hand = (i + 1) % n;
            let Some(g) = self.slots[i].try_write() else {
                continue;
            };
            if g.base != EMPTY
                && (g.base == st.pinned || self.referenced[i].swap(false, Ordering::Relaxed))
            {
                continue;
            }
            return Some((i, g));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_follow_the_segment_size() {
        assert_eq!(block_size(1 << 30), Some(MAX_BLOCK));
        assert_eq!(block_size(64 * 1024), Some(64 * 1024));
        assert_eq!(block_size(3 * 64 * 1024), Some(64 * 1024));
        assert_eq!(block_size(64 * 1024 + 512), None);
    }

    #[test]
    fn pieces_cover_a_range_block_by_block() {
        let p: Vec<_> = pieces(100, 10, 64).collect();
        assert_eq!(p, [(64, 36, 46)]);
        let p: Vec<_> = pieces(60, 140, 64).collect();
        assert_eq!(p, [(0, 60, 64), (64, 0, 64), (128, 0, 64), (192, 0, 8)]);
        let p: Vec<_> = pieces(128, 64, 64).collect();
        assert_eq!(p, [(128, 0, 64)]);
        assert_eq!(pieces(5, 0, 64).count(), 0);
    }
}
