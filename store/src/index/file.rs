//! One index file (layout in `format`): fixed size, named (20 digits)
//! after the commit-log offset of the first record it indexes, like
//! RocketMQ's IndexFile.
//!
//! A file is append-only: dispatch (one round at a time, on whichever
//! thread runs it) writes entries with one pwrite per round, then publishes
//! `next`, then the slots, which live in memory (`table`) while the file is
//! active. The slot table reaches the disk only when the file is sealed
//! (full) or at a clean shutdown, each time as: slots, fdatasync, header
//! "clean" with `next`, fdatasync. A clean header whose `next` equals what
//! the checkpoint recorded therefore vouches for the slots on disk;
//! anything else is rebuilt from the entries (which are fdatasynced with
//! every checkpoint).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use super::format::{Entry, Header, ENTRY_LEN, HEADER_LEN, SLOT_LEN};
use super::IndexItem;
use crate::error::{io_at, Damage, StoreError};
use crate::fsutil::{file_name, sync_dir};

/// Entries or slots moved per pread/pwrite when a whole region is read or
/// written (rebuild, seal).
const CHUNK_BYTES: usize = 1 << 20;

/// The hash slots of a file, shared lock-free with queries.
type SlotTable = Arc<[AtomicU32]>;

pub(crate) struct IndexFile {
    /// Name: commit-log offset of (about) the first record indexed.
    pub(crate) base: u64,
    path: PathBuf,
    file: File,
    header: Header,
    /// Next free entry; entries below it are written.
    next: AtomicU32,
    /// Highest commit-log offset indexed (retention deletes the file once
    /// the log starts above it).
    end_phy: AtomicU64,
    /// Upper bound of the store times indexed, ms.
    end_ts: AtomicU64,
    /// The slots while they are newer in memory than on disk (active file,
    /// or full but not yet sealed); `None` once the disk has them.
    table: RwLock<Option<SlotTable>>,
}

fn new_table(n: u32) -> SlotTable {
    (0..n).map(|_| AtomicU32::new(0)).collect()
}

impl IndexFile {
    fn total_len(slots: u32, entries: u32) -> u64 {
        HEADER_LEN + u64::from(slots) * SLOT_LEN + u64::from(entries) * ENTRY_LEN
    }

    fn entries_at(&self) -> u64 {
        HEADER_LEN + u64::from(self.header.slots) * SLOT_LEN
    }

    /// Creates an empty, durable file (sparse, fixed size).
    pub(crate) fn create(
        dir: &Path,
        base: u64,
        begin_ts: u64,
        slots: u32,
        entries: u32,
    ) -> io::Result<Self> {
        let path = dir.join(file_name(base));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_at("create index file", &path))?;
        let header = Header {
            slots,
            entries,
            begin_ts,
            begin_phy: base,
            clean: false,
            next: 1,
        };
        file.set_len(Self::total_len(slots, entries))
            .and_then(|()| file.write_all_at(&header.encode(), 0))
            .and_then(|()| file.sync_all())
            .map_err(io_at("initialise index file", &path))?;
        sync_dir(dir)?;
        tracing::debug!(base, "created index file");
        Ok(Self {
            base,
            path,
            file,
            header,
            next: AtomicU32::new(1),
            end_phy: AtomicU64::new(base),
            end_ts: AtomicU64::new(begin_ts),
            table: RwLock::new(Some(new_table(slots))),
        })
    }

    /// Opens a file and checks its header against the configured geometry.
    /// Slots and `next` are not trusted yet: see [`Self::restore`].
    ///
    /// # Errors
    /// `Io` if the file cannot be opened or read, `CorruptFile` if its
    /// header does not decode or was made for another geometry.
    pub(crate) fn open(
        path: PathBuf,
        base: u64,
        slots: u32,
        entries: u32,
    ) -> Result<Self, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_at("open index file", &path))?;
        let mut b = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut b, 0)
            .map_err(io_at("read index header", &path))?;
        let header = match Header::decode(&b) {
            Ok(h) => h,
            Err(reason) => return Err(StoreError::CorruptFile { path, reason }),
        };
        let len = file
            .metadata()
            .map_err(io_at("stat index file", &path))?
            .len();
        if header.slots != slots
            || header.entries != entries
            || len != Self::total_len(slots, entries)
        {
            let reason = Damage::GeometryMismatch {
                slots: header.slots,
                entries: header.entries,
                len,
                want_slots: slots,
                want_entries: entries,
            };
            return Err(StoreError::CorruptFile { path, reason });
        }
        Ok(Self {
            base,
            path,
            file,
            header,
            next: AtomicU32::new(1),
            end_phy: AtomicU64::new(base),
            end_ts: AtomicU64::new(header.begin_ts),
            table: RwLock::new(None),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn next(&self) -> u32 {
        self.next.load(Ordering::Acquire)
    }

    pub(crate) fn is_full(&self) -> bool {
        self.next() >= self.header.entries
    }

    pub(crate) fn end_phy(&self) -> u64 {
        self.end_phy.load(Ordering::Acquire)
    }

    /// Whether the file may hold entries stored within `[begin, end]` ms.
    pub(crate) fn overlaps(&self, begin: u64, end: u64) -> bool {
        self.header.begin_ts <= end.saturating_add(1000)
            && self.end_ts.load(Ordering::Acquire) >= begin
    }

    /// Store time bounds `[lo, hi)` of an entry (second granularity).
    pub(crate) fn entry_time(&self, e: &Entry) -> (u64, u64) {
        let lo = self.header.begin_ts + u64::from(e.delta_s) * 1000;
        (lo, lo + 1000)
    }

    /// Makes the file usable after open, given how many entries are known
    /// good (`next`, from the checkpoint). Trusts the slots on disk only if
    /// the header vouches for exactly that state; otherwise rebuilds them
    /// from the entries. With `active` the slots are kept in memory and the
    /// header is marked dirty first, because new entries will follow.
    pub(crate) fn restore(&self, next: u32, active: bool) -> Result<(), StoreError> {
        if next < 1 || next > self.header.entries {
            return Err(self.damaged(Damage::EntryCountOutOfRange {
                next,
                capacity: self.header.entries,
            }));
        }
        let trusted = self.header.clean && self.header.next == next;
        self.next.store(next, Ordering::Release);
        if next > 1 {
            let last = self.entry(next - 1)?;
            self.end_phy.store(last.phys, Ordering::Release);
            self.end_ts
                .store(self.entry_time(&last).1, Ordering::Release);
        }
        if trusted && !active {
            return Ok(());
        }
        if self.header.clean {
            self.write_header(false)?;
        }
        let table = if trusted {
            self.read_slots()?
        } else {
            tracing::info!(file = %self.path.display(), entries = next - 1, "rebuilding index slots from entries");
            self.rebuild_slots(next)?
        };
        *self.table.write() = Some(table);
        if !active {
            self.seal()?;
        }
        Ok(())
    }

    fn damaged(&self, reason: Damage) -> StoreError {
        StoreError::CorruptFile {
            path: self.path.clone(),
            reason,
        }
    }

    fn read_slots(&self) -> Result<SlotTable, StoreError> {
        let table = new_table(self.header.slots);
        let mut buf = vec![0u8; CHUNK_BYTES];
        let per = CHUNK_BYTES / SLOT_LEN as usize;
        for (c, chunk) in table.chunks(per).enumerate() {
            let bytes = &mut buf[..chunk.len() * SLOT_LEN as usize];
            let at = HEADER_LEN + (c * per) as u64 * SLOT_LEN;
            self.file
                .read_exact_at(bytes, at)
                .map_err(io_at("read index slots", &self.path))?;
            for (slot, b) in chunk.iter().zip(bytes.chunks_exact(4)) {
                slot.store(
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    Ordering::Relaxed,
                );
            }
        }
        Ok(table)
    }

    fn rebuild_slots(&self, next: u32) -> Result<SlotTable, StoreError> {
        let table = new_table(self.header.slots);
        let per = (CHUNK_BYTES / ENTRY_LEN as usize) as u32;
        let mut buf = Vec::new();
        let mut i = 1u32;
        while i < next {
            let n = per.min(next - i);
            buf.resize(n as usize * ENTRY_LEN as usize, 0);
            self.file
                .read_exact_at(&mut buf, self.entries_at() + u64::from(i) * ENTRY_LEN)
                .map_err(io_at("read index entries", &self.path))?;
            for (k, b) in buf.chunks_exact(ENTRY_LEN as usize).enumerate() {
                let idx = i + k as u32;
                let e = Entry::decode(b);
                if e.prev >= idx {
                    return Err(self.damaged(Damage::ForwardLink {
                        entry: idx,
                        prev: e.prev,
                    }));
                }
                if let Some(slot) = table.get((e.hash % self.header.slots) as usize) {
                    slot.store(idx, Ordering::Relaxed);
                }
            }
            i += n;
        }
        Ok(table)
    }

    fn write_header(&self, clean: bool) -> io::Result<()> {
        let h = Header {
            clean,
            next: self.next(),
            ..self.header
        };
        self.file
            .write_all_at(&h.encode(), 0)
            .and_then(|()| self.file.sync_data())
            .map_err(io_at("write index header", &self.path))
    }

    /// Writes the in-memory slots to disk and marks the file clean, with an
    /// fdatasync in between so a clean header never precedes its slots.
    /// With `release`, the memory copy is dropped afterwards (full file).
    pub(crate) fn persist_slots(&self, release: bool) -> io::Result<()> {
        let Some(table) = self.table.read().clone() else {
            return Ok(());
        };
        let per = CHUNK_BYTES / SLOT_LEN as usize;
        let mut buf = Vec::with_capacity(CHUNK_BYTES);
        for (c, chunk) in table.chunks(per).enumerate() {
            buf.clear();
            for s in chunk {
                buf.extend_from_slice(&s.load(Ordering::Acquire).to_be_bytes());
            }
            let at = HEADER_LEN + (c * per) as u64 * SLOT_LEN;
            self.file
                .write_all_at(&buf, at)
                .map_err(io_at("write index slots", &self.path))?;
        }
        self.file
            .sync_data()
            .map_err(io_at("fdatasync index file", &self.path))?;
        self.write_header(true)?;
        if release {
            *self.table.write() = None;
        }
        Ok(())
    }

    /// The first entry for a record at or above commit-log offset `at`
    /// (`next` if none), or `None` if even the first entry is (entries
    /// are in log order).
    pub(crate) fn first_at_or_above(&self, at: u64) -> io::Result<Option<u32>> {
        let next = self.next();
        if next <= 1 || self.entry(1)?.phys >= at {
            return Ok(None);
        }
        // Invariant: entry `lo` is below `at`, entry `hi` is not (or is
        // `next`).
        let (mut lo, mut hi) = (1, next);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)?.phys < at {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(Some(hi))
    }

    /// Truncation: forgets the entries from `next` on (at least one stays)
    /// and makes the file the active one again, its slots rebuilt in
    /// memory from the entries that stay. The header is marked dirty
    /// first: one an earlier seal marked clean must not vouch for the
    /// slots on disk any more.
    pub(crate) fn cut(&self, next: u32) -> Result<(), StoreError> {
        if next < 2 || next > self.next() {
            return Err(self.damaged(Damage::EntryCountOutOfRange {
                next,
                capacity: self.header.entries,
            }));
        }
        self.write_header(false)?;
        self.next.store(next, Ordering::Release);
        let last = self.entry(next - 1)?;
        self.end_phy.store(last.phys, Ordering::Release);
        self.end_ts
            .store(self.entry_time(&last).1, Ordering::Release);
        let table = self.rebuild_slots(next)?;
        *self.table.write() = Some(table);
        Ok(())
    }

    /// Seals a full file: slots to disk, memory released.
    pub(crate) fn seal(&self) -> io::Result<()> {
        self.persist_slots(true)
    }

    /// Makes the entries written so far durable.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file
            .sync_data()
            .map_err(io_at("fdatasync index file", &self.path))
    }

    pub(crate) fn entry(&self, idx: u32) -> io::Result<Entry> {
        let mut b = [0u8; ENTRY_LEN as usize];
        self.file
            .read_exact_at(&mut b, self.entries_at() + u64::from(idx) * ENTRY_LEN)
            .map_err(io_at("read index entry", &self.path))?;
        Ok(Entry::decode(&b))
    }

    /// The newest entry whose hash maps to `hash`'s slot, 0 if none.
    pub(crate) fn slot(&self, hash: u32) -> io::Result<u32> {
        let s = hash % self.header.slots;
        if let Some(t) = self.table.read().as_ref() {
            return Ok(t.get(s as usize).map_or(0, |v| v.load(Ordering::Acquire)));
        }
        let mut b = [0u8; SLOT_LEN as usize];
        self.file
            .read_exact_at(&mut b, HEADER_LEN + u64::from(s) * SLOT_LEN)
            .map_err(io_at("read index slot", &self.path))?;
        Ok(u32::from_be_bytes(b))
    }

    /// Appends as many of `items` as fit; returns how many. Dispatch rounds
    /// (one at a time) and recovery only.
    /// Order matters for lock-free readers: entries are written, then `next`
    /// is published, then the slots, so a reader that sees a slot value can
    /// read the entry it names.
    pub(crate) fn append(&self, items: &[IndexItem]) -> io::Result<usize> {
        let Some(table) = self.table.read().clone() else {
            return Err(io::Error::other(format!(
                "index file {} is sealed",
                self.path.display()
            )));
        };
        let next = self.next.load(Ordering::Acquire);
        let n = (self.header.entries - next).min(items.len() as u32);
        let mut newest: SlotMap = HashMap::with_capacity_and_hasher(n as usize, Default::default());
        let mut buf = Vec::with_capacity(n as usize * ENTRY_LEN as usize);
        let (mut end_phy, mut end_ts) = (0, 0);
        let items = &items[..n as usize];
        // The slots are scattered over a table of megabytes, so nearly
        // every load misses the CPU cache. Loading them all first, in a
        // loop of independent loads, lets those misses overlap (half the
        // time per entry in a stand-alone test of this loop).
        let slots: Vec<(u32, u32)> = items
            .iter()
            .map(|it| {
                let s = it.hash % self.header.slots;
                let head = table
                    .get(s as usize)
                    .map_or(0, |v| v.load(Ordering::Acquire));
                (s, head)
            })
            .collect();
        for (k, (it, &(s, head))) in items.iter().zip(&slots).enumerate() {
            let idx = next + k as u32;
            let prev = newest.insert(s, idx).unwrap_or(head);
            let delta_s =
                (it.ts.saturating_sub(self.header.begin_ts) / 1000).min(u64::from(u32::MAX)) as u32;
            Entry {
                hash: it.hash,
                phys: it.phys,
                delta_s,
                prev,
            }
            .encode_into(&mut buf);
            end_phy = end_phy.max(it.phys);
            end_ts = end_ts.max(it.ts);
        }
        self.file
            .write_all_at(&buf, self.entries_at() + u64::from(next) * ENTRY_LEN)
            .map_err(io_at("write index entries", &self.path))?;
        self.end_phy.fetch_max(end_phy, Ordering::AcqRel);
        self.end_ts.fetch_max(end_ts, Ordering::AcqRel);
        self.next.store(next + n, Ordering::Release);
        for (s, idx) in newest {
            if let Some(v) = table.get(s as usize) {
                v.store(idx, Ordering::Release);
            }
        }
        Ok(n as usize)
    }
}

/// Slot → newest entry within one `append`. Slots are already hash values,
/// so one multiplication is hash enough (the default SipHash was a visible
/// share of the dispatcher's time, one lookup per message).
type SlotMap = HashMap<u32, u32, BuildHasherDefault<SlotHasher>>;

#[derive(Default)]
struct SlotHasher(u64);

impl Hasher for SlotHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_chain_and_slots_survive_a_seal_and_a_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let f = IndexFile::create(dir.path(), 100, 5_000, 4, 16).unwrap();
        let items: Vec<IndexItem> = (0..10u64)
            .map(|i| IndexItem {
                hash: (i % 3) as u32,
                phys: 100 + i * 10,
                ts: 5_000 + i * 1000,
            })
            .collect();
        assert_eq!(f.append(&items).unwrap(), 10);
        // Hash 0: items 0, 3, 6, 9 -> entries 1, 4, 7, 10.
        let mut chain = Vec::new();
        let mut idx = f.slot(0).unwrap();
        while idx != 0 {
            let e = f.entry(idx).unwrap();
            chain.push(e.phys);
            idx = e.prev;
        }
        assert_eq!(chain, vec![190, 160, 130, 100]);
        assert_eq!(f.end_phy(), 190);
        assert_eq!(f.entry_time(&f.entry(10).unwrap()), (14_000, 15_000));
        // More than fits: only the room left is taken.
        assert_eq!(f.append(&items).unwrap(), 5);
        assert!(f.is_full());

        f.seal().unwrap();
        assert_eq!(f.slot(0).unwrap(), 14, "read from disk after sealing");
        let path = f.path().to_path_buf();
        drop(f);
        let g = IndexFile::open(path.clone(), 100, 4, 16).unwrap();
        g.restore(16, false).unwrap();
        assert_eq!(g.slot(0).unwrap(), 14);
        // Not vouched for (fewer entries than the header says): rebuilt.
        let h = IndexFile::open(path, 100, 4, 16).unwrap();
        h.restore(11, true).unwrap();
        assert_eq!(h.slot(0).unwrap(), 10);
        assert_eq!(h.slot(1).unwrap(), 8);
        assert!(IndexFile::open(h.path().to_path_buf(), 100, 8, 16).is_err());
    }

    /// Many entries over few slots, in rounds of different sizes: every
    /// slot's chain lists exactly its entries, newest first.
    #[test]
    fn chains_hold_every_entry_of_their_slot_across_rounds() {
        let dir = tempfile::tempdir().unwrap();
        let slots = 37;
        let f = IndexFile::create(dir.path(), 1, 0, slots, 5_000).unwrap();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut all = Vec::new();
        for round in [1usize, 7, 300, 2, 1000, 64] {
            let items: Vec<IndexItem> = (0..round)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let i = all.len() as u64;
                    all.push(x as u32 % 1000);
                    IndexItem {
                        hash: x as u32 % 1000,
                        phys: 10 + i,
                        ts: 1000,
                    }
                })
                .collect();
            assert_eq!(f.append(&items).unwrap(), round);
        }
        for slot in 0..slots {
            let mut chain = Vec::new();
            let mut idx = f.slot(slot).unwrap();
            while idx != 0 {
                let e = f.entry(idx).unwrap();
                chain.push(e.phys - 10);
                idx = e.prev;
            }
            let want: Vec<u64> = (0..all.len() as u64)
                .rev()
                .filter(|&i| all[i as usize] % slots == slot)
                .collect();
            assert_eq!(chain, want, "slot {slot}");
        }
    }
}
