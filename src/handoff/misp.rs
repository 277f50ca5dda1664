//! MISP core format: a case becomes one event `{"Event": {...}}` with an attribute per
//! indicator, `tlp:amber` and an ATT&CK galaxy tag per technique. Scalars are strings as
//! the format requires (ids, timestamps, levels); only `published`, `to_ids`, `deleted`
//! and `exportable` are booleans. Instance-local ids (`id`, `org_id`, `event_id`) are left
//! to the importing instance. Everything but the uuids is derived from the case alone.

use serde_json::{Value, json};

use super::{Case, indicators, parse_time, severity_rank, techniques, title};

/// MISP attribute type, category and `to_ids` for one of our indicator kinds; kinds MISP
/// has no network/payload type for are kept as `text` in `Other`.
fn attribute_type(kind: &str) -> (&'static str, &'static str, bool) {
    match kind {
        "ip" => ("ip-dst", "Network activity", true),
        "domain" => ("domain", "Network activity", true),
        "url" => ("url", "Network activity", true),
        "md5" => ("md5", "Payload delivery", true),
        "sha1" => ("sha1", "Payload delivery", true),
        "sha256" => ("sha256", "Payload delivery", true),
        "email" => ("email-src", "Payload delivery", true),
        "filename" => ("filename", "Payload delivery", true),
        _ => ("text", "Other", false),
    }
}

/// The galaxy cluster value for a technique: `<Name> - <ID>`. A sub-technique named
/// `Parent: Sub` by some sources is named `Sub` in the galaxy.
fn galaxy_tag(id: &str, name: &str) -> String {
    let name = name.rsplit(": ").next().unwrap_or(name).trim();
    let name = name.replace('"', "'");
    format!("misp-galaxy:mitre-attack-pattern=\"{name} - {id}\"")
}

pub fn render(case: &Case) -> Value {
    let first = parse_time(&case.first_seen);
    let last = parse_time(&case.last_seen).or(first);
    let date = first
        .unwrap_or_else(chrono::Utc::now)
        .format("%Y-%m-%d")
        .to_string();
    let timestamp = last
        .unwrap_or_else(chrono::Utc::now)
        .timestamp()
        .to_string();
    let threat_level = match severity_rank(case.verdict.as_deref()) {
        Some(3 | 4) => "1",
        Some(2) => "2",
        Some(_) => "3",
        None => "4",
    };
    let attributes: Vec<Value> = indicators(case)
        .into_iter()
        .map(|(kind, value)| {
            let (t, category, to_ids) = attribute_type(&kind);
            // A `text` attribute says which kind of value it holds.
            let comment = if t == "text" { kind } else { String::new() };
            json!({
                "uuid": crate::store::new_id(),
                "type": t,
                "category": category,
                "value": value,
                "to_ids": to_ids,
                "distribution": "5",
                "timestamp": timestamp,
                "comment": comment,
                "deleted": false,
            })
        })
        .collect();
    let mut tags = vec![json!({"name": "tlp:amber", "exportable": true})];
    tags.extend(
        techniques(case)
            .into_iter()
            .map(|t| json!({"name": galaxy_tag(t.id.trim(), &t.name), "exportable": true})),
    );
    json!({"Event": {
        "uuid": crate::store::new_id(),
        "info": title(case, 256),
        "date": date,
        "threat_level_id": threat_level,
        "analysis": "1",
        "distribution": "0",
        "sharing_group_id": "0",
        "published": false,
        "timestamp": timestamp,
        "publish_timestamp": "0",
        "Tag": tags,
        "Attribute": attributes,
    }})
}
