//! Shard DDL coordination: schema model (shared with workers), pessimist and optimist lock keepers (leader-only).

pub mod schema;
