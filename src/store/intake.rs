//! Webhook intake: which pushed alerts are waiting for triage, survive a restart, and are
//! never triaged twice; and the alert list with each one's status and verdict.

use super::alerts::StoredAlert;
use super::{Store, StoreError, now};
use crate::alert::Alert;
use rusqlite::OptionalExtension;

/// What became of one pushed alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored, and queued for triage when `queue` was asked.
    New { row: i64 },
    /// Its key is already known (stored by intake or triaged): nothing was written.
    Duplicate,
}

/// An alert as `GET /alerts` lists it.
#[derive(Debug, Clone)]
pub struct AlertStatus {
    pub alert: StoredAlert,
    /// `received`, `queued`, `triaging`, `triaged`, `failed` or `cancelled`.
    pub status: String,
    pub triage_id: Option<String>,
    pub verdict: Option<String>,
    pub confidence: Option<f64>,
}

impl Store {
    /// Stores pushed alerts in one transaction, skipping keys already known, and marks the
    /// new ones `queued` (the intake workers triage them) or `held` (stored only).
    pub fn accept_intake(
        &mut self,
        alerts: &[(&Alert, &str, bool)],
    ) -> Result<Vec<Accepted>, StoreError> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(alerts.len());
        for (alert, raw, queue) in alerts {
            let known: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM alerts a WHERE a.alert_key = ?1
                    AND (a.intake IS NOT NULL OR EXISTS (SELECT 1 FROM triages t WHERE t.alert_id = a.id)))",
                [&alert.id],
                |r| r.get(0),
            )?;
            if known {
                out.push(Accepted::Duplicate);
                continue;
            }
            let state = if *queue { "queued" } else { "held" };
            let row = super::alerts::write_alert(&tx, alert, raw, None, Some(state))?;
            out.push(Accepted::New { row });
        }
        tx.commit()?;
        Ok(out)
    }

    /// The intake worker ran this alert (whatever the outcome, which its triage row holds).
    pub fn intake_done(&mut self, alert_key: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE alerts SET intake = 'done' WHERE alert_key = ?1 AND intake = 'queued'",
            [alert_key],
        )?;
        Ok(())
    }

    /// Alerts accepted for triage that no worker finished (the process stopped, even by
    /// `kill -9`), oldest first. Their runs left `running` are closed as cancelled.
    pub fn recover_intake(&mut self) -> Result<Vec<StoredAlert>, StoreError> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE triages SET status = 'cancelled', error = 'abandoned: the process stopped while it ran', finished_at = ?1
             WHERE status = 'running' AND alert_id IN (SELECT id FROM alerts WHERE intake = 'queued')",
            [now()],
        )?;
        tx.commit()?;
        let mut stmt = self
            .conn()
            .prepare("SELECT id FROM alerts WHERE intake = 'queued' ORDER BY id")?;
        let rows: Vec<i64> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        drop(stmt);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(a) = self.alert_by_row(row)? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// The newest alerts with the state of their latest triage.
    pub fn alert_statuses(&self, limit: usize) -> Result<Vec<AlertStatus>, StoreError> {
        let alerts = self.recent_alerts(limit)?;
        let mut out = Vec::with_capacity(alerts.len());
        for a in alerts {
            let intake: Option<String> = self
                .conn()
                .query_row("SELECT intake FROM alerts WHERE id = ?1", [a.row], |r| {
                    r.get(0)
                })
                .optional()?
                .flatten();
            let latest = self.latest_triage_for(a.row)?;
            let status = match (&latest, intake.as_deref()) {
                (Some(t), _) => match t.status {
                    super::TriageStatus::Running => "triaging",
                    super::TriageStatus::Complete => "triaged",
                    super::TriageStatus::Failed => "failed",
                    super::TriageStatus::Cancelled if intake.as_deref() == Some("queued") => {
                        "queued"
                    }
                    super::TriageStatus::Cancelled => "cancelled",
                },
                (None, Some("queued")) => "queued",
                (None, _) => "received",
            };
            out.push(AlertStatus {
                status: status.into(),
                triage_id: latest.as_ref().map(|t| t.id.clone()),
                verdict: latest.as_ref().and_then(|t| t.verdict.clone()),
                confidence: latest.as_ref().and_then(|t| t.confidence),
                alert: a,
            });
        }
        Ok(out)
    }
}
