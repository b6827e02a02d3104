//! The pessimist: leader-only coordinator of pessimistic shard-DDL locks.

pub mod lock;
