//! Triage: from an alert and its retrieved context to a validated, recorded verdict.
//! `pipeline::Pipeline::run` is the single entry point every front end calls.

pub mod autoclose;
pub mod chat;
pub mod cite;
pub mod coerce;
pub mod engine;
pub mod events;
pub mod evidence;
pub mod injection;
pub mod intake;
pub mod model;
pub mod offline;
pub mod pipeline;
pub mod precedent;
pub mod prompt;
pub mod provenance;
pub mod rules;
pub mod salvage;
pub mod select;
pub mod tools;
pub mod verdict;

pub use engine::{Engine, EngineError, OfflineEngine, TriageOutcome, TriageParams, triage_offline};
pub use events::{Event, Observer};
pub use pipeline::{Pipeline, Request};
pub use verdict::{Level, Verdict};
