//! Shard DDL coordination: schema model (shared with workers), pessimist and optimist lock
//! keepers (leader-only), and the calls workers and operators make on them.

pub mod driver;
pub mod error;
pub mod optimist;
pub mod pessimist;
pub mod schema;
pub mod service;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use self::optimist::Optimist;
use self::pessimist::Pessimist;
use crate::node::ctx::RaftCtx;
use crate::node::error::NodeError;

/// The shard-DDL tunables (from the master config).
#[derive(Debug, Clone, PartialEq)]
pub struct ShardDdlConfig {
    /// How long an unlock waits for the owner, then for the other sources.
    pub unlock_wait: Duration,
}

impl Default for ShardDdlConfig {
    fn default() -> Self {
        Self { unlock_wait: Duration::from_secs(10) }
    }
}

/// The leader's lock keepers, built with the leader handle and cancelled with it.
pub struct ShardDdl {
    pub pessimist: Pessimist,
    pub optimist: Optimist,
}

impl ShardDdl {
    pub async fn start(ctx: RaftCtx, cfg: &ShardDdlConfig, cancel: CancellationToken) -> Result<Self, NodeError> {
        let pessimist = Pessimist::start(ctx.clone(), cfg.unlock_wait, cancel.clone()).await?;
        let optimist = Optimist::start(ctx, cancel).await?;
        Ok(ShardDdl { pessimist, optimist })
    }
}
