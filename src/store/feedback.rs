//! Analyst feedback on triages: thumbs, the analyst's own verdict, a reason, notes.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, now};

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
        let status: Option<String> = self
            .conn()
            .query_row(
                "SELECT status FROM triages WHERE id = ?1",
                [&f.triage_id],
                |r| r.get(0),
            )
            .optional()?;
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
        let tx = self.conn_mut().transaction()?;
        tx.execute(
            "INSERT INTO feedback (triage_id, thumbs, reason, analyst_verdict, notes, analyst, created_at,
                                   verdict, confidence, engine)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, t.verdict, t.confidence, t.engine FROM triages t WHERE t.id = ?1",
            params![
                f.triage_id,
                thumbs.as_str(),
                f.reason.map(|r| r.as_str()),
                f.analyst_verdict,
                f.notes,
                f.analyst,
                now()
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE feedback SET superseded = 1 WHERE triage_id = ?1 AND id < ?2",
            params![f.triage_id, id],
        )?;
        tx.commit()?;
        Ok(id)
    }

    pub fn feedback_for(&self, triage_id: &str) -> Result<Vec<Feedback>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT id, triage_id, thumbs, reason, analyst_verdict, notes, analyst, created_at
             FROM feedback WHERE triage_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([triage_id], |r| {
            Ok(Feedback {
                id: r.get(0)?,
                triage_id: r.get(1)?,
                thumbs: if r.get::<_, String>(2)? == "up" {
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
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
