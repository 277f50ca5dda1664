//! Measuring the tool: retrieval quality against labelled alerts.

pub mod retrieval;
