//! The worker's session with the masters: registration, the heartbeat loop, the self-fencing
//! watchdog, and the goodbye on a clean stop (steps 1–3 and 5 of the worker protocol).

use std::time::{Duration, Instant};

use super::state::Holding;
use super::{WorkerError, WorkerShared};
use crate::client::ClusterClient;
use crate::error::ErrorCode;
use crate::pb::master::{RegisterWorkerRequest, WorkerHeartbeatRequest, WorkerStoppingRequest};

/// Fence after this share of the keepalive TTL without an acknowledged heartbeat.
pub const FENCE_SHARE: f64 = 0.8;
/// Abort what has not stopped by this share of the TTL.
pub const HARD_STOP_SHARE: f64 = 0.95;

fn ttl_ms(s: &WorkerShared) -> u64 {
    s.config.keepalive_ttl.as_millis() as u64
}

/// Step 1: RegisterWorker through any master, retried until `join_timeout`. It does not move the
/// fence clock: only a heartbeat tells the leader the worker is alive.
pub async fn register(s: &WorkerShared) -> Result<(), WorkerError> {
    let mut client = ClusterClient::new(s.config.join.clone(), s.opts.join_timeout)
        .idempotent()
        .with_attempt_timeout(Duration::from_secs(3));
    let req = RegisterWorkerRequest {
        name: s.config.name.clone(),
        address: s.config.advertise_addr.clone(),
        keepalive_ttl_ms: ttl_ms(s),
    };
    let r = crate::cluster_call!(client, register_worker, req).map_err(WorkerError::Unreachable)?;
    if !r.result {
        return Err(WorkerError::Refused { code: r.code, msg: r.msg });
    }
    Ok(())
}

/// Step 2: one heartbeat per interval; an acknowledgement moves the fence clock to its send time.
pub async fn heartbeat_loop(s: std::sync::Arc<WorkerShared>) {
    let interval = s.config.heartbeat_interval;
    // One attempt per master takes at most half an interval, so a dead or silent master leaves
    // time for another within the same heartbeat.
    let mut client =
        ClusterClient::new(s.config.join.clone(), interval).idempotent().with_attempt_timeout(interval / 2);
    let mut next = tokio::time::Instant::now();
    loop {
        next += interval;
        tokio::select! {
            _ = s.loops.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        let snap = s.state.snapshot();
        let req = WorkerHeartbeatRequest {
            name: s.config.name.clone(),
            keepalive_ttl_ms: ttl_ms(&s),
            working_source: snap.holding.as_ref().map(|h| h.source.clone()).unwrap_or_default(),
            working_epoch: snap.holding.as_ref().map(|h| h.epoch).unwrap_or(0),
            assignment_revision: snap.revision,
            subtasks: snap.subtasks(),
        };
        let sent = Instant::now();
        match crate::cluster_call!(client, worker_heartbeat, req) {
            Ok(r) if r.result || r.stale_epoch => {
                tracing::debug!(took = ?sent.elapsed(), master = ?client.preferred(), "heartbeat acknowledged");
                s.acked.send_replace(sent);
                if snap.fenced {
                    tracing::info!("heartbeats acknowledged again; resuming from a fresh assignment");
                    s.state.unfence().await;
                }
                if r.stale_epoch
                    && let Some(h) = &snap.holding
                {
                    s.state.drop_stale(&Holding { source: h.source.clone(), epoch: h.epoch }, &s.opts.audit).await;
                }
            }
            Ok(r) if r.code == ErrorCode::WorkerNotFound.as_i32() => {
                tracing::warn!("the leader does not know this worker; registering again");
                if let Err(e) = register(&s).await {
                    tracing::warn!(error = %e, "registering again failed");
                }
            }
            Ok(r) => tracing::warn!(code = r.code, msg = %r.msg, "heartbeat refused"),
            Err(e) => tracing::debug!(error = %e, "heartbeat not acknowledged"),
        }
    }
}

/// Step 3: fences exactly when 0.8 × TTL has passed since the last acknowledged send; runners
/// that have not stopped by 0.95 × TTL are aborted, so all work ends before the leader can move
/// the source.
pub async fn fence_watchdog(s: std::sync::Arc<WorkerShared>) {
    let window = s.config.keepalive_ttl.mul_f64(FENCE_SHARE);
    let hard = s.config.keepalive_ttl.mul_f64(HARD_STOP_SHARE);
    let mut acked = s.acked.subscribe();
    loop {
        let last = *acked.borrow_and_update();
        let deadline = last + window;
        tokio::select! {
            _ = s.loops.cancelled() => return,
            changed = acked.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep_until(deadline.into()) => {
                if !s.state.snapshot().fenced {
                    tracing::warn!(ttl = ?s.config.keepalive_ttl, "no heartbeat acknowledged for 0.8 × keepalive-ttl; stopping all work");
                    s.state.fence(&s.opts.audit, last + hard).await;
                }
                // Wait for the next acknowledgement before looking again.
                tokio::select! {
                    _ = s.loops.cancelled() => return,
                    changed = acked.changed() => if changed.is_err() { return },
                }
            }
        }
    }
}

/// Step 5: tell the leader this worker has stopped, so its source is released at once.
pub async fn say_goodbye(s: &WorkerShared) {
    let mut client = ClusterClient::new(s.config.join.clone(), Duration::from_secs(3));
    let req = WorkerStoppingRequest { name: s.config.name.clone() };
    match crate::cluster_call!(client, worker_stopping, req) {
        Ok(r) if r.result => tracing::info!("the leader released this worker's source"),
        Ok(r) => tracing::warn!(msg = %r.msg, "the leader did not take the goodbye; the source moves after the TTL"),
        Err(e) => tracing::warn!(error = %e, "cannot tell the leader; the source moves after the TTL"),
    }
}
