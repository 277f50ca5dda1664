//! Local servers that speak real wire formats, for tests that must not touch the network.

pub mod handoff;
pub mod http;
pub mod intel;
pub mod llm;
pub mod pg;
