//! Measuring the tool: retrieval quality against labelled alerts.

pub mod citations;
pub mod retrieval;
