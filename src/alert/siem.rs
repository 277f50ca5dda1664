//! SIEM alert shapes: Elastic Security (ECS, `kibana.alert.*`), Splunk notable events and
//! webhook payloads, and Wazuh alerts. Each reads its own field names into an `Alert`.

use serde_json::Value;

use super::parse::{content_id, flatten};
use super::sanitize::{MAX_VALUE_BYTES, bounded};
use super::{Alert, Field, Severity};

/// Field lookup over the flattened document, by exact dotted path.
struct Doc {
    fields: Vec<Field>,
}

impl Doc {
    fn new(value: &Value) -> Doc {
        let mut fields = Vec::new();
        flatten(value, "", 0, &mut fields);
        Doc { fields }
    }

    fn get(&self, path: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.value.clone())
            .filter(|v| !v.is_empty())
    }

    fn first(&self, paths: &[&str]) -> Option<String> {
        paths.iter().find_map(|p| self.get(p))
    }
}

/// The document inside an Elasticsearch hit (`_source`) or the document itself.
pub fn elastic_source(value: &Value) -> &Value {
    value.get("_source").unwrap_or(value)
}

pub fn is_elastic(value: &Value) -> bool {
    let src = elastic_source(value);
    src.get("kibana.alert.rule.name").is_some()
        || src.pointer("/kibana/alert/rule/name").is_some()
        || src.get("kibana.alert.uuid").is_some()
        || src.pointer("/kibana/alert/uuid").is_some()
}

pub fn from_elastic(value: &Value) -> Alert {
    let mut doc = Doc::new(elastic_source(value));
    // Hit metadata beside `_source` (`_index`, `_id`, `fields`…) is kept too.
    if let Some(outer) = value.as_object().filter(|o| o.contains_key("_source")) {
        for (k, v) in outer.iter().filter(|(k, _)| k.as_str() != "_source") {
            flatten(v, k, 1, &mut doc.fields);
        }
    }
    let severity = doc
        .get("kibana.alert.severity")
        .and_then(|s| Severity::parse(&s))
        .or_else(|| {
            doc.get("kibana.alert.risk_score")
                .and_then(|s| Severity::parse(&s))
        });
    let reason = doc.get("kibana.alert.reason");
    let description = match (doc.get("kibana.alert.rule.description"), &reason) {
        (Some(d), Some(r)) => format!("{d}\n{r}"),
        (Some(d), None) => d,
        (None, Some(r)) => r.clone(),
        (None, None) => String::new(),
    };
    Alert {
        id: doc
            .first(&["kibana.alert.uuid", "_id"])
            .or_else(|| value.get("_id").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| content_id(&value.to_string())),
        format: "elastic".into(),
        source: "Elastic Security".into(),
        severity,
        title: bounded(&doc.get("kibana.alert.rule.name").unwrap_or_default(), 512),
        description: bounded(&description, MAX_VALUE_BYTES),
        host: doc.first(&["host.name", "host.hostname"]),
        user: doc.first(&["user.name", "user.target.name"]),
        timestamp: doc.first(&["@timestamp", "kibana.alert.original_time"]),
        fields: doc.fields,
        ..Default::default()
    }
}

/// A Splunk notable event, or the payload of Splunk's webhook alert action
/// (`{"result": {...}, "search_name", "sid", "results_link", …}`).
pub fn is_splunk(value: &Value) -> bool {
    let webhook = value.get("result").is_some_and(Value::is_object)
        && (value.get("sid").is_some() || value.get("search_name").is_some());
    let notable = value.get("search_name").is_some()
        || (value.get("rule_name").is_some()
            && (value.get("urgency").is_some() || value.get("security_domain").is_some()))
        || value.get("event_id").is_some() && value.get("urgency").is_some();
    webhook || notable
}

pub fn from_splunk(value: &Value) -> Alert {
    let result = value
        .get("result")
        .filter(|r| r.is_object())
        .unwrap_or(value);
    let doc = Doc::new(result);
    let outer = Doc::new(&strip_result(value));
    let title = doc
        .first(&["rule_name", "rule_title", "search_name", "signature"])
        .or_else(|| outer.first(&["search_name", "rule_name"]))
        .unwrap_or_default();
    let description = doc
        .first(&["rule_description", "description", "savedsearch_description"])
        .unwrap_or_default();
    // The webhook envelope's own keys (`search_name`, `app`, `owner`, `results_link`, `sid`
    // and anything else a sender adds) are kept beside the result's fields.
    let mut fields = doc.fields.clone();
    if value.get("result").is_some_and(Value::is_object) {
        fields.extend(outer.fields);
    }
    Alert {
        id: doc
            .first(&["event_id", "rule_id", "_cd"])
            .or_else(|| value.get("sid").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| content_id(&value.to_string())),
        format: "splunk".into(),
        source: "Splunk".into(),
        severity: doc
            .first(&["urgency", "severity", "priority"])
            .and_then(|s| Severity::parse(&s)),
        title: bounded(&title, 512),
        description: bounded(&description, MAX_VALUE_BYTES),
        host: doc.first(&["dest", "host", "dest_host", "dvc"]),
        user: doc.first(&["user", "src_user", "dest_user"]),
        timestamp: doc.first(&["_time", "time"]),
        fields,
        ..Default::default()
    }
}

fn strip_result(value: &Value) -> Value {
    let mut v = value.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("result");
    }
    v
}

pub fn is_wazuh(value: &Value) -> bool {
    value.pointer("/rule/level").is_some()
        && (value.get("agent").is_some() || value.get("manager").is_some())
}

pub fn from_wazuh(value: &Value) -> Alert {
    let doc = Doc::new(value);
    let level = doc.get("rule.level");
    let mut description = doc.get("full_log").unwrap_or_default();
    if let Some(groups) = doc.get("rule.groups") {
        description = format!("Rule groups: {groups}\n{description}");
    }
    Alert {
        id: doc
            .first(&["id", "_id"])
            .unwrap_or_else(|| content_id(&value.to_string())),
        format: "wazuh".into(),
        source: "Wazuh".into(),
        severity: level
            .and_then(|l| l.parse::<u32>().ok())
            .map(wazuh_severity),
        title: bounded(&doc.get("rule.description").unwrap_or_default(), 512),
        description: bounded(&description, MAX_VALUE_BYTES),
        host: doc.first(&[
            "agent.name",
            "data.win.system.computer",
            "predecoder.hostname",
        ]),
        user: doc.first(&[
            "data.win.eventdata.targetUserName",
            "data.dstuser",
            "data.srcuser",
            "data.win.eventdata.subjectUserName",
        ]),
        timestamp: doc.get("timestamp"),
        fields: doc.fields,
        ..Default::default()
    }
}

/// Wazuh rule levels run 0–15: 12 and up are high-importance events, 8–11 first-time or
/// repeated attack signs, 4–7 errors and bad configurations, below that system noise.
fn wazuh_severity(level: u32) -> Severity {
    match level {
        0..=3 => Severity::Low,
        4..=7 => Severity::Medium,
        8..=11 => Severity::High,
        _ => Severity::Critical,
    }
}
