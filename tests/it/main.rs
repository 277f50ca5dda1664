//! Integration tests, one crate so the dependency tree links once. A module per flow.

#[path = "../support/mod.rs"]
mod support;

mod agent;
mod alerts;
mod cli;
mod common;
mod console;
mod console_cases;
mod console_e2e;
mod console_team;
mod faults;
mod fixture_kb;
mod handoff;
mod incidents;
mod intel;
mod lab;
mod llm;
mod model_triage;
mod real_kb;
mod server;
mod stix;
mod store;
mod team;
mod triage;
