//! The investigation's memory in the store: which stored alerts carry an indicator (IOC
//! history), which alerts are related to one (same host, user or indicator within a time
//! window), and the offline threat intelligence imported for air-gapped lookups.

use chrono::Datelike;
use serde::Serialize;

use super::db::{Db, Row};
use super::{Store, StoreError, args, now};
use crate::alert::Alert;
use crate::intel::{Indicator, IntelRecord, Kind, Verdict, indicators};

/// Re-indexes one alert's indicators (an updated alert replaces its old ones).
pub(crate) fn index_alert(db: &Db, row: i64, alert: &Alert) -> Result<(), StoreError> {
    db.execute("DELETE FROM alert_iocs WHERE alert_id = ?1", args![row])?;
    for i in indicators(&alert.iocs) {
        db.execute(
            "INSERT INTO alert_iocs (kind, value, alert_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            args![i.kind.as_str(), i.value, row],
        )?;
    }
    Ok(())
}

/// A stored alert that carried an indicator, and what was decided about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sighting {
    pub alert_key: String,
    pub title: String,
    pub host: Option<String>,
    pub seen_at: String,
    /// The latest complete triage's verdict.
    pub verdict: Option<String>,
    /// The analyst's latest judgement of it: `up`/`down`, and their own verdict.
    pub thumbs: Option<String>,
    pub analyst_verdict: Option<String>,
}

/// An alert related to another, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Related {
    pub alert_key: String,
    pub title: String,
    pub seen_at: String,
    pub verdict: Option<String>,
    /// `same host FIN-WS-042`, `same user j.doe`, `shares ip 185.220.101.47`.
    pub why: Vec<String>,
}

const DECIDED: &str = "
    (SELECT t.verdict FROM triages t WHERE t.alert_id = a.id AND t.status = 'complete'
      ORDER BY t.created_at DESC, t.rowid DESC LIMIT 1),
    (SELECT f.thumbs FROM feedback f JOIN triages t ON t.id = f.triage_id
      WHERE t.alert_id = a.id AND f.superseded = 0 ORDER BY f.id DESC LIMIT 1),
    (SELECT f.analyst_verdict FROM feedback f JOIN triages t ON t.id = f.triage_id
      WHERE t.alert_id = a.id AND f.superseded = 0 ORDER BY f.id DESC LIMIT 1)";

impl Store {
    /// Every stored alert carrying `ind`, newest first, except `exclude_key` (the alert being
    /// investigated), at most `limit`.
    pub fn ioc_history(
        &self,
        ind: &Indicator,
        exclude_key: &str,
        limit: usize,
    ) -> Result<Vec<Sighting>, StoreError> {
        self.db()
            .query(
                &format!(
                    "SELECT a.alert_key, a.title, a.host, a.created_at, {DECIDED}
             FROM alert_iocs i JOIN alerts a ON a.id = i.alert_id
             WHERE i.kind = ?1 AND i.value = ?2 AND a.alert_key != ?3
             ORDER BY a.created_at DESC, a.id DESC LIMIT ?4"
                ),
                args![ind.kind.as_str(), ind.value, exclude_key, limit as i64],
            )?
            .iter()
            .map(|r: &Row| -> Result<Sighting, StoreError> {
                Ok(Sighting {
                    alert_key: r.get(0)?,
                    title: r.get(1)?,
                    host: r.get(2)?,
                    seen_at: r.get(3)?,
                    verdict: r.get(4)?,
                    thumbs: r.get(5)?,
                    analyst_verdict: r.get(6)?,
                })
            })
            .collect()
    }

    /// Alerts stored within `hours` of the alert `key` that share its host, its user or one
    /// of its indicators, newest first, at most `limit`.
    pub fn related_alerts(
        &self,
        key: &str,
        hours: f64,
        limit: usize,
    ) -> Result<Vec<Related>, StoreError> {
        let db = self.db();
        let Some(me) = db.query_opt(
            "SELECT id, host, user_name, created_at FROM alerts WHERE alert_key = ?1",
            args![key],
        )?
        else {
            return Ok(Vec::new());
        };
        let row: i64 = me.get(0)?;
        let host: Option<String> = me.get(1)?;
        let user: Option<String> = me.get(2)?;
        // The window around the alert's arrival, written like `now()` writes times so the
        // bounds compare as text with the stored ones. A time that does not parse bounds
        // nothing, as SQLite's date functions answered NULL for it.
        let Ok(at) = chrono::DateTime::parse_from_rfc3339(&me.get::<String>(3)?) else {
            return Ok(Vec::new());
        };
        let at = at.with_timezone(&chrono::Utc);
        let span = chrono::TimeDelta::try_milliseconds((hours * 3_600_000.0) as i64)
            .unwrap_or(chrono::TimeDelta::MAX);
        let bound = |t: Option<chrono::DateTime<chrono::Utc>>, edge: &str| match t {
            Some(t) if (0..=9999).contains(&t.year()) => {
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }
            _ => edge.to_string(),
        };
        let from = bound(at.checked_sub_signed(span), "0000-01-01T00:00:00.000Z");
        let to = bound(at.checked_add_signed(span), "9999-12-31T23:59:59.999Z");
        let rows = db.query(
            &format!(
                "SELECT a.id, a.alert_key, a.title, a.created_at, a.host, a.user_name, {DECIDED}
             FROM alerts a, alerts me
             WHERE me.id = ?1 AND a.id != me.id
               AND a.created_at BETWEEN ?2 AND ?3
               AND ((me.host IS NOT NULL AND lower(a.host) = lower(me.host))
                 OR (me.user_name IS NOT NULL AND lower(a.user_name) = lower(me.user_name))
                 OR a.id IN (SELECT o.alert_id FROM alert_iocs o JOIN alert_iocs m
                             ON m.kind = o.kind AND m.value = o.value WHERE m.alert_id = me.id))
             ORDER BY a.created_at DESC, a.id DESC LIMIT ?4"
            ),
            args![row, from, to, limit as i64],
        )?;
        let same = |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(x), Some(y)) if x.eq_ignore_ascii_case(y));
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let other: i64 = r.get(0)?;
            let mut rel = Related {
                alert_key: r.get(1)?,
                title: r.get(2)?,
                seen_at: r.get(3)?,
                verdict: r.get(6)?,
                why: Vec::new(),
            };
            let h: Option<String> = r.get(4)?;
            let u: Option<String> = r.get(5)?;
            if same(&h, &host) {
                rel.why.push(format!("same host {}", h.unwrap_or_default()));
            }
            if same(&u, &user) {
                rel.why.push(format!("same user {}", u.unwrap_or_default()));
            }
            let pairs = db.query(
                "SELECT o.kind, o.value FROM alert_iocs o JOIN alert_iocs m
               ON m.kind = o.kind AND m.value = o.value
             WHERE m.alert_id = ?1 AND o.alert_id = ?2 ORDER BY o.kind, o.value LIMIT 5",
                args![row, other],
            )?;
            for p in &pairs {
                rel.why.push(format!(
                    "shares {} {}",
                    p.str(0).unwrap_or_default(),
                    p.str(1).unwrap_or_default()
                ));
            }
            out.push(rel);
        }
        Ok(out)
    }

    /// Adds (or refreshes) offline intel records in one transaction; returns how many.
    pub fn import_intel(&mut self, records: &[IntelRecord]) -> Result<usize, StoreError> {
        let at = now();
        let db = self.db();
        db.transaction(false, || {
            for r in records {
                db.execute(
                    "INSERT INTO intel_indicators (kind, value, source, verdict, threat, first_seen, reference, imported_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(kind, value, source) DO UPDATE SET verdict = excluded.verdict,
                   threat = excluded.threat, first_seen = excluded.first_seen,
                   reference = excluded.reference, imported_at = excluded.imported_at",
                    args![
                        r.indicator.kind.as_str(),
                        r.indicator.value,
                        r.source,
                        r.verdict.as_str(),
                        r.threat,
                        r.first_seen,
                        r.reference,
                        at
                    ],
                )?;
            }
            Ok(records.len())
        })
    }

    /// What the imported feeds say about `ind`. A URL is also looked up by its host, so a
    /// feed listing the domain answers for every URL on it.
    pub fn intel_for(&self, ind: &Indicator) -> Result<Vec<IntelRecord>, StoreError> {
        let mut keys = vec![ind.clone()];
        if ind.kind == Kind::Url
            && let Some(host) = url_host(&ind.value)
            && let Some(h) = Indicator::detect(host)
        {
            keys.push(h);
        }
        let mut out = Vec::new();
        for k in keys {
            let rows = self.db().query(
                "SELECT source, verdict, threat, first_seen, reference FROM intel_indicators
             WHERE kind = ?1 AND value = ?2 ORDER BY source",
                args![k.kind.as_str(), k.value],
            )?;
            for r in &rows {
                out.push(IntelRecord {
                    indicator: k.clone(),
                    source: r.get(0)?,
                    verdict: Verdict::parse(r.str(1).unwrap_or_default())
                        .unwrap_or(Verdict::Suspicious),
                    threat: r.get(2)?,
                    first_seen: r.get(3)?,
                    reference: r.get(4)?,
                });
            }
        }
        Ok(out)
    }

    /// A cached remote answer: its outcome (JSON), raw body and when it was fetched, if one
    /// younger than `max_age_secs` is there.
    pub fn intel_cached(
        &self,
        provider: &str,
        ind: &Indicator,
        max_age_secs: f64,
    ) -> Result<Option<(String, Option<String>, f64)>, StoreError> {
        let Some(r) = self.db().query_opt(
            "SELECT outcome, raw, fetched_at
                 FROM intel_cache WHERE provider = ?1 AND kind = ?2 AND value = ?3",
            args![provider, ind.kind.as_str(), ind.value],
        )?
        else {
            return Ok(None);
        };
        // An answer whose fetch time does not parse counts as expired.
        let Some(fetched) = r
            .str(2)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        else {
            return Ok(None);
        };
        let age = (chrono::Utc::now() - fetched.with_timezone(&chrono::Utc)).num_milliseconds()
            as f64
            / 1000.0;
        if age <= max_age_secs {
            Ok(Some((r.get(0)?, r.get(1)?, age)))
        } else {
            Ok(None)
        }
    }

    pub fn intel_cache_put(
        &self,
        provider: &str,
        ind: &Indicator,
        outcome: &str,
        raw: Option<&str>,
    ) -> Result<(), StoreError> {
        self.db().execute(
            "INSERT INTO intel_cache (provider, kind, value, outcome, raw, fetched_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(provider, kind, value) DO UPDATE SET outcome = excluded.outcome,
               raw = excluded.raw, fetched_at = excluded.fetched_at",
            args![provider, ind.kind.as_str(), ind.value, outcome, raw, now()],
        )?;
        Ok(())
    }

    /// Imported records per source, for `intel status` and `doctor`.
    pub fn intel_sources(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.db()
            .query(
                "SELECT source, count(*) FROM intel_indicators GROUP BY source ORDER BY source",
                args![],
            )?
            .iter()
            .map(|r: &Row| -> Result<(String, i64), StoreError> { Ok((r.get(0)?, r.get(1)?)) })
            .collect()
    }
}

/// The host of a URL (`http://evil.example:8080/x` → `evil.example`).
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    (!host.is_empty()).then_some(host)
}
