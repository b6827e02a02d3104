//! Inbound gRPC on the client port.

pub mod master;
pub mod reply;
pub mod scheduling;
