//! Triage runs: their status, verdict, provenance and cost.

use serde::{Deserialize, Serialize};

use super::db::Row;
use super::{Store, StoreError, args, now};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriageStatus {
    Running,
    Complete,
    Failed,
    Cancelled,
    /// Its process stopped (killed, crashed) before it finished; closed by a later process.
    Abandoned,
}

impl TriageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TriageStatus::Running => "running",
            TriageStatus::Complete => "complete",
            TriageStatus::Failed => "failed",
            TriageStatus::Cancelled => "cancelled",
            TriageStatus::Abandoned => "abandoned",
        }
    }

    fn parse(s: &str) -> TriageStatus {
        match s {
            "complete" => TriageStatus::Complete,
            "failed" => TriageStatus::Failed,
            "cancelled" => TriageStatus::Cancelled,
            "abandoned" => TriageStatus::Abandoned,
            _ => TriageStatus::Running,
        }
    }
}

/// Everything recorded when a triage finishes (or fails).
#[derive(Debug, Clone, Default)]
pub struct NewTriage {
    pub id: String,
    pub alert_row: i64,
    pub engine: String,
    pub model: Option<String>,
    pub verdict: Option<String>,
    pub confidence: Option<f64>,
    pub verdict_json: Option<String>,
    pub raw_output: Option<String>,
    pub error: Option<String>,
    pub provenance_json: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub latency_ms: Option<u64>,
    pub ttft_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TriageRecord {
    pub id: String,
    pub alert_row: i64,
    pub alert_key: String,
    pub alert_title: String,
    pub status: TriageStatus,
    pub engine: String,
    pub model: Option<String>,
    pub verdict: Option<String>,
    pub confidence: Option<f64>,
    pub verdict_json: Option<String>,
    pub raw_output: Option<String>,
    pub error: Option<String>,
    pub provenance_json: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub latency_ms: Option<u64>,
    pub ttft_ms: Option<u64>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

const SELECT: &str = "SELECT t.id, t.alert_id, a.alert_key, a.title, t.status, t.engine, t.model, t.verdict, t.confidence,
    t.verdict_json, t.raw_output, t.error, t.provenance_json, t.input_tokens, t.output_tokens, t.cost_usd,
    t.latency_ms, t.ttft_ms, t.created_at, t.finished_at FROM triages t JOIN alerts a ON a.id = t.alert_id";

fn record(r: &Row) -> Result<TriageRecord, StoreError> {
    Ok(TriageRecord {
        id: r.get(0)?,
        alert_row: r.get(1)?,
        alert_key: r.get(2)?,
        alert_title: r.get(3)?,
        status: TriageStatus::parse(&r.get::<String>(4)?),
        engine: r.get(5)?,
        model: r.get(6)?,
        verdict: r.get(7)?,
        confidence: r.get(8)?,
        verdict_json: r.get(9)?,
        raw_output: r.get(10)?,
        error: r.get(11)?,
        provenance_json: r.get(12)?,
        input_tokens: r.get::<i64>(13)? as u64,
        output_tokens: r.get::<i64>(14)? as u64,
        cost_usd: r.get(15)?,
        latency_ms: r.get::<Option<i64>>(16)?.map(|v| v as u64),
        ttft_ms: r.get::<Option<i64>>(17)?.map(|v| v as u64),
        created_at: r.get(18)?,
        finished_at: r.get(19)?,
    })
}

impl Store {
    /// What model triages cost since midnight UTC (the daily cost cap's measure).
    pub fn cost_today(&self) -> Result<f64, StoreError> {
        let midnight = chrono::Utc::now().format("%Y-%m-%dT00:00:00").to_string();
        self.db()
            .query_one(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM triages WHERE created_at >= ?1",
                args![midnight],
            )?
            .get(0)
    }

    /// Records that a triage started, so a crash mid-run still leaves a trace.
    pub fn start_triage(
        &mut self,
        id: &str,
        alert_row: i64,
        engine: &str,
        model: Option<&str>,
    ) -> Result<(), StoreError> {
        self.db().execute(
            "INSERT INTO triages (id, alert_id, status, engine, model, created_at, owner)
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6)",
            args![
                id,
                alert_row,
                engine,
                model,
                now(),
                super::owner::this_process()
            ],
        )?;
        Ok(())
    }

    /// Records the outcome of a triage started with `start_triage` (or inserts it whole).
    /// Only a run still `running` is updated: a run cancelled meanwhile stays cancelled, and
    /// `Ok(false)` says the outcome was not recorded.
    pub fn finish_triage(
        &mut self,
        t: &NewTriage,
        status: TriageStatus,
    ) -> Result<bool, StoreError> {
        let n = self.db().execute(
            "INSERT INTO triages (id, alert_id, status, engine, model, verdict, confidence, verdict_json, raw_output,
                error, provenance_json, input_tokens, output_tokens, cost_usd, latency_ms, ttft_ms, created_at, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?17)
             ON CONFLICT(id) DO UPDATE SET status = excluded.status, engine = excluded.engine, model = excluded.model,
                verdict = excluded.verdict, confidence = excluded.confidence, verdict_json = excluded.verdict_json,
                raw_output = excluded.raw_output, error = excluded.error, provenance_json = excluded.provenance_json,
                input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, cost_usd = excluded.cost_usd,
                latency_ms = excluded.latency_ms, ttft_ms = excluded.ttft_ms, finished_at = excluded.finished_at
             WHERE triages.status = 'running'",
            args![
                t.id,
                t.alert_row,
                status.as_str(),
                t.engine,
                t.model,
                t.verdict,
                t.confidence,
                t.verdict_json,
                t.raw_output,
                t.error,
                t.provenance_json,
                t.input_tokens as i64,
                t.output_tokens as i64,
                t.cost_usd,
                t.latency_ms.map(|v| v as i64),
                t.ttft_ms.map(|v| v as i64),
                now()
            ],
        )?;
        if n == 1 {
            self.record_event("triage", Some(t.alert_row), Some(&t.id), None)?;
        }
        Ok(n == 1)
    }

    /// Closes one run that is still `running` as cancelled; `Ok(false)` when it had ended.
    pub fn cancel_triage(&mut self, id: &str, why: &str) -> Result<bool, StoreError> {
        let n = self.db().execute(
            "UPDATE triages SET status = 'cancelled', error = ?2, finished_at = ?3
             WHERE id = ?1 AND status = 'running'",
            args![id, why, now()],
        )?;
        Ok(n == 1)
    }

    pub fn triage(&self, id: &str) -> Result<Option<TriageRecord>, StoreError> {
        self.db()
            .query_opt(&format!("{SELECT} WHERE t.id = ?1"), args![id])?
            .map(|r| record(&r))
            .transpose()
    }

    /// The latest triage of an alert, if any.
    pub fn latest_triage_for(&self, alert_row: i64) -> Result<Option<TriageRecord>, StoreError> {
        self.db()
            .query_opt(
                &format!("{SELECT} WHERE t.alert_id = ?1 ORDER BY t.created_at DESC, t.rowid DESC LIMIT 1"),
                args![alert_row],
            )?
            .map(|r| record(&r))
            .transpose()
    }

    pub fn recent_triages(&self, limit: usize) -> Result<Vec<TriageRecord>, StoreError> {
        self.db()
            .query(
                &format!("{SELECT} ORDER BY t.created_at DESC, t.rowid DESC LIMIT ?1"),
                args![limit as i64],
            )?
            .iter()
            .map(record)
            .collect()
    }

    /// Whether the alert with this key already has a completed triage (for `--resume`).
    pub fn has_completed_triage(&self, alert_key: &str) -> Result<bool, StoreError> {
        self.db()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM triages t JOIN alerts a ON a.id = t.alert_id WHERE a.alert_key = ?1 AND t.status = 'complete')",
                args![alert_key],
            )?
            .get(0)
    }

    /// The latest triage of an alert that produced a verdict.
    pub fn latest_complete_triage_for(
        &self,
        alert_row: i64,
    ) -> Result<Option<TriageRecord>, StoreError> {
        self.db()
            .query_opt(
                &format!(
                    "{SELECT} WHERE t.alert_id = ?1 AND t.status = 'complete' ORDER BY t.created_at DESC, t.rowid DESC LIMIT 1"
                ),
                args![alert_row],
            )?
            .map(|r| record(&r))
            .transpose()
    }

    /// Closes the runs of an alert that this process left `running` (a stream the analyst
    /// cancelled, or one cut off when the console quit), so none is left dangling. Runs of
    /// the same alert in other processes are not touched. Returns how many.
    pub fn cancel_running(&mut self, alert_key: &str, why: &str) -> Result<usize, StoreError> {
        self.db().execute(
            "UPDATE triages SET status = 'cancelled', error = ?2, finished_at = ?3
             WHERE status = 'running' AND owner = ?4
               AND alert_id = (SELECT id FROM alerts WHERE alert_key = ?1)",
            args![alert_key, why, now(), super::owner::this_process()],
        )
    }
}
