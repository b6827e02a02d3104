//! Waiting for a condition with a deadline, polling with a short backoff.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_until_some<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Polls `check` until it returns true, or panics with `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_until_some(timeout, what, || {
        let f = check();
        async move { f.await.then_some(()) }
    })
    .await
}

/// Checks `check` repeatedly (same backoff as the waits) until `period` has passed: a property
/// that must hold for a while, not become true once. Returns the first violation.
pub async fn hold_for<F, Fut>(period: Duration, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        check().await?;
        if start.elapsed() >= period {
            return Ok(());
        }
        tokio::time::sleep(pause.min(period.saturating_sub(start.elapsed()))).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
