//! Private data stays home: pseudonymisation of the entities a SOC names.

pub mod pseudo;
