//! Free-text analyst notes on an alert. They are kept apart from feedback so that writing a
//! note never counts as a judgement of the verdict.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, args, now};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Note {
    pub triage_id: Option<String>,
    pub text: String,
    pub analyst: String,
    pub created_at: String,
}

impl Store {
    pub fn add_note(
        &mut self,
        alert_row: i64,
        triage_id: Option<&str>,
        text: &str,
        analyst: &str,
    ) -> Result<i64, StoreError> {
        let db = self.db();
        db.transaction(false, || {
            let id = db
                .query_one(
                    "INSERT INTO notes (alert_id, triage_id, text, analyst, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 RETURNING id",
                    args![alert_row, triage_id, text, analyst, now()],
                )?
                .get(0)?;
            self.record_event("note", Some(alert_row), triage_id, Some(analyst))?;
            Ok(id)
        })
    }

    pub fn notes_for(&self, alert_row: i64) -> Result<Vec<Note>, StoreError> {
        self.db()
            .query(
                "SELECT triage_id, text, analyst, created_at FROM notes WHERE alert_id = ?1 ORDER BY id",
                args![alert_row],
            )?
            .iter()
            .map(|r| {
                Ok(Note {
                    triage_id: r.get(0)?,
                    text: r.get(1)?,
                    analyst: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })
            .collect()
    }
}
