//! Triage: from an alert and its retrieved context to a validated, recorded verdict.

pub mod chat;
pub mod engine;
pub mod injection;
pub mod model;
pub mod offline;
pub mod prompt;
pub mod provenance;
pub mod rules;
pub mod verdict;

pub use engine::{TriageOutcome, TriageParams, triage_offline};
pub use verdict::{Level, Verdict};
