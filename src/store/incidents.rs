//! Incidents as stored: correlation's result (rebuilt whole on every refresh), the analyst's
//! merges and splits (kept), and what correlation reads from the alerts.

use serde::Serialize;

use super::db::Row;
use super::{Store, StoreError, args, now};
use crate::incident::correlate::Decisions;

/// What correlation reads of one stored alert.
#[derive(Debug, Clone)]
pub struct CorrelationRow {
    pub row: i64,
    pub title: String,
    pub severity: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    /// The source's event time when it has one.
    pub timestamp: Option<String>,
    pub created_at: String,
    /// Public addresses, domains, URLs, hashes, e-mail addresses.
    pub indicators: Vec<String>,
    /// Tactics of the latest complete triage's attack chain.
    pub tactics: Vec<String>,
    pub verdict: Option<String>,
}

/// One incident to store.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub id: String,
    pub title: String,
    pub first_at: String,
    pub last_at: String,
    /// Alert rows, oldest first, with why each joined.
    pub members: Vec<(i64, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IncidentSummary {
    pub id: String,
    pub title: String,
    pub first_at: String,
    pub last_at: String,
    pub alert_count: i64,
    /// The incident-level triage, when one was run.
    pub triage_id: Option<String>,
    pub verdict: Option<String>,
    pub confidence: Option<f64>,
    /// The highest verdict among its alerts' latest triages.
    pub worst_alert_verdict: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IncidentMember {
    pub row: i64,
    pub key: String,
    pub title: String,
    pub host: Option<String>,
    pub user: Option<String>,
    pub at: String,
    pub why: String,
    pub verdict: Option<String>,
}

const LEVELS: [&str; 5] = ["BENIGN", "LOW", "MEDIUM", "HIGH", "CRITICAL"];

fn level_rank(v: &str) -> usize {
    LEVELS.iter().position(|l| *l == v).unwrap_or(0)
}

/// The `incidents` table's columns, in the order rows are written.
pub(crate) const INCIDENT_COLUMNS: &[&str] = &[
    "id",
    "title",
    "first_at",
    "last_at",
    "alert_count",
    "triage_id",
    "updated_at",
];

/// Alerts that stand for an incident (its triage) are not correlated themselves.
pub const INCIDENT_FORMAT: &str = "incident";

const SUMMARY: &str = "SELECT i.id, i.title, i.first_at, i.last_at, i.alert_count, i.triage_id, t.verdict, t.confidence,
    (SELECT group_concat(lt.verdict) FROM incident_alerts ia
       JOIN triages lt ON lt.id = (SELECT id FROM triages WHERE alert_id = ia.alert_id AND status = 'complete' ORDER BY created_at DESC LIMIT 1)
       WHERE ia.incident_id = i.id)
    FROM incidents i LEFT JOIN triages t ON t.id = i.triage_id";

/// `SUMMARY` for PostgreSQL (`string_agg` for `group_concat`).
const SUMMARY_PG: &str = "SELECT i.id, i.title, i.first_at, i.last_at, i.alert_count, i.triage_id, t.verdict, t.confidence,
    (SELECT string_agg(lt.verdict, ',') FROM incident_alerts ia
       JOIN triages lt ON lt.id = (SELECT id FROM triages WHERE alert_id = ia.alert_id AND status = 'complete' ORDER BY created_at DESC LIMIT 1)
       WHERE ia.incident_id = i.id)
    FROM incidents i LEFT JOIN triages t ON t.id = i.triage_id";

const CORRELATION_ROWS: &str = "SELECT a.id, a.title, a.severity, a.host, a.user_name, CAST(json_extract(a.normalized, '$.timestamp') AS TEXT), a.created_at,
               (SELECT json_group_array(j.value) FROM json_each(a.normalized, '$.iocs') k, json_each(k.value) j
                  WHERE k.key IN ('public_ips', 'domains', 'urls', 'md5', 'sha1', 'sha256', 'emails')),
               t.verdict_json, t.verdict
             FROM alerts a
             LEFT JOIN triages t ON t.id = (SELECT id FROM triages WHERE alert_id = a.id AND status = 'complete' ORDER BY created_at DESC LIMIT 1)
             WHERE a.format != ?1
             ORDER BY a.id";

/// `CORRELATION_ROWS` for PostgreSQL: `json` (not `jsonb`) keeps the document's key order,
/// so the indicators come in the same order as SQLite's `json_each` gives them.
const CORRELATION_ROWS_PG: &str = "SELECT a.id, a.title, a.severity, a.host, a.user_name, a.normalized::json ->> 'timestamp', a.created_at,
               (SELECT json_agg(j.value ORDER BY k.n, j.n)::text
                  FROM json_each(a.normalized::json -> 'iocs') WITH ORDINALITY AS k(key, value, n),
                       json_array_elements_text(k.value) WITH ORDINALITY AS j(value, n)
                  WHERE k.key IN ('public_ips', 'domains', 'urls', 'md5', 'sha1', 'sha256', 'emails')),
               t.verdict_json, t.verdict
             FROM alerts a
             LEFT JOIN triages t ON t.id = (SELECT id FROM triages WHERE alert_id = a.id AND status = 'complete' ORDER BY created_at DESC LIMIT 1)
             WHERE a.format != ?1
             ORDER BY a.id";

const INCIDENT_MEMBERS: &str = "SELECT a.id, a.alert_key, a.title, a.host, a.user_name,
                    CAST(json_extract(a.normalized, '$.timestamp') AS TEXT), ia.why,
                    (SELECT verdict FROM triages WHERE alert_id = a.id AND status = 'complete' ORDER BY created_at DESC LIMIT 1),
                    a.created_at
             FROM incident_alerts ia JOIN alerts a ON a.id = ia.alert_id
             WHERE ia.incident_id = ?1 ORDER BY ia.position";

const INCIDENT_MEMBERS_PG: &str = "SELECT a.id, a.alert_key, a.title, a.host, a.user_name,
                    a.normalized::json ->> 'timestamp', ia.why,
                    (SELECT verdict FROM triages WHERE alert_id = a.id AND status = 'complete' ORDER BY created_at DESC LIMIT 1),
                    a.created_at
             FROM incident_alerts ia JOIN alerts a ON a.id = ia.alert_id
             WHERE ia.incident_id = ?1 ORDER BY ia.position";

fn row_to_summary(r: &Row) -> Result<IncidentSummary, StoreError> {
    let verdicts: Option<String> = r.get(8)?;
    let worst = verdicts.and_then(|v| {
        v.split(',')
            .max_by_key(|l| level_rank(l))
            .map(str::to_string)
    });
    Ok(IncidentSummary {
        id: r.get(0)?,
        title: r.get(1)?,
        first_at: r.get(2)?,
        last_at: r.get(3)?,
        alert_count: r.get(4)?,
        triage_id: r.get(5)?,
        verdict: r.get(6)?,
        confidence: r.get(7)?,
        worst_alert_verdict: worst,
    })
}

impl Store {
    /// Every stored alert correlation considers (not incidents' own), oldest first.
    pub fn correlation_rows(&self) -> Result<Vec<CorrelationRow>, StoreError> {
        let db = self.db();
        db.query(
            db.pick(CORRELATION_ROWS, CORRELATION_ROWS_PG),
            args![INCIDENT_FORMAT],
        )?
        .iter()
        .map(|r: &Row| -> Result<CorrelationRow, StoreError> {
            let indicators: Option<String> = r.get(7)?;
            let verdict_json: Option<String> = r.get(8)?;
            Ok(CorrelationRow {
                row: r.get(0)?,
                title: r.get(1)?,
                severity: r.get(2)?,
                host: r.get(3)?,
                user: r.get(4)?,
                timestamp: r.get(5)?,
                created_at: r.get(6)?,
                indicators: indicators
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or_default(),
                tactics: verdict_json
                    .as_deref()
                    .map(chain_tactics)
                    .unwrap_or_default(),
                verdict: r.get(9)?,
            })
        })
        .collect()
    }

    /// Changes when anything correlation reads changes: alerts, finished triages, the
    /// analyst's decisions.
    pub fn correlation_generation(&self) -> Result<(i64, i64, i64), StoreError> {
        let r = self.db().query_one(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM alerts),
                    (SELECT COUNT(*) FROM triages WHERE status = 'complete'),
                    (SELECT CAST(COUNT(*) AS TEXT) || COALESCE(MAX(at), '') FROM incident_pairs)",
            args![],
        )?;
        let h = r
            .str(2)
            .unwrap_or_default()
            .bytes()
            .fold(0i64, |h, b| h.wrapping_mul(31).wrapping_add(b as i64));
        Ok((r.get(0)?, r.get(1)?, h))
    }

    /// The analyst's merges and splits.
    pub fn incident_decisions(&self) -> Result<Decisions, StoreError> {
        let mut d = Decisions::default();
        for r in self.db().query(
            "SELECT a, b, decision, analyst FROM incident_pairs",
            args![],
        )? {
            let (a, b): (i64, i64) = (r.get(0)?, r.get(1)?);
            if r.str(2) == Some("split") {
                d.split.insert((a, b));
            } else {
                d.merge.push((a, b, r.get::<String>(3)?));
            }
        }
        Ok(d)
    }

    /// Records that the analyst merged or split these alert pairs (a later decision on the
    /// same pair replaces the earlier one).
    pub fn record_incident_pairs(
        &mut self,
        pairs: &[(i64, i64)],
        merge: bool,
        analyst: &str,
    ) -> Result<(), StoreError> {
        let db = self.db();
        let at = now();
        db.transaction(false, || {
            for &(a, b) in pairs {
                if a == b {
                    continue;
                }
                db.execute(
                    "INSERT INTO incident_pairs (a, b, decision, analyst, at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(a, b) DO UPDATE SET decision = excluded.decision, analyst = excluded.analyst, at = excluded.at",
                    args![
                        a.min(b),
                        a.max(b),
                        if merge { "merge" } else { "split" },
                        analyst,
                        at
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// Replaces the stored incidents with `incidents` in one transaction. An incident keeps
    /// its id — and with it its incident-level triage and what was exported under it — as
    /// long as it holds the alert that named it: when an earlier alert joins (so the new
    /// grouping would name it after that one), or two incidents merge (the older id wins),
    /// the stored id is kept.
    pub fn replace_incidents(&mut self, incidents: &[NewIncident]) -> Result<(), StoreError> {
        let db = self.db();
        db.transaction(false, || {
            let mut prev: std::collections::BTreeMap<i64, Option<String>> =
                std::collections::BTreeMap::new();
            for r in db.query("SELECT id, triage_id FROM incidents", args![])? {
                if let Some(n) = r
                    .str(0)
                    .and_then(|id| id.strip_prefix("INC-"))
                    .and_then(|n| n.parse::<i64>().ok())
                {
                    prev.insert(n, r.get(1)?);
                }
            }
            let kept: std::collections::HashMap<String, String> = prev
                .iter()
                .filter_map(|(row, t)| t.clone().map(|t| (format!("INC-{row}"), t)))
                .collect();
            // Each alert is in one incident, so an id taken from a member row is never taken
            // twice.
            let ids: Vec<String> = incidents
                .iter()
                .map(|i| {
                    if i.id
                        .strip_prefix("INC-")
                        .and_then(|n| n.parse::<i64>().ok())
                        .is_some_and(|n| prev.contains_key(&n))
                    {
                        return i.id.clone();
                    }
                    i.members
                        .iter()
                        .map(|(row, _)| *row)
                        .filter(|row| prev.contains_key(row))
                        .min()
                        .map_or_else(|| i.id.clone(), |row| format!("INC-{row}"))
                })
                .collect();
            db.execute("DELETE FROM incident_alerts", args![])?;
            db.execute("DELETE FROM incidents", args![])?;
            let at = now();
            let mut heads = Vec::with_capacity(incidents.len());
            let mut members = Vec::new();
            for (i, id) in incidents.iter().zip(&ids) {
                heads.push(
                    args![
                        id,
                        i.title,
                        i.first_at,
                        i.last_at,
                        i.members.len() as i64,
                        kept.get(id),
                        at
                    ]
                    .to_vec(),
                );
                for (pos, (row, why)) in i.members.iter().enumerate() {
                    members.push(args![row, id, pos as i64, why].to_vec());
                }
            }
            db.insert_many("incidents", INCIDENT_COLUMNS, &heads)?;
            db.insert_many(
                "incident_alerts",
                &["alert_id", "incident_id", "position", "why"],
                &members,
            )?;
            Ok(())
        })
    }

    /// Incidents, the most recent activity first.
    pub fn incidents(&self, limit: usize) -> Result<Vec<IncidentSummary>, StoreError> {
        let db = self.db();
        db.query(
            &format!(
                "{} ORDER BY i.last_at DESC, i.id LIMIT ?1",
                db.pick(SUMMARY, SUMMARY_PG)
            ),
            args![limit as i64],
        )?
        .iter()
        .map(row_to_summary)
        .collect()
    }

    pub fn incident(&self, id: &str) -> Result<Option<IncidentSummary>, StoreError> {
        let db = self.db();
        db.query_opt(
            &format!("{} WHERE i.id = ?1", db.pick(SUMMARY, SUMMARY_PG)),
            args![id],
        )?
        .map(|r| row_to_summary(&r))
        .transpose()
    }

    /// An incident's alerts in order, each with why it joined and its latest verdict. `at`
    /// is the event time as correlation read it (whatever shape the SIEM wrote it in), in
    /// RFC 3339 UTC.
    pub fn incident_members(&self, id: &str) -> Result<Vec<IncidentMember>, StoreError> {
        let db = self.db();
        db.query(db.pick(INCIDENT_MEMBERS, INCIDENT_MEMBERS_PG), args![id])?
            .iter()
            .map(|r: &Row| -> Result<IncidentMember, StoreError> {
                let timestamp: Option<String> = r.get(5)?;
                let created: String = r.get(8)?;
                let at = crate::incident::rfc3339(crate::incident::event_secs(
                    timestamp.as_deref(),
                    &created,
                ));
                Ok(IncidentMember {
                    row: r.get(0)?,
                    key: r.get(1)?,
                    title: r.get(2)?,
                    host: r.get(3)?,
                    user: r.get(4)?,
                    at,
                    why: r.get(6)?,
                    verdict: r.get(7)?,
                })
            })
            .collect()
    }

    /// The incident an alert belongs to.
    pub fn incident_of(&self, alert_row: i64) -> Result<Option<String>, StoreError> {
        self.db()
            .query_opt(
                "SELECT incident_id FROM incident_alerts WHERE alert_id = ?1",
                args![alert_row],
            )?
            .map(|r| r.get(0))
            .transpose()
    }

    /// Attaches the incident-level triage.
    pub fn set_incident_triage(&mut self, id: &str, triage_id: &str) -> Result<(), StoreError> {
        self.db().execute(
            "UPDATE incidents SET triage_id = ?2, updated_at = ?3 WHERE id = ?1",
            args![id, triage_id, now()],
        )?;
        Ok(())
    }
}

/// The tactics named by a stored verdict's attack chain.
fn chain_tactics(verdict_json: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(verdict_json) else {
        return Vec::new();
    };
    v.get("attack_chain")
        .and_then(|c| c.as_array())
        .map(|steps| {
            steps
                .iter()
                .filter_map(|s| s.get("tactic").and_then(|t| t.as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
