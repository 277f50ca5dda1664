//! Autonomous closures: recorded with their justification, listed, reversible.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, now};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Closure {
    pub id: i64,
    pub alert_key: String,
    pub title: String,
    pub triage_id: String,
    pub justification: String,
    pub at: String,
    pub reversed_at: Option<String>,
    pub reversed_by: Option<String>,
}

impl Store {
    pub fn record_closure(
        &mut self,
        alert_row: i64,
        triage_id: &str,
        justification: &str,
    ) -> Result<i64, StoreError> {
        self.conn().execute(
            "INSERT INTO closures (alert_id, triage_id, justification, at) VALUES (?1, ?2, ?3, ?4)",
            params![alert_row, triage_id, justification, now()],
        )?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Closures, newest first.
    pub fn closures(&self, limit: usize) -> Result<Vec<Closure>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT c.id, a.alert_key, a.title, c.triage_id, c.justification, c.at, c.reversed_at, c.reversed_by
             FROM closures c JOIN alerts a ON a.id = c.alert_id ORDER BY c.id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(Closure {
                id: r.get(0)?,
                alert_key: r.get(1)?,
                title: r.get(2)?,
                triage_id: r.get(3)?,
                justification: r.get(4)?,
                at: r.get(5)?,
                reversed_at: r.get(6)?,
                reversed_by: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The alert's standing closure (not reversed): its id and justification.
    pub fn open_closure(&self, alert_key: &str) -> Result<Option<(i64, String)>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT c.id, c.justification FROM closures c JOIN alerts a ON a.id = c.alert_id
                 WHERE a.alert_key = ?1 AND c.reversed_at IS NULL ORDER BY c.id DESC LIMIT 1",
                [alert_key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Reverses a closure; `false` when it does not exist or was already reversed.
    pub fn reverse_closure(&mut self, id: i64, analyst: &str) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "UPDATE closures SET reversed_at = ?2, reversed_by = ?3 WHERE id = ?1 AND reversed_at IS NULL",
            params![id, now(), analyst],
        )? == 1)
    }
}
