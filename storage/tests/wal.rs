//! The segment-file Raft log: reopen, torn tails, truncation and purge across segments.

use std::fs::OpenOptions;
use std::io::Write;

use dm_storage::keyspace::encode;
use dm_storage::typ::{Entry, EntryPayload, LogId};
use dm_storage::wal::{Wal, read_record};
use openraft::CommittedLeaderId;

fn id(i: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(2, 1), i)
}

fn records(range: std::ops::RangeInclusive<u64>) -> Vec<(LogId, Vec<u8>)> {
    range.map(|i| (id(i), encode(&Entry { log_id: id(i), payload: EntryPayload::Blank }))).collect()
}

fn indexes(w: &Wal, start: u64, end: u64) -> Vec<u64> {
    w.locate(start, end)
        .into_iter()
        .map(|(f, off, len)| {
            let body = read_record(&f, off, len).unwrap();
            let e: Entry = rmp_serde::from_slice(&body).unwrap();
            e.log_id.index
        })
        .collect()
}

fn segments(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn t10_reopen_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut w = Wal::open_with(dir.path(), 200).unwrap();
        for chunk in 0..10 {
            w.append(&records(chunk * 10 + 1..=chunk * 10 + 10)).unwrap();
        }
        w.active_file().unwrap().sync_data().unwrap();
    }
    assert!(segments(dir.path()).len() > 3, "small segments roll over");
    let w = Wal::open_with(dir.path(), 200).unwrap();
    assert_eq!(w.last, Some(id(100)));
    assert_eq!(indexes(&w, 1, 101), (1..=100).collect::<Vec<_>>());
    assert_eq!(indexes(&w, 40, 45), vec![40, 41, 42, 43, 44]);
}

#[test]
fn t20_torn_tail_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut w = Wal::open(dir.path()).unwrap();
        w.append(&records(1..=5)).unwrap();
    }
    let seg = dir.path().join(&segments(dir.path())[0]);
    let good_len = std::fs::metadata(&seg).unwrap().len();
    OpenOptions::new().append(true).open(&seg).unwrap().write_all(&[7, 0, 0, 0, 1, 2, 3]).unwrap();
    let mut w = Wal::open(dir.path()).unwrap();
    assert_eq!(w.last, Some(id(5)));
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), good_len, "the torn record is removed");
    w.append(&records(6..=6)).unwrap();
    drop(w);
    assert_eq!(Wal::open(dir.path()).unwrap().last, Some(id(6)));
}

#[test]
fn t30_corruption_before_the_tail_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut w = Wal::open_with(dir.path(), 100).unwrap();
        for i in 1..=20 {
            w.append(&records(i..=i)).unwrap();
        }
    }
    let first = dir.path().join(&segments(dir.path())[0]);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&first, bytes).unwrap();
    assert!(Wal::open_with(dir.path(), 100).is_err());
}

#[test]
fn t40_truncate_and_purge_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut w = Wal::open_with(dir.path(), 150).unwrap();
        for i in 1..=60 {
            w.append(&records(i..=i)).unwrap();
        }
        w.truncate(41).unwrap();
        assert_eq!(w.last, Some(id(40)));
        w.purge(id(25)).unwrap();
        assert!(w.first_index().unwrap() > 25);
        assert_eq!(w.meta.last_purged, Some(id(25)));
    }
    let w = Wal::open_with(dir.path(), 150).unwrap();
    assert_eq!(w.last, Some(id(40)));
    assert_eq!(w.meta.last_purged, Some(id(25)));
    let first = w.first_index().unwrap();
    assert!(first <= 26, "entries after the purge point are kept (first is {first})");
    assert_eq!(indexes(&w, 26, 41), (26..=40).collect::<Vec<_>>());
}

#[test]
fn t50_a_missing_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut w = Wal::open_with(dir.path(), 100).unwrap();
        for i in 1..=20 {
            w.append(&records(i..=i)).unwrap();
        }
    }
    let segs = segments(dir.path());
    assert!(segs.len() >= 3);
    std::fs::remove_file(dir.path().join(&segs[1])).unwrap();
    assert!(Wal::open_with(dir.path(), 100).is_err(), "a hole in the log is corruption");
}

#[test]
fn t60_damage_before_good_records_of_the_last_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut w = Wal::open(dir.path()).unwrap();
        w.append(&records(1..=10)).unwrap();
    }
    let seg = dir.path().join(&segments(dir.path())[0]);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    assert!(Wal::open(dir.path()).is_err(), "acknowledged records after the damage must not be cut");

    // The same damage in the last record is a torn write: cut, and the rest survives.
    bytes[20] ^= 0xff;
    let last = bytes.len() - 3;
    bytes[last] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    assert_eq!(Wal::open(dir.path()).unwrap().last, Some(id(9)));
}

#[test]
fn t70_purge_past_the_end_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut w = Wal::open(dir.path()).unwrap();
        w.append(&records(1..=10)).unwrap();
        w.purge(id(50)).unwrap();
        assert_eq!(w.last, Some(id(50)));
        assert_eq!(w.first_index(), None);
    }
    let mut w = Wal::open(dir.path()).unwrap();
    assert_eq!((w.last, w.first_index()), (Some(id(50)), None), "purged records stay gone");
    w.append(&records(51..=52)).unwrap();
    drop(w);
    let w = Wal::open(dir.path()).unwrap();
    assert_eq!(indexes(&w, 0, 100), vec![51, 52]);
}
