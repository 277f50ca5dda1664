//! TheHive 5: a case becomes an alert (`POST /api/v1/alert`, an `InputAlert` with
//! observables and procedures). TheHive refuses a second alert with the same type, source
//! and sourceRef (HTTP 400 `CreateError` "… already exist …"); a repeated push then looks
//! the existing alert up through the query API and returns its id.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{
    Case, HandoffError, Pushed, Target, description, epoch_ms, indicators, remote_error, send,
    severity_rank, tags, techniques, title,
};

const LABEL: &str = "TheHive";
/// The alert `type` and `source` this exporter writes (lower case: TheHive stores the type
/// lower-cased, and the duplicate lookup filters on it).
pub const SOURCE: &str = "soc-copilot";

/// TheHive's built-in observable data type for one of our indicator kinds.
fn data_type(kind: &str) -> &'static str {
    match kind {
        "ip" => "ip",
        "domain" => "domain",
        "url" => "url",
        "md5" | "sha1" | "sha256" => "hash",
        "email" => "mail",
        "filename" => "filename",
        _ => "other",
    }
}

/// The `InputAlert` for a case.
pub fn render(case: &Case) -> Value {
    let date = epoch_ms(&case.first_seen);
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut observables = Vec::new();
    for (kind, value) in indicators(case) {
        let dt = data_type(&kind);
        if !seen.insert((dt, value)) {
            continue;
        }
        observables.push(json!({
            "dataType": dt,
            "data": value,
            "message": format!("{kind} from the alerts of {} {}", case.kind, case.reference),
            "tlp": 2,
            "ioc": dt != "other",
            "sighted": true,
            "tags": ["soc-copilot", format!("kind:{kind}")],
        }));
    }
    for host in &case.hosts {
        let host = host.trim();
        if host.is_empty() || !seen.insert(("hostname", host)) {
            continue;
        }
        observables.push(json!({
            "dataType": "hostname",
            "data": host,
            "message": "host in the alerts",
            "tlp": 2,
            "ioc": false,
            "sighted": true,
            "tags": ["soc-copilot"],
        }));
    }

    let occur = date.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
    let mut procs = HashSet::new();
    let procedures: Vec<Value> = techniques(case)
        .into_iter()
        .filter_map(|t| {
            let tactic = t
                .tactic
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())?;
            let id = t.id.trim();
            procs.insert((id, tactic)).then(|| {
                json!({
                    "patternId": id,
                    "occurDate": occur,
                    "tactic": tactic,
                    "description": t.name,
                })
            })
        })
        .collect();

    let mut alert = json!({
        "type": SOURCE,
        "source": SOURCE,
        "sourceRef": case.reference,
        "title": title(case, 512),
        "description": description(case),
        "severity": severity_rank(case.verdict.as_deref()).unwrap_or(2),
        "tags": tags(case),
        "flag": false,
        "tlp": 2,
        "pap": 2,
        "observables": observables,
        "procedures": procedures,
    });
    if let Some(ms) = date {
        alert["date"] = json!(ms);
    }
    alert
}

/// Creates the alert, or finds the one an earlier push created.
pub async fn push(
    client: &reqwest::Client,
    base_url: &str,
    key: &str,
    case: &Case,
) -> Result<Pushed, HandoffError> {
    let base = base_url.trim_end_matches('/');
    let what = "POST /api/v1/alert";
    let answer = send(
        LABEL,
        what,
        client
            .post(format!("{base}/api/v1/alert"))
            .bearer_auth(key)
            .json(&render(case)),
    )
    .await?;
    let pushed = |remote_id: String, created: bool| Pushed {
        target: Target::TheHive.name().to_string(),
        remote_id,
        created,
    };
    match answer.status {
        200..=299 => answer.body["_id"]
            .as_str()
            .map(|id| pushed(id.to_string(), true))
            .ok_or_else(|| HandoffError::Malformed {
                target: LABEL,
                what: what.into(),
                detail: "no `_id` in the created alert".into(),
            }),
        400 if answer.body["type"] == "CreateError"
            && answer.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("already exist")) =>
        {
            // Most likely our own alert from an earlier push; anything else (a duplicate
            // observable, say) finds nothing and is reported as TheHive said it.
            match find(client, base, key, &case.reference).await? {
                Some(id) => Ok(pushed(id, false)),
                None => Err(error(&answer, key)),
            }
        }
        _ => Err(error(&answer, key)),
    }
}

/// The id of our alert with this sourceRef, through the query API.
async fn find(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    reference: &str,
) -> Result<Option<String>, HandoffError> {
    let query = json!({"query": [
        {"_name": "listAlert"},
        {"_name": "filter", "_and": [
            {"_eq": {"_field": "sourceRef", "_value": reference}},
            {"_eq": {"_field": "source", "_value": SOURCE}},
            {"_eq": {"_field": "type", "_value": SOURCE}},
        ]},
        {"_name": "page", "from": 0, "to": 1},
    ]});
    let what = "POST /api/v1/query";
    let answer = send(
        LABEL,
        what,
        client
            .post(format!("{base}/api/v1/query"))
            .query(&[("name", "alerts")])
            .bearer_auth(key)
            .json(&query),
    )
    .await?;
    if !(200..300).contains(&answer.status) {
        return Err(error(&answer, key));
    }
    let Some(list) = answer.body.as_array() else {
        return Err(HandoffError::Malformed {
            target: LABEL,
            what: what.into(),
            detail: "the answer is not a list of alerts".into(),
        });
    };
    Ok(list
        .iter()
        .filter(|a| a["sourceRef"].as_str().is_none_or(|r| r == reference))
        .find_map(|a| a["_id"].as_str().map(str::to_string)))
}

/// TheHive's error body is `{"type", "message"}`; thehive4py shows it as `type - message`.
fn error(answer: &super::Answer, key: &str) -> HandoffError {
    let message = match (
        answer.body["type"].as_str(),
        answer.body["message"].as_str(),
    ) {
        (Some(t), Some(m)) => format!("{t} - {m}"),
        (None, Some(m)) => m.to_string(),
        (Some(t), None) => t.to_string(),
        (None, None) => answer.text.clone(),
    };
    remote_error(LABEL, answer.status, &message, key)
}
