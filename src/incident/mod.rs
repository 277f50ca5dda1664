//! Incidents: alerts that belong to one attack, grouped and explained.

pub mod correlate;
