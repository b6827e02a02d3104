//! A client of the master cluster, for `dm ctl`, joining masters, workers and benchmarks.
//!
//! It tries the last master that answered first, then the given endpoints in order, those that
//! did not answer last time at the end; an UNAVAILABLE answer (unreachable, or NotLeader) moves
//! on, going straight to the leader when the answer names it (`dm-leader-addr`). While no master
//! answers it retries until the deadline. A call that timed out or broke off on the way may have
//! been applied, so it is retried only for calls marked idempotent; the master is tried last
//! and over a new connection next time. Any other answer is final.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use thiserror::Error;
use tonic::transport::Channel;
use tonic::{Code, Response, Status};

use crate::error::{Coded, ErrorCode};
use crate::net::{MAX_MESSAGE_BYTES, dial};
use crate::node::forward::LEADER_ADDR_HEADER;
use crate::pb::master::master_client::MasterClient;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error(
        "no master answered at {endpoints} within {secs}s (last error: {last}); check --master-addr and that a majority of masters is up"
    )]
    Unreachable { endpoints: String, secs: u64, last: String },
    #[error("{}", status_text(.0))]
    Status(Status),
}

/// A master's rate-limit refusal (RESOURCE_EXHAUSTED) carries its own `[code=38060]` prefix,
/// which `to_user` puts back once.
fn status_text(s: &Status) -> &str {
    let prefix = format!("[code={}] ", ErrorCode::ApiRateLimited);
    match s.code() {
        Code::ResourceExhausted => s.message().strip_prefix(&prefix).unwrap_or(s.message()),
        _ => s.message(),
    }
}

impl Coded for ClientError {
    fn code(&self) -> ErrorCode {
        match self {
            ClientError::Unreachable { .. } => ErrorCode::ClusterUnreachable,
            ClientError::Status(s) if s.code() == Code::ResourceExhausted => ErrorCode::ApiRateLimited,
            ClientError::Status(_) => ErrorCode::ForwardFailed,
        }
    }
}

/// `cluster_call!(client, method, request)`: calls one `Master` method through [`ClusterClient::call`].
#[macro_export]
macro_rules! cluster_call {
    ($client:expr, $method:ident, $req:expr) => {{
        let req = $req;
        $client
            .call(move |mut c| {
                let req = req.clone();
                async move { c.$method(req).await }
            })
            .await
    }};
}

/// Codes a call gets when it broke off on the way rather than being answered: the transport
/// failed (UNKNOWN, INTERNAL from h2), the stream was cancelled, or the deadline passed. Our
/// masters never answer a unary call with these.
fn outcome_unknown(code: Code) -> bool {
    matches!(code, Code::Unknown | Code::Internal | Code::Cancelled | Code::DeadlineExceeded)
}

pub struct ClusterClient {
    endpoints: Vec<String>,
    preferred: Option<String>,
    /// Addresses whose last attempt failed: tried last, so a dead or cut-off master does not eat
    /// the deadline of every call (heartbeats have a one-interval deadline).
    failed: Vec<String>,
    clients: HashMap<String, MasterClient<Channel>>,
    deadline: Duration,
    per_call: Duration,
    /// Retry calls whose outcome is unknown (timed out): only safe for idempotent calls.
    idempotent: bool,
}

impl ClusterClient {
    /// `deadline` bounds the whole call including retries.
    pub fn new(endpoints: Vec<String>, deadline: Duration) -> Self {
        Self {
            endpoints,
            preferred: None,
            failed: Vec::new(),
            clients: HashMap::new(),
            deadline,
            per_call: deadline,
            idempotent: false,
        }
    }

    /// Marks the calls as idempotent, so timed-out attempts are retried too.
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Bounds each attempt separately (default: the whole deadline).
    pub fn with_attempt_timeout(mut self, per_call: Duration) -> Self {
        self.per_call = per_call;
        self
    }

    /// The master that answered last.
    pub fn preferred(&self) -> Option<&str> {
        self.preferred.as_deref()
    }

    fn client(&mut self, addr: &str) -> Result<MasterClient<Channel>, Status> {
        if let Some(c) = self.clients.get(addr) {
            return Ok(c.clone());
        }
        let ch = dial(addr).map_err(|e| Status::unavailable(format!("bad address {addr}: {e}")))?;
        let c = MasterClient::new(ch)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        self.clients.insert(addr.to_string(), c.clone());
        Ok(c)
    }

    /// `addr` did not answer: try it last from now on, until it answers again.
    fn demote(&mut self, addr: &str) {
        self.failed.retain(|f| f != addr);
        self.failed.push(addr.to_string());
        if self.preferred.as_deref() == Some(addr) {
            self.preferred = None;
        }
    }

    /// `addr`'s call broke off or hung: try it last, and over a new connection next time (a
    /// half-open or broken connection would otherwise fail every call to it).
    fn forget(&mut self, addr: &str) {
        self.demote(addr);
        self.clients.remove(addr);
    }

    /// Calls `f` on a master until one answers (see the module doc).
    pub async fn call<T, F, Fut>(&mut self, mut f: F) -> Result<T, ClientError>
    where
        F: FnMut(MasterClient<Channel>) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let start = Instant::now();
        let mut last = String::from("no endpoint given");
        let mut backoff = Duration::from_millis(50);
        loop {
            let mut order: Vec<String> = self.preferred.iter().cloned().collect();
            order.extend(self.endpoints.iter().filter(|e| Some(*e) != self.preferred.as_ref()).cloned());
            // Healthy first, then the ones that failed last time, in the order they failed.
            order.sort_by_key(|a| self.failed.iter().position(|f| f == a).map_or(0, |p| p + 1));
            let mut i = 0;
            while i < order.len() {
                let addr = order[i].clone();
                i += 1;
                let remaining = self.deadline.saturating_sub(start.elapsed());
                if remaining.is_zero() {
                    break;
                }
                let attempt = match self.client(&addr) {
                    Ok(c) => tokio::time::timeout(remaining.min(self.per_call), f(c)).await,
                    Err(s) => Ok(Err(s)),
                };
                match attempt {
                    Ok(Ok(resp)) => {
                        self.failed.retain(|f| *f != addr);
                        self.preferred = Some(addr);
                        return Ok(resp.into_inner());
                    }
                    Ok(Err(s)) if s.code() == Code::Unavailable => {
                        last = format!("{addr}: {}", s.message());
                        tracing::debug!(%addr, error = %s.message(), "master attempt failed");
                        let hint = s.metadata().get(LEADER_ADDR_HEADER).and_then(|v| v.to_str().ok());
                        match hint {
                            // Go to the named leader next, even if it failed before: it is the
                            // one that can answer.
                            Some(hint) if !hint.is_empty() => {
                                if let Some(pos) = order[i..].iter().position(|o| o == hint) {
                                    order.remove(i + pos);
                                }
                                order.insert(i, hint.to_string());
                            }
                            _ => self.demote(&addr),
                        }
                    }
                    // The call broke on the way (connection reset, stream cancelled, timed out):
                    // the master may have applied it. Only idempotent calls go on to the next.
                    Ok(Err(s)) if outcome_unknown(s.code()) => {
                        tracing::debug!(%addr, status = ?s, "master attempt broke off");
                        self.forget(&addr);
                        if !self.idempotent {
                            return Err(ClientError::Status(Status::new(
                                s.code(),
                                format!("{addr}: {}; the outcome is unknown", s.message()),
                            )));
                        }
                        last = format!("{addr}: {}", s.message());
                    }
                    Ok(Err(s)) => return Err(ClientError::Status(s)),
                    Err(_) => {
                        tracing::debug!(%addr, "master attempt timed out");
                        self.forget(&addr);
                        if !self.idempotent {
                            return Err(ClientError::Status(Status::deadline_exceeded(format!(
                                "{addr}: timed out; the outcome is unknown"
                            ))));
                        }
                        last = format!("{addr}: timed out");
                    }
                }
            }
            if start.elapsed() >= self.deadline {
                return Err(ClientError::Unreachable {
                    endpoints: self.endpoints.join(","),
                    secs: self.deadline.as_secs(),
                    last,
                });
            }
            self.preferred = None;
            tokio::time::sleep(backoff.min(self.deadline.saturating_sub(start.elapsed()))).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_refusal_keeps_its_code_once() {
        let e = ClientError::Status(Status::resource_exhausted("[code=38060] too many requests; retry in 1s"));
        assert_eq!(e.to_user().to_string(), "[code=38060] too many requests; retry in 1s");
        let e = ClientError::Status(Status::internal("boom"));
        assert_eq!(e.to_user().to_string(), "[code=38044] boom");
    }
}
