//! Autonomous closures: recorded with their justification, listed, reversible.

use serde::Serialize;

use super::{Store, StoreError, args, now};

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
        self.db()
            .query_one(
                "INSERT INTO closures (alert_id, triage_id, justification, at) VALUES (?1, ?2, ?3, ?4)
                 RETURNING id",
                args![alert_row, triage_id, justification, now()],
            )?
            .get(0)
    }

    /// Closures, newest first.
    pub fn closures(&self, limit: usize) -> Result<Vec<Closure>, StoreError> {
        self.db()
            .query(
                "SELECT c.id, a.alert_key, a.title, c.triage_id, c.justification, c.at, c.reversed_at, c.reversed_by
             FROM closures c JOIN alerts a ON a.id = c.alert_id ORDER BY c.id DESC LIMIT ?1",
                args![limit as i64],
            )?
            .iter()
            .map(|r| {
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
            })
            .collect()
    }

    /// The alert's standing closure (not reversed): its id and justification.
    pub fn open_closure(&self, alert_key: &str) -> Result<Option<(i64, String)>, StoreError> {
        self.db()
            .query_opt(
                "SELECT c.id, c.justification FROM closures c JOIN alerts a ON a.id = c.alert_id
                 WHERE a.alert_key = ?1 AND c.reversed_at IS NULL ORDER BY c.id DESC LIMIT 1",
                args![alert_key],
            )?
            .map(|r| Ok::<_, StoreError>((r.get(0)?, r.get(1)?)))
            .transpose()
    }

    /// Reverses a closure; `false` when it does not exist or was already reversed.
    pub fn reverse_closure(&mut self, id: i64, analyst: &str) -> Result<bool, StoreError> {
        Ok(self.db().execute(
            "UPDATE closures SET reversed_at = ?2, reversed_by = ?3 WHERE id = ?1 AND reversed_at IS NULL",
            args![id, now(), analyst],
        )? == 1)
    }
}
