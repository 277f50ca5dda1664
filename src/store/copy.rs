//! `store migrate --to postgres://…`: an analyst's SQLite history copied into the team store.
//!
//! Idempotent: a row already there is not copied again, so the command can be re-run (after
//! an interruption, or to bring over what was recorded since). Alerts are matched by their
//! key, triages by their id; rows without a natural id (feedback, notes, chat, exports,
//! closures) by what they record (who, when, what). Row ids are the team store's own: every
//! reference to an alert (and the incident ids named after alerts) is translated.

use std::collections::HashMap;

use serde::Serialize;

use super::db::{Db, Value, placeholders};
use super::{Store, StoreError};

/// Rows copied and rows found already there, per table.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CopyReport {
    pub tables: Vec<TableCount>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TableCount {
    pub table: String,
    pub copied: u64,
    pub present: u64,
}

impl CopyReport {
    pub fn copied(&self) -> u64 {
        self.tables.iter().map(|t| t.copied).sum()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Remap {
    /// An alert row id.
    Alert,
    /// An incident id `INC-<alert row>`, or an alert key (exports name either).
    Incident,
}

struct Table {
    name: &'static str,
    /// Copied columns (never the row id).
    cols: &'static [&'static str],
    /// Columns that identify a row already copied; `None`: the insert's conflict rule does.
    key: Option<&'static [&'static str]>,
    remap: &'static [(&'static str, Remap)],
    order: &'static str,
}

const TABLES: &[Table] = &[
    Table {
        name: "triages",
        cols: &[
            "id",
            "alert_id",
            "status",
            "engine",
            "model",
            "verdict",
            "confidence",
            "verdict_json",
            "raw_output",
            "error",
            "provenance_json",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "latency_ms",
            "ttft_ms",
            "created_at",
            "finished_at",
            "owner",
        ],
        key: Some(&["id"]),
        remap: &[("alert_id", Remap::Alert)],
        order: "rowid",
    },
    Table {
        name: "feedback",
        cols: &[
            "triage_id",
            "thumbs",
            "reason",
            "analyst_verdict",
            "notes",
            "analyst",
            "created_at",
            "verdict",
            "confidence",
            "engine",
            "superseded",
        ],
        key: Some(&["triage_id", "created_at", "analyst", "thumbs"]),
        remap: &[],
        order: "id",
    },
    Table {
        name: "notes",
        cols: &["alert_id", "triage_id", "text", "analyst", "created_at"],
        key: Some(&["alert_id", "created_at", "analyst", "text"]),
        remap: &[("alert_id", Remap::Alert)],
        order: "id",
    },
    Table {
        name: "chat_messages",
        cols: &[
            "alert_id",
            "role",
            "content",
            "engine",
            "model",
            "input_tokens",
            "output_tokens",
            "created_at",
        ],
        key: Some(&["alert_id", "created_at", "role", "content"]),
        remap: &[("alert_id", Remap::Alert)],
        order: "id",
    },
    Table {
        name: "alert_iocs",
        cols: &["kind", "value", "alert_id"],
        key: None,
        remap: &[("alert_id", Remap::Alert)],
        order: "alert_id, kind, value",
    },
    Table {
        name: "intel_indicators",
        cols: &[
            "kind",
            "value",
            "source",
            "verdict",
            "threat",
            "first_seen",
            "reference",
            "imported_at",
        ],
        key: None,
        remap: &[],
        order: "kind, value, source",
    },
    Table {
        name: "intel_cache",
        cols: &["provider", "kind", "value", "outcome", "raw", "fetched_at"],
        key: None,
        remap: &[],
        order: "provider, kind, value",
    },
    Table {
        name: "incidents",
        cols: super::incidents::INCIDENT_COLUMNS,
        key: None,
        remap: &[("id", Remap::Incident)],
        order: "id",
    },
    Table {
        name: "incident_alerts",
        cols: &["alert_id", "incident_id", "position", "why"],
        key: None,
        remap: &[("alert_id", Remap::Alert), ("incident_id", Remap::Incident)],
        order: "alert_id",
    },
    Table {
        name: "incident_pairs",
        cols: &["a", "b", "decision", "analyst", "at"],
        key: None,
        remap: &[("a", Remap::Alert), ("b", Remap::Alert)],
        order: "a, b",
    },
    Table {
        name: "exports",
        cols: &[
            "target",
            "object_kind",
            "reference",
            "triage_id",
            "remote_id",
            "destination",
            "analyst",
            "at",
        ],
        key: Some(&["reference", "target", "destination", "at"]),
        remap: &[("reference", Remap::Incident)],
        order: "id",
    },
    Table {
        name: "pseudonyms",
        cols: &["value_key", "kind", "token", "value", "created_at"],
        key: None,
        remap: &[],
        order: "rowid",
    },
    Table {
        name: "closures",
        cols: &[
            "alert_id",
            "triage_id",
            "justification",
            "at",
            "reversed_at",
            "reversed_by",
        ],
        key: Some(&["alert_id", "triage_id", "at"]),
        remap: &[("alert_id", Remap::Alert)],
        order: "id",
    },
];

const ALERT_COLS: &str = "alert_key, format, source, severity, title, host, user_name, normalized, raw, embedding, created_at, intake";

impl Store {
    /// Copies everything in this store into `to` (one transaction there). Re-running copies
    /// only what is new.
    pub fn copy_into(&self, to: &Store) -> Result<CopyReport, StoreError> {
        let src = self.db();
        let dst = to.db();
        dst.transaction(false, || {
            let mut report = CopyReport::default();
            let alerts = copy_alerts(src, dst, &mut report)?;
            for t in TABLES {
                copy_table(src, dst, t, &alerts, &mut report)?;
            }
            Ok(report)
        })
    }
}

/// Copies alerts absent from `dst` (by key); returns source row → team row for all of them.
fn copy_alerts(
    src: &Db,
    dst: &Db,
    report: &mut CopyReport,
) -> Result<HashMap<i64, i64>, StoreError> {
    let mut map = HashMap::new();
    let mut count = TableCount {
        table: "alerts".into(),
        ..Default::default()
    };
    let insert = format!(
        "INSERT INTO alerts ({ALERT_COLS}) VALUES ({}) ON CONFLICT (alert_key) DO NOTHING RETURNING id",
        placeholders(1, 12)
    );
    let rows = src.query(
        &format!("SELECT id, {ALERT_COLS} FROM alerts ORDER BY id"),
        &[],
    )?;
    for r in rows {
        let old: i64 = r.get(0)?;
        let key: String = r.get(1)?;
        let values: Vec<Value> = (1..=12).map(|i| r.value(i)).collect();
        let new = match dst.query_opt(&insert, &values)? {
            Some(n) => {
                count.copied += 1;
                n.get(0)?
            }
            None => {
                count.present += 1;
                dst.query_one(
                    "SELECT id FROM alerts WHERE alert_key = ?1",
                    &[Value::Text(key)],
                )?
                .get(0)?
            }
        };
        map.insert(old, new);
    }
    report.tables.push(count);
    Ok(map)
}

/// `INC-<source row>` → `INC-<team row>`; anything else unchanged.
fn remap_incident(v: Value, alerts: &HashMap<i64, i64>) -> Value {
    if let Value::Text(s) = &v
        && let Some(n) = s.strip_prefix("INC-").and_then(|n| n.parse::<i64>().ok())
        && let Some(m) = alerts.get(&n)
    {
        return Value::Text(format!("INC-{m}"));
    }
    v
}

fn copy_table(
    src: &Db,
    dst: &Db,
    t: &Table,
    alerts: &HashMap<i64, i64>,
    report: &mut CopyReport,
) -> Result<(), StoreError> {
    let cols = t.cols.join(", ");
    let insert = format!(
        "INSERT INTO {} ({cols}) VALUES ({}) ON CONFLICT DO NOTHING",
        t.name,
        placeholders(1, t.cols.len())
    );
    let exists = t.key.map(|key| {
        let cond: Vec<String> = key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} = ?{}", i + 1))
            .collect();
        format!(
            "SELECT 1 FROM {} WHERE {} LIMIT 1",
            t.name,
            cond.join(" AND ")
        )
    });
    let mut count = TableCount {
        table: t.name.into(),
        ..Default::default()
    };
    let rows = src.query(
        &format!("SELECT {cols} FROM {} ORDER BY {}", t.name, t.order),
        &[],
    )?;
    'rows: for r in rows {
        let mut values: Vec<Value> = (0..t.cols.len()).map(|i| r.value(i)).collect();
        for (col, how) in t.remap {
            let Some(i) = t.cols.iter().position(|c| c == col) else {
                continue;
            };
            let v = std::mem::replace(&mut values[i], Value::Null);
            values[i] = match (how, v) {
                (Remap::Alert, Value::Int(n)) => match alerts.get(&n) {
                    Some(m) => Value::Int(*m),
                    // A row pointing at an alert that is not there: nothing to attach it to.
                    None => continue 'rows,
                },
                (Remap::Incident, v) => remap_incident(v, alerts),
                (_, v) => v,
            };
        }
        if let (Some(sql), Some(key)) = (&exists, t.key) {
            let key_values: Vec<Value> = key
                .iter()
                .filter_map(|k| t.cols.iter().position(|c| c == k))
                .map(|i| values[i].clone())
                .collect();
            if dst.query_opt(sql, &key_values)?.is_some() {
                count.present += 1;
                continue;
            }
        }
        if dst.execute(&insert, &values)? == 1 {
            count.copied += 1;
        } else {
            count.present += 1;
        }
    }
    report.tables.push(count);
    Ok(())
}
