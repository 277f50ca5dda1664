//! STIX 2.1: a case becomes a bundle with the producer's identity, an indicator per
//! indicator value (a single-comparison STIX pattern), a sighting of each indicator by the
//! producer over the case's time range, and an attack-pattern per ATT&CK technique (the
//! `mitre-attack` external reference and kill-chain phase). No indicator→technique
//! relationships are written: a case does not say which indicator shows which technique.
//! `check` verifies a bundle against the checklist the exporter is held to.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use regex::Regex;
use serde_json::{Value, json};

use super::{Case, CaseAlert, indicators, one_line, parse_time, severity_rank, techniques, title};
use crate::store::new_id;

/// The producer's identity: one fixed id, so every export names the same producer.
pub const IDENTITY_ID: &str = "identity--909ad009-204f-4410-9c17-7c854dc2fdbc";
const IDENTITY_CREATED: &str = "2026-01-01T00:00:00.000Z";

/// Millisecond precision and `Z`, as `created` and `modified` require.
fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A STIX string literal body: `\` and `'` escaped.
fn literal(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The STIX pattern for one of our indicators; `None` for kinds with no cyber-observable
/// to compare (process names, CVEs).
pub fn pattern(kind: &str, value: &str) -> Option<String> {
    let path = match kind {
        "ip" if value.contains(':') => "ipv6-addr:value",
        "ip" => "ipv4-addr:value",
        "domain" => "domain-name:value",
        "url" => "url:value",
        "md5" => "file:hashes.MD5",
        "sha1" => "file:hashes.'SHA-1'",
        "sha256" => "file:hashes.'SHA-256'",
        "email" => "email-addr:value",
        "filename" => "file:name",
        _ => return None,
    };
    Some(format!("[{path} = '{}']", literal(value)))
}

/// `T1059.001` → `https://attack.mitre.org/techniques/T1059/001` (the form ATT&CK's own
/// STIX data uses).
fn technique_url(id: &str) -> String {
    format!(
        "https://attack.mitre.org/techniques/{}",
        id.replace('.', "/")
    )
}

fn mentions(a: &CaseAlert, value: &str) -> bool {
    a.title.contains(value)
        || a.description.contains(value)
        || a.host.as_deref() == Some(value)
        || a.user.as_deref() == Some(value)
}

pub fn render(case: &Case) -> Value {
    let now = stamp(Utc::now());
    let (first, last) = match (parse_time(&case.first_seen), parse_time(&case.last_seen)) {
        (Some(f), Some(l)) => (Some(f.min(l)), Some(f.max(l))),
        (f, l) => (f.or(l), l.or(f)),
    };
    let valid_from = first.map(stamp).unwrap_or_else(|| now.clone());
    let indicator_type = match case.verdict.as_deref().map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("BENIGN") => "benign",
        _ => match severity_rank(case.verdict.as_deref()) {
            Some(3 | 4) => "malicious-activity",
            Some(2) => "anomalous-activity",
            _ => "unknown",
        },
    };
    let case_title = title(case, 200);

    let mut objects = vec![json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": IDENTITY_ID,
        "created": IDENTITY_CREATED,
        "modified": IDENTITY_CREATED,
        "name": "soc-copilot",
        "identity_class": "system",
    })];
    let mut sightings = Vec::new();
    for (kind, value) in indicators(case) {
        let Some(pat) = pattern(&kind, value) else {
            continue;
        };
        let id = format!("indicator--{}", new_id());
        objects.push(json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": id,
            "created_by_ref": IDENTITY_ID,
            "created": now,
            "modified": now,
            "name": one_line(&format!("{kind} {value}"), 200),
            "description": format!("Seen in {} {}: {case_title}", case.kind, case.reference),
            "indicator_types": [indicator_type],
            "pattern": pat,
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": valid_from,
        }));
        let mut sighting = json!({
            "type": "sighting",
            "spec_version": "2.1",
            "id": format!("sighting--{}", new_id()),
            "created_by_ref": IDENTITY_ID,
            "created": now,
            "modified": now,
            "sighting_of_ref": id,
            "where_sighted_refs": [IDENTITY_ID],
        });
        if let (Some(f), Some(l)) = (first, last) {
            sighting["first_seen"] = json!(stamp(f));
            sighting["last_seen"] = json!(stamp(l));
        }
        let count = case.alerts.iter().filter(|a| mentions(a, value)).count();
        if count > 0 {
            sighting["count"] = json!(count.min(999_999_999));
        }
        sightings.push(sighting);
    }
    for t in techniques(case) {
        let id = t.id.trim();
        let name = if t.name.trim().is_empty() {
            id
        } else {
            t.name.trim()
        };
        let mut ap = json!({
            "type": "attack-pattern",
            "spec_version": "2.1",
            "id": format!("attack-pattern--{}", new_id()),
            "created_by_ref": IDENTITY_ID,
            "created": now,
            "modified": now,
            "name": name,
            "external_references": [{
                "source_name": "mitre-attack",
                "external_id": id,
                "url": technique_url(id),
            }],
        });
        if let Some(tactic) = t.tactic.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            ap["kill_chain_phases"] =
                json!([{"kill_chain_name": "mitre-attack", "phase_name": tactic}]);
        }
        objects.push(ap);
    }
    objects.extend(sightings);
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", new_id()),
        "objects": objects,
    })
}

static TYPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([a-z][a-z0-9]*)+(-[a-z0-9]+)*-?$").expect("static regex"));
static ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([a-z][a-z0-9-]+[a-z0-9])--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-([1-5])[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$",
    )
    .expect("static regex")
});
/// `created`/`modified`: at least milliseconds, and `Z`.
static CREATED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3,}Z$").expect("static regex")
});
/// Any other timestamp: fraction optional, `Z` required.
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$").expect("static regex")
});
/// The single-comparison patterns `render` writes: `[type:path = 'literal']`.
static PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\[[a-z][a-z0-9-]*:[A-Za-z0-9_]+(\.([A-Za-z0-9_]+|'[A-Za-z0-9_-]+'))* = '([^'\\]|\\['\\])*'\]$",
    )
    .expect("static regex")
});
static TECHNIQUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^T\d{4}(\.\d{3})?$").expect("static regex"));
static RELATIONSHIP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9-]+$").expect("static regex"));

/// Types a sighting or relationship may not point at.
const NOT_REFERABLE: [&str; 5] = [
    "sighting",
    "relationship",
    "bundle",
    "marking-definition",
    "language-content",
];

/// What is wrong with a bundle, measured against the STIX 2.1 checklist (formats.md 4.3):
/// bundle shape; on every object `type`, `spec_version` 2.1, a `<type>--<uuid v4>` id,
/// millisecond `created`/`modified` with `modified ≥ created`; no empty lists or forbidden
/// top-level properties; every `*_ref(s)` resolving inside the bundle; and the required
/// properties of indicators, sightings, attack-patterns, identities and relationships.
/// Patterns are checked against the single-comparison form the exporter writes. Empty
/// when the bundle passes.
pub fn check(bundle: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if bundle["type"].as_str() != Some("bundle") {
        out.push("bundle: `type` is not \"bundle\"".to_string());
    }
    let bundle_id = bundle["id"].as_str().and_then(|id| ID.captures(id));
    if bundle_id.and_then(|c| c.get(1)).map(|m| m.as_str()) != Some("bundle") {
        out.push("bundle: `id` is not bundle--<uuid>".to_string());
    }
    for k in ["spec_version", "created", "modified"] {
        if bundle.get(k).is_some() {
            out.push(format!("bundle: has `{k}`, which a 2.1 bundle does not"));
        }
    }
    let objects = match bundle["objects"].as_array() {
        Some(o) if !o.is_empty() => o,
        _ => {
            out.push("bundle: `objects` is missing or empty".to_string());
            return out;
        }
    };
    let mut ids: HashMap<&str, &str> = HashMap::new();
    for o in objects {
        if let (Some(id), Some(ty)) = (o["id"].as_str(), o["type"].as_str())
            && ids.insert(id, ty).is_some()
        {
            out.push(format!("{id}: the id occurs more than once"));
        }
    }
    for (n, o) in objects.iter().enumerate() {
        let at = o["id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("objects[{n}]"));
        out.extend(
            check_object(o, &ids)
                .into_iter()
                .map(|p| format!("{at}: {p}")),
        );
    }
    out
}

/// Reads a timestamp property, noting a missing (when required) or malformed one.
fn timestamp(
    o: &Value,
    key: &str,
    shape: &Regex,
    required: bool,
    problems: &mut Vec<String>,
) -> Option<DateTime<FixedOffset>> {
    let Some(v) = o.get(key) else {
        if required {
            problems.push(format!("missing `{key}`"));
        }
        return None;
    };
    let parsed = v
        .as_str()
        .filter(|s| shape.is_match(s))
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    if parsed.is_none() {
        problems.push(format!(
            "`{key}` {v} is not a STIX timestamp of the required precision"
        ));
    }
    parsed
}

fn check_object(o: &Value, ids: &HashMap<&str, &str>) -> Vec<String> {
    let mut p = Vec::new();
    let Some(map) = o.as_object() else {
        return vec!["not a JSON object".to_string()];
    };
    let ty = o["type"].as_str().unwrap_or_default();
    if !(3..=250).contains(&ty.len()) || !TYPE.is_match(ty) {
        p.push(format!("`type` {ty:?} is not a STIX type name"));
    }
    if o["spec_version"].as_str() != Some("2.1") {
        p.push("`spec_version` is not \"2.1\"".to_string());
    }
    match o["id"].as_str().and_then(|id| ID.captures(id)) {
        Some(c) => {
            if c.get(1).map(|m| m.as_str()) != Some(ty) {
                p.push("the `id` prefix is not the object's type".to_string());
            }
            if c.get(2).map(|m| m.as_str()) != Some("4") {
                p.push("the `id` is not a version 4 UUID".to_string());
            }
        }
        None => p.push("`id` is not <type>--<uuid>".to_string()),
    }
    let created = timestamp(o, "created", &CREATED, true, &mut p);
    let modified = timestamp(o, "modified", &CREATED, true, &mut p);
    if let (Some(c), Some(m)) = (created, modified)
        && m < c
    {
        p.push("`modified` is before `created`".to_string());
    }
    for k in ["severity", "action", "username", "phone_numbers"] {
        if map.contains_key(k) {
            p.push(format!("has the forbidden top-level property `{k}`"));
        }
    }
    for (k, v) in map {
        if v.as_array().is_some_and(Vec::is_empty) {
            p.push(format!("`{k}` is an empty list"));
        }
        let refs: Vec<&Value> = if k.ends_with("_ref") {
            vec![v]
        } else if k.ends_with("_refs") {
            v.as_array().map(|a| a.iter().collect()).unwrap_or_default()
        } else {
            continue;
        };
        for r in refs {
            match r.as_str() {
                Some(r) if ids.contains_key(r) => {}
                Some(r) => p.push(format!("`{k}` points to {r}, which is not in the bundle")),
                None => p.push(format!("`{k}` holds {r}, which is not an id")),
            }
        }
    }
    let ref_type = |key: &str| o[key].as_str().and_then(|r| ids.get(r).copied());
    if map.contains_key("created_by_ref") && ref_type("created_by_ref") != Some("identity") {
        p.push("`created_by_ref` is not an identity in the bundle".to_string());
    }
    let text = |key: &str| o[key].as_str().is_some_and(|s| !s.trim().is_empty());

    match ty {
        "indicator" => {
            match o["pattern"].as_str() {
                Some(pat) if PATTERN.is_match(pat) => {}
                Some(pat) => p.push(format!(
                    "`pattern` {pat:?} is not a valid single comparison"
                )),
                None => p.push("missing `pattern`".to_string()),
            }
            if o["pattern_type"].as_str() != Some("stix") {
                p.push("`pattern_type` is not \"stix\"".to_string());
            }
            if let Some(v) = map.get("pattern_version")
                && v.as_str() != Some("2.1")
            {
                p.push("`pattern_version` is not \"2.1\"".to_string());
            }
            let from = timestamp(o, "valid_from", &TIMESTAMP, true, &mut p);
            let until = timestamp(o, "valid_until", &TIMESTAMP, false, &mut p);
            if let (Some(f), Some(u)) = (from, until)
                && u <= f
            {
                p.push("`valid_until` is not after `valid_from`".to_string());
            }
            if let Some(t) = map.get("indicator_types")
                && !t.as_array().is_some_and(|a| a.iter().all(Value::is_string))
            {
                p.push("`indicator_types` is not a list of strings".to_string());
            }
        }
        "sighting" => {
            match ref_type("sighting_of_ref") {
                None => {
                    p.push("`sighting_of_ref` does not name an object in the bundle".to_string())
                }
                Some(t) if NOT_REFERABLE.contains(&t) => {
                    p.push(format!("`sighting_of_ref` points to a {t}"));
                }
                Some(_) => {}
            }
            if let Some(c) = map.get("count")
                && c.as_u64().is_none_or(|c| c > 999_999_999)
            {
                p.push("`count` is not an integer in 0..=999999999".to_string());
            }
            let first = timestamp(o, "first_seen", &TIMESTAMP, false, &mut p);
            let last = timestamp(o, "last_seen", &TIMESTAMP, false, &mut p);
            if let (Some(f), Some(l)) = (first, last)
                && l < f
            {
                p.push("`last_seen` is before `first_seen`".to_string());
            }
            if let Some(w) = map.get("where_sighted_refs") {
                let all_places = w.as_array().is_some_and(|a| {
                    a.iter().all(|r| {
                        r.as_str()
                            .and_then(|r| ids.get(r))
                            .is_some_and(|t| *t == "identity" || *t == "location")
                    })
                });
                if !all_places {
                    p.push(
                        "`where_sighted_refs` holds something other than identities or locations"
                            .to_string(),
                    );
                }
            }
        }
        "attack-pattern" => {
            if !text("name") {
                p.push("missing `name`".to_string());
            }
            let refs = o["external_references"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for r in refs {
                let any = ["external_id", "description", "url"]
                    .iter()
                    .any(|k| r[*k].as_str().is_some());
                if r["source_name"].as_str().is_none() || !any {
                    p.push(format!(
                        "external reference {r} lacks `source_name` or an id, description or url"
                    ));
                }
            }
            let mitre = refs.iter().any(|r| {
                r["source_name"].as_str() == Some("mitre-attack")
                    && r["external_id"]
                        .as_str()
                        .is_some_and(|id| TECHNIQUE.is_match(id))
                    && r["url"]
                        .as_str()
                        .is_some_and(|u| u.starts_with("https://attack.mitre.org/techniques/"))
            });
            if !mitre {
                p.push(
                    "no mitre-attack external reference with a technique id and url".to_string(),
                );
            }
            if let Some(k) = map.get("kill_chain_phases") {
                let ok = k.as_array().is_some_and(|a| {
                    a.iter().all(|ph| {
                        ph["kill_chain_name"].as_str().is_some()
                            && ph["phase_name"].as_str().is_some()
                    })
                });
                if !ok {
                    p.push(
                        "a kill-chain phase lacks `kill_chain_name` or `phase_name`".to_string(),
                    );
                }
            }
        }
        "identity" if !text("name") => p.push("missing `name`".to_string()),
        "relationship" => {
            if !o["relationship_type"]
                .as_str()
                .is_some_and(|t| RELATIONSHIP.is_match(t))
            {
                p.push("`relationship_type` is missing or malformed".to_string());
            }
            for k in ["source_ref", "target_ref"] {
                match ref_type(k) {
                    None => p.push(format!("`{k}` does not name an object in the bundle")),
                    Some(t) if NOT_REFERABLE.contains(&t) => {
                        p.push(format!("`{k}` points to a {t}"));
                    }
                    Some(_) => {}
                }
            }
        }
        _ => {}
    }
    p
}
