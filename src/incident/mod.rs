//! Incidents: alerts that belong to one attack, grouped and explained. `refresh` rebuilds
//! them from the store (on intake and on load); `synthetic_alert` turns an incident into
//! the one alert its incident-level triage runs on, so a model sees the whole group, fenced
//! like any alert, in one call.

pub mod correlate;

use std::collections::BTreeSet;

use crate::alert::{Alert, Field, Iocs, Severity};
use crate::store::incidents::{
    CorrelationRow, INCIDENT_FORMAT, IncidentMember, IncidentSummary, NewIncident,
};
use crate::store::{Store, StoreError};
use correlate::{Node, Settings, correlate};

/// Seconds since the epoch of an alert: the source's event time when it parses (see
/// `parse_secs`), else arrival.
pub fn event_secs(timestamp: Option<&str>, created_at: &str) -> i64 {
    timestamp
        .and_then(plausible_secs)
        .or_else(|| parse_secs(created_at))
        .unwrap_or(0)
}

/// An event time as SIEMs write them: RFC 3339; ISO 8601 with a basic offset (`+0000`, as
/// Wazuh writes) or a space for `T`; a trailing `UTC`/`GMT`; no offset at all (taken as
/// UTC); Apache's `02/Nov/2026:06:05:40 +0000`; epoch seconds (with a fraction, as Splunk's
/// `_time`) or milliseconds.
pub fn parse_secs(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%d/%b/%Y:%H:%M:%S %z",
    ] {
        if let Ok(t) = chrono::DateTime::parse_from_str(s, f) {
            return Some(t.timestamp());
        }
    }
    let naive = s
        .strip_suffix(" UTC")
        .or_else(|| s.strip_suffix(" GMT"))
        .or_else(|| s.strip_suffix('Z'))
        .unwrap_or(s)
        .trim_end();
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(naive, f) {
            return Some(t.and_utc().timestamp());
        }
    }
    let n: f64 = s.parse().ok().filter(|n: &f64| n.is_finite() && *n > 0.0)?;
    // Seconds stay 10 digits until 2286; milliseconds are 13, microseconds 16 and
    // nanoseconds 19 (OpenTelemetry, Loki).
    let secs = if n > 1e17 {
        n / 1e9
    } else if n > 1e14 {
        n / 1e6
    } else if n > 1e11 {
        n / 1e3
    } else {
        n
    };
    Some(secs as i64)
}

/// 1990-01-01 to 2200-01-01: an event time outside it (Go's zero time, a mangled epoch) is
/// not believed, and arrival time is used instead.
const PLAUSIBLE_SECS: std::ops::Range<i64> = 631_152_000..7_258_118_400;

/// `parse_secs`, only when the time is plausible for an alert.
fn plausible_secs(s: &str) -> Option<i64> {
    parse_secs(s).filter(|t| PLAUSIBLE_SECS.contains(t))
}

/// Seconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

const LEVELS: [&str; 5] = ["BENIGN", "LOW", "MEDIUM", "HIGH", "CRITICAL"];

fn rank(verdict: Option<&str>, severity: Option<&str>) -> (usize, usize) {
    let v = verdict.and_then(|v| LEVELS.iter().position(|l| *l == v));
    let s = severity
        .and_then(Severity::parse)
        .map_or(0, |s| s as usize + 1);
    (v.map_or(0, |v| v + 1), s)
}

/// What a refresh found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refreshed {
    pub alerts: usize,
    pub incidents: usize,
    pub grouped: usize,
}

/// Groups `rows` into incidents of two alerts or more, titled and explained.
pub fn build(
    rows: &[CorrelationRow],
    s: Settings,
    decisions: &correlate::Decisions,
) -> Vec<NewIncident> {
    let nodes: Vec<Node> = rows
        .iter()
        .map(|r| Node {
            row: r.row,
            at: event_secs(r.timestamp.as_deref(), &r.created_at),
            host: r.host.clone(),
            user: r.user.clone(),
            indicators: r.indicators.clone(),
            tactics: r.tactics.clone(),
        })
        .collect();
    let by_row: std::collections::HashMap<i64, (usize, &CorrelationRow)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.row, (i, r)))
        .collect();
    let mut out = Vec::new();
    for g in correlate(&nodes, &s, decisions) {
        if g.rows.len() < 2 {
            continue;
        }
        let members: Vec<(i64, String)> = g
            .rows
            .iter()
            .map(|&row| {
                let why = g
                    .links
                    .iter()
                    .find(|l| l.b == row)
                    .or_else(|| {
                        g.links
                            .iter()
                            .find(|l| l.a == row && l.why.starts_with("merged"))
                    })
                    .map(|l| l.why.clone())
                    .unwrap_or_default();
                (row, why)
            })
            .collect();
        let times: Vec<i64> = g
            .rows
            .iter()
            .filter_map(|r| by_row.get(r).map(|(i, _)| nodes[*i].at))
            .collect();
        let lead = g
            .rows
            .iter()
            .filter_map(|r| by_row.get(r).map(|(_, c)| *c))
            .max_by_key(|c| (rank(c.verdict.as_deref(), c.severity.as_deref()), -c.row));
        let Some(lead) = lead else { continue };
        let hosts: BTreeSet<&str> = g
            .rows
            .iter()
            .filter_map(|r| by_row.get(r).and_then(|(_, c)| c.host.as_deref()))
            .collect();
        let mut title = format!("{} (+{} more)", lead.title, g.rows.len() - 1);
        if !hosts.is_empty() {
            let shown: Vec<&str> = hosts.iter().take(3).copied().collect();
            title.push_str(&format!(
                " on {}{}",
                shown.join(", "),
                if hosts.len() > 3 { ", …" } else { "" }
            ));
        }
        out.push(NewIncident {
            id: format!("INC-{}", g.rows[0]),
            title,
            first_at: rfc3339(times.iter().copied().min().unwrap_or(0)),
            last_at: rfc3339(times.iter().copied().max().unwrap_or(0)),
            members,
        });
    }
    out
}

/// Rebuilds the stored incidents from every stored alert and the analyst's decisions.
pub fn refresh(store: &mut Store, s: Settings) -> Result<Refreshed, StoreError> {
    let rows = store.correlation_rows()?;
    let decisions = store.incident_decisions()?;
    let incidents = build(&rows, s, &decisions);
    store.replace_incidents(&incidents)?;
    Ok(Refreshed {
        alerts: rows.len(),
        incidents: incidents.len(),
        grouped: incidents.iter().map(|i| i.members.len()).sum(),
    })
}

/// One step of an incident's combined chain: a technique seen in its alerts' verdicts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ChainEntry {
    pub tactic: String,
    pub technique: Option<String>,
    pub name: String,
    /// Alert rows whose verdicts name it.
    pub alerts: Vec<i64>,
}

/// An incident with its alerts (timeline order), the combined technique chain ordered by
/// tactic, and its incident-level verdict when one was run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    pub incident: IncidentSummary,
    pub alerts: Vec<IncidentMember>,
    pub chain: Vec<ChainEntry>,
    /// The incident-level verdict (the same shape as a triage's).
    #[schema(value_type = Option<Object>)]
    pub verdict: Option<serde_json::Value>,
}

pub fn detail(store: &Store, id: &str) -> Result<Option<IncidentDetail>, StoreError> {
    let Some(incident) = store.incident(id)? else {
        return Ok(None);
    };
    let alerts = store.incident_members(id)?;
    let mut chain: Vec<(usize, ChainEntry)> = Vec::new();
    for m in &alerts {
        let Some(t) = store.latest_complete_triage_for(m.row)? else {
            continue;
        };
        let Some(v) = t
            .verdict_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<crate::triage::Verdict>(j).ok())
        else {
            continue;
        };
        for step in &v.attack_chain {
            let rank = correlate::tactic_rank(&step.tactic).unwrap_or(usize::MAX);
            match chain
                .iter_mut()
                .find(|(_, e)| e.tactic == step.tactic && e.technique == step.technique)
            {
                Some((_, e)) => {
                    if !e.alerts.contains(&m.row) {
                        e.alerts.push(m.row);
                    }
                }
                None => chain.push((
                    rank,
                    ChainEntry {
                        tactic: step.tactic.clone(),
                        technique: step.technique.clone(),
                        name: step.description.clone(),
                        alerts: vec![m.row],
                    },
                )),
            }
        }
    }
    chain.sort_by_key(|(rank, e)| (*rank, e.alerts.first().copied().unwrap_or(0)));
    let verdict = match &incident.triage_id {
        Some(t) => store
            .triage(t)?
            .and_then(|r| r.verdict_json)
            .and_then(|j| serde_json::from_str(&j).ok()),
        None => None,
    };
    Ok(Some(IncidentDetail {
        incident,
        alerts,
        chain: chain.into_iter().map(|(_, e)| e).collect(),
        verdict,
    }))
}

/// Refreshes when the store changed since `last` (alerts, finished triages, decisions);
/// readers call it before reading incidents, so grouping is current after any intake.
pub fn refresh_if_changed(
    store: &mut Store,
    s: Settings,
    last: &std::sync::Mutex<Option<(i64, i64, i64)>>,
) -> Result<Option<Refreshed>, StoreError> {
    let now = store.correlation_generation()?;
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    if *last == Some(now) {
        return Ok(None);
    }
    // Replicas on one team database take turns: while one regroups, the others skip (the
    // result is the same shared table).
    if !store.try_lock(REGROUP_LOCK)? {
        return Ok(None);
    }
    let r = refresh(store, s);
    store.unlock(REGROUP_LOCK)?;
    let r = r?;
    *last = Some(now);
    Ok(Some(r))
}

/// The team-wide lock a background regroup holds.
const REGROUP_LOCK: i64 = 5318;

/// At most this many members are described to the engine (the prompt stays bounded).
const MAX_MEMBERS: usize = 40;
/// At most this many fields of each member go into the incident's alert.
const FIELDS_PER_ALERT: usize = 24;
/// At most this many indicators of each kind (as the extractor bounds one alert).
const MAX_PER_KIND: usize = 50;

/// The alert an incident-level triage runs on: every member's title, time, host, user and
/// leading fields (prefixed `alertN.`), all indicators, and why they are one incident.
pub fn synthetic_alert(store: &Store, id: &str) -> Result<Option<(Alert, String)>, StoreError> {
    let Some(summary) = store.incident(id)? else {
        return Ok(None);
    };
    let members = store.incident_members(id)?;
    let mut alert = Alert {
        id: format!("incident:{id}"),
        format: INCIDENT_FORMAT.into(),
        source: "soc-copilot".into(),
        title: format!("Incident {id}: {}", summary.title),
        timestamp: Some(summary.first_at.clone()),
        ..Alert::default()
    };
    let mut desc = format!(
        "{} correlated alerts from {} to {}.",
        members.len(),
        summary.first_at,
        summary.last_at
    );
    let mut iocs = Iocs::default();
    let mut hosts = BTreeSet::new();
    let mut users = BTreeSet::new();
    if members.len() > MAX_MEMBERS {
        desc.push_str(&format!(
            " The first {MAX_MEMBERS} are listed; {} more are in the incident.",
            members.len() - MAX_MEMBERS
        ));
    }
    for (n, m) in members.iter().take(MAX_MEMBERS).enumerate() {
        let n = n + 1;
        desc.push_str(&format!(
            "\nalert{n} [{}] {} (host {}, user {}){}",
            m.at,
            m.title,
            m.host.as_deref().unwrap_or("-"),
            m.user.as_deref().unwrap_or("-"),
            if m.why.is_empty() {
                String::new()
            } else {
                format!(" — {}", m.why)
            }
        ));
        hosts.extend(m.host.clone());
        users.extend(m.user.clone());
        let Some(stored) = store.alert_by_row(m.row)? else {
            continue;
        };
        let a = &stored.alert;
        alert.severity = alert.severity.max(a.severity);
        for f in a.fields.iter().take(FIELDS_PER_ALERT) {
            alert.fields.push(Field {
                path: format!("alert{n}.{}", f.path),
                value: f.value.clone(),
            });
        }
        merge_iocs(&mut iocs, &a.iocs);
    }
    alert.description = desc;
    alert.host = (hosts.len() == 1)
        .then(|| hosts.iter().next().cloned())
        .flatten();
    alert.user = (users.len() == 1)
        .then(|| users.iter().next().cloned())
        .flatten();
    alert.iocs = iocs;
    let raw = serde_json::json!({
        "incident": id,
        "alerts": members.iter().map(|m| &m.key).collect::<Vec<_>>(),
    })
    .to_string();
    Ok(Some((alert, raw)))
}

fn merge_iocs(into: &mut Iocs, from: &Iocs) {
    for ((_, dst), (_, src)) in into.lists_mut().into_iter().zip(from.lists()) {
        for v in src {
            if dst.len() < MAX_PER_KIND && !dst.contains(v) {
                dst.push(v.clone());
            }
        }
    }
}

/// One incident-level triage: the whole group as one alert, through the same pipeline as
/// any alert (one model call in pipeline mode, or the offline engine), recorded with the
/// incident.
pub async fn triage(
    pipeline: &crate::triage::Pipeline,
    id: &str,
    obs: &mut dyn crate::triage::Observer,
) -> anyhow::Result<crate::triage::TriageOutcome> {
    let stores = pipeline.stores.clone();
    let key = id.to_string();
    let (alert, raw) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = stores.get()?;
        synthetic_alert(&store, &key)?.ok_or_else(|| {
            anyhow::anyhow!(
                "no incident {key:?}: `soc-copilot incidents list` shows the current ones"
            )
        })
    })
    .await??;
    let loaded = crate::alert::load::LoadedAlert {
        alert,
        raw,
        origin: format!("incident {id}"),
    };
    let outcome = pipeline
        .run(
            crate::triage::Request::new(std::sync::Arc::new(loaded)),
            obs,
        )
        .await?;
    let (stores, key, triage_id) = (
        pipeline.stores.clone(),
        id.to_string(),
        outcome.triage_id.clone(),
    );
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        stores.get()?.set_incident_triage(&key, &triage_id)?;
        Ok(())
    })
    .await??;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way a SIEM writes an event time reads as the same instant; arrival time is
    /// used only when none does.
    #[test]
    fn event_times_in_every_siem_shape_agree() {
        let want = 1_793_599_540; // 2026-11-02T06:05:40Z
        for s in [
            "2026-11-02T06:05:40Z",
            "2026-11-02T06:05:40.000Z",
            "2026-11-02T07:05:40+01:00",
            "2026-11-02T06:05:40.000+0000",
            "2026-11-02T07:05:40.123+0100",
            "2026-11-02 06:05:40+0000",
            "2026-11-02 06:05:40 +0000",
            "2026-11-02 06:05:40.000 UTC",
            "2026-11-02 06:05:40",
            "2026-11-02T06:05:40.5",
            "02/Nov/2026:06:05:40 +0000",
            "1793599540",
            "1793599540.123",
            "1793599540123",
            "1793599540123456",
            "1793599540123456789",
            " 2026-11-02T06:05:40Z ",
        ] {
            assert_eq!(parse_secs(s), Some(want), "{s:?}");
            assert_eq!(event_secs(Some(s), "2030-01-01T00:00:00Z"), want, "{s:?}");
        }
        for bad in ["", "yesterday", "NaN", "-5", "2026-13-40T00:00:00Z"] {
            assert_eq!(parse_secs(bad), None, "{bad:?}");
        }
        for unbelievable in ["soon", "0001-01-01T00:00:00Z", "1e25", "12"] {
            assert_eq!(
                event_secs(Some(unbelievable), "2026-11-02T06:05:40Z"),
                want,
                "{unbelievable:?} falls back to arrival"
            );
        }
    }
}
