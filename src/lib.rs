//! soc-copilot: the engine behind the analyst console — alerts, the ATT&CK knowledge base
//! and hybrid retrieval — and the front ends that drive it.

pub mod alert;
pub mod assets;
pub mod attack;
pub mod config;
pub mod detect;
pub mod eval;
pub mod handoff;
pub mod incident;
pub mod intel;
pub mod llm;
pub mod logging;
pub mod privacy;
pub mod search;
pub mod server;
pub mod store;
pub mod triage;
pub mod tui;
