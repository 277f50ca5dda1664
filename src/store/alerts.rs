//! Alerts as received: raw and normalised, with the embedding used to find similar ones.

use super::db::{Db, Row};
use super::{Store, StoreError, args, now};
use crate::alert::Alert;

#[derive(Debug, Clone)]
pub struct StoredAlert {
    pub row: i64,
    pub alert: Alert,
    pub raw: String,
    pub created_at: String,
}

pub fn embedding_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn blob_embedding(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl Store {
    /// Stores an alert (or updates the one with the same id) and returns its row id.
    pub fn upsert_alert(
        &mut self,
        alert: &Alert,
        raw: &str,
        embedding: Option<&[f32]>,
    ) -> Result<i64, StoreError> {
        let db = self.db();
        db.transaction(false, || write_alert(db, alert, raw, embedding, None))
    }

    pub fn alert_by_key(&self, key: &str) -> Result<Option<StoredAlert>, StoreError> {
        self.db()
            .query_opt(
                "SELECT id, normalized, raw, created_at FROM alerts WHERE alert_key = ?1",
                args![key],
            )?
            .map(|r| row_to_alert(&r))
            .transpose()
    }

    pub fn alert_by_row(&self, row: i64) -> Result<Option<StoredAlert>, StoreError> {
        self.db()
            .query_opt(
                "SELECT id, normalized, raw, created_at FROM alerts WHERE id = ?1",
                args![row],
            )?
            .map(|r| row_to_alert(&r))
            .transpose()
    }

    /// The newest alerts first.
    pub fn recent_alerts(&self, limit: usize) -> Result<Vec<StoredAlert>, StoreError> {
        self.db()
            .query(
                "SELECT id, normalized, raw, created_at FROM alerts ORDER BY id DESC LIMIT ?1",
                args![limit as i64],
            )?
            .iter()
            .map(row_to_alert)
            .collect()
    }
}

fn row_to_alert(r: &Row) -> Result<StoredAlert, StoreError> {
    let alert = serde_json::from_str(r.str(1).unwrap_or_default())?;
    Ok(StoredAlert {
        row: r.get(0)?,
        alert,
        raw: r.get(2)?,
        created_at: r.get(3)?,
    })
}

/// Inserts an alert or updates the one with its key (keeping a stored embedding or intake
/// state when none is given); returns its row id. Call it inside a transaction: the alert
/// and its indicator index change together.
pub(crate) fn write_alert(
    db: &Db,
    alert: &Alert,
    raw: &str,
    embedding: Option<&[f32]>,
    intake: Option<&str>,
) -> Result<i64, StoreError> {
    let normalized = serde_json::to_string(alert)?;
    let blob = embedding.map(embedding_blob);
    let row: i64 = db
        .query_one(
            "INSERT INTO alerts (alert_key, format, source, severity, title, host, user_name, normalized, raw, embedding, created_at, intake)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT(alert_key) DO UPDATE SET
            format = excluded.format, source = excluded.source, severity = excluded.severity,
            title = excluded.title, host = excluded.host, user_name = excluded.user_name,
            normalized = excluded.normalized, raw = excluded.raw,
            embedding = COALESCE(excluded.embedding, alerts.embedding),
            intake = COALESCE(excluded.intake, alerts.intake)
         RETURNING id",
            args![
                alert.id,
                alert.format,
                alert.source,
                alert.severity.map(|s| s.as_str()),
                alert.title,
                alert.host,
                alert.user,
                normalized,
                raw,
                blob,
                now(),
                intake
            ],
        )?
        .get(0)?;
    super::iocs::index_alert(db, row, alert)?;
    Ok(row)
}
