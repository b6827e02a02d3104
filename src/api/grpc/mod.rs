//! Inbound gRPC on the client port.

pub mod inspect;
pub mod master;
pub mod reply;
pub mod scheduling;
