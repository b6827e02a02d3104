//! Apply, preconditions, revisions, the change feed, snapshots and reopening, on a real sled dir.

use dm_storage::command::Expect;
use dm_storage::feed::FeedError;
use dm_storage::spaces::{Cluster, ClusterInfo, Kv, KvValue, MemberRecord, MemberState, Members};
use dm_storage::typ::{Entry, EntryPayload, LogId};
use dm_storage::{Command, CommandOutput, OpenError, Rejected, STORAGE_VERSION, StateMachine, Store, StoreOptions};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, Membership};

fn entry(index: u64, cmd: Command) -> Entry {
    Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), index), payload: EntryPayload::Normal(cmd) }
}

fn blank(index: u64) -> Entry {
    Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), index), payload: EntryPayload::Blank }
}

fn put(key: &str, value: &str, expect: Expect) -> Command {
    Command::KvPut { key: key.into(), value: value.as_bytes().to_vec(), expect }
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, &StoreOptions::default()).expect("open")
}

fn init_cluster() -> Command {
    let m = MemberRecord {
        name: "m1".into(),
        node_id: 1,
        peer_addr: "127.0.0.1:8291".into(),
        client_addr: "127.0.0.1:8261".into(),
        state: MemberState::Joined,
    };
    Command::InitCluster { info: ClusterInfo { cluster_id: 42, version: 1, next_node_id: 2 }, members: vec![m] }
}

async fn apply(sm: &mut StateMachine, entries: Vec<Entry>) -> Vec<dm_storage::CommandResult> {
    sm.apply(entries).await.expect("apply")
}

#[tokio::test]
async fn t10_revision_is_log_index_and_records_carry_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let res = apply(
        &mut s.state_machine,
        vec![blank(1), entry(2, put("a", "1", Expect::Any)), entry(3, put("a", "2", Expect::Any))],
    )
    .await;
    assert_eq!(res.iter().map(|r| r.revision).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(res[2].outcome, Ok(CommandOutput::KvPut { create_revision: 2, version: 2 }));
    let rec = s.reader.get::<Kv>(&"a".to_string()).unwrap().unwrap();
    assert_eq!((rec.create_revision, rec.mod_revision, rec.version), (2, 3, 2));
    assert_eq!(rec.value, KvValue(b"2".to_vec()));
    assert_eq!(s.reader.revision(), 3);
}

#[tokio::test]
async fn t20_failed_precondition_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    apply(&mut s.state_machine, vec![entry(1, put("a", "1", Expect::Absent))]).await;
    let res = apply(
        &mut s.state_machine,
        vec![
            entry(2, put("a", "x", Expect::Absent)),
            entry(3, put("a", "y", Expect::ModRevision(7))),
            entry(4, Command::KvDelete { key: "a".into(), expect: Expect::ModRevision(2) }),
            entry(5, put("a", "z", Expect::ModRevision(1))),
        ],
    )
    .await;
    assert_eq!(
        res[0].outcome,
        Err(Rejected::RevisionMismatch { key: "a".into(), expected: Expect::Absent, actual: Some(1) })
    );
    assert!(matches!(res[1].outcome, Err(Rejected::RevisionMismatch { .. })));
    assert!(matches!(res[2].outcome, Err(Rejected::RevisionMismatch { .. })));
    assert!(res[3].outcome.is_ok(), "a compare that holds applies");
    let rec = s.reader.get::<Kv>(&"a".to_string()).unwrap().unwrap();
    assert_eq!((rec.value.0.as_slice(), rec.mod_revision), (&b"z"[..], 5));
}

#[tokio::test]
async fn t30_member_commands_check_their_preconditions() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let reserve = |name: &str, port: u16| Command::ReserveMember {
        name: name.into(),
        peer_addr: format!("127.0.0.1:{port}"),
        client_addr: "127.0.0.1:1".into(),
    };
    let res = apply(&mut s.state_machine, vec![entry(1, reserve("m2", 2))]).await;
    assert_eq!(res[0].outcome, Err(Rejected::ClusterNotInitialized));
    let res = apply(
        &mut s.state_machine,
        vec![
            entry(2, init_cluster()),
            entry(3, init_cluster()),
            entry(4, reserve("m2", 2)),
            entry(5, reserve("m2", 2)),
            entry(6, reserve("m2", 3)),
            entry(7, reserve("m1", 4)),
            entry(8, reserve("m3", 5)),
        ],
    )
    .await;
    assert_eq!(res[1].outcome, Err(Rejected::ClusterAlreadyInitialized { cluster_id: 42 }));
    assert_eq!(res[2].outcome, Ok(CommandOutput::MemberReserved { node_id: 2 }));
    assert_eq!(res[3].outcome, Ok(CommandOutput::MemberReserved { node_id: 2 }), "a retried join gets its id back");
    assert_eq!(res[4].outcome, Err(Rejected::MemberNameTaken { name: "m2".into(), node_id: 2 }));
    assert_eq!(res[5].outcome, Err(Rejected::MemberNameTaken { name: "m1".into(), node_id: 1 }));
    assert_eq!(res[6].outcome, Ok(CommandOutput::MemberReserved { node_id: 3 }), "ids are never reused");
    let res = apply(
        &mut s.state_machine,
        vec![
            entry(9, Command::MemberJoined { name: "m2".into(), node_id: 3 }),
            entry(10, Command::MemberJoined { name: "m2".into(), node_id: 2 }),
            entry(11, Command::RemoveMember { name: "nobody".into(), node_id: 9 }),
            entry(12, Command::RemoveMember { name: "m3".into(), node_id: 3 }),
        ],
    )
    .await;
    assert_eq!(res[0].outcome, Err(Rejected::MemberIdMismatch { name: "m2".into(), expected: 3, actual: 2 }));
    assert!(res[1].outcome.is_ok());
    assert_eq!(res[2].outcome, Err(Rejected::MemberNotFound { name: "nobody".into() }));
    assert!(res[3].outcome.is_ok());
    let members = s.reader.list::<Members>().unwrap();
    let names: Vec<_> = members.iter().map(|(k, r)| (k.as_str(), r.value.state)).collect();
    assert_eq!(names, vec![("m1", MemberState::Joined), ("m2", MemberState::Joined)]);
    assert_eq!(s.reader.get::<Cluster>(&()).unwrap().unwrap().value.next_node_id, 4);
}

#[tokio::test]
async fn t40_feed_delivers_changes_in_order_and_resumes_from_a_revision() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let (count, mut sub) = s.reader.read_and_subscribe(|v| v.list::<Kv>().unwrap().len());
    assert_eq!((count, sub.revision()), (0, 0));
    apply(
        &mut s.state_machine,
        vec![entry(1, put("a", "1", Expect::Any)), blank(2), entry(3, put("b", "1", Expect::Absent))],
    )
    .await;
    // A rejected command publishes nothing.
    apply(&mut s.state_machine, vec![entry(4, put("b", "2", Expect::Absent)), entry(5, put("c", "1", Expect::Any))])
        .await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let b = sub.next().await.unwrap();
        let (key, rec) = b.changes[0].decode::<Kv>().unwrap().unwrap();
        seen.push((b.revision, key, rec.unwrap().mod_revision));
    }
    assert_eq!(seen, vec![(1, "a".into(), 1), (3, "b".into(), 3), (5, "c".into(), 5)]);
    // Resume from revision 3: sees only 5.
    let mut resumed = s.reader.subscribe_from(3).unwrap();
    assert_eq!(resumed.next().await.unwrap().revision, 5);
    // Ahead of the state: resync.
    assert!(matches!(s.reader.subscribe_from(99), Err(FeedError::Resync { revision: 5 })));
}

#[tokio::test]
async fn t50_lagging_subscriber_is_told_to_resync() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions { feed_buffer: 2, feed_history: 2, ..Default::default() };
    let mut s = Store::open(dir.path(), &opts).unwrap();
    let (_, mut sub) = s.reader.read_and_subscribe(|_| ());
    let entries = (1..=5).map(|i| entry(i, put(&format!("k{i}"), "v", Expect::Any))).collect();
    apply(&mut s.state_machine, entries).await;
    assert_eq!(sub.next().await, Err(FeedError::Resync { revision: 0 }));
    // History keeps the last two batches: from 3 works, from 1 must resync.
    assert!(s.reader.subscribe_from(3).is_ok());
    assert!(matches!(s.reader.subscribe_from(1), Err(FeedError::Resync { revision: 5 })));
    // Re-reading gives the full state at the current revision.
    let (n, sub2) = s.reader.read_and_subscribe(|v| (v.revision(), v.list::<Kv>().unwrap().len()));
    assert_eq!((n, sub2.revision()), ((5, 5), 5));
}

#[tokio::test]
async fn t60_snapshot_round_trip_replaces_state_and_resets_subscribers() {
    let src_dir = tempfile::tempdir().unwrap();
    let mut src = open(src_dir.path());
    apply(&mut src.state_machine, vec![entry(1, init_cluster()), entry(2, put("a", "1", Expect::Any))]).await;
    let snap = src.state_machine.get_snapshot_builder().await.build_snapshot().await.unwrap();
    assert_eq!(snap.meta.last_log_id.unwrap().index, 2);

    let dst_dir = tempfile::tempdir().unwrap();
    let mut dst = open(dst_dir.path());
    apply(&mut dst.state_machine, vec![entry(1, put("stale", "x", Expect::Any))]).await;
    let (_, mut sub) = dst.reader.read_and_subscribe(|_| ());
    dst.state_machine.install_snapshot(&snap.meta, snap.snapshot).await.unwrap();
    assert_eq!(sub.next().await, Err(FeedError::Resync { revision: 2 }));
    assert!(dst.reader.get::<Kv>(&"stale".to_string()).unwrap().is_none());
    assert_eq!(dst.reader.get::<Kv>(&"a".to_string()).unwrap().unwrap().mod_revision, 2);
    assert_eq!(dst.reader.get::<Cluster>(&()).unwrap().unwrap().value.cluster_id, 42);
    let cur = dst.state_machine.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(cur.meta.snapshot_id, snap.meta.snapshot_id);
}

#[tokio::test]
async fn t70_reopen_keeps_state_and_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = open(dir.path());
        let m = Membership::new(vec![[1u64].into_iter().collect()], None);
        let me = Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), 1), payload: EntryPayload::Membership(m) };
        apply(&mut s.state_machine, vec![me, entry(2, put("a", "1", Expect::Any))]).await;
    }
    {
        let mut s = open(dir.path());
        assert_eq!(s.reader.revision(), 2);
        let (applied, membership) = s.state_machine.applied_state().await.unwrap();
        assert_eq!(applied.unwrap().index, 2);
        assert_eq!(membership.log_id().unwrap().index, 1);
        assert!(s.reader.get::<Kv>(&"a".to_string()).unwrap().is_some());
        s.force_storage_version(STORAGE_VERSION + 1).unwrap();
    }
    match Store::open(dir.path(), &StoreOptions::default()) {
        Err(OpenError::NewerVersion { found, supported, .. }) => {
            assert_eq!((found, supported), (STORAGE_VERSION + 1, STORAGE_VERSION))
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer data dir must be refused"),
    }
}

#[tokio::test]
async fn t80_second_open_of_a_dir_is_refused_while_held() {
    let dir = tempfile::tempdir().unwrap();
    let _held = open(dir.path());
    match Store::open(dir.path(), &StoreOptions::default()) {
        Err(OpenError::Locked { .. }) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a held data dir must be refused"),
    }
}

#[tokio::test]
async fn t90_batch_applies_each_command_on_its_own_at_one_revision() {
    use dm_storage::command::BatchItem;
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let (_, mut sub) = s.reader.read_and_subscribe(|_| ());
    let batch = Command::Batch(vec![
        put("x", "1", Expect::Absent),
        put("x", "2", Expect::Absent),
        put("y", "1", Expect::Any),
        Command::KvDelete { key: "nope".into(), expect: Expect::Any },
        Command::Batch(vec![]),
    ]);
    let res = apply(&mut s.state_machine, vec![entry(1, batch)]).await;
    let CommandOutput::Batch(items) = res[0].outcome.clone().unwrap() else { panic!("{res:?}") };
    let shape: Vec<(bool, bool)> = items.iter().map(|i: &BatchItem| (i.changed, i.outcome.is_ok())).collect();
    assert_eq!(shape, vec![(true, true), (false, false), (true, true), (false, true), (false, false)]);
    assert_eq!(items[4].outcome, Err(Rejected::NestedBatch));
    assert!(res[0].changed);
    let b = sub.next().await.unwrap();
    assert_eq!((b.revision, b.changes.len()), (1, 2), "one feed batch with both writes");
    let x = s.reader.get::<Kv>(&"x".to_string()).unwrap().unwrap();
    assert_eq!((x.value, x.mod_revision), (KvValue(b"1".to_vec()), 1));
}
