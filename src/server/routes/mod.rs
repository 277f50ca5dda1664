pub mod alerts;
pub mod feedback;
pub mod health;
pub mod incidents;
pub mod triage;
