//! Alerts as received: raw and normalised, with the embedding used to find similar ones.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, now};
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
        write_alert(self.conn(), alert, raw, embedding, None)
    }

    pub fn alert_by_key(&self, key: &str) -> Result<Option<StoredAlert>, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, normalized, raw, created_at FROM alerts WHERE alert_key = ?1",
                [key],
                row_to_alert,
            )
            .optional()?
            .transpose()
    }

    pub fn alert_by_row(&self, row: i64) -> Result<Option<StoredAlert>, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, normalized, raw, created_at FROM alerts WHERE id = ?1",
                [row],
                row_to_alert,
            )
            .optional()?
            .transpose()
    }

    /// The newest alerts first.
    pub fn recent_alerts(&self, limit: usize) -> Result<Vec<StoredAlert>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT id, normalized, raw, created_at FROM alerts ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], row_to_alert)?;
        rows.map(|r| r?).collect()
    }
}

fn row_to_alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<StoredAlert, StoreError>> {
    let normalized: String = r.get(1)?;
    Ok(serde_json::from_str(&normalized)
        .map_err(StoreError::from)
        .map(|alert| StoredAlert {
            row: r.get(0).unwrap_or_default(),
            alert,
            raw: r.get(2).unwrap_or_default(),
            created_at: r.get(3).unwrap_or_default(),
        }))
}

/// Inserts an alert or updates the one with its key (keeping a stored embedding or intake
/// state when none is given); returns its row id.
pub(crate) fn write_alert(
    conn: &rusqlite::Connection,
    alert: &Alert,
    raw: &str,
    embedding: Option<&[f32]>,
    intake: Option<&str>,
) -> Result<i64, StoreError> {
    let normalized = serde_json::to_string(alert)?;
    let blob = embedding.map(embedding_blob);
    let row: i64 = conn.query_row(
        "INSERT INTO alerts (alert_key, format, source, severity, title, host, user_name, normalized, raw, embedding, created_at, intake)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT(alert_key) DO UPDATE SET
            format = excluded.format, source = excluded.source, severity = excluded.severity,
            title = excluded.title, host = excluded.host, user_name = excluded.user_name,
            normalized = excluded.normalized, raw = excluded.raw,
            embedding = COALESCE(excluded.embedding, alerts.embedding),
            intake = COALESCE(excluded.intake, alerts.intake)
         RETURNING id",
        params![
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
        |r| r.get(0),
    )?;
    super::iocs::index_alert(conn, row, alert)?;
    Ok(row)
}
