//! Following the assignment stream (step 4 of the worker protocol): open `WatchAssignments` on
//! the leader (the client follows NotLeader hints), resume from the newest revision applied, and
//! reconcile to each assignment. While fenced the stream is dropped; after unfencing it is opened
//! again from revision 0, so the worker acts only on a fresh, whole assignment.

use std::sync::Arc;
use std::time::Duration;

use super::WorkerShared;
use crate::client::ClusterClient;
use crate::pb::master::WatchAssignmentsRequest;

pub async fn follow(s: Arc<WorkerShared>) {
    let mut client = ClusterClient::new(s.config.join.clone(), Duration::from_secs(5))
        .idempotent()
        .with_attempt_timeout(Duration::from_secs(3));
    let mut backoff = Duration::from_millis(100);
    loop {
        if s.loops.is_cancelled() {
            return;
        }
        let mut fences = s.state.fences();
        if s.state.snapshot().fenced {
            // Unfenced by the heartbeat loop once a heartbeat is acknowledged again.
            tokio::select! {
                _ = s.loops.cancelled() => return,
                _ = fences.changed() => {}
            }
            continue;
        }
        let req = WatchAssignmentsRequest { worker: s.config.name.clone(), from_revision: s.state.snapshot().revision };
        let mut stream = match crate::cluster_call!(client, watch_assignments, req) {
            Ok(st) => st,
            Err(e) => {
                tracing::debug!(error = %e, "cannot open the assignment stream; retrying");
                tokio::select! {
                    _ = s.loops.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        loop {
            let msg = tokio::select! {
                _ = s.loops.cancelled() => return,
                // A fence voids this stream at once, even when it is idle.
                _ = fences.changed() => break,
                m = stream.message() => m,
            };
            if s.state.snapshot().fenced {
                break;
            }
            match msg {
                Ok(Some(a)) if a.unchanged => s.state.mark_current(a.revision),
                Ok(Some(a)) => s.state.apply(a, s.opts.units.as_ref(), &s.opts.audit).await,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "assignment stream ended; reconnecting");
                    break;
                }
            }
        }
    }
}
