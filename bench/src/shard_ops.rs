//! Shard-DDL operations as the simulated workers (sim.rs) receive them on their assignment
//! streams: each operation is recorded once, with the instant it first arrived (a whole
//! assignment is re-sent whenever anything of the worker's changes, so the same operation comes
//! again), and is acked with the worker's current epoch while `auto_ack` is on — as a real
//! worker acks an operation once it executed or skipped it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dm::client::ClusterClient;
use dm::pb::master::{ShardDdlOperation, ShardMode};
use dm::worker::shardddl::ShardDdlCaller;

/// One operation as one worker got it: (worker, lock, up schema, up table, info revision, exec,
/// DDLs). The DDLs tell apart the pessimistic operations of successive locks with the same id.
pub type OpKey = (String, String, String, String, u64, bool, Vec<String>);

/// An operation the first time it arrived.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
}

/// Every simulated worker's operations.
#[derive(Default)]
pub struct ShardOps {
    /// Ack each new operation (unless its stage asks the worker to wait).
    pub auto_ack: AtomicBool,
    seen: Mutex<HashMap<OpKey, Seen>>,
    /// Acks answered with success.
    pub acked: AtomicU64,
    /// Acks refused or not answered, and the first error.
    pub ack_failed: AtomicU64,
    pub ack_error: Mutex<Option<String>>,
}

impl ShardOps {
    /// Records the operations of one assignment; returns those not seen before.
    pub fn received(&self, worker: &str, ops: &[ShardDdlOperation], at: Instant) -> Vec<ShardDdlOperation> {
        let mut seen = self.seen.lock().unwrap();
        let mut new = Vec::new();
        for op in ops {
            let key = (
                worker.to_string(),
                op.lock_id.clone(),
                op.up_schema.clone(),
                op.up_table.clone(),
                op.info_revision,
                op.exec,
                op.ddls.clone(),
            );
            if let std::collections::hash_map::Entry::Vacant(e) = seen.entry(key) {
                e.insert(Seen { at });
                new.push(op.clone());
            }
        }
        new
    }

    /// Every operation recorded so far whose key satisfies `keep`.
    pub fn select(&self, keep: impl Fn(&OpKey) -> bool) -> Vec<(OpKey, Seen)> {
        self.seen.lock().unwrap().iter().filter(|(k, _)| keep(k)).map(|(k, s)| (k.clone(), s.clone())).collect()
    }

    pub fn count(&self, keep: impl Fn(&OpKey) -> bool) -> usize {
        self.seen.lock().unwrap().keys().filter(|k| keep(k)).count()
    }
}

/// Acks one worker's operations, several at once, each on a client from a small pool (so a
/// worker keeps a few connections instead of dialing one per ack).
#[derive(Clone)]
pub struct Acker {
    masters: Vec<String>,
    pool: Arc<Mutex<Vec<ClusterClient>>>,
    ops: Arc<ShardOps>,
}

impl Acker {
    pub fn new(masters: Vec<String>, ops: Arc<ShardOps>) -> Acker {
        Acker { masters, pool: Arc::default(), ops }
    }

    /// Acks `op` on a task, as `worker` bound to `source` at `epoch`.
    pub fn ack(&self, worker: &str, source: &str, epoch: u64, op: ShardDdlOperation) {
        let waits = matches!(op.conflict_stage.as_str(), "detected" | "skip and wait for redirect" | "error");
        if !self.ops.auto_ack.load(Ordering::Relaxed) || (op.mode == ShardMode::Optimistic as i32 && waits) {
            return;
        }
        let caller = ShardDdlCaller { worker: worker.to_string(), source: source.to_string(), epoch };
        let me = self.clone();
        tokio::spawn(async move {
            let taken = me.pool.lock().unwrap().pop();
            let mut c = taken.unwrap_or_else(|| {
                ClusterClient::new(me.masters.clone(), Duration::from_secs(30))
                    .idempotent()
                    .with_attempt_timeout(Duration::from_secs(10))
            });
            match caller.ack(&mut c, &op).await {
                Ok(_) => {
                    me.ops.acked.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    me.ops.ack_failed.fetch_add(1, Ordering::Relaxed);
                    me.ops.ack_error.lock().unwrap().get_or_insert(e.to_string());
                }
            }
            me.pool.lock().unwrap().push(c);
        });
    }
}
