//! Cluster tests: masters in one process (the harness, with fault injection) and real `dm master`
//! processes. Every wait has a deadline; nothing sleeps a fixed time.

mod harness;
mod kv;
mod t10_single_node;
mod t20_replication;
mod t30_partition;
mod t40_membership;
mod t50_snapshot;
mod t60_processes;
mod t61_worker_processes;
mod t70_bad_input;
mod t80_workers;
mod t81_worker_protocol;
mod t82_sched_bad_input;
mod t83_ctl;
mod t84_openapi;
mod t85_rate_limit;
mod t86_shard_pessimistic;
mod t87_shard_optimistic;
mod t88_shard_ctl;
mod t89_shard_api;
