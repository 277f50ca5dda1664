//! Hand-offs: every export of an alert or incident, with the id the case system returned.

use serde::Serialize;

use super::{Store, StoreError, args, now};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportRecord {
    pub target: String,
    pub object_kind: String,
    pub reference: String,
    pub triage_id: Option<String>,
    /// The case system's id for it (`~41099392`, an IRIS alert id); none for files.
    pub remote_id: Option<String>,
    /// The instance's base URL or the file written.
    pub destination: String,
    pub analyst: String,
    pub at: String,
}

impl Store {
    pub fn record_export(&mut self, e: &ExportRecord) -> Result<(), StoreError> {
        self.db().execute(
            "INSERT INTO exports (target, object_kind, reference, triage_id, remote_id, destination, analyst, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            args![
                e.target,
                e.object_kind,
                e.reference,
                e.triage_id,
                e.remote_id,
                e.destination,
                e.analyst,
                if e.at.is_empty() { now() } else { e.at.clone() }
            ],
        )?;
        Ok(())
    }

    /// Exports of an alert or incident, oldest first.
    pub fn exports_of(&self, reference: &str) -> Result<Vec<ExportRecord>, StoreError> {
        self.db()
            .query(
                "SELECT target, object_kind, reference, triage_id, remote_id, destination, analyst, at
             FROM exports WHERE reference = ?1 ORDER BY id",
                args![reference],
            )?
            .iter()
            .map(|r| {
                Ok(ExportRecord {
                    target: r.get(0)?,
                    object_kind: r.get(1)?,
                    reference: r.get(2)?,
                    triage_id: r.get(3)?,
                    remote_id: r.get(4)?,
                    destination: r.get(5)?,
                    analyst: r.get(6)?,
                    at: r.get(7)?,
                })
            })
            .collect()
    }
}
