//! The commit log: contiguous fixed-size segments named by base offset.
//!
//! Only the writer thread appends. Segments are created ahead of the writer
//! by the allocator thread (or by the writer itself if it gets there
//! first), and deleted from the front by retention; readers, the flusher
//! and recovery share the open handles through `segments`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};

use super::cache::{block_size, BlockCache, CacheStats};
use super::error::StoreError;
use super::fsutil::{create_dir_durable, file_name, numbered_files, sync_dir, AlignedBuf, ALIGN};
use super::segment::{open_direct, Segment};

/// Bytes of the marker that ends a segment early (its layout is the
/// record format's, `record::end_of_segment`). A record is only placed
/// where this still fits after it.
pub(crate) const EOS_MARKER_LEN: u64 = ferromq_protocol::record::END_OF_SEGMENT_LEN as u64;

/// Next to `commitlog/`: segments retention kept for reuse
/// (`StoreConfig::recycle_segments`), named by their old base offset.
pub(crate) const SPARE_DIR: &str = "commitlog-spare";

/// Most segments kept for reuse at once.
const MAX_SPARES: usize = 2;

pub(crate) struct CommitLog {
    dir: PathBuf,
    segment_size: u64,
    /// New segments are written full of zeroes before use.
    prefill: bool,
    /// Open segments by base offset. Read-locked by every read and fsync,
    /// write-locked only to add (roll) or drop (recovery, retention) a
    /// segment.
    segments: RwLock<BTreeMap<u64, Arc<Segment>>>,
    /// Serialises segment creation between the allocator and the writer,
    /// so neither finds the other's half-created file.
    create: Mutex<()>,
    /// With direct I/O: every log write and read goes through this cache
    /// and O_DIRECT; without (`None`): pwrite and pread via the page cache.
    cache: Option<BlockCache>,
    /// Where deleted segments wait for reuse; `None` without recycling.
    spare_dir: Option<PathBuf>,
    /// The files waiting there, full segment-sized.
    spares: Mutex<Vec<PathBuf>>,
}

/// How the log does its I/O (`StoreConfig::direct_io`, `log_cache_size`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogIo {
    pub(crate) prefill: bool,
    /// Keep deleted segments for reuse (`StoreConfig::recycle_segments`).
    pub(crate) recycle: bool,
    pub(crate) direct_io: bool,
    pub(crate) cache_size: u64,
}

impl CommitLog {
    /// Opens the segments in `dir`. They must be contiguous and sized for
    /// `segment_size`; a mismatch means the configuration changed under an
    /// existing store, which is refused rather than guessed at.
    pub(crate) fn open(dir: &Path, segment_size: u64, io: LogIo) -> Result<Self, StoreError> {
        let block = match block_size(segment_size) {
            _ if !io.direct_io => None,
            None => {
                tracing::info!(
                    segment_size,
                    "segment size is not a multiple of 4 KiB; the commit log uses the page cache"
                );
                None
            }
            Some(b) => direct_io_works(dir).then_some(b),
        };
        let mut segments = BTreeMap::new();
        let mut expect: Option<u64> = None;
        for (base, path) in numbered_files(dir)? {
            if base % segment_size != 0 || expect.is_some_and(|e| e != base) {
                return Err(StoreError::Corrupt(format!(
                    "commit-log segment {} does not follow its predecessor for segment_size {segment_size} \
                     (was the segment size changed, or a segment deleted?)",
                    path.display()
                )));
            }
            let seg = Segment::open(path, base, block.is_some())?;
            let len = seg.len_on_disk()?;
            if len > segment_size {
                return Err(StoreError::Corrupt(format!(
                    "commit-log segment {} is {len} bytes, more than segment_size {segment_size} \
                     (was the segment size changed?)",
                    seg.path().display()
                )));
            }
            segments.insert(base, Arc::new(seg));
            expect = Some(base + segment_size);
        }
        let spare_dir = dir.parent().map(|p| p.join(SPARE_DIR));
        let spares = match &spare_dir {
            Some(d) => load_spares(d, io.recycle, segment_size)?,
            None => Vec::new(),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            segment_size,
            prefill: io.prefill,
            segments: RwLock::new(segments),
            create: Mutex::new(()),
            cache: block
                .map(|b| BlockCache::new(io.cache_size, b, segment_size))
                .transpose()?,
            spare_dir: spare_dir.filter(|_| io.recycle),
            spares: Mutex::new(spares),
        })
    }

    /// Whether the log is written and read with O_DIRECT through its cache.
    pub(crate) fn direct(&self) -> bool {
        self.cache.is_some()
    }

    pub(crate) fn cache_stats(&self) -> CacheStats {
        self.cache
            .as_ref()
            .map(BlockCache::stats)
            .unwrap_or_default()
    }

    /// Writes `parts`, back to back, at commit-log offset `start`, inside
    /// `seg`: with direct I/O straight into the cache (no staging copy),
    /// otherwise gathered in `buf` for one pwrite.
    pub(crate) fn write(
        &self,
        seg: &Segment,
        start: u64,
        parts: &[&[u8]],
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        match &self.cache {
            Some(cache) => cache.write(seg, start, parts),
            None => {
                buf.clear();
                for p in parts {
                    buf.extend_from_slice(p);
                }
                seg.write_all_at(buf, start - seg.base())
            }
        }
    }

    pub(crate) fn segment_size(&self) -> u64 {
        self.segment_size
    }

    pub(crate) fn segment_base(&self, offset: u64) -> u64 {
        offset - offset % self.segment_size
    }

    /// The segment holding `offset`, if it exists.
    pub(crate) fn segment(&self, offset: u64) -> Option<Arc<Segment>> {
        self.segments
            .read()
            .get(&self.segment_base(offset))
            .cloned()
    }

    pub(crate) fn bases(&self) -> Vec<u64> {
        self.segments.read().keys().copied().collect()
    }

    /// First offset still stored: the base of the oldest segment (0 for
    /// an empty log).
    pub(crate) fn min_offset(&self) -> u64 {
        self.segments.read().keys().next().copied().unwrap_or(0)
    }

    /// The segment starting at `base`, created (sized, fsynced, directory
    /// fsynced) if it does not exist yet. Normally the allocator has made
    /// it before the writer rolls into it, so this is a map lookup.
    pub(crate) fn ensure_segment(&self, base: u64) -> io::Result<Arc<Segment>> {
        if let Some(seg) = self.segments.read().get(&base) {
            return Ok(seg.clone());
        }
        let _creating = self.create.lock();
        self.create_segment(base)
    }

    /// As [`Self::ensure_segment`] for the allocator, whose `base` may be
    /// stale: `None` (nothing made) if it would not follow the last
    /// segment, because a truncation or a reset moved the log's end
    /// meanwhile.
    pub(crate) fn ensure_next(&self, base: u64) -> io::Result<Option<Arc<Segment>>> {
        let _creating = self.create.lock();
        let follows = {
            let segs = self.segments.read();
            segs.contains_key(&base)
                || segs
                    .last_key_value()
                    .is_none_or(|(&last, _)| base == last + self.segment_size)
        };
        if !follows {
            return Ok(None);
        }
        self.create_segment(base).map(Some)
    }

    /// The segment at `base`, made if missing; the caller holds `create`.
    fn create_segment(&self, base: u64) -> io::Result<Arc<Segment>> {
        if let Some(seg) = self.segments.read().get(&base) {
            return Ok(seg.clone());
        }
        let direct = self.cache.is_some();
        let spare = self.spares.lock().pop();
        let reused = spare.and_then(|spare| {
            Segment::reuse(&spare, &self.dir, base, direct)
                .inspect_err(|e| {
                    tracing::warn!(spare = %spare.display(), error = %e, "could not reuse a spare segment; creating a new one");
                    let _ = std::fs::remove_file(&spare);
                })
                .ok()
        });
        let seg = match reused {
            Some(seg) => {
                tracing::debug!(base, "reused a spare segment");
                seg
            }
            None => {
                // With recycling, prefilled files come from `prepare_spare`,
                // made without this lock: a writer that rolls while the
                // allocator is still writing zeroes makes a plain segment
                // here instead of waiting for them.
                let prefill = self.prefill && self.spare_dir.is_none();
                let seg = Segment::create(&self.dir, base, self.segment_size, prefill, direct)?;
                tracing::debug!(base, "created commit-log segment");
                seg
            }
        };
        let seg = Arc::new(seg);
        self.segments.write().insert(base, seg.clone());
        Ok(seg)
    }

    /// With prefill and recycling on and no spare at hand, writes a new
    /// segment-sized file full of zeroes into the spare directory (named
    /// for `base`, the segment it is meant for), so that making that
    /// segment is a rename. Holds no lock while it writes: the writer never
    /// waits for these zeroes. Whether it made one.
    pub(crate) fn prepare_spare(&self, base: u64) -> io::Result<bool> {
        let Some(spare_dir) = &self.spare_dir else {
            return Ok(false);
        };
        if !self.prefill || !self.spares.lock().is_empty() {
            return Ok(false);
        }
        let (path, _, filled) = Segment::create_file(spare_dir, base, self.segment_size, true)?;
        if !filled {
            // No blocks to write zeroes into: nothing gained over a plain
            // segment made when needed.
            let _ = std::fs::remove_file(&path);
            return Ok(false);
        }
        self.spares.lock().push(path);
        Ok(true)
    }

    /// Deletes the oldest segment if it is the one at `base`. Readers that
    /// already hold it keep reading the unlinked file. With `may_keep`, and
    /// room among the spares, the file is kept for reuse instead
    /// (`StoreConfig::recycle_segments`); a reader that still holds it may
    /// then find newer bytes there, and refuses them as it refuses any
    /// record stamped for another offset.
    pub(crate) fn remove_front(&self, base: u64, may_keep: bool) -> io::Result<bool> {
        let seg = {
            let mut segs = self.segments.write();
            match segs.first_key_value() {
                Some((&b, _)) if b == base => segs.remove(&b),
                _ => None,
            }
        };
        let Some(seg) = seg else {
            return Ok(false);
        };
        if may_keep && self.keep_as_spare(&seg)? {
            return Ok(true);
        }
        std::fs::remove_file(seg.path())
            .map_err(super::error::io_at("remove segment", seg.path()))?;
        sync_dir(&self.dir)?;
        Ok(true)
    }

    /// Moves a segment that left the log into the spare directory, if
    /// recycling is on, there is room, and it is whole; whether it did.
    fn keep_as_spare(&self, seg: &Segment) -> io::Result<bool> {
        let Some(spare_dir) = &self.spare_dir else {
            return Ok(false);
        };
        // Only retention adds spares (one pass at a time), so the room seen
        // here is still there after the rename; the lock is not held
        // across it, so a roll taking a spare never waits for these fsyncs.
        if self.spares.lock().len() >= MAX_SPARES || seg.len_on_disk()? != self.segment_size {
            return Ok(false);
        }
        let to = spare_dir.join(file_name(seg.base()));
        if let Err(e) = std::fs::rename(seg.path(), &to) {
            // E.g. `commitlog/` on a file system of its own: the segment
            // is deleted as without recycling.
            tracing::warn!(segment = %seg.path().display(), spare = %to.display(), error = %e, "cannot keep a deleted segment as a spare; deleting it");
            return Ok(false);
        }
        sync_dir(&self.dir)?;
        sync_dir(spare_dir)?;
        self.spares.lock().push(to);
        tracing::debug!(base = seg.base(), "kept a deleted segment for reuse");
        Ok(true)
    }

    /// How many deleted segments wait for reuse.
    pub(crate) fn spare_count(&self) -> usize {
        self.spares.lock().len()
    }

    /// Deletes every spare segment, for their space; how many went.
    pub(crate) fn drop_spares(&self) -> io::Result<usize> {
        let spares = std::mem::take(&mut *self.spares.lock());
        for path in &spares {
            std::fs::remove_file(path)
                .map_err(super::error::io_at("remove spare segment", path))?;
        }
        if let (Some(dir), false) = (&self.spare_dir, spares.is_empty()) {
            sync_dir(dir)?;
        }
        Ok(spares.len())
    }

    /// The segment holding `[offset, offset + len)`, which must lie in one
    /// segment (records never span one).
    fn locate(&self, offset: u64, len: usize) -> Result<Arc<Segment>, StoreError> {
        let base = self.segment_base(offset);
        if offset - base + len as u64 > self.segment_size {
            return Err(StoreError::Corrupt(format!(
                "read of {len} bytes at commit-log offset {offset} crosses a segment end"
            )));
        }
        self.segment(offset).ok_or_else(|| {
            StoreError::Corrupt(format!("no commit-log segment holds offset {offset}"))
        })
    }

    /// Reads `len` bytes at `offset` with one pread.
    fn pread(seg: &Segment, offset: u64, len: usize) -> Result<Bytes, StoreError> {
        let mut buf = BytesMut::zeroed(len);
        seg.read_exact_at(&mut buf, offset - seg.base())?;
        Ok(buf.freeze())
    }

    /// Reads `len` bytes at `offset`; the range must lie in one segment
    /// (records never span segments). Through the block cache with direct
    /// I/O (loading missing blocks), otherwise one pread.
    pub(crate) fn read(&self, offset: u64, len: usize) -> Result<Bytes, StoreError> {
        let seg = self.locate(offset, len)?;
        match &self.cache {
            Some(cache) => Ok(cache.read(&seg, offset, len)?),
            None => Self::pread(&seg, offset, len),
        }
    }

    /// As [`Self::read`], for lookups that jump around the log (queries by
    /// offset, key or time): from the block cache if it holds the range,
    /// otherwise one pread of just the range, so a binary search or a key
    /// lookup neither loads nor evicts 1 MiB blocks per probe.
    pub(crate) fn read_probe(&self, offset: u64, len: usize) -> Result<Bytes, StoreError> {
        if let Some(b) = self
            .cache
            .as_ref()
            .and_then(|c| c.read_if_cached(offset, len))
        {
            return Ok(b);
        }
        Self::pread(&*self.locate(offset, len)?, offset, len)
    }

    /// fdatasyncs every segment that holds bytes of `[from, to)`; returns the
    /// number of fdatasync calls made.
    pub(crate) fn sync_range(&self, from: u64, to: u64) -> io::Result<u64> {
        if to <= from {
            return Ok(0);
        }
        let first = self.segment_base(from);
        let last = self.segment_base(to - 1);
        let segs: Vec<Arc<Segment>> = self
            .segments
            .read()
            .range(first..=last)
            .map(|(_, s)| s.clone())
            .collect();
        for s in &segs {
            s.sync_data()?;
        }
        Ok(segs.len() as u64)
    }

    /// Makes `end` the end of the log: zeroes the rest of its segment,
    /// deletes every later segment and makes sure the segment holding
    /// `end` exists. Recovery cuts a torn tail with it, truncation a
    /// divergent one.
    ///
    /// In this order, for a truncation's sake (see `replica::truncate`):
    /// the zeroes first, fsynced, so that from then on a scan of the log
    /// ends at `end`; then the later segments, highest first, each
    /// removal made durable before the next, so a crash leaves them
    /// contiguous (`open` refuses a gap). They are deleted, never kept as
    /// spares: their records are stamped for exactly the offsets the log
    /// will reach again, so a reused one could pass for new data.
    pub(crate) fn truncate(&self, end: u64) -> io::Result<()> {
        // No segment is made meanwhile (the allocator's for the old end
        // would leave a gap).
        let _creating = self.create.lock();
        let base = self.segment_base(end);
        match self.segment(end) {
            Some(seg) => seg.cut(end - base, self.segment_size)?,
            None => {
                // A new store's first segment: nothing is waiting on the
                // lock yet, so it is prefilled here (as the allocator does
                // for the later ones) rather than left to pay for its
                // extents in every fdatasync.
                if let Err(e) = self.prepare_spare(base) {
                    tracing::warn!(base, error = %e, "could not prefill the first commit-log segment; it is made without");
                }
                self.create_segment(base)?;
            }
        }
        let later: Vec<Arc<Segment>> = {
            let mut segs = self.segments.write();
            segs.split_off(&(base + 1)).into_values().rev().collect()
        };
        for seg in &later {
            // A segment made ahead of time and never written is expected
            // past the end; anything else is worth a warning.
            let mut head = [0u8; EOS_MARKER_LEN as usize];
            seg.read_zero_filled(&mut head, 0)?;
            if head.iter().any(|&b| b != 0) {
                tracing::warn!(segment = %seg.path().display(), "removing commit-log segment past the end");
            } else {
                tracing::debug!(segment = %seg.path().display(), "removing unused pre-created segment");
            }
            std::fs::remove_file(seg.path())
                .map_err(super::error::io_at("remove segment", seg.path()))?;
            sync_dir(&self.dir)?;
        }
        if let Some(cache) = &self.cache {
            cache.reset(end);
        }
        Ok(())
    }
}

impl CommitLog {
    /// Empties the log: every segment and spare is deleted, and the log
    /// starts again at `start` (a segment base) in a new, empty segment.
    /// Spares go too: one kept by retention holds records stamped for
    /// offsets the new log may reach. Not crash-safe by itself: the
    /// caller has recorded the intent (see `replica::reset`).
    pub(crate) fn reset(&self, start: u64) -> io::Result<()> {
        let _creating = self.create.lock();
        let all: Vec<Arc<Segment>> = std::mem::take(&mut *self.segments.write())
            .into_values()
            .rev()
            .collect();
        for seg in &all {
            std::fs::remove_file(seg.path())
                .map_err(super::error::io_at("remove segment", seg.path()))?;
        }
        sync_dir(&self.dir)?;
        self.drop_spares()?;
        if let Some(cache) = &self.cache {
            cache.reset(start);
        }
        self.create_segment(start).map(|_| ())
    }
}

/// Whether the file system under `dir` takes aligned O_DIRECT writes and
/// reads (some refuse them). Tried on a scratch file.
fn direct_io_works(dir: &Path) -> bool {
    let probe = dir.join(".direct-io-probe");
    let result = (|| -> io::Result<()> {
        std::fs::write(&probe, [])?;
        let f = open_direct(&probe)?;
        let mut page = AlignedBuf::new(ALIGN as usize);
        page.as_mut_slice().fill(0x5A);
        std::os::unix::fs::FileExt::write_all_at(&f, page.as_slice(), 0)?;
        let mut back = AlignedBuf::new(ALIGN as usize);
        std::os::unix::fs::FileExt::read_exact_at(&f, back.as_mut_slice(), 0)?;
        if back.as_slice() != page.as_slice() {
            return Err(io::Error::other("read back different bytes"));
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&probe);
    match result {
        Ok(()) => true,
        Err(e) => {
            tracing::info!(dir = %dir.display(), error = %e, "no direct I/O here; the commit log uses the page cache");
            false
        }
    }
}

/// The spare segments in `dir` to keep: with `recycle`, up to
/// [`MAX_SPARES`] whole ones. Others (recycling turned off, a changed
/// segment size, a file cut short) are deleted, freeing their space.
fn load_spares(dir: &Path, recycle: bool, segment_size: u64) -> io::Result<Vec<PathBuf>> {
    if !dir.exists() {
        if recycle {
            create_dir_durable(dir)?;
        }
        return Ok(Vec::new());
    }
    let mut kept = Vec::new();
    let mut removed = false;
    for (_, path) in numbered_files(dir)? {
        let whole = std::fs::metadata(&path)
            .map_err(super::error::io_at("stat spare segment", &path))?
            .len()
            == segment_size;
        if recycle && whole && kept.len() < MAX_SPARES {
            kept.push(path);
        } else {
            tracing::info!(file = %path.display(), "deleting a spare segment that will not be reused");
            std::fs::remove_file(&path)
                .map_err(super::error::io_at("remove spare segment", &path))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(kept)
}
