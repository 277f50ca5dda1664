//! One local server speaking the two case systems the hand-off pushes to, in their own wire
//! formats (see notes-issue15/case-systems.md §3):
//! - TheHive 5: `POST /api/v1/alert` (201 OutputAlert; 400 `CreateError` "… already exist
//!   …" on a repeated type+source+sourceRef, never 409; 400 `CreateError` on a repeated
//!   observable; 400 `AttributeCheckingError` on missing or malformed fields), `POST
//!   /api/v1/query` (`listAlert` + `filter` + `page` [+ `count`], a bare array),
//!   `GET /api/v1/alert/{id}`; errors `{"type","message"}`; 401 `AuthenticationError` on a
//!   wrong Bearer key, 403 `AuthorizationError` for the read-only key.
//! - DFIR-IRIS 2.x: the `{status, message, data}` envelope everywhere (200 on success, 400,
//!   401 "Authentication required", 403 "Permission denied"); lookup lists with ids that are
//!   not a stock install's, so hard-coded ids fail; `/alerts/filter` matching
//!   `source_reference` as a substring like the real `LIKE '%…%'`; `/alerts/add` validating
//!   like marshmallow (required fields, comma-separated tags, IOC and asset type ids, hash
//!   formats, customer access, foreign keys) and never deduplicating.
//!
//! Every request is recorded with its method, path and query, headers and JSON body.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{Value, json};

pub const THEHIVE_KEY: &str = "thehive-test-key-5f1c0a9e";
/// Authenticates, but lacks `manageAlert/create`.
pub const THEHIVE_READONLY_KEY: &str = "thehive-readonly-key-77d2";
pub const THEHIVE_ORG: &str = "soc";
pub const IRIS_KEY: &str = "B8BA5D730210B50F41C06941582D7965D57319D5";
/// Has `alerts_read` but not `alerts_write`.
pub const IRIS_READONLY_KEY: &str = "0F41C06941582D7965D57319D5B8BA5D73021";

/// `(severity_id, severity_name)`: a stock install has 1 Unspecified … 6 Critical in order.
pub const IRIS_SEVERITIES: [(i64, &str); 6] = [
    (4, "Unspecified"),
    (6, "Informational"),
    (2, "Low"),
    (5, "Medium"),
    (1, "High"),
    (3, "Critical"),
];
/// `(status_id, status_name)`: a stock install has 2 New.
pub const IRIS_STATUSES: [(i64, &str); 8] = [
    (3, "Unspecified"),
    (7, "New"),
    (1, "Assigned"),
    (2, "In progress"),
    (8, "Pending"),
    (4, "Closed"),
    (5, "Merged"),
    (6, "Escalated"),
];
/// `(type_id, type_name, validation regex, what the regex expects)`.
pub const IRIS_IOC_TYPES: [(i64, &str, Option<&str>, Option<&str>); 14] = [
    (120, "domain", None, None),
    (121, "email", None, None),
    (122, "email-src", None, None),
    (123, "filename", None, None),
    (124, "hostname", None, None),
    (125, "ip-any", None, None),
    (126, "ip-dst", None, None),
    (127, "ip-src", None, None),
    (
        128,
        "md5",
        Some("[a-f0-9]{32}"),
        Some("32 hexadecimal characters"),
    ),
    (129, "other", None, None),
    (
        130,
        "sha1",
        Some("[a-f0-9]{40}"),
        Some("40 hexadecimal characters"),
    ),
    (
        131,
        "sha256",
        Some("[a-f0-9]{64}"),
        Some("64 hexadecimal characters"),
    ),
    (132, "url", None, None),
    (133, "uri", None, None),
];
/// `(asset_id, asset_name)`: the id of an asset *type*.
pub const IRIS_ASSET_TYPES: [(i64, &str); 4] = [
    (31, "Account"),
    (32, "Windows - Server"),
    (33, "Windows - Computer"),
    (34, "Linux - Server"),
];
/// The customers the test key may create alerts for, first first.
pub const IRIS_CUSTOMERS: [(i64, &str); 2] = [(12, "Acme SOC"), (3, "IrisInitialClient")];

/// The id the server lists under `name`.
pub fn iris_id(list: &[(i64, &str)], name: &str) -> i64 {
    list.iter()
        .find(|(_, n)| *n == name)
        .map(|(id, _)| *id)
        .expect("name in the mock's list")
}

const HIVE_DATA_TYPES: [&str; 16] = [
    "url",
    "other",
    "user-agent",
    "regexp",
    "mail-subject",
    "registry",
    "mail",
    "autonomous-system",
    "domain",
    "ip",
    "uri_path",
    "filename",
    "hash",
    "file",
    "fqdn",
    "hostname",
];
const TACTICS: [&str; 14] = [
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
];

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path with the query string, as sent.
    pub path: String,
    /// Lower-cased names.
    pub headers: HashMap<String, String>,
    /// The body as JSON; `Null` when empty or not JSON.
    pub body: Value,
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    hive: Vec<Value>,
    iris: Vec<Value>,
    iris_required: Vec<String>,
}

pub struct HandoffServer {
    pub addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
}

impl HandoffServer {
    pub fn start() -> HandoffServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State::default()));
        let s2 = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s3 = s2.clone();
                thread::spawn(move || serve(stream, &s3));
            }
        });
        HandoffServer { addr, state }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state
            .lock()
            .map(|s| s.seen.clone())
            .unwrap_or_default()
    }

    /// The alerts TheHive holds, as stored (observables and procedures included).
    pub fn thehive_alerts(&self) -> Vec<Value> {
        self.state
            .lock()
            .map(|s| s.hive.clone())
            .unwrap_or_default()
    }

    /// The alerts IRIS holds, as `/alerts/add` answered them.
    pub fn iris_alerts(&self) -> Vec<Value> {
        self.state
            .lock()
            .map(|s| s.iris.clone())
            .unwrap_or_default()
    }

    /// From now on IRIS also requires this alert field (as an instance with a stricter
    /// schema would), answering its marshmallow "Missing data" error when it is absent.
    pub fn require_iris_field(&self, field: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.iris_required.push(field.to_string());
        }
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let Some(super::http::Request {
        method,
        target,
        headers,
        body: raw,
    }) = super::http::read_request(&mut reader)
    else {
        return;
    };
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query: HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let (status, answer) = {
        let Ok(mut s) = state.lock() else {
            return;
        };
        s.seen.push(Seen {
            method: method.clone(),
            path: target.clone(),
            headers: headers.clone(),
            body: body.clone(),
        });
        if path.starts_with("/api/") {
            thehive(&mut s, &method, path, &headers, &body)
        } else {
            iris(&mut s, &method, path, &query, &headers, &body)
        }
    };
    let text = answer.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        text.len()
    );
    let mut out = stream;
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// `application/x-www-form-urlencoded` decoding of one query component.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(x) => {
                        out.push(x);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

// ---------------------------------------------------------------- TheHive 5

fn hive_error(status: u16, kind: &str, message: &str) -> (u16, Value) {
    (status, json!({"type": kind, "message": message}))
}

fn attribute_error(name: &str, message: String, kind: &str) -> (u16, Value) {
    (
        400,
        json!({"type": "AttributeCheckingError", "message": format!("[{message}]"),
               "errors": [{"name": name, "type": kind}]}),
    )
}

fn thehive(
    s: &mut State,
    method: &str,
    path: &str,
    headers: &HashMap<String, String>,
    body: &Value,
) -> (u16, Value) {
    let auth = headers.get("authorization").map(String::as_str);
    let writer = auth == Some(format!("Bearer {THEHIVE_KEY}").as_str());
    let reader = auth == Some(format!("Bearer {THEHIVE_READONLY_KEY}").as_str());
    if !writer && !reader {
        return hive_error(401, "AuthenticationError", "Authentication failure");
    }
    match (method, path) {
        ("POST", "/api/v1/alert") => {
            if !writer {
                return hive_error(
                    403,
                    "AuthorizationError",
                    "Your are not authorized to create alert",
                );
            }
            if !headers
                .get("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
            {
                return hive_error(400, "BadRequest", "Expecting JSON data");
            }
            hive_create(s, body)
        }
        ("POST", "/api/v1/query") => hive_query(s, body),
        ("GET", p) if p.starts_with("/api/v1/alert/") => {
            let id = &p["/api/v1/alert/".len()..];
            match s.hive.iter().find(|a| a["_id"] == id) {
                Some(a) => (200, output(a)),
                None => hive_error(404, "NotFoundError", &format!("alert {id} not found")),
            }
        }
        _ => hive_error(404, "NotFoundError", &format!("{method} {path} not found")),
    }
}

/// The alert as TheHive answers it (observables and procedures are separate resources).
fn output(stored: &Value) -> Value {
    let mut a = stored.clone();
    if let Some(m) = a.as_object_mut() {
        m.remove("observables");
        m.remove("procedures");
    }
    a
}

fn hive_create(s: &mut State, body: &Value) -> (u16, Value) {
    let Some(input) = body.as_object() else {
        return hive_error(400, "BadRequest", "Invalid Json");
    };
    let missing: Vec<&str> = ["type", "source", "sourceRef", "title", "description"]
        .into_iter()
        .filter(|k| !input.get(*k).is_some_and(Value::is_string))
        .collect();
    if !missing.is_empty() {
        let message: String = missing
            .iter()
            .map(|k| format!("[Attribute {k} is missing]"))
            .collect();
        let errors: Vec<Value> = missing
            .iter()
            .map(|k| json!({"name": k, "type": "MissingAttributeError"}))
            .collect();
        return (
            400,
            json!({"type": "AttributeCheckingError", "message": message, "errors": errors}),
        );
    }
    for (field, lo, hi) in [("severity", 1, 4), ("tlp", 0, 3), ("pap", 0, 3)] {
        if let Some(v) = input.get(field)
            && !v.as_i64().is_some_and(|n| (lo..=hi).contains(&n))
        {
            return attribute_error(
                field,
                format!("Invalid format for {field}: {v}, expected int"),
                "InvalidFormatAttributeError",
            );
        }
    }
    if let Some(v) = input.get("date")
        && !v.is_i64()
    {
        return attribute_error(
            "date",
            format!("Invalid format for date: {v}, expected date"),
            "InvalidFormatAttributeError",
        );
    }
    if let Some(v) = input.get("tags")
        && !v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
    {
        return attribute_error(
            "tags",
            format!("Invalid format for tags: {v}, expected array of string"),
            "InvalidFormatAttributeError",
        );
    }
    let observables = input
        .get("observables")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut pairs = Vec::new();
    for o in &observables {
        let dt = o["dataType"].as_str().unwrap_or_default();
        if !HIVE_DATA_TYPES.contains(&dt) {
            return attribute_error(
                "observables.dataType",
                format!(
                    "Invalid format for observables.dataType: {}, expected observable type",
                    o["dataType"]
                ),
                "InvalidFormatAttributeError",
            );
        }
        let Some(data) = o["data"].as_str() else {
            return attribute_error(
                "observables.data",
                "Attribute observables.data is missing".into(),
                "MissingAttributeError",
            );
        };
        if pairs.contains(&(dt, data)) {
            return hive_error(400, "CreateError", "Observable already exists");
        }
        pairs.push((dt, data));
    }
    let technique = regex::Regex::new(r"^T\d{4}(\.\d{3})?$").expect("regex");
    if let Some(procs) = input.get("procedures").and_then(Value::as_array) {
        for p in procs {
            if !p["patternId"]
                .as_str()
                .is_some_and(|id| technique.is_match(id))
            {
                return attribute_error(
                    "procedures.patternId",
                    format!(
                        "Invalid format for procedures.patternId: {}, expected string",
                        p["patternId"]
                    ),
                    "InvalidFormatAttributeError",
                );
            }
            if !p["occurDate"].is_i64() {
                return attribute_error(
                    "procedures.occurDate",
                    "Attribute procedures.occurDate is missing".into(),
                    "MissingAttributeError",
                );
            }
            if !p["tactic"].as_str().is_some_and(|t| TACTICS.contains(&t)) {
                return attribute_error(
                    "procedures.tactic",
                    format!(
                        "Invalid format for procedures.tactic: {}, expected tactic",
                        p["tactic"]
                    ),
                    "InvalidFormatAttributeError",
                );
            }
        }
    }
    let kind = input["type"].as_str().unwrap_or_default().to_lowercase();
    let source = input["source"].as_str().unwrap_or_default();
    let source_ref = input["sourceRef"].as_str().unwrap_or_default();
    if s.hive.iter().any(|a| {
        a["type"] == kind.as_str() && a["source"] == source && a["sourceRef"] == source_ref
    }) {
        return hive_error(
            400,
            "CreateError",
            &format!(
                "Alert {kind}:{source}:{source_ref} already exist in organisation {THEHIVE_ORG}"
            ),
        );
    }
    let level = |field: &str| input.get(field).and_then(Value::as_i64).unwrap_or(2);
    let (severity, tlp, pap) = (level("severity"), level("tlp"), level("pap"));
    let severity_label = label(&["", "LOW", "MEDIUM", "HIGH", "CRITICAL"], severity);
    let tlps = ["WHITE", "GREEN", "AMBER", "RED"];
    let (tlp_label, pap_label) = (label(&tlps, tlp), label(&tlps, pap));
    let created = now_ms();
    let mut alert = Value::Object(input.clone());
    let fields = [
        (
            "_id",
            json!(format!("~{}", 40_964_104 + 4096 * s.hive.len())),
        ),
        ("_type", json!("Alert")),
        ("_createdBy", json!(format!("exporter@{THEHIVE_ORG}"))),
        ("_createdAt", json!(created)),
        ("type", json!(kind)),
        ("severity", json!(severity)),
        ("severityLabel", json!(severity_label)),
        ("tlp", json!(tlp)),
        ("tlpLabel", json!(tlp_label)),
        ("pap", json!(pap)),
        ("papLabel", json!(pap_label)),
        ("date", input.get("date").cloned().unwrap_or(json!(created))),
        ("tags", input.get("tags").cloned().unwrap_or(json!([]))),
        ("follow", json!(true)),
        ("customFields", json!([])),
        ("observableCount", json!(observables.len())),
        ("status", json!("New")),
        ("stage", json!("New")),
        ("extraData", json!({})),
        ("newDate", json!(created)),
    ];
    for (k, v) in fields {
        alert[k] = v;
    }
    s.hive.push(alert.clone());
    (201, output(&alert))
}

fn label(scale: &[&'static str], n: i64) -> &'static str {
    usize::try_from(n)
        .ok()
        .and_then(|i| scale.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// A query filter expression: `_and`, `_or`, `_not`, `_eq` and the older
/// `{"_field", "_value"}` form; `None` for anything else.
fn hive_matches(expr: &Value, alert: &Value) -> Option<bool> {
    let field_eq = |eq: &Value| -> Option<bool> {
        let field = eq["_field"].as_str()?;
        let value = eq.get("_value")?;
        Some(if field == "type" {
            value.as_str().map(str::to_lowercase).as_deref() == alert["type"].as_str()
        } else {
            &alert[field] == value
        })
    };
    if let Some(list) = expr["_and"].as_array() {
        let all: Option<Vec<bool>> = list.iter().map(|e| hive_matches(e, alert)).collect();
        return all.map(|v| v.iter().all(|b| *b));
    }
    if let Some(list) = expr["_or"].as_array() {
        let all: Option<Vec<bool>> = list.iter().map(|e| hive_matches(e, alert)).collect();
        return all.map(|v| v.iter().any(|b| *b));
    }
    if let Some(inner) = expr.get("_not") {
        return hive_matches(inner, alert).map(|b| !b);
    }
    if let Some(eq) = expr.get("_eq") {
        return field_eq(eq);
    }
    if expr.get("_field").is_some() {
        return field_eq(expr);
    }
    None
}

fn hive_query(s: &State, body: &Value) -> (u16, Value) {
    let Some(ops) = body["query"].as_array() else {
        return hive_error(400, "BadRequest", "Invalid query: no `query` array");
    };
    if ops.first().and_then(|o| o["_name"].as_str()) != Some("listAlert") {
        return hive_error(
            400,
            "BadRequest",
            "Invalid query: only listAlert is served here",
        );
    }
    let mut found: Vec<&Value> = s.hive.iter().collect();
    let mut count = false;
    for op in &ops[1..] {
        match op["_name"].as_str() {
            Some("filter") => {
                let mut kept = Vec::new();
                for a in found {
                    match hive_matches(op, a) {
                        Some(true) => kept.push(a),
                        Some(false) => {}
                        None => {
                            return hive_error(400, "BadRequest", &format!("Invalid filter: {op}"));
                        }
                    }
                }
                found = kept;
            }
            Some("page") => {
                let from = op["from"].as_u64().unwrap_or(0) as usize;
                let to = op["to"].as_u64().map_or(found.len(), |t| t as usize);
                found = found
                    .into_iter()
                    .skip(from)
                    .take(to.saturating_sub(from))
                    .collect();
            }
            Some("sort") => {}
            Some("count") => count = true,
            _ => return hive_error(400, "BadRequest", &format!("Invalid query operation: {op}")),
        }
    }
    if count {
        return (200, json!(found.len()));
    }
    (200, Value::Array(found.into_iter().map(output).collect()))
}

// ---------------------------------------------------------------- DFIR-IRIS 2.x

fn envelope_ok(data: Value) -> (u16, Value) {
    (
        200,
        json!({"status": "success", "message": "", "data": data}),
    )
}

fn envelope_err(status: u16, message: &str) -> (u16, Value) {
    (
        status,
        json!({"status": "error", "message": message, "data": []}),
    )
}

/// marshmallow's `str(ValidationError)` for one field.
fn invalid(field: &str, message: &str) -> (u16, Value) {
    envelope_err(400, &format!("{{'{field}': ['{message}']}}"))
}

fn iris(
    s: &mut State,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HashMap<String, String>,
    body: &Value,
) -> (u16, Value) {
    let key = headers
        .get("authorization")
        .or_else(|| headers.get("x-iris-auth"))
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v.as_str()));
    let writer = key == Some(IRIS_KEY);
    if !writer && key != Some(IRIS_READONLY_KEY) {
        return envelope_err(401, "Authentication required");
    }
    match (method, path) {
        ("GET", "/manage/severities/list") => envelope_ok(
            IRIS_SEVERITIES
                .iter()
                .map(|(id, n)| json!({"severity_id": id, "severity_name": n, "severity_description": n}))
                .collect(),
        ),
        ("GET", "/manage/alert-status/list") => envelope_ok(
            IRIS_STATUSES
                .iter()
                .map(|(id, n)| json!({"status_id": id, "status_name": n, "status_description": format!("Alert is {}", n.to_lowercase())}))
                .collect(),
        ),
        ("GET", "/manage/ioc-types/list") => envelope_ok(
            IRIS_IOC_TYPES
                .iter()
                .map(|(id, n, re, expect)| {
                    json!({"type_id": id, "type_name": n, "type_description": format!("A {n}"),
                           "type_taxonomy": "", "type_validation_regex": re, "type_validation_expect": expect})
                })
                .collect(),
        ),
        ("GET", "/manage/asset-type/list") => envelope_ok(
            IRIS_ASSET_TYPES
                .iter()
                .map(|(id, n)| {
                    json!({"asset_id": id, "asset_name": n, "asset_description": n,
                           "asset_icon_compromised": "ioc_question-mark.png",
                           "asset_icon_not_compromised": "question-mark.png",
                           "asset_icon_compromised_path": "/static/assets/img/graph/ioc_question-mark.png",
                           "asset_icon_not_compromised_path": "/static/assets/img/graph/question-mark.png"})
                })
                .collect(),
        ),
        ("GET", "/manage/customers/list") => envelope_ok(
            IRIS_CUSTOMERS
                .iter()
                .map(|(id, n)| {
                    json!({"customer_id": id, "customer_name": n,
                           "customer_uuid": format!("5b1a3c2e-0000-4000-8000-{id:012}"),
                           "customer_description": null, "customer_sla": null, "custom_attributes": null})
                })
                .collect(),
        ),
        ("GET", "/manage/tlp/list") => envelope_ok(json!([
            {"tlp_id": 1, "tlp_name": "red", "tlp_bscolor": "danger"},
            {"tlp_id": 2, "tlp_name": "amber", "tlp_bscolor": "warning"},
            {"tlp_id": 3, "tlp_name": "green", "tlp_bscolor": "success"},
            {"tlp_id": 4, "tlp_name": "clear", "tlp_bscolor": "black"},
            {"tlp_id": 5, "tlp_name": "amber+strict", "tlp_bscolor": "warning"},
        ])),
        ("GET", "/alerts/filter") => iris_filter(s, query),
        ("POST", "/alerts/add") => {
            if !writer {
                return envelope_err(403, "Permission denied");
            }
            iris_add(s, body)
        }
        _ => envelope_err(404, "Not found"),
    }
}

fn iris_filter(s: &State, query: &HashMap<String, String>) -> (u16, Value) {
    let like = |field: &str, param: &str, a: &Value| {
        query.get(param).is_none_or(|want| {
            a[field]
                .as_str()
                .is_some_and(|have| have.contains(want.as_str()))
        })
    };
    let matched: Vec<&Value> = s
        .iris
        .iter()
        .filter(|a| {
            like("alert_source_ref", "source_reference", a)
                && like("alert_source", "alert_source", a)
        })
        .collect();
    let page = query
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let per_page = query
        .get("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(10)
        .max(1);
    let total = matched.len();
    let last_page = total.div_ceil(per_page).max(1);
    let alerts: Vec<Value> = matched
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let next_page = if page < last_page {
        json!(page + 1)
    } else {
        Value::Null
    };
    envelope_ok(json!({
        "total": total,
        "alerts": alerts,
        "last_page": last_page,
        "current_page": page,
        "next_page": next_page,
    }))
}

/// Comma-separated tags: a JSON list makes IRIS's pre_load `split` fail.
fn tags_ok(v: Option<&Value>) -> Result<(), (u16, Value)> {
    match v {
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
        Some(Value::Array(_)) => Err(envelope_err(400, "'list' object has no attribute 'split'")),
        Some(_) => Err(envelope_err(400, "'int' object has no attribute 'split'")),
    }
}

fn iris_add(s: &mut State, body: &Value) -> (u16, Value) {
    let Some(input) = body.as_object().filter(|o| !o.is_empty()) else {
        return envelope_err(400, "No JSON data provided");
    };
    let mut alert = input.clone();
    let iocs = alert.remove("alert_iocs").unwrap_or(json!([]));
    let assets = alert.remove("alert_assets").unwrap_or(json!([]));
    let (Some(iocs), Some(assets)) = (iocs.as_array(), assets.as_array()) else {
        return envelope_err(400, "Invalid input type.");
    };

    let mut stored_iocs = Vec::new();
    for ioc in iocs {
        if ioc["ioc_value"].as_str().is_none_or(|v| v.is_empty()) {
            return invalid("ioc_value", "Missing data for required field.");
        }
        if let Err(e) = tags_ok(ioc.get("ioc_tags")) {
            return e;
        }
        let value = ioc["ioc_value"].as_str().unwrap_or_default();
        match ioc.get("ioc_type_id") {
            None | Some(Value::Null) => {}
            Some(t) => {
                let Some(t) = t.as_i64() else {
                    return invalid("ioc_type_id", "Invalid data type");
                };
                let Some(&(_, _, re, expect)) = IRIS_IOC_TYPES.iter().find(|x| x.0 == t) else {
                    return invalid("ioc_type_id", "Invalid IOC type ID");
                };
                if let Some(re) = re {
                    let full = regex::Regex::new(&format!("(?i)^(?:{re})$")).expect("regex");
                    if !full.is_match(value) {
                        return envelope_err(
                            400,
                            &format!(
                                "{{'ioc_ioc_value': [\"The input doesn't match the expected format (expected: {})\"]}}",
                                expect.unwrap_or(re)
                            ),
                        );
                    }
                }
            }
        }
        if let Some(tlp) = ioc.get("ioc_tlp_id")
            && !tlp.is_null()
            && !tlp.as_i64().is_some_and(|n| (1..=5).contains(&n))
        {
            return envelope_err(
                400,
                "(psycopg2.errors.ForeignKeyViolation) insert or update on table \"ioc\" violates foreign key constraint \"ioc_ioc_tlp_id_fkey\"",
            );
        }
        let mut stored = ioc.clone();
        stored["ioc_id"] = json!(301 + stored_iocs.len() + 10 * s.iris.len());
        stored_iocs.push(stored);
    }

    let mut stored_assets = Vec::new();
    for asset in assets {
        if asset["asset_name"].as_str().is_none_or(|v| v.is_empty()) {
            return invalid("asset_name", "Missing data for required field.");
        }
        if let Err(e) = tags_ok(asset.get("asset_tags")) {
            return e;
        }
        let type_id = match asset.get("asset_type_id") {
            None | Some(Value::Null) => {
                return invalid("asset_type_id", "Invalid data - non null expected");
            }
            Some(t) => t.as_i64(),
        };
        let Some(type_id) = type_id else {
            return invalid("asset_type_id", "Invalid data type");
        };
        if !IRIS_ASSET_TYPES.iter().any(|(id, _)| *id == type_id) {
            return invalid("asset_type_id", "Invalid asset type ID");
        }
        let mut stored = asset.clone();
        stored["asset_id"] = json!(55 + stored_assets.len() + 10 * s.iris.len());
        stored_assets.push(stored);
    }

    if let Err(e) = tags_ok(alert.get("alert_tags")) {
        return e;
    }
    let mut required = vec![
        "alert_title".to_string(),
        "alert_severity_id".to_string(),
        "alert_status_id".to_string(),
        "alert_customer_id".to_string(),
    ];
    required.extend(s.iris_required.iter().cloned());
    let missing: Vec<String> = required
        .iter()
        .filter(|f| alert.get(f.as_str()).is_none_or(Value::is_null))
        .map(|f| format!("'{f}': ['Missing data for required field.']"))
        .collect();
    if !missing.is_empty() {
        return envelope_err(400, &format!("{{{}}}", missing.join(", ")));
    }
    if !alert.get("alert_title").is_some_and(Value::is_string) {
        return invalid("alert_title", "Not a valid string.");
    }
    let mut ids = HashMap::new();
    for f in ["alert_severity_id", "alert_status_id", "alert_customer_id"] {
        let Some(n) = alert.get(f).and_then(Value::as_i64) else {
            return invalid(f, "Not a valid integer.");
        };
        ids.insert(f, n);
    }
    if let Some(t) = alert.get("alert_source_event_time")
        && !t.is_null()
    {
        let parses = t.as_str().is_some_and(|t| {
            chrono::DateTime::parse_from_rfc3339(t).is_ok()
                || chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
                || chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").is_ok()
        });
        if !parses {
            return invalid("alert_source_event_time", "Not a valid datetime.");
        }
    }
    let customer = ids.get("alert_customer_id").copied().unwrap_or_default();
    let Some((_, customer_name)) = IRIS_CUSTOMERS.iter().find(|(id, _)| *id == customer) else {
        return envelope_err(400, "User not entitled to create alerts for the client");
    };
    let severity = ids.get("alert_severity_id").copied().unwrap_or_default();
    let Some((_, severity_name)) = IRIS_SEVERITIES.iter().find(|(id, _)| *id == severity) else {
        return envelope_err(
            400,
            "(psycopg2.errors.ForeignKeyViolation) insert or update on table \"alerts\" violates foreign key constraint \"alerts_alert_severity_id_fkey\"",
        );
    };
    let status = ids.get("alert_status_id").copied().unwrap_or_default();
    let Some((_, status_name)) = IRIS_STATUSES.iter().find(|(id, _)| *id == status) else {
        return envelope_err(
            400,
            "(psycopg2.errors.ForeignKeyViolation) insert or update on table \"alerts\" violates foreign key constraint \"alerts_alert_status_id_fkey\"",
        );
    };

    let n = s.iris.len();
    let created = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    let mut out = Value::Object(alert);
    let fields = [
        ("alert_id", json!(101 + n)),
        (
            "alert_uuid",
            json!(format!("3f1c2f0e-7a55-4d9e-9d6e-{:012}", n + 1)),
        ),
        ("alert_creation_time", json!(created)),
        ("alert_owner_id", Value::Null),
        (
            "severity",
            json!({"severity_id": severity, "severity_name": severity_name, "severity_description": severity_name}),
        ),
        (
            "status",
            json!({"status_id": status, "status_name": status_name, "status_description": status_name}),
        ),
        (
            "customer",
            json!({"customer_id": customer, "customer_name": customer_name, "customer_description": null}),
        ),
        ("iocs", json!(stored_iocs)),
        ("assets", json!(stored_assets)),
        ("cases", json!([])),
        ("comments", json!([])),
    ];
    for (k, v) in fields {
        out[k] = v;
    }
    if out
        .get("alert_source_event_time")
        .is_none_or(Value::is_null)
    {
        out["alert_source_event_time"] = json!(created);
    }
    s.iris.push(out.clone());
    envelope_ok(out)
}
