//! Analyst feedback on triages: thumbs, the analyst's own verdict, a reason, notes.

use serde::{Deserialize, Serialize};

use super::db::Row;
use super::{Store, StoreError, args, now};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Thumbs {
    Up,
    Down,
}

impl Thumbs {
    pub fn as_str(self) -> &'static str {
        match self {
            Thumbs::Up => "up",
            Thumbs::Down => "down",
        }
    }
}

/// Why a verdict was marked wrong; the stats screen breaks thumbs-down down by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DownReason {
    WrongVerdict,
    WrongTechniques,
    InventedFacts,
    MissedEvidence,
    Other,
}

impl DownReason {
    pub const ALL: [DownReason; 5] = [
        DownReason::WrongVerdict,
        DownReason::WrongTechniques,
        DownReason::InventedFacts,
        DownReason::MissedEvidence,
        DownReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DownReason::WrongVerdict => "wrong_verdict",
            DownReason::WrongTechniques => "wrong_techniques",
            DownReason::InventedFacts => "invented_facts",
            DownReason::MissedEvidence => "missed_evidence",
            DownReason::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Feedback {
    pub id: i64,
    pub triage_id: String,
    pub thumbs: Thumbs,
    pub reason: Option<String>,
    pub analyst_verdict: Option<String>,
    pub notes: Option<String>,
    pub analyst: String,
    pub created_at: String,
}

/// What an analyst records; written the moment it is given.
#[derive(Debug, Clone, Default)]
pub struct NewFeedback {
    pub triage_id: String,
    pub thumbs: Option<Thumbs>,
    pub reason: Option<DownReason>,
    pub analyst_verdict: Option<String>,
    pub notes: Option<String>,
    pub analyst: String,
}

impl Store {
    /// Records feedback; an unknown triage id is an error that says how to find real ones.
    pub fn add_feedback(&mut self, f: &NewFeedback) -> Result<i64, StoreError> {
        let found: Option<(String, i64)> = self
            .db()
            .query_opt(
                "SELECT status, alert_id FROM triages WHERE id = ?1",
                args![f.triage_id],
            )?
            .map(|r| Ok::<_, StoreError>((r.get(0)?, r.get(1)?)))
            .transpose()?;
        let (status, alert_row) = match found {
            Some((s, a)) => (Some(s), Some(a)),
            None => (None, None),
        };
        // Another analyst holds the alert: they judge it, unless it is taken over first.
        if let Some(row) = alert_row {
            self.check_not_held_by_other(row, &f.analyst)?;
        }
        match status.as_deref() {
            None => return Err(StoreError::UnknownTriage(f.triage_id.clone())),
            // A failed run can be judged too: the analyst's verdict stands without the
            // machine's (accuracy skips it: there is no tool verdict to score).
            Some("complete" | "failed") => {}
            Some(other) => {
                return Err(StoreError::NotComplete {
                    id: f.triage_id.clone(),
                    status: other.into(),
                });
            }
        }
        // A verdict correction without thumbs is a thumbs-down on the verdict.
        let thumbs = f.thumbs.unwrap_or(Thumbs::Down);
        let db = self.db();
        db.transaction(false, || {
            let id: i64 = db
                .query_one(
                    "INSERT INTO feedback (triage_id, thumbs, reason, analyst_verdict, notes, analyst, created_at,
                                   verdict, confidence, engine)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, t.verdict, t.confidence, t.engine FROM triages t WHERE t.id = ?1
             RETURNING id",
                    args![
                        f.triage_id,
                        thumbs.as_str(),
                        f.reason.map(|r| r.as_str()),
                        f.analyst_verdict,
                        f.notes,
                        f.analyst,
                        now()
                    ],
                )?
                .get(0)?;
            db.execute(
                "UPDATE feedback SET superseded = 1 WHERE triage_id = ?1 AND id < ?2",
                args![f.triage_id, id],
            )?;
            self.record_event("feedback", alert_row, Some(&f.triage_id), Some(&f.analyst))?;
            Ok(id)
        })
    }

    pub fn feedback_for(&self, triage_id: &str) -> Result<Vec<Feedback>, StoreError> {
        self.db()
            .query(
                "SELECT id, triage_id, thumbs, reason, analyst_verdict, notes, analyst, created_at
             FROM feedback WHERE triage_id = ?1 ORDER BY id",
                args![triage_id],
            )?
            .iter()
            .map(|r: &Row| -> Result<Feedback, StoreError> {
                Ok(Feedback {
                    id: r.get(0)?,
                    triage_id: r.get(1)?,
                    thumbs: if r.get::<String>(2)? == "up" {
                        Thumbs::Up
                    } else {
                        Thumbs::Down
                    },
                    reason: r.get(3)?,
                    analyst_verdict: r.get(4)?,
                    notes: r.get(5)?,
                    analyst: r.get(6)?,
                    created_at: r.get(7)?,
                })
            })
            .collect()
    }

    /// Every alert an analyst reviewed (the latest judgement of each), oldest first: the
    /// truth a backtest scores against. `label` is the analyst's verdict, or the tool's when
    /// they gave a thumbs up; a thumbs down without a verdict says too little and is left out.
    /// Reads only.
    pub fn reviewed(&self, since: Option<&str>) -> Result<Vec<Reviewed>, StoreError> {
        let mut out: Vec<Reviewed> = Vec::new();
        let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        self.db().each(
            "SELECT a.alert_key, a.raw, a.title, a.source, a.created_at, t.verdict, t.confidence,
                    t.engine, t.model, t.cost_usd, t.latency_ms, f.thumbs, f.analyst_verdict, f.analyst
             FROM feedback f JOIN triages t ON t.id = f.triage_id JOIN alerts a ON a.id = t.alert_id
             WHERE f.superseded = 0 AND (CAST(?1 AS TEXT) IS NULL OR a.created_at >= ?1)
             ORDER BY a.created_at, a.id, f.id",
            args![since],
            |r| {
                let verdict: Option<String> = r.get(5)?;
                let up = r.str(11) == Some("up");
                let analyst: Option<String> = r.get(12)?;
                let label = analyst.or_else(|| if up { verdict.clone() } else { None });
                if label.is_none() {
                    return Ok(());
                }
                let rev = Reviewed {
                    alert_key: r.get(0)?,
                    raw: r.get(1)?,
                    title: r.get(2)?,
                    source: r.get(3)?,
                    created_at: r.get(4)?,
                    verdict,
                    confidence: r.get(6)?,
                    engine: r.get(7)?,
                    model: r.get(8)?,
                    cost_usd: r.get(9)?,
                    latency_ms: r.get::<Option<i64>>(10)?.map(|v| v.max(0) as u64),
                    label: label.map(|l| l.to_ascii_uppercase()),
                    analyst: r.get(13)?,
                };
                // The latest judgement of an alert replaces an earlier one (same key, in order).
                match at.get(&rev.alert_key) {
                    Some(&i) => out[i] = rev,
                    None => {
                        at.insert(rev.alert_key.clone(), out.len());
                        out.push(rev);
                    }
                }
                Ok(())
            },
        )?;
        Ok(out)
    }
}

/// A reviewed alert with the tool's recorded verdict and the analyst's.
#[derive(Debug, Clone, PartialEq)]
pub struct Reviewed {
    pub alert_key: String,
    pub raw: String,
    pub title: String,
    pub source: String,
    pub created_at: String,
    pub verdict: Option<String>,
    pub confidence: Option<f64>,
    pub engine: String,
    pub model: Option<String>,
    pub cost_usd: f64,
    pub latency_ms: Option<u64>,
    pub label: Option<String>,
    /// Who judged it.
    pub analyst: String,
}

/// One reviewed triage as training data: the alert, the tool's stored verdict and the
/// analyst's latest judgement.
#[derive(Debug, Clone)]
pub struct TrainingRow {
    pub alert: crate::alert::Alert,
    pub triage_id: String,
    pub verdict_json: Option<String>,
    pub provenance_json: Option<String>,
    pub thumbs: String,
    pub analyst_verdict: Option<String>,
    pub reason: Option<String>,
    pub notes: Option<String>,
    pub analyst: String,
}

impl Store {
    /// Every triage with standing (latest) feedback, oldest first.
    pub fn training_rows(&self) -> Result<Vec<TrainingRow>, StoreError> {
        let mut out: Vec<TrainingRow> = Vec::new();
        self.db().each(
            "SELECT a.normalized, t.id, t.verdict_json, t.provenance_json, f.thumbs, f.analyst_verdict,
                    f.reason, f.notes, f.analyst
             FROM feedback f JOIN triages t ON t.id = f.triage_id JOIN alerts a ON a.id = t.alert_id
             WHERE f.superseded = 0 AND t.status = 'complete'
             ORDER BY f.id",
            args![],
            |r| {
                out.push(TrainingRow {
                    alert: serde_json::from_str(r.str(0).unwrap_or_default())?,
                    triage_id: r.get(1)?,
                    verdict_json: r.get(2)?,
                    provenance_json: r.get(3)?,
                    thumbs: r.get(4)?,
                    analyst_verdict: r.get(5)?,
                    reason: r.get(6)?,
                    notes: r.get(7)?,
                    analyst: r.get(8)?,
                });
                Ok(())
            },
        )?;
        Ok(out)
    }
}

impl Store {
    /// The analyst's standing verdict on one stored alert and who gave it: their corrected
    /// verdict, or the tool's when they gave a thumbs up (on any run, a failed one too).
    pub fn analyst_label(&self, alert_row: i64) -> Result<Option<(String, String)>, StoreError> {
        let Some(r) = self.db().query_opt(
            "SELECT COALESCE(f.analyst_verdict, CASE WHEN f.thumbs = 'up' THEN t.verdict END), f.analyst
                   FROM feedback f JOIN triages t ON t.id = f.triage_id
                  WHERE t.alert_id = ?1 AND f.superseded = 0 ORDER BY f.id DESC LIMIT 1",
            args![alert_row],
        )?
        else {
            return Ok(None);
        };
        let (v, who) = (r.get::<Option<String>>(0)?, r.get::<String>(1)?);
        Ok(v.map(|v| (v.to_ascii_uppercase(), who)))
    }

    /// Every stored alert (not incidents' own) with the analyst's standing verdict on it:
    /// their corrected verdict, or the tool's when they gave a thumbs up; `None` when not
    /// reviewed (or a thumbs down without a verdict). Oldest first.
    pub fn labelled_alerts(
        &self,
    ) -> Result<Vec<(i64, crate::alert::Alert, Option<String>)>, StoreError> {
        let mut out: Vec<(i64, crate::alert::Alert, Option<String>)> = Vec::new();
        self.db().each(
            "SELECT a.id, a.normalized,
               (SELECT COALESCE(f.analyst_verdict, CASE WHEN f.thumbs = 'up' THEN t.verdict END)
                  FROM feedback f JOIN triages t ON t.id = f.triage_id
                  WHERE t.alert_id = a.id AND f.superseded = 0 ORDER BY f.id DESC LIMIT 1)
             FROM alerts a WHERE a.format != 'incident' ORDER BY a.id",
            args![],
            |r| {
                out.push((
                    r.get::<i64>(0)?,
                    serde_json::from_str(r.str(1).unwrap_or_default())?,
                    r.get::<Option<String>>(2)?.map(|l| l.to_ascii_uppercase()),
                ));
                Ok(())
            },
        )?;
        Ok(out)
    }
}
