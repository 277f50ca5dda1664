//! Source shapes → `Alert`. Each shape has its own function; `from_json` picks one.

use serde_json::Value;

use super::ioc::extract;
use super::sanitize::{MAX_VALUE_BYTES, bounded};
use super::siem;
use super::{Alert, Field, Severity};

/// Most raw fields kept from one alert; a flood of fields is cut, not stored.
pub const MAX_FIELDS: usize = 400;
/// Deepest JSON nesting flattened.
const MAX_DEPTH: usize = 12;
/// The field that says an alert was cut to the bounds above.
pub const TRUNCATED: &str = "soc_copilot.truncated";

/// Plain text: the first line is the title, the rest the description.
pub fn from_text(text: &str, id: Option<&str>) -> Alert {
    let text = bounded(text.trim(), MAX_VALUE_BYTES * 4);
    let (title, rest) = text.split_once('\n').unwrap_or((&text, ""));
    finish(Alert {
        id: id.map_or_else(|| content_id(&text), str::to_string),
        format: "plain-text".into(),
        title: bounded(title.trim(), 512),
        description: rest.trim().to_string(),
        ..Default::default()
    })
}

/// Any JSON alert document: the shape is detected from its fields.
pub fn from_json(value: &Value) -> Alert {
    let Some(obj) = value.as_object() else {
        return match value {
            Value::String(s) => from_text(s, None),
            other => from_text(&other.to_string(), None),
        };
    };
    if let Some(text) = obj.get("alert_text").and_then(Value::as_str) {
        let mut alert = from_text(text, str_at(value, "alert_id").as_deref());
        alert.format = "alert-text".into();
        return alert;
    }
    let alert = if siem::is_elastic(value) {
        siem::from_elastic(value)
    } else if siem::is_wazuh(value) {
        siem::from_wazuh(value)
    } else if siem::is_splunk(value) {
        siem::from_splunk(value)
    } else if obj.contains_key("title")
        && (obj.contains_key("raw_log") || obj.contains_key("description"))
    {
        from_soc_json(value)
    } else {
        from_generic(value)
    };
    finish(alert)
}

/// Common last steps: indicators from all the text, host and user from them if the shape
/// did not name one.
fn finish(mut alert: Alert) -> Alert {
    if alert.fields.len() >= MAX_FIELDS {
        alert.fields.truncate(MAX_FIELDS - 1);
        alert.fields.push(Field {
            path: TRUNCATED.into(),
            value: format!(
                "the alert has more than {MAX_FIELDS} fields (or nests deeper than {MAX_DEPTH}); the rest were not kept"
            ),
        });
    }
    let indicators = |a: &Alert| {
        let all = format!("{}\n{}\n{}", a.title, a.description, field_text(&a.fields));
        extract(&all, &a.fields)
    };
    alert.iocs = indicators(&alert);
    // What the command lines encode, decoded and marked, then indicators again (a decoded
    // download cradle names its URL).
    let mut texts: Vec<&str> = alert
        .iocs
        .command_lines
        .iter()
        .map(String::as_str)
        .collect();
    texts.push(&alert.description);
    let decoded = super::decode::decoded_fields(&texts);
    if !decoded.is_empty() {
        alert.fields.extend(decoded);
        alert.iocs = indicators(&alert);
    }
    if alert.host.is_none() {
        alert.host = alert.iocs.hosts.first().cloned();
    }
    if alert.user.is_none() {
        alert.user = alert.iocs.users.first().cloned();
    }
    alert
}

/// Field values to scan for indicators; identifiers (`uuid`, `_id`, `event_id`…) are left
/// out, since a hex document id is not a file hash.
fn field_text(fields: &[Field]) -> String {
    fields
        .iter()
        .filter(|f| !is_identifier(&f.path))
        .map(|f| f.value.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_identifier(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
    last == "id"
        || last == "_id"
        || last.ends_with("_id")
        || last.contains("uuid")
        || last.contains("guid")
        || last == "sid"
}

/// Top-level keys of the `soc-json` shape read into the alert's own slots; every other key
/// is kept as a field.
const SOC_JSON_SLOTS: [&str; 7] = [
    "alert_id",
    "id",
    "source",
    "severity",
    "title",
    "description",
    "timestamp",
];

/// `{alert_id, source, severity, title, description, raw_log, indicators}`, and any other
/// keys beside them (`host`, `command_line`, nested objects…), kept as fields.
fn from_soc_json(value: &Value) -> Alert {
    let mut fields = Vec::new();
    if let Some(obj) = value.as_object() {
        for (key, v) in obj {
            if !SOC_JSON_SLOTS.contains(&key.as_str()) {
                flatten(v, &bounded(key, 128), 1, &mut fields);
            }
        }
    }
    let named = |keys: &[&str]| keys.iter().find_map(|k| str_at(value, k));
    Alert {
        id: str_at(value, "alert_id")
            .or_else(|| str_at(value, "id"))
            .unwrap_or_else(|| content_id(&value.to_string())),
        format: "soc-json".into(),
        source: str_at(value, "source").unwrap_or_default(),
        severity: str_at(value, "severity")
            .as_deref()
            .and_then(Severity::parse),
        title: bounded(&str_at(value, "title").unwrap_or_default(), 512),
        description: str_at(value, "description").unwrap_or_default(),
        timestamp: str_at(value, "timestamp"),
        host: named(&["host", "hostname", "host_name", "computer", "device"]),
        user: named(&["user", "username", "user_name", "account"]),
        fields,
        ..Default::default()
    }
}

/// Any other object: flattened, with a title taken from the likeliest field.
fn from_generic(value: &Value) -> Alert {
    let mut fields = Vec::new();
    flatten(value, "", 0, &mut fields);
    let pick = |names: &[&str]| {
        names.iter().find_map(|n| {
            fields
                .iter()
                .find(|f| f.path.rsplit('.').next() == Some(*n))
                .map(|f| f.value.clone())
        })
    };
    Alert {
        id: pick(&["alert_id", "id", "_id", "uuid"])
            .unwrap_or_else(|| content_id(&value.to_string())),
        format: "generic-json".into(),
        source: pick(&["source", "product", "vendor"]).unwrap_or_default(),
        severity: pick(&[
            "severity",
            "level",
            "priority",
            "urgency",
            "risk",
            "risk_level",
            "criticality",
        ])
        .as_deref()
        .and_then(Severity::parse),
        title: bounded(
            &pick(&["title", "name", "rule_name", "signature", "message", "msg"])
                .unwrap_or_default(),
            512,
        ),
        description: pick(&["description", "summary", "details"]).unwrap_or_default(),
        timestamp: pick(&["@timestamp", "timestamp", "time", "_time"]),
        fields,
        ..Default::default()
    }
}

/// A string (or number/bool rendered as text) at a top-level key, sanitised.
fn str_at(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => Some(bounded(s, MAX_VALUE_BYTES)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Flattens nested JSON to `a.b.c` paths; arrays of scalars join with `, `.
pub fn flatten(value: &Value, prefix: &str, depth: usize, out: &mut Vec<Field>) {
    if out.len() >= MAX_FIELDS {
        return;
    }
    if depth > MAX_DEPTH {
        // Too deep to flatten further: kept whole, as compact JSON text (bounded).
        out.push(Field {
            path: prefix.to_string(),
            value: bounded(&value.to_string(), MAX_VALUE_BYTES),
        });
        return;
    }
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(v, &join(&bounded(k, 128)), depth + 1, out);
            }
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            let text: Vec<String> = items.iter().filter_map(scalar).collect();
            if !text.is_empty() {
                out.push(Field {
                    path: prefix.to_string(),
                    value: bounded(&text.join(", "), MAX_VALUE_BYTES),
                });
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, &join(&i.to_string()), depth + 1, out);
            }
        }
        other => {
            if let Some(s) = scalar(other).filter(|s| !s.is_empty()) {
                out.push(Field {
                    path: prefix.to_string(),
                    value: bounded(&s, MAX_VALUE_BYTES),
                });
            }
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A stable id for alerts that carry none: a short hash of their content.
pub fn content_id(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    format!("alert-{}", hex::encode(&digest[..6]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn soc_json_shape_is_recognised() {
        let v = json!({"alert_id": "a1", "source": "edr", "severity": "high", "title": "T",
            "description": "D", "raw_log": {"event": {"Image": "\\cmd.exe", "EventID": 4688}},
            "indicators": {}});
        let a = from_json(&v);
        assert_eq!(a.format, "soc-json");
        assert_eq!(a.id, "a1");
        assert_eq!(a.severity, Some(Severity::High));
        assert_eq!(a.field("Image"), Some("\\cmd.exe"));
        assert_eq!(a.field("eventid"), Some("4688"));
    }

    #[test]
    fn plain_text_splits_title() {
        let a = from_text("Mimikatz seen\nsekurlsa::logonpasswords on HOST1", None);
        assert_eq!(a.title, "Mimikatz seen");
        assert!(a.description.contains("sekurlsa"));
        assert!(a.id.starts_with("alert-"));
    }

    #[test]
    fn generic_json_is_flattened() {
        let v = json!({"rule": {"name": "Odd login"}, "user": ["bob", "eve"], "level": 12});
        let a = from_json(&v);
        assert_eq!(a.format, "generic-json");
        assert_eq!(a.title, "Odd login");
        assert_eq!(a.field("user"), Some("bob, eve"));
        assert_eq!(a.severity, Some(Severity::High));
    }

    #[test]
    fn severity_scales() {
        assert_eq!(Severity::parse("73"), Some(Severity::High));
        assert_eq!(Severity::parse("14"), Some(Severity::Critical));
        assert_eq!(Severity::parse("3"), Some(Severity::Low));
        assert_eq!(Severity::parse("bogus"), None);
    }
}
