//! The Raft log as append-only segment files (`<data-dir>/raft-log/`), like etcd's WAL.
//!
//! A segment `<first-index>.seg` holds records `[len u32][crc32 u32][index u64][entry bytes]`,
//! little-endian, appended in index order; a new segment starts past `SEGMENT_BYTES`. An in-memory
//! index maps each log index to its record. `meta` holds the vote and the purge point, replaced
//! atomically (temp file, fsync, rename, fsync dir).
//!
//! Recovery: segments are read in order; a torn or corrupt record can only be the tail of the
//! last segment (everything before it was fsynced), so the file is cut there. Anything else is
//! corruption and refuses to open.
//!
//! Why not sled: the log is append-only and needs no B-tree, and sled writes its buffers through
//! an I/O thread pool that wakes every idle thread on each flush, which cost more CPU than the
//! writes themselves at a few thousand entries per second (docs/BENCHMARKS.md).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::keyspace::{decode, encode};
use crate::typ::{LogId, Vote};

/// A segment is closed once it grows past this. Purge removes whole segments, so the log on disk
/// stays below about two segments beyond what the snapshot policy keeps.
const SEGMENT_BYTES: u64 = 16 << 20;
const HEADER: usize = 16;

/// Vote and purge point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalMeta {
    pub vote: Option<Vote>,
    pub last_purged: Option<LogId>,
}

/// Where one record lives.
#[derive(Debug, Clone, Copy)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
}

struct Segment {
    file: Arc<File>,
    size: u64,
}

/// The open log. Not thread-safe by itself: `LogStore` wraps it in a mutex; reads copy the file
/// handle out and read without the lock.
pub struct Wal {
    dir: PathBuf,
    /// A segment is closed once it grows past this.
    segment_bytes: u64,
    /// By first index.
    segments: BTreeMap<u64, Segment>,
    index: BTreeMap<u64, Loc>,
    /// Log id of the last record (None when the log is empty).
    pub last: Option<LogId>,
    pub meta: WalMeta,
}

fn seg_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.seg"))
}

fn corrupt(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The entry's log id, decoded from a record body (an openraft `Entry` starts with it).
fn log_id_of(body: &[u8]) -> io::Result<LogId> {
    #[derive(Deserialize)]
    struct Head {
        log_id: LogId,
    }
    let head: Head = rmp_serde::from_slice(body).map_err(|e| corrupt(format!("undecodable log entry: {e}")))?;
    Ok(head.log_id)
}

impl Wal {
    pub fn open(dir: &Path) -> io::Result<Wal> {
        Self::open_with(dir, SEGMENT_BYTES)
    }

    /// Opens with another segment size (tests use small segments).
    pub fn open_with(dir: &Path, segment_bytes: u64) -> io::Result<Wal> {
        fs::create_dir_all(dir)?;
        let meta = match fs::read(dir.join("meta")) {
            Ok(b) => decode(&b, "raft log meta").map_err(|e| corrupt(e.to_string()))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => WalMeta::default(),
            Err(e) => return Err(e),
        };
        let mut firsts: Vec<u64> = Vec::new();
        for e in fs::read_dir(dir)? {
            let name = e?.file_name();
            let name = name.to_string_lossy();
            if let Some(first) = name.strip_suffix(".seg").and_then(|n| n.parse().ok()) {
                firsts.push(first);
            }
        }
        firsts.sort_unstable();
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            segment_bytes,
            segments: BTreeMap::new(),
            index: BTreeMap::new(),
            last: None,
            meta,
        };
        for (i, first) in firsts.iter().enumerate() {
            let is_last = i + 1 == firsts.len();
            wal.load_segment(*first, is_last)?;
        }
        // A purge past the end of the log (after a snapshot install) can leave older records in
        // the last segment: they are gone as far as the log is concerned.
        if let Some(p) = wal.meta.last_purged {
            wal.index = wal.index.split_off(&(p.index + 1));
            if wal.last.is_none_or(|l| l.index < p.index) {
                wal.last = Some(p);
            }
        }
        Ok(wal)
    }

    fn load_segment(&mut self, first: u64, is_last: bool) -> io::Result<()> {
        let path = seg_path(&self.dir, first);
        let bytes = fs::read(&path)?;
        let bad = |off: usize, why: &str| corrupt(format!("{} at offset {off}: {why}", path.display()));
        let mut off = 0usize;
        while off < bytes.len() {
            match parse_record(&bytes[off..]) {
                Parsed::Record { index, body, total } => {
                    let id = log_id_of(body)?;
                    let expected = self.last.map_or(first, |l| l.index + 1);
                    if id.index != index || index != expected {
                        return Err(bad(off, &format!("record {index} where {expected} was expected")));
                    }
                    self.last = Some(id);
                    self.index.insert(index, Loc { segment: first, offset: off as u64, len: total as u32 });
                    off += total;
                }
                // A torn write: only possible after the last fsync, so never acknowledged. It is
                // the end of the last segment: a record cut short, or a damaged last record.
                Parsed::Incomplete if is_last => break,
                Parsed::BadCrc { total }
                    if is_last && !matches!(parse_record(&bytes[off + total..]), Parsed::Record { .. }) =>
                {
                    break;
                }
                Parsed::Incomplete => return Err(bad(off, "record cut short")),
                Parsed::BadCrc { .. } => return Err(bad(off, "checksum mismatch")),
            }
        }
        if off < bytes.len() {
            tracing::warn!(segment = %path.display(), offset = off, dropped = bytes.len() - off, "cutting a torn tail off the raft log");
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(off as u64)?;
            f.sync_all()?;
        }
        let file = OpenOptions::new().read(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        self.segments.insert(first, Segment { file: Arc::new(file), size });
        Ok(())
    }

    pub fn first_index(&self) -> Option<u64> {
        self.index.keys().next().copied()
    }

    /// Appends encoded entries (index, log id, body) at the end; not yet durable.
    pub fn append(&mut self, entries: &[(LogId, Vec<u8>)]) -> io::Result<()> {
        let Some((first_id, _)) = entries.first() else { return Ok(()) };
        let need_new = match self.segments.last_key_value() {
            None => true,
            Some((_, seg)) => seg.size >= self.segment_bytes,
        };
        if need_new {
            if let Some((_, seg)) = self.segments.last_key_value() {
                seg.file.sync_data()?;
            }
            let path = seg_path(&self.dir, first_id.index);
            let file = OpenOptions::new().read(true).append(true).create(true).open(&path)?;
            sync_dir(&self.dir)?;
            self.segments.insert(first_id.index, Segment { file: Arc::new(file), size: 0 });
        }
        let (&seg_first, seg) = self.segments.last_key_value().expect("a segment");
        let mut buf = Vec::new();
        let mut locs = Vec::with_capacity(entries.len());
        for (id, body) in entries {
            let start = buf.len();
            let mut crc = crc32fast::Hasher::new();
            crc.update(&id.index.to_le_bytes());
            crc.update(body);
            buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc.finalize().to_le_bytes());
            buf.extend_from_slice(&id.index.to_le_bytes());
            buf.extend_from_slice(body);
            locs.push((
                id.index,
                Loc { segment: seg_first, offset: seg.size + start as u64, len: (buf.len() - start) as u32 },
            ));
        }
        (&*seg.file).write_all(&buf)?;
        let seg = self.segments.get_mut(&seg_first).expect("the segment");
        seg.size += buf.len() as u64;
        self.index.extend(locs);
        self.last = entries.last().map(|(id, _)| *id);
        Ok(())
    }

    /// The file to fsync to make every append so far durable (older segments were synced when
    /// they were closed).
    pub fn active_file(&self) -> Option<Arc<File>> {
        self.segments.last_key_value().map(|(_, s)| s.file.clone())
    }

    /// Where to read the records of `[start, end)`: file handles and offsets, read without a lock.
    pub fn locate(&self, start: u64, end: u64) -> Vec<(Arc<File>, u64, u32)> {
        self.index
            .range(start..end)
            .map(|(_, loc)| (self.segments[&loc.segment].file.clone(), loc.offset, loc.len))
            .collect()
    }

    /// Deletes every record from `index` on, durably.
    pub fn truncate(&mut self, index: u64) -> io::Result<()> {
        let Some((_, loc)) = self.index.range(index..).next().map(|(i, l)| (*i, *l)) else { return Ok(()) };
        // Newest first: a crash part-way leaves a shorter log, never one with a hole.
        let later: Vec<u64> = self.segments.range(loc.segment + 1..).rev().map(|(k, _)| *k).collect();
        for first in later {
            self.segments.remove(&first);
            fs::remove_file(seg_path(&self.dir, first))?;
        }
        let seg = self.segments.get_mut(&loc.segment).expect("segment of a record");
        seg.file.set_len(loc.offset)?;
        seg.file.sync_all()?;
        seg.size = loc.offset;
        if loc.offset == 0 {
            self.segments.remove(&loc.segment);
            fs::remove_file(seg_path(&self.dir, loc.segment))?;
        }
        sync_dir(&self.dir)?;
        self.index.split_off(&index);
        self.last = match self.index.last_key_value() {
            Some((_, loc)) => Some(read_log_id(&self.segments[&loc.segment].file, loc)?),
            None => self.meta.last_purged,
        };
        Ok(())
    }

    /// Records the purge point durably, then drops every segment wholly at or below it.
    pub fn purge(&mut self, upto: LogId) -> io::Result<()> {
        self.meta.last_purged = Some(upto);
        self.write_meta()?;
        self.index = self.index.split_off(&(upto.index + 1));
        // A purge past the end of the log (after a snapshot install) empties it: every segment
        // goes, and the next append starts a new one at its own index.
        let past_end = self.last.is_none_or(|l| l.index <= upto.index);
        let firsts: Vec<u64> = self.segments.keys().copied().collect();
        for (i, first) in firsts.iter().enumerate() {
            // A segment is wholly purged when the next one starts at or below upto + 1.
            let next_first = firsts.get(i + 1).copied();
            if past_end || next_first.is_some_and(|n| n <= upto.index + 1) {
                self.segments.remove(first);
                fs::remove_file(seg_path(&self.dir, *first))?;
            }
        }
        if self.last.is_none_or(|l| l.index < upto.index) {
            self.last = Some(upto);
        }
        Ok(())
    }

    pub fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        self.meta.vote = Some(*vote);
        self.write_meta()
    }

    fn write_meta(&self) -> io::Result<()> {
        let tmp = self.dir.join("meta.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&encode(&self.meta))?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join("meta"))?;
        sync_dir(&self.dir)
    }
}

enum Parsed<'a> {
    Record {
        index: u64,
        body: &'a [u8],
        total: usize,
    },
    /// The buffer ends before the record does.
    Incomplete,
    /// A whole record whose checksum does not match.
    BadCrc {
        total: usize,
    },
}

fn parse_record(buf: &[u8]) -> Parsed<'_> {
    if buf.len() < HEADER {
        return Parsed::Incomplete;
    }
    let word = |r: std::ops::Range<usize>| buf[r].iter().rev().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let (len, crc, index) = (word(0..4) as usize, word(4..8) as u32, word(8..16));
    let Some(body) = buf.get(HEADER..HEADER + len) else { return Parsed::Incomplete };
    let mut h = crc32fast::Hasher::new();
    h.update(&index.to_le_bytes());
    h.update(body);
    if h.finalize() == crc {
        Parsed::Record { index, body, total: HEADER + len }
    } else {
        Parsed::BadCrc { total: HEADER + len }
    }
}

fn read_log_id(file: &File, loc: &Loc) -> io::Result<LogId> {
    log_id_of(&read_record(file, loc.offset, loc.len)?)
}

/// Reads and checks one record; returns its body.
pub fn read_record(file: &File, offset: u64, len: u32) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    match parse_record(&buf) {
        Parsed::Record { body, .. } => Ok(body.to_vec()),
        _ => Err(corrupt(format!("bad record at offset {offset}"))),
    }
}
