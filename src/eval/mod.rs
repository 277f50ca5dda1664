//! Measuring the tool: retrieval quality and verdict quality against labelled alerts,
//! feedback replay, backtests on reviewed history, and the injection canary.

pub mod citations;
pub mod grouping;
pub mod injection;
pub mod lab;
pub mod metrics;
pub mod replay;
pub mod retrieval;
pub mod triage;
