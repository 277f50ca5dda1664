//! MITRE ATT&CK: the STIX bundle, and the catalog built from it.

pub mod build;
pub mod catalog;
pub mod download;
pub mod markup;
pub mod stix;

pub use build::build_catalog;
pub use catalog::{Catalog, Resolved, Technique, family_of, normalize_id};
pub use stix::{StixError, read_bundle};
