//! Prometheus metrics of one master, in its own registry (several masters share a process in
//! tests): Raft term, leader, applied index, whether this node runs the leader components, and
//! the commit latency of proposals.

use prometheus::{Encoder, Histogram, HistogramOpts, IntGauge, Registry, TextEncoder};

use crate::raft::typ::RaftMetrics;

pub struct NodeMetrics {
    registry: Registry,
    term: IntGauge,
    leader_id: IntGauge,
    applied_index: IntGauge,
    last_log_index: IntGauge,
    snapshot_index: IntGauge,
    is_leader: IntGauge,
    proposal_seconds: Histogram,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    registry.register(Box::new(g.clone())).expect("unique metric");
    g
}

impl NodeMetrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let buckets = vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0];
        let proposal_seconds = Histogram::with_opts(
            HistogramOpts::new("dm_proposal_commit_seconds", "Time from proposing a command to its apply result.")
                .buckets(buckets),
        )
        .expect("valid histogram");
        registry.register(Box::new(proposal_seconds.clone())).expect("unique metric");
        Self {
            term: gauge(&registry, "dm_raft_term", "Current Raft term."),
            leader_id: gauge(&registry, "dm_raft_leader_id", "Node id of the known Raft leader (0 = none)."),
            applied_index: gauge(&registry, "dm_raft_applied_index", "Last log index applied to the state machine."),
            last_log_index: gauge(&registry, "dm_raft_last_log_index", "Last log index in this node's log."),
            snapshot_index: gauge(&registry, "dm_raft_snapshot_index", "Last log index covered by the snapshot."),
            is_leader: gauge(&registry, "dm_is_leader", "1 when this master runs the leader components, else 0."),
            proposal_seconds,
            registry,
        }
    }

    pub fn observe_raft(&self, m: &RaftMetrics) {
        self.term.set(m.current_term as i64);
        self.leader_id.set(m.current_leader.unwrap_or(0) as i64);
        self.applied_index.set(m.last_applied.map(|l| l.index).unwrap_or(0) as i64);
        self.last_log_index.set(m.last_log_index.unwrap_or(0) as i64);
        self.snapshot_index.set(m.snapshot.map(|l| l.index).unwrap_or(0) as i64);
    }

    pub fn set_leader(&self, leading: bool) {
        self.is_leader.set(leading as i64);
    }

    pub fn observe_proposal(&self, seconds: f64) {
        self.proposal_seconds.observe(seconds);
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("text encoding");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self::new()
    }
}
