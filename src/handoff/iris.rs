//! DFIR-IRIS 2.x: a case becomes an alert (`POST /alerts/add`). Every answer is the
//! envelope `{status, message, data}`. Severity, status, IOC-type, asset-type and customer
//! ids differ between instances, so they are read from the instance's lookup lists, never
//! assumed. IRIS does not deduplicate: a push first looks for an alert with the same
//! `alert_source_ref` (`/alerts/filter` matches substrings, so the reference is compared
//! exactly) and returns it instead of creating a second one.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use super::{
    Case, HandoffError, Pushed, Target, description, indicators, parse_time, remote_error, send,
    tags, title,
};

const LABEL: &str = "DFIR-IRIS";
/// `alert_source` of the alerts this exporter writes.
pub const SOURCE: &str = "soc-copilot";
/// The TLP id sent with each IOC (amber on a stock instance).
const IOC_TLP_ID: i64 = 2;
/// How many pages of `/alerts/filter` (100 alerts each) the duplicate check reads at most.
const MAX_PAGES: u32 = 20;

/// The instance's ids a render needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IrisIds {
    pub severity_id: i64,
    pub status_id: i64,
    pub customer_id: i64,
    /// IOC type name (lower case, as `type_name`) → `type_id`.
    pub ioc_types: BTreeMap<String, i64>,
    /// The asset type hosts are sent as; `None` when the instance lists none (hosts are
    /// then left out: IRIS requires a type on every asset).
    pub asset_type_id: Option<i64>,
}

/// IRIS IOC type names for one of our indicator kinds, best first.
fn ioc_type_names(kind: &str) -> &'static [&'static str] {
    match kind {
        "ip" => &["ip-dst", "ip-any", "ip-src"],
        "domain" => &["domain"],
        "url" => &["url", "uri"],
        "md5" => &["md5"],
        "sha1" => &["sha1"],
        "sha256" => &["sha256"],
        "email" => &["email-src", "email"],
        "filename" => &["filename"],
        "cve" => &["vulnerability", "other"],
        _ => &["other"],
    }
}

/// IRIS severity names for a verdict, best first.
fn severity_names(verdict: Option<&str>) -> &'static [&'static str] {
    match verdict.map(|v| v.trim().to_ascii_uppercase()).as_deref() {
        Some("CRITICAL") => &["critical"],
        Some("HIGH") => &["high"],
        Some("MEDIUM") => &["medium"],
        Some("LOW") => &["low"],
        Some("BENIGN") => &["informational", "low"],
        _ => &["unspecified", "medium"],
    }
}

/// The `/alerts/add` body for a case.
pub fn render(case: &Case, ids: &IrisIds) -> Value {
    let mut seen = HashSet::new();
    let iocs: Vec<Value> = indicators(case)
        .into_iter()
        .filter_map(|(kind, value)| {
            let type_id = ioc_type_names(&kind)
                .iter()
                .find_map(|n| ids.ioc_types.get(*n).copied())?;
            seen.insert((type_id, value)).then(|| {
                json!({
                    "ioc_value": value,
                    "ioc_type_id": type_id,
                    "ioc_tlp_id": IOC_TLP_ID,
                    "ioc_description": format!("{kind} from the alerts of {} {}", case.kind, case.reference),
                    "ioc_tags": format!("soc-copilot,{kind}"),
                })
            })
        })
        .collect();
    let mut hosts = HashSet::new();
    let assets: Vec<Value> = match ids.asset_type_id {
        Some(type_id) => case
            .hosts
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty() && hosts.insert(*h))
            .map(|h| {
                json!({
                    "asset_name": h,
                    "asset_type_id": type_id,
                    "asset_description": format!("Host in the alerts of {} {}", case.kind, case.reference),
                    "asset_tags": "soc-copilot",
                })
            })
            .collect(),
        None => Vec::new(),
    };
    // IRIS splits tags on commas.
    let tags: Vec<String> = tags(case).iter().map(|t| t.replace(',', " ")).collect();
    let mut alert = json!({
        "alert_title": title(case, 512),
        "alert_description": description(case),
        "alert_source": SOURCE,
        "alert_source_ref": case.reference,
        "alert_severity_id": ids.severity_id,
        "alert_status_id": ids.status_id,
        "alert_customer_id": ids.customer_id,
        "alert_tags": tags.join(","),
        "alert_context": {
            "kind": case.kind,
            "alerts": case.alerts.len(),
            "confidence": case.confidence,
            "triage_id": case.triage_id,
        },
        "alert_iocs": iocs,
        "alert_assets": assets,
    });
    // Naive UTC, the form IRIS itself returns; left out (server default: now) when the
    // case's time does not parse.
    if let Some(t) = parse_time(&case.first_seen) {
        alert["alert_source_event_time"] = json!(t.format("%Y-%m-%dT%H:%M:%S").to_string());
    }
    alert
}

/// Creates the alert, or returns the one an earlier push created. `customer_id` is the
/// configured IRIS customer; without one the first customer the key can see is used.
pub async fn push(
    client: &reqwest::Client,
    base_url: &str,
    key: &str,
    customer_id: Option<i64>,
    case: &Case,
) -> Result<Pushed, HandoffError> {
    let base = base_url.trim_end_matches('/');
    let pushed = |remote_id: String, created: bool| Pushed {
        target: Target::Iris.name().to_string(),
        remote_id,
        created,
    };
    if let Some(id) = existing(client, base, key, &case.reference).await? {
        return Ok(pushed(id, false));
    }
    let ids = lookup(client, base, key, customer_id, case.verdict.as_deref()).await?;
    let what = "POST /alerts/add";
    let data = call(
        client
            .post(format!("{base}/alerts/add"))
            .json(&render(case, &ids)),
        what,
        key,
    )
    .await?;
    id_of(&data["alert_id"])
        .map(|id| pushed(id, true))
        .ok_or_else(|| HandoffError::Malformed {
            target: LABEL,
            what: what.into(),
            detail: "no `alert_id` in the created alert".into(),
        })
}

/// Sends one request with the key and unwraps the envelope: `data` on success, the remote
/// message otherwise (an HTTP error status or `"status": "error"`).
async fn call(req: reqwest::RequestBuilder, what: &str, key: &str) -> Result<Value, HandoffError> {
    let mut answer = send(LABEL, what, req.bearer_auth(key)).await?;
    if (200..300).contains(&answer.status) && answer.body["status"] == "success" {
        return Ok(answer.body["data"].take());
    }
    if (200..300).contains(&answer.status) && !answer.body.is_object() {
        return Err(HandoffError::Malformed {
            target: LABEL,
            what: what.into(),
            detail: "the answer is not an IRIS envelope".into(),
        });
    }
    let message = answer.body["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| answer.text.clone());
    Err(remote_error(LABEL, answer.status, &message, key))
}

/// An id as IRIS writes it (an integer; a numeric string is tolerated).
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_i64().map(|n| n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// Our alert with exactly this `alert_source_ref`, if one exists.
async fn existing(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    reference: &str,
) -> Result<Option<String>, HandoffError> {
    for page in 1..=MAX_PAGES {
        let page_text = page.to_string();
        let data = call(
            client.get(format!("{base}/alerts/filter")).query(&[
                ("source_reference", reference),
                ("page", page_text.as_str()),
                ("per_page", "100"),
            ]),
            "GET /alerts/filter",
            key,
        )
        .await?;
        let alerts = data["alerts"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if let Some(id) = alerts
            .iter()
            .filter(|a| a["alert_source_ref"].as_str() == Some(reference))
            .find_map(|a| id_of(&a["alert_id"]))
        {
            return Ok(Some(id));
        }
        if alerts.is_empty() || data["next_page"].is_null() {
            break;
        }
    }
    Ok(None)
}

/// Reads the lookup lists and picks the ids for a case with this verdict.
async fn lookup(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    customer_id: Option<i64>,
    verdict: Option<&str>,
) -> Result<IrisIds, HandoffError> {
    let get = |path: &'static str| call(client.get(format!("{base}{path}")), path, key);
    let customers = async {
        match customer_id {
            Some(_) => Ok(Value::Null),
            None => get("/manage/customers/list").await,
        }
    };
    let (severities, statuses, ioc_types, asset_types, customers) = tokio::try_join!(
        get("/manage/severities/list"),
        get("/manage/alert-status/list"),
        get("/manage/ioc-types/list"),
        get("/manage/asset-type/list"),
        customers,
    )?;

    let missing = |detail: String| HandoffError::Instance {
        target: LABEL,
        detail,
    };
    let severity_list = entries(&severities, "severity_id", "severity_name");
    let wanted = severity_names(verdict);
    let severity_id = wanted
        .iter()
        .find_map(|w| named(&severity_list, w))
        .ok_or_else(|| {
            missing(format!(
                "no severity named {} in /manage/severities/list",
                wanted.join(" or ")
            ))
        })?;
    let status_id = named(&entries(&statuses, "status_id", "status_name"), "new")
        .ok_or_else(|| missing("no alert status named New in /manage/alert-status/list".into()))?;
    let customer_id = match customer_id {
        Some(id) => id,
        None => entries(&customers, "customer_id", "customer_name")
            .first()
            .map(|(id, _)| *id)
            .ok_or_else(|| missing("the key sees no customer in /manage/customers/list".into()))?,
    };
    let ioc_types = entries(&ioc_types, "type_id", "type_name")
        .into_iter()
        .map(|(id, name)| (name.to_ascii_lowercase(), id))
        .collect();
    let assets = entries(&asset_types, "asset_id", "asset_name");
    let asset_type_id = named(&assets, "windows - computer")
        .or_else(|| {
            assets
                .iter()
                .find(|(_, n)| n.to_ascii_lowercase().contains("computer"))
                .map(|(id, _)| *id)
        })
        .or_else(|| assets.first().map(|(id, _)| *id));
    Ok(IrisIds {
        severity_id,
        status_id,
        customer_id,
        ioc_types,
        asset_type_id,
    })
}

/// `(id, name)` pairs of a lookup list, in the instance's order.
fn entries(list: &Value, id_key: &str, name_key: &str) -> Vec<(i64, String)> {
    list.as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter_map(|e| {
            Some((
                e[id_key].as_i64()?,
                e[name_key].as_str()?.trim().to_string(),
            ))
        })
        .collect()
}

/// The id of the entry with this name, compared case-insensitively.
fn named(entries: &[(i64, String)], name: &str) -> Option<i64> {
    entries
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(id, _)| *id)
}
