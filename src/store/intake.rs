//! Webhook intake: which pushed alerts are waiting for triage, survive a restart, and are
//! never triaged twice; and the alert list with each one's status and verdict.

use super::alerts::StoredAlert;
use super::db::Row;
use super::{Store, StoreError, args};
use crate::alert::Alert;

/// What became of one pushed alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored, and queued for triage when `queue` was asked.
    New { row: i64 },
    /// Its key is already known (stored by intake or triaged): nothing was written.
    Duplicate,
}

/// An alert as `GET /alerts` lists it: a summary read from columns (the normalised alert and
/// the raw event are not loaded unless asked for), with the state of its latest triage.
#[derive(Debug, Clone)]
pub struct AlertStatus {
    /// The store's row id: pass it as `before` for the next page.
    pub row: i64,
    pub alert_key: String,
    pub title: String,
    pub source: String,
    pub severity: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub received_at: String,
    /// `received`, `queued`, `triaging`, `triaged`, `failed`, `cancelled` or `abandoned`.
    pub status: String,
    pub triage_id: Option<String>,
    pub verdict: Option<String>,
    pub confidence: Option<f64>,
    /// The raw event, when asked for.
    pub raw: Option<String>,
}

impl Store {
    /// Stores pushed alerts in one transaction, skipping keys already known, and marks the
    /// new ones `queued` (the intake workers triage them) or `held` (stored only).
    pub fn accept_intake(
        &mut self,
        alerts: &[(&Alert, &str, bool)],
    ) -> Result<Vec<Accepted>, StoreError> {
        let db = self.db();
        db.transaction(true, || {
            let mut out = Vec::with_capacity(alerts.len());
            for (alert, raw, queue) in alerts {
                let known: bool = db
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM alerts a WHERE a.alert_key = ?1
                    AND (a.intake IS NOT NULL OR EXISTS (SELECT 1 FROM triages t WHERE t.alert_id = a.id)))",
                        args![alert.id],
                    )?
                    .get(0)?;
                if known {
                    out.push(Accepted::Duplicate);
                    continue;
                }
                let state = if *queue { "queued" } else { "held" };
                let row = super::alerts::write_alert(db, alert, raw, None, Some(state))?;
                self.record_event("alert", Some(row), None, None)?;
                out.push(Accepted::New { row });
            }
            Ok(out)
        })
    }

    /// The intake worker ran this alert (whatever the outcome, which its triage row holds).
    pub fn intake_done(&mut self, alert_key: &str) -> Result<(), StoreError> {
        self.db().execute(
            "UPDATE alerts SET intake = 'done' WHERE alert_key = ?1 AND intake = 'queued'",
            args![alert_key],
        )?;
        Ok(())
    }

    /// Alerts accepted for triage that no worker finished (the process stopped, even by
    /// `kill -9`), oldest first. Their runs left `running` by a dead process were closed as
    /// abandoned when the store opened; an alert a live process is still triaging is not
    /// returned (it would be triaged twice), nor one another process holds a live lease on.
    pub fn recover_intake(&mut self) -> Result<Vec<StoredAlert>, StoreError> {
        self.reap_abandoned()?;
        let rows: Vec<i64> = self
            .db()
            .query(
                "SELECT a.id FROM alerts a WHERE a.intake = 'queued'
               AND (a.lease_until IS NULL OR a.lease_until < ?1)
               AND NOT EXISTS (SELECT 1 FROM triages t WHERE t.alert_id = a.id AND t.status = 'running')
             ORDER BY a.id",
                args![super::now()],
            )?
            .iter()
            .map(|r| r.get::<i64>(0))
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(a) = self.alert_by_row(row)? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// The newest alerts (below row `before`, for paging) with the state of their latest
    /// triage; the raw event only when `with_raw`.
    pub fn alert_statuses(
        &self,
        limit: usize,
        before: Option<i64>,
        with_raw: bool,
    ) -> Result<Vec<AlertStatus>, StoreError> {
        self.db()
            .query(
                "SELECT a.id, a.alert_key, a.title, a.source, a.severity, a.host, a.user_name, a.created_at,
                    a.intake, t.id, t.status, t.verdict, t.confidence, CASE WHEN ?3 THEN a.raw END
             FROM alerts a
             LEFT JOIN triages t ON t.id = (SELECT id FROM triages WHERE alert_id = a.id
                                            ORDER BY created_at DESC, rowid DESC LIMIT 1)
             WHERE CAST(?2 AS BIGINT) IS NULL OR a.id < ?2
             ORDER BY a.id DESC LIMIT ?1",
                args![limit as i64, before, with_raw],
            )?
            .iter()
            .map(alert_status)
            .collect()
    }
}

fn alert_status(r: &Row) -> Result<AlertStatus, StoreError> {
    let intake: Option<String> = r.get(8)?;
    let triage: Option<String> = r.get(10)?;
    let queued = intake.as_deref() == Some("queued");
    let status = match (triage.as_deref(), queued) {
        (Some("running"), _) => "triaging",
        (Some("complete"), _) => "triaged",
        (Some("failed"), _) => "failed",
        (Some(_), true) => "queued",
        (Some("cancelled"), false) => "cancelled",
        (Some(_), false) => "abandoned",
        (None, true) => "queued",
        (None, false) => "received",
    };
    Ok(AlertStatus {
        row: r.get(0)?,
        alert_key: r.get(1)?,
        title: r.get(2)?,
        source: r.get(3)?,
        severity: r.get(4)?,
        host: r.get(5)?,
        user: r.get(6)?,
        received_at: r.get(7)?,
        status: status.into(),
        triage_id: r.get(9)?,
        verdict: r.get(11)?,
        confidence: r.get(12)?,
        raw: r.get(13)?,
    })
}
