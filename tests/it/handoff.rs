//! Hand-off: TheHive and DFIR-IRIS pushes against a local server speaking both APIs
//! (creation, idempotent re-push, ids read from the instance, errors that name the target
//! and never the key), and the MISP, STIX and Markdown renderings against their checklists.

use std::collections::HashSet;

use regex::Regex;
use serde_json::{Value, json};
use soc_copilot::handoff::iris::IrisIds;
use soc_copilot::handoff::{
    Case, CaseAlert, CaseIndicator, CaseTechnique, HandoffError, Target, iris, markdown, misp,
    stix, thehive,
};

use crate::support::handoff::{
    HandoffServer, IRIS_ASSET_TYPES, IRIS_CUSTOMERS, IRIS_IOC_TYPES, IRIS_KEY, IRIS_READONLY_KEY,
    IRIS_SEVERITIES, IRIS_STATUSES, THEHIVE_KEY, THEHIVE_READONLY_KEY, iris_id,
};

const SHA256: &str = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
/// A file name with a quote and a backslash, which a STIX pattern must escape.
const ODD_FILE: &str = r"o'brien\invoice.ps1";

fn alert(key: &str, title: &str, at: &str, description: &str) -> CaseAlert {
    CaseAlert {
        key: key.into(),
        title: title.into(),
        source: "wazuh".into(),
        at: at.into(),
        host: Some("WS-042".into()),
        user: Some("jsmith".into()),
        description: description.into(),
    }
}

fn ind(kind: &str, value: &str) -> CaseIndicator {
    CaseIndicator {
        kind: kind.into(),
        value: value.into(),
    }
}

fn tech(id: &str, name: &str, tactic: Option<&str>) -> CaseTechnique {
    CaseTechnique {
        id: id.into(),
        name: name.into(),
        tactic: tactic.map(str::to_string),
    }
}

/// A two-alert incident: spraying from a Tor exit, then an encoded PowerShell download.
fn case(reference: &str) -> Case {
    Case {
        kind: "incident".into(),
        reference: reference.into(),
        title: "Brute force | then PowerShell on WS-042".into(),
        verdict: Some("HIGH".into()),
        judged_by: None,
        tool_verdict: None,
        confidence: Some(0.87),
        summary: "Password spraying from a Tor exit node, then an encoded PowerShell download cradle on the same host.".into(),
        first_seen: "2026-11-30T09:00:00Z".into(),
        last_seen: "2026-11-30T09:40:12Z".into(),
        alerts: vec![
            alert(
                "wazuh-1001",
                "Multiple failed logons from 185.220.101.47",
                "2026-11-30T09:00:00Z",
                "4625 x 40 for jsmith from 185.220.101.47",
            ),
            alert(
                "edr-77",
                "Encoded PowerShell | download cradle",
                "2026-11-30T09:40:12Z",
                "powershell -enc … fetches http://bad-domain.example.com/a.ps1",
            ),
        ],
        hosts: vec!["WS-042".into()],
        users: vec!["jsmith".into()],
        indicators: vec![
            ind("ip", "185.220.101.47"),
            ind("domain", "bad-domain.example.com"),
            ind("url", "http://bad-domain.example.com/a.ps1"),
            ind("ip", "185.220.101.47"),
            ind("sha256", SHA256),
            ind("md5", MD5),
            ind("email", "billing@evil.example.com"),
            ind("filename", ODD_FILE),
            ind("process", "powershell.exe"),
        ],
        techniques: vec![
            tech("T1059.001", "PowerShell", Some("execution")),
            tech("T1110.003", "Password Spraying", Some("credential-access")),
            tech("T1105", "Ingress Tool Transfer", None),
        ],
        actions: vec!["Isolate WS-042".into(), "Reset jsmith's password".into()],
        links: vec!["shares 185.220.101.47 and user jsmith within 40 min".into()],
        triage_id: Some("tri-0001".into()),
    }
}

fn bearer(s: &crate::support::handoff::Seen, key: &str) -> bool {
    s.headers.get("authorization").map(String::as_str) == Some(format!("Bearer {key}").as_str())
}

#[test]
fn targets_parse_and_name() {
    for t in Target::ALL {
        assert_eq!(Target::parse(t.name()), Some(t));
    }
    assert_eq!(Target::parse("TheHive"), Some(Target::TheHive));
    assert_eq!(Target::parse("dfir-iris"), Some(Target::Iris));
    assert_eq!(Target::parse("jira"), None);
    assert!(Target::Iris.pushable() && !Target::Stix.pushable());
}

// ---------------------------------------------------------------- TheHive

#[tokio::test]
async fn thehive_push_creates_once_and_finds_the_alert_again() {
    let server = HandoffServer::start();
    let http = reqwest::Client::new();
    let c = case("INC-2026-0001");

    let first = thehive::push(&http, &server.base(), THEHIVE_KEY, &c)
        .await
        .expect("created");
    assert!(first.created);
    assert_eq!(first.target, "thehive");
    assert!(first.remote_id.starts_with('~'), "{}", first.remote_id);

    let again = thehive::push(&http, &format!("{}/", server.base()), THEHIVE_KEY, &c)
        .await
        .expect("found");
    assert_eq!(again.remote_id, first.remote_id);
    assert!(!again.created);
    assert_eq!(
        server.thehive_alerts().len(),
        1,
        "one alert for one reference"
    );

    let seen = server.seen();
    assert_eq!(seen.iter().filter(|s| s.path == "/api/v1/alert").count(), 2);
    assert!(seen.iter().all(|s| bearer(s, THEHIVE_KEY)));
    let lookup = seen
        .iter()
        .find(|s| s.path.starts_with("/api/v1/query"))
        .expect("the duplicate was looked up");
    assert_eq!(lookup.method, "POST");
    assert_eq!(lookup.body["query"][0]["_name"], "listAlert");
    let filter = lookup.body["query"][1]["_and"].to_string();
    for want in ["sourceRef", "INC-2026-0001", "soc-copilot"] {
        assert!(filter.contains(want), "{filter}");
    }

    let other = thehive::push(&http, &server.base(), THEHIVE_KEY, &case("INC-2026-0002"))
        .await
        .expect("second case");
    assert!(other.created);
    assert_ne!(other.remote_id, first.remote_id);
    assert_eq!(server.thehive_alerts().len(), 2);
}

#[tokio::test]
async fn thehive_alert_has_the_input_alert_shape_and_unique_observables() {
    let c = case("INC-2026-0003");
    let a = thehive::render(&c);
    assert_eq!(a["type"], "soc-copilot");
    assert_eq!(a["source"], "soc-copilot");
    assert_eq!(a["sourceRef"], "INC-2026-0003");
    assert_eq!(a["title"], "Brute force | then PowerShell on WS-042");
    assert_eq!(a["severity"], 3);
    assert_eq!((a["tlp"].as_i64(), a["pap"].as_i64()), (Some(2), Some(2)));
    let first_ms = chrono::DateTime::parse_from_rfc3339("2026-11-30T09:00:00Z")
        .expect("time")
        .timestamp_millis();
    assert_eq!(a["date"], first_ms);
    let tags: Vec<&str> = a["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in ["soc-copilot", "verdict:high", "T1059.001", "T1110.003"] {
        assert!(tags.contains(&want), "{tags:?}");
    }
    let description = a["description"].as_str().expect("description");
    for want in [
        "Password spraying",
        "HIGH",
        "Isolate WS-042",
        "shares 185.220.101.47",
    ] {
        assert!(description.contains(want), "{description}");
    }

    let observables = a["observables"].as_array().expect("observables");
    let pairs: Vec<(&str, &str)> = observables
        .iter()
        .map(|o| {
            (
                o["dataType"].as_str().unwrap_or(""),
                o["data"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let unique: HashSet<_> = pairs.iter().collect();
    assert_eq!(
        unique.len(),
        pairs.len(),
        "no repeated dataType+data: {pairs:?}"
    );
    for want in [
        ("ip", "185.220.101.47"),
        ("domain", "bad-domain.example.com"),
        ("url", "http://bad-domain.example.com/a.ps1"),
        ("hash", SHA256),
        ("hash", MD5),
        ("mail", "billing@evil.example.com"),
        ("filename", ODD_FILE),
        ("hostname", "WS-042"),
    ] {
        assert!(pairs.contains(&want), "{want:?} in {pairs:?}");
    }

    let procedures = a["procedures"].as_array().expect("procedures");
    assert_eq!(procedures.len(), 2, "only techniques with a tactic");
    assert_eq!(procedures[0]["patternId"], "T1059.001");
    assert_eq!(procedures[0]["tactic"], "execution");
    assert_eq!(procedures[0]["occurDate"], first_ms);

    for (verdict, severity) in [
        (Some("LOW"), 1),
        (Some("BENIGN"), 1),
        (Some("MEDIUM"), 2),
        (Some("critical"), 4),
        (None, 2),
    ] {
        let mut v = c.clone();
        v.verdict = verdict.map(str::to_string);
        assert_eq!(thehive::render(&v)["severity"], severity, "{verdict:?}");
    }

    // The mock refuses repeated observables, as TheHive 4.0 did: the push goes through.
    let server = HandoffServer::start();
    let pushed = thehive::push(&reqwest::Client::new(), &server.base(), THEHIVE_KEY, &c)
        .await
        .expect("accepted");
    assert!(pushed.created);
    let stored = server.thehive_alerts();
    assert_eq!(stored[0]["observableCount"], observables.len());
    assert_eq!(stored[0]["severityLabel"], "HIGH");
}

#[tokio::test]
async fn thehive_errors_name_the_target_and_status_and_never_the_key() {
    let server = HandoffServer::start();
    let http = reqwest::Client::new();
    let c = case("INC-2026-0004");

    let wrong = "wrong-key-4b1d9e0c77aa";
    let err = thehive::push(&http, &server.base(), wrong, &c)
        .await
        .expect_err("wrong key");
    assert!(
        matches!(err, HandoffError::Remote { status: 401, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    for want in ["TheHive", "401", "AuthenticationError"] {
        assert!(msg.contains(want), "{msg}");
    }
    assert!(!msg.contains(wrong), "{msg}");

    let err = thehive::push(&http, &server.base(), THEHIVE_READONLY_KEY, &c)
        .await
        .expect_err("read-only key");
    let msg = err.to_string();
    assert!(
        msg.contains("403") && msg.contains("AuthorizationError"),
        "{msg}"
    );
    assert!(!msg.contains(THEHIVE_READONLY_KEY), "{msg}");
    assert!(server.thehive_alerts().is_empty());

    let err = thehive::push(&http, "http://127.0.0.1:1", THEHIVE_KEY, &c)
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, HandoffError::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains("TheHive"), "{err}");
    assert!(!err.to_string().contains(THEHIVE_KEY));
}

// ---------------------------------------------------------------- DFIR-IRIS

#[tokio::test]
async fn iris_push_uses_the_instance_ids_and_does_not_duplicate() {
    let server = HandoffServer::start();
    let http = reqwest::Client::new();
    let c = case("INC-12");

    let first = iris::push(&http, &server.base(), IRIS_KEY, None, &c)
        .await
        .expect("created");
    assert!(first.created);
    assert_eq!(first.target, "iris");
    assert_eq!(first.remote_id, "101");

    let seen = server.seen();
    assert!(seen.iter().all(|s| bearer(s, IRIS_KEY)));
    for list in [
        "/manage/severities/list",
        "/manage/alert-status/list",
        "/manage/ioc-types/list",
        "/manage/asset-type/list",
        "/manage/customers/list",
    ] {
        assert!(
            seen.iter().any(|s| s.method == "GET" && s.path == list),
            "{list} read"
        );
    }
    let add = seen
        .iter()
        .find(|s| s.method == "POST" && s.path == "/alerts/add")
        .expect("alert added");
    let b = &add.body;
    let high = iris_id(&IRIS_SEVERITIES, "High");
    assert_ne!(high, 5, "the mock's High is not a stock install's");
    assert_eq!(b["alert_severity_id"], high);
    assert_eq!(b["alert_status_id"], iris_id(&IRIS_STATUSES, "New"));
    assert_eq!(b["alert_customer_id"], IRIS_CUSTOMERS[0].0);
    assert_eq!(b["alert_source"], "soc-copilot");
    assert_eq!(b["alert_source_ref"], "INC-12");
    assert_eq!(b["alert_source_event_time"], "2026-11-30T09:00:00");
    let tags = b["alert_tags"]
        .as_str()
        .expect("tags are one comma-separated string");
    assert!(tags.split(',').any(|t| t == "T1059.001"), "{tags}");

    let type_of = |name: &str| {
        IRIS_IOC_TYPES
            .iter()
            .find(|t| t.1 == name)
            .map(|t| t.0)
            .expect("type")
    };
    let iocs = b["alert_iocs"].as_array().expect("iocs");
    let ioc = |value: &str| {
        iocs.iter()
            .find(|i| i["ioc_value"] == value)
            .unwrap_or_else(|| panic!("{value} sent"))
    };
    assert_eq!(ioc("185.220.101.47")["ioc_type_id"], type_of("ip-dst"));
    assert_eq!(ioc(SHA256)["ioc_type_id"], type_of("sha256"));
    assert_eq!(ioc(MD5)["ioc_type_id"], type_of("md5"));
    assert_eq!(
        ioc("billing@evil.example.com")["ioc_type_id"],
        type_of("email-src")
    );
    assert_eq!(ioc("powershell.exe")["ioc_type_id"], type_of("other"));
    assert_eq!(ioc("185.220.101.47")["ioc_tlp_id"], 2);
    assert_eq!(
        iocs.iter()
            .filter(|i| i["ioc_value"] == "185.220.101.47")
            .count(),
        1
    );
    let windows = IRIS_ASSET_TYPES
        .iter()
        .find(|t| t.1 == "Windows - Computer")
        .map(|t| t.0)
        .expect("type");
    assert_eq!(
        b["alert_assets"],
        json!([{"asset_name": "WS-042", "asset_type_id": windows,
                "asset_description": "Host in the alerts of incident INC-12", "asset_tags": "soc-copilot"}])
    );

    let again = iris::push(&http, &server.base(), IRIS_KEY, None, &c)
        .await
        .expect("found");
    assert_eq!(again.remote_id, first.remote_id);
    assert!(!again.created);
    assert_eq!(server.iris_alerts().len(), 1, "IRIS holds one alert");
    let filter = server
        .seen()
        .into_iter()
        .find(|s| s.path.starts_with("/alerts/filter"))
        .expect("looked up");
    assert!(
        filter.path.contains("source_reference=INC-12"),
        "{}",
        filter.path
    );

    // `/alerts/filter` matches INC-1 inside INC-12: the exact comparison keeps them apart.
    let sub = iris::push(&http, &server.base(), IRIS_KEY, Some(3), &case("INC-1"))
        .await
        .expect("created");
    assert!(sub.created);
    assert_eq!(sub.remote_id, "102");
    let alerts = server.iris_alerts();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1]["alert_customer_id"], 3, "the configured customer");
    assert_eq!(alerts[1]["severity"]["severity_name"], "High");

    let mut benign = case("INC-400");
    benign.verdict = Some("BENIGN".into());
    iris::push(&http, &server.base(), IRIS_KEY, None, &benign)
        .await
        .expect("created");
    let last = server.iris_alerts().pop().expect("stored");
    assert_eq!(
        last["alert_severity_id"],
        iris_id(&IRIS_SEVERITIES, "Informational")
    );
}

#[test]
fn iris_render_uses_only_the_ids_it_is_given() {
    let ids = IrisIds {
        severity_id: 901,
        status_id: 902,
        customer_id: 903,
        ioc_types: [("ip-any".to_string(), 77), ("sha256".to_string(), 78)]
            .into_iter()
            .collect(),
        asset_type_id: None,
    };
    let b = iris::render(&case("INC-5"), &ids);
    assert_eq!(
        (
            &b["alert_severity_id"],
            &b["alert_status_id"],
            &b["alert_customer_id"]
        ),
        (&json!(901), &json!(902), &json!(903))
    );
    let iocs = b["alert_iocs"].as_array().expect("iocs");
    let sent: Vec<(&str, i64)> = iocs
        .iter()
        .map(|i| {
            (
                i["ioc_value"].as_str().unwrap_or(""),
                i["ioc_type_id"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [("185.220.101.47", 77), (SHA256, 78)],
        "kinds without a type are left out"
    );
    assert_eq!(b["alert_assets"], json!([]), "no asset type, no assets");
}

#[tokio::test]
async fn iris_errors_surface_with_the_remote_message() {
    let server = HandoffServer::start();
    let http = reqwest::Client::new();

    let err = iris::push(
        &http,
        &server.base(),
        "not-the-key-9f8e7d",
        None,
        &case("INC-70"),
    )
    .await
    .expect_err("wrong key");
    let msg = err.to_string();
    assert!(
        msg.contains("DFIR-IRIS") && msg.contains("401") && msg.contains("Authentication required"),
        "{msg}"
    );
    assert!(!msg.contains("not-the-key-9f8e7d"));

    let err = iris::push(
        &http,
        &server.base(),
        IRIS_READONLY_KEY,
        None,
        &case("INC-71"),
    )
    .await
    .expect_err("read-only key");
    let msg = err.to_string();
    assert!(
        msg.contains("403") && msg.contains("Permission denied"),
        "{msg}"
    );

    let err = iris::push(&http, &server.base(), IRIS_KEY, Some(999), &case("INC-72"))
        .await
        .expect_err("foreign customer");
    assert!(
        err.to_string()
            .contains("User not entitled to create alerts for the client"),
        "{err}"
    );

    server.require_iris_field("alert_classification_id");
    let err = iris::push(&http, &server.base(), IRIS_KEY, None, &case("INC-73"))
        .await
        .expect_err("missing field");
    assert!(
        matches!(err, HandoffError::Remote { status: 400, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    for want in [
        "DFIR-IRIS",
        "alert_classification_id",
        "Missing data for required field.",
    ] {
        assert!(msg.contains(want), "{msg}");
    }
    assert!(!msg.contains(IRIS_KEY));
    assert!(server.iris_alerts().is_empty());
}

// ---------------------------------------------------------------- MISP

const MISP_EVENT_KEYS: [&str; 25] = [
    "id",
    "uuid",
    "published",
    "info",
    "threat_level_id",
    "analysis",
    "date",
    "timestamp",
    "publish_timestamp",
    "first_publication",
    "org_id",
    "orgc_id",
    "Org",
    "Orgc",
    "attribute_count",
    "distribution",
    "sharing_group_id",
    "extends_uuid",
    "locked",
    "proposal_email_lock",
    "disable_correlation",
    "Attribute",
    "Object",
    "Tag",
    "Galaxy",
];
const MISP_ATTRIBUTE_KEYS: [&str; 18] = [
    "uuid",
    "id",
    "type",
    "category",
    "value",
    "to_ids",
    "event_id",
    "distribution",
    "timestamp",
    "comment",
    "sharing_group_id",
    "deleted",
    "disable_correlation",
    "first_seen",
    "last_seen",
    "object_relation",
    "Tag",
    "Galaxy",
];
const MISP_BOOLEANS: [&str; 8] = [
    "published",
    "to_ids",
    "deleted",
    "disable_correlation",
    "locked",
    "proposal_email_lock",
    "exportable",
    "hide_tag",
];

/// Every scalar in a MISP document is a string, except the listed booleans.
fn misp_scalars(v: &Value, key: &str, problems: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                misp_scalars(v, k, problems);
            }
        }
        Value::Array(a) => {
            for v in a {
                misp_scalars(v, key, problems);
            }
        }
        Value::Bool(_) if MISP_BOOLEANS.contains(&key) => {}
        Value::String(_) if !MISP_BOOLEANS.contains(&key) => {}
        other => problems.push(format!("{key}: {other}")),
    }
}

#[test]
fn misp_event_passes_the_core_format_checks() {
    let doc = misp::render(&case("INC-2026-0009"));
    let uuid4 =
        Regex::new(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .expect("regex");
    assert_eq!(doc.as_object().map(|o| o.len()), Some(1), "only `Event`");
    let e = doc["Event"].as_object().expect("Event");
    for k in e.keys() {
        assert!(
            MISP_EVENT_KEYS.contains(&k.as_str()),
            "unknown event key {k}"
        );
    }
    for k in [
        "uuid",
        "info",
        "date",
        "threat_level_id",
        "analysis",
        "distribution",
        "published",
        "timestamp",
        "publish_timestamp",
    ] {
        assert!(e.contains_key(k), "missing {k}");
    }
    let mut problems = Vec::new();
    misp_scalars(&doc, "", &mut problems);
    assert!(problems.is_empty(), "non-string scalars: {problems:?}");

    let s = |k: &str| e[k].as_str().unwrap_or_default();
    assert!(uuid4.is_match(s("uuid")), "{}", s("uuid"));
    assert_eq!(s("date"), "2026-11-30");
    assert_eq!(s("threat_level_id"), "1", "HIGH");
    assert!(["0", "1", "2"].contains(&s("analysis")));
    assert!(["0", "1", "2", "3"].contains(&s("distribution")));
    assert_eq!(s("sharing_group_id"), "0");
    assert_eq!(s("publish_timestamp"), "0");
    assert!(!s("timestamp").is_empty() && s("timestamp").bytes().all(|b| b.is_ascii_digit()));
    assert!(s("info").chars().count() <= 256 && !s("info").contains('\n'));
    assert_eq!(e["published"], false);

    let categories = |t: &str| -> &'static [&'static str] {
        match t {
            "ip-dst" | "ip-src" | "domain" | "hostname" | "url" => {
                &["External analysis", "Network activity", "Payload delivery"]
            }
            "md5" | "sha1" | "sha256" => &[
                "Artifacts dropped",
                "External analysis",
                "Payload delivery",
                "Payload installation",
            ],
            "email-src" => &["Network activity", "Payload delivery", "Social network"],
            "filename" => &[
                "Artifacts dropped",
                "External analysis",
                "Payload delivery",
                "Payload installation",
                "Persistence mechanism",
            ],
            "text" => &["Other", "External analysis", "Internal reference"],
            _ => &[],
        }
    };
    let attributes = e["Attribute"].as_array().expect("attributes");
    assert_eq!(attributes.len(), 8, "one per distinct indicator");
    let mut uuids = HashSet::new();
    for a in attributes {
        let m = a.as_object().expect("attribute");
        for k in m.keys() {
            assert!(
                MISP_ATTRIBUTE_KEYS.contains(&k.as_str()),
                "unknown attribute key {k}"
            );
        }
        let t = a["type"].as_str().expect("type");
        let cat = a["category"].as_str().expect("category");
        assert!(categories(t).contains(&cat), "{t} in {cat}");
        assert!(a["value"].is_string() && a["to_ids"].is_boolean());
        assert_eq!(a["distribution"], "5");
        assert_eq!(a["deleted"], false);
        let u = a["uuid"].as_str().expect("uuid");
        assert!(uuid4.is_match(u), "{u}");
        assert!(uuids.insert(u.to_string()), "uuids unique");
    }
    let typed: Vec<(&str, &str)> = attributes
        .iter()
        .map(|a| {
            (
                a["type"].as_str().unwrap_or(""),
                a["value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    for want in [
        ("ip-dst", "185.220.101.47"),
        ("domain", "bad-domain.example.com"),
        ("url", "http://bad-domain.example.com/a.ps1"),
        ("sha256", SHA256),
        ("md5", MD5),
        ("email-src", "billing@evil.example.com"),
        ("filename", ODD_FILE),
    ] {
        assert!(typed.contains(&want), "{want:?} in {typed:?}");
    }

    let tags: Vec<&str> = e["Tag"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or(""))
        .collect();
    for want in [
        "tlp:amber",
        "misp-galaxy:mitre-attack-pattern=\"PowerShell - T1059.001\"",
        "misp-galaxy:mitre-attack-pattern=\"Password Spraying - T1110.003\"",
        "misp-galaxy:mitre-attack-pattern=\"Ingress Tool Transfer - T1105\"",
    ] {
        assert!(tags.contains(&want), "{want} in {tags:?}");
    }
    for t in e["Tag"].as_array().into_iter().flatten() {
        for k in t.as_object().expect("tag").keys() {
            assert!(
                ["id", "name", "colour", "exportable", "hide_tag", "user_id"].contains(&k.as_str()),
                "unknown tag key {k}"
            );
        }
    }

    let mut none = case("INC-2026-0010");
    none.verdict = None;
    assert_eq!(misp::render(&none)["Event"]["threat_level_id"], "4");
}

// ---------------------------------------------------------------- STIX

fn of_type<'a>(bundle: &'a Value, ty: &str) -> Vec<&'a Value> {
    bundle["objects"]
        .as_array()
        .map(|o| o.iter().filter(|x| x["type"] == ty).collect())
        .unwrap_or_default()
}

#[test]
fn stix_bundle_passes_the_checklist() {
    let bundle = stix::render(&case("INC-2026-0011"));
    let problems = stix::check(&bundle);
    assert!(problems.is_empty(), "{problems:#?}");

    assert_eq!(of_type(&bundle, "identity").len(), 1);
    let indicators = of_type(&bundle, "indicator");
    assert_eq!(indicators.len(), 7, "process names have no pattern");
    assert_eq!(of_type(&bundle, "sighting").len(), 7);
    assert_eq!(of_type(&bundle, "attack-pattern").len(), 3);

    let patterns: Vec<&str> = indicators
        .iter()
        .filter_map(|i| i["pattern"].as_str())
        .collect();
    for want in [
        "[ipv4-addr:value = '185.220.101.47']".to_string(),
        format!("[file:hashes.'SHA-256' = '{SHA256}']"),
        format!("[file:hashes.MD5 = '{MD5}']"),
        r"[file:name = 'o\'brien\\invoice.ps1']".to_string(),
        "[email-addr:value = 'billing@evil.example.com']".to_string(),
    ] {
        assert!(patterns.contains(&want.as_str()), "{want} in {patterns:?}");
    }
    assert!(
        indicators
            .iter()
            .all(|i| i["valid_from"] == "2026-11-30T09:00:00.000Z")
    );

    let ip = indicators
        .iter()
        .find(|i| i["pattern"] == "[ipv4-addr:value = '185.220.101.47']")
        .expect("ip indicator");
    let sighting = of_type(&bundle, "sighting")
        .into_iter()
        .find(|s| s["sighting_of_ref"] == ip["id"])
        .expect("sighting of the ip");
    assert_eq!(sighting["count"], 1, "one alert names the address");
    assert_eq!(sighting["first_seen"], "2026-11-30T09:00:00.000Z");
    assert_eq!(sighting["last_seen"], "2026-11-30T09:40:12.000Z");
    assert_eq!(sighting["where_sighted_refs"], json!([stix::IDENTITY_ID]));

    let ps = of_type(&bundle, "attack-pattern")
        .into_iter()
        .find(|a| a["external_references"][0]["external_id"] == "T1059.001")
        .expect("PowerShell");
    assert_eq!(ps["name"], "PowerShell");
    assert_eq!(ps["external_references"][0]["source_name"], "mitre-attack");
    assert_eq!(
        ps["external_references"][0]["url"],
        "https://attack.mitre.org/techniques/T1059/001"
    );
    assert_eq!(
        ps["kill_chain_phases"],
        json!([{"kill_chain_name": "mitre-attack", "phase_name": "execution"}])
    );
}

#[test]
fn stix_check_finds_what_is_wrong() {
    let mut broken = stix::render(&case("INC-2026-0012"));
    broken["spec_version"] = json!("2.1");
    let objects = broken["objects"].as_array_mut().expect("objects");
    let i = objects
        .iter()
        .position(|o| o["type"] == "indicator")
        .expect("indicator");
    if let Some(o) = objects[i].as_object_mut() {
        o.remove("valid_from");
    }
    objects[i]["created"] = json!("2026-11-30T09:00:00Z");
    let s = objects
        .iter()
        .position(|o| o["type"] == "sighting")
        .expect("sighting");
    objects[s]["sighting_of_ref"] = json!("indicator--00000000-0000-4000-8000-000000000000");
    let a = objects
        .iter()
        .position(|o| o["type"] == "attack-pattern")
        .expect("attack-pattern");
    objects[a]["id"] = json!("attack-pattern--not-a-uuid");
    objects[a]["severity"] = json!("high");

    let problems = stix::check(&broken).join("\n");
    for want in [
        "bundle: has `spec_version`",
        "missing `valid_from`",
        "`created`",
        "sighting_of_ref",
        "`id` is not <type>--<uuid>",
        "forbidden top-level property `severity`",
    ] {
        assert!(problems.contains(want), "{want} in\n{problems}");
    }
}

// ---------------------------------------------------------------- Markdown

/// `|` that are not backslash-escaped.
fn bare_pipes(line: &str) -> usize {
    let mut n = 0;
    let mut escaped = false;
    for c in line.chars() {
        if c == '|' && !escaped {
            n += 1;
        }
        escaped = c == '\\' && !escaped;
    }
    n
}

#[test]
fn markdown_report_escapes_table_text() {
    let mut c = case("INC-2026-0013");
    c.alerts.push(CaseAlert {
        key: "edr-78".into(),
        title: "Suspicious `certutil`\nurlcache".into(),
        source: "edr".into(),
        at: "2026-11-30T09:41:00Z".into(),
        host: None,
        user: None,
        description: String::new(),
    });
    let md = markdown::render(&c);

    assert!(
        md.starts_with("# Brute force \\| then PowerShell on WS-042\n"),
        "{md}"
    );
    let row = md
        .lines()
        .find(|l| l.contains("Encoded PowerShell"))
        .expect("alert row");
    assert!(
        row.contains("Encoded PowerShell \\| download cradle"),
        "{row}"
    );
    assert_eq!(bare_pipes(row), 7, "six cells: {row}");
    let row = md
        .lines()
        .find(|l| l.contains("certutil"))
        .expect("row on one line");
    assert!(row.contains("Suspicious \\`certutil\\` urlcache"), "{row}");
    assert_eq!(bare_pipes(row), 7, "{row}");

    assert!(md.contains(r"| filename | `o'brien\invoice.ps1` |"), "{md}");
    assert!(md.contains("shares 185.220.101.47 and user jsmith within 40 min"));
    assert!(md.contains("- **Verdict:** HIGH (confidence 87%)"), "{md}");
    // An analyst's verdict that replaced the tool's says so, and one that confirmed it too.
    let mut judged = case("INC-2026-0014");
    judged.verdict = Some("CRITICAL".into());
    judged.judged_by = Some("ana".into());
    judged.tool_verdict = Some("HIGH".into());
    let md2 = markdown::render(&judged);
    assert!(
        md2.contains("- **Verdict:** CRITICAL (analyst ana; the tool said HIGH, confidence 87%)"),
        "{md2}"
    );
    judged.verdict = Some("HIGH".into());
    assert!(markdown::render(&judged).contains("HIGH (confirmed by analyst ana; confidence 87%)"));
    assert!(md.contains("1. Isolate WS-042"));
    let execution = md.find("### execution").expect("execution");
    let credential = md.find("### credential-access").expect("credential access");
    let other = md.find("### Other").expect("no tactic");
    assert!(execution < credential && credential < other);
    assert!(md[other..].contains("T1105 — Ingress Tool Transfer"));
    assert!(md.contains("`WS-042`") && md.contains("`jsmith`"));
}
