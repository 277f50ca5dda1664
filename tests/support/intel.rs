//! One local server speaking five threat-intel APIs in their own wire formats, for tests:
//! AbuseIPDB v2 (`GET /api/v2/check`, `Key` header, `{"data": …}`, `{"errors": [{detail,
//! status}]}`), VirusTotal v3 (`GET /api/v3/{ip_addresses,domains,files,urls}/…`,
//! `x-apikey`, `NotFoundError`/`QuotaExceededError` bodies), GreyNoise community
//! (`GET /v3/community/{ip}`), Shodan InternetDB (`GET /{ip}`, `{"detail": …}` on 404) and
//! ThreatFox (`POST /api/v1/` with `{"query": "search_ioc"}`, `Auth-Key`, `query_status`).
//! Every request is recorded; answers can be slowed down.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub const KEY: &str = "intel-test-key-0123456789";
pub const BAD_IP: &str = "185.220.101.47";
pub const SCANNER_IP: &str = "198.51.100.7";
/// AbuseIPDB answers 429 (Retry-After: 1) the first time it is asked about this one.
pub const LIMITED_IP: &str = "203.0.113.99";
/// AbuseIPDB answers 429 with a Retry-After of an hour.
pub const EXHAUSTED_IP: &str = "203.0.113.98";
/// AbuseIPDB answers a body that is not JSON.
pub const MALFORMED_IP: &str = "192.0.2.66";
pub const BAD_DOMAIN: &str = "bad-domain.example.com";
pub const BAD_SHA256: &str = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
pub const BAD_URL: &str = "http://malware.example.net/bins/x86";

/// The default config with every provider pointed at `base` with the test key, enabled,
/// and budgets that never bind (tests that exercise a budget set their own).
pub fn config(base: &str) -> soc_copilot::config::Config {
    let mut c = soc_copilot::config::Config::defaults();
    c.intel.max_wait_secs = 5;
    c.intel.timeout_secs = 5;
    for p in [
        &mut c.intel.abuseipdb,
        &mut c.intel.virustotal,
        &mut c.intel.greynoise,
        &mut c.intel.shodan,
        &mut c.intel.threatfox,
        &mut c.intel.urlhaus,
        &mut c.intel.malwarebazaar,
        &mut c.intel.otx,
        &mut c.intel.urlscan,
    ] {
        p.base_url = base.to_string();
        p.key = Some(soc_copilot::config::Secret(KEY.into()));
        p.enabled = Some(true);
        p.per_minute = 100_000;
        p.per_day = 10_000_000;
    }
    c
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

pub struct IntelServer {
    pub addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    delay_ms: Arc<AtomicU64>,
}

impl IntelServer {
    pub fn start() -> IntelServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (s2, d2) = (seen.clone(), delay_ms.clone());
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s3, d3) = (s2.clone(), d2.clone());
                thread::spawn(move || serve(stream, &s3, &d3));
            }
        });
        IntelServer {
            addr,
            seen,
            delay_ms,
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn delay(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, delay: &AtomicU64) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let Some(super::http::Request {
        method,
        target,
        headers,
        body,
    }) = super::http::read_request(&mut reader)
    else {
        return;
    };
    let body = String::from_utf8_lossy(&body).into_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query: HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%3A", ":")))
        .collect();
    let earlier = {
        let mut s = seen.lock().expect("seen");
        let n = s.iter().filter(|x| x.path == target).count();
        s.push(Seen {
            method: method.clone(),
            path: target.clone(),
            headers: headers.clone(),
            body: body.clone(),
        });
        n
    };
    thread::sleep(Duration::from_millis(delay.load(Ordering::SeqCst)));
    let (status, extra, answer) = route(&method, path, &query, &headers, &body, earlier);
    let mut out = stream;
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nContent-Type: application/json\r\n{extra}Connection: close\r\n\r\n",
        match status {
            200 => "OK",
            401 => "Unauthorized",
            404 => "Not Found",
            429 => "Too Many Requests",
            _ => "Status",
        },
        answer.len()
    );
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(answer.as_bytes());
    let _ = out.flush();
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = v.replace('+', " ");
            let mut out = Vec::new();
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%'
                    && i + 2 < b.len()
                    && let Ok(x) = u8::from_str_radix(&v[i + 1..i + 3], 16)
                {
                    out.push(x);
                    i += 3;
                    continue;
                }
                out.push(b[i]);
                i += 1;
            }
            (k.to_string(), String::from_utf8_lossy(&out).into_owned())
        })
        .collect()
}

fn route(
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HashMap<String, String>,
    body: &str,
    earlier: usize,
) -> (u16, String, String) {
    let key = |name: &str| headers.get(name).map(String::as_str) == Some(KEY);
    let none = String::new();
    if path == "/api/v2/check" {
        if !key("key") {
            return (
                401,
                none,
                r#"{"errors":[{"detail":"Authentication failed. Your API key is either missing, incorrect, or revoked.","status":401}]}"#.into(),
            );
        }
        let ip = query.get("ipAddress").cloned().unwrap_or_default();
        if ip == LIMITED_IP && earlier == 0 || ip == EXHAUSTED_IP {
            let after = if ip == EXHAUSTED_IP { "3600" } else { "1" };
            return (
                429,
                format!("Retry-After: {after}\r\nX-RateLimit-Limit: 1000\r\nX-RateLimit-Remaining: 0\r\n"),
                r#"{"errors":[{"detail":"Daily rate limit of 1000 requests exceeded for this endpoint. See headers for additional details.","status":429}]}"#.into(),
            );
        }
        if ip == MALFORMED_IP {
            return (200, none, "<html>gateway</html>".into());
        }
        let (score, reports, white) = match ip.as_str() {
            BAD_IP => (100, 1742, false),
            SCANNER_IP => (0, 3, true),
            _ => (0, 0, false),
        };
        return (
            200,
            "X-RateLimit-Limit: 1000\r\nX-RateLimit-Remaining: 999\r\n".into(),
            serde_json::json!({"data": {"ipAddress": ip, "isPublic": true, "ipVersion": 4,
                "isWhitelisted": white, "abuseConfidenceScore": score, "countryCode": "DE",
                "usageType": "Data Center/Web Hosting/Transit", "isp": "Example Hosting",
                "domain": "example.net", "hostnames": [], "isTor": ip == BAD_IP,
                "totalReports": reports, "numDistinctUsers": reports / 10,
                "lastReportedAt": "2026-11-30T09:00:00+00:00"}})
            .to_string(),
        );
    }
    if let Some(rest) = path.strip_prefix("/api/v3/") {
        if !key("x-apikey") {
            return (
                401,
                none,
                r#"{"error":{"code":"WrongCredentialsError","message":"Wrong API key"}}"#.into(),
            );
        }
        let (_, id) = rest.split_once('/').unwrap_or((rest, ""));
        let known = [BAD_IP, BAD_DOMAIN, BAD_SHA256].contains(&id);
        if !known {
            return (
                404,
                none,
                format!(
                    r#"{{"error":{{"code":"NotFoundError","message":"Resource \"{id}\" not found"}}}}"#
                ),
            );
        }
        return (
            200,
            none,
            serde_json::json!({"data": {"id": id, "type": "x", "attributes": {
                "last_analysis_stats": {"malicious": 14, "suspicious": 2, "undetected": 60, "harmless": 18, "timeout": 0},
                "reputation": -35}}})
            .to_string(),
        );
    }
    if let Some(ip) = path.strip_prefix("/v3/community/") {
        if ip == SCANNER_IP {
            return (
                200,
                none,
                serde_json::json!({"ip": ip, "noise": true, "riot": false, "classification": "benign",
                    "name": "Shodan.io", "link": format!("https://viz.greynoise.io/ip/{ip}"),
                    "last_seen": "2026-11-29", "message": "Success"})
                .to_string(),
            );
        }
        return (
            404,
            none,
            serde_json::json!({"ip": ip, "noise": false, "riot": false,
                "message": "IP not observed scanning the internet or contained in RIOT data set."})
            .to_string(),
        );
    }
    // URLhaus: POST /v1/url/ (url=…) and /v1/host/ (host=…), form-encoded.
    if path == "/v1/url/" || path == "/v1/host/" {
        if !key("auth-key") {
            return (401, none, r#"{"query_status":"unknown_auth_key"}"#.into());
        }
        let form = form(body);
        if form.get("url").map(String::as_str) == Some(BAD_URL) {
            return (
                200,
                none,
                serde_json::json!({"query_status": "ok", "id": "3170001",
                    "urlhaus_reference": "https://urlhaus.abuse.ch/url/3170001/", "url": BAD_URL,
                    "url_status": "online", "host": "malware.example.net", "date_added": "2026-11-30 09:12:03 UTC",
                    "threat": "malware_download", "tags": ["elf", "mirai"], "payloads": []})
                .to_string(),
            );
        }
        if form.get("host").map(String::as_str) == Some(BAD_DOMAIN) {
            return (
                200,
                none,
                serde_json::json!({"query_status": "ok", "urlhaus_reference": "https://urlhaus.abuse.ch/host/x/",
                    "host": BAD_DOMAIN, "firstseen": "2026-11-01 10:00:00 UTC", "url_count": "2",
                    "blacklists": {"spamhaus_dbl": "not listed", "surbl": "not listed"},
                    "urls": [{"url": "http://bad-domain.example.com/a.exe"}, {"url": "http://bad-domain.example.com/b.exe"}]})
                .to_string(),
            );
        }
        return (200, none, r#"{"query_status":"no_results"}"#.into());
    }
    // AlienVault OTX: GET /api/v1/indicators/{section}/{value}/general.
    if let Some(rest) = path.strip_prefix("/api/v1/indicators/") {
        if !key("x-otx-api-key") {
            return (403, none, r#"{"detail":"Authentication required"}"#.into());
        }
        let count = if rest.contains(BAD_IP) || rest.contains(BAD_DOMAIN) {
            7
        } else {
            0
        };
        return (
            200,
            none,
            serde_json::json!({"indicator": rest, "pulse_info": {"count": count, "pulses":
                if count > 0 { serde_json::json!([{"name": "Tor exit nodes"}, {"name": "AsyncRAT C2"}]) } else { serde_json::json!([]) }}})
            .to_string(),
        );
    }
    // urlscan.io search: GET /api/v1/search/?q=…
    if path == "/api/v1/search/" {
        if !key("api-key") {
            return (
                401,
                none,
                r#"{"message":"Unauthorized","status":401}"#.into(),
            );
        }
        let q = query.get("q").cloned().unwrap_or_default();
        let hit = q.contains(BAD_DOMAIN);
        let results = if hit {
            serde_json::json!([{"task": {"url": "http://bad-domain.example.com/", "time": "2026-11-29T10:00:00Z"},
                "page": {"domain": BAD_DOMAIN}, "verdicts": {"overall": {"malicious": true, "score": 100}}},
                {"task": {"url": "http://bad-domain.example.com/login"}, "page": {"domain": BAD_DOMAIN},
                "verdicts": {"overall": {"malicious": false, "score": 0}}}])
        } else {
            serde_json::json!([])
        };
        return (
            200,
            none,
            serde_json::json!({"results": results, "total": if hit { 2 } else { 0 }, "has_more": false})
                .to_string(),
        );
    }
    if path == "/api/v1/"
        && method == "POST"
        && headers
            .get("content-type")
            .is_some_and(|c| c.contains("form"))
    {
        // MalwareBazaar: query=get_info&hash=…
        if !key("auth-key") {
            return (401, none, r#"{"query_status":"unknown_auth_key"}"#.into());
        }
        let form = form(body);
        if form.get("query").map(String::as_str) != Some("get_info") {
            return (200, none, r#"{"query_status":"unknown_query"}"#.into());
        }
        if form.get("hash").map(String::as_str) == Some(BAD_SHA256) {
            return (
                200,
                none,
                serde_json::json!({"query_status": "ok", "data": [{"sha256_hash": BAD_SHA256,
                    "file_type": "exe", "signature": "AgentTesla", "first_seen": "2026-11-20 08:00:00",
                    "tags": ["AgentTesla", "exe"]}]})
                .to_string(),
            );
        }
        return (200, none, r#"{"query_status":"hash_not_found"}"#.into());
    }
    if path == "/api/v1/" && method == "POST" {
        if !key("auth-key") {
            return (401, none, r#"{"query_status":"unknown_auth_key"}"#.into());
        }
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let term = v["search_term"].as_str().unwrap_or("");
        if v["query"] != "search_ioc" {
            return (200, none, r#"{"query_status":"unknown_query"}"#.into());
        }
        if term == BAD_DOMAIN || term == BAD_IP {
            return (
                200,
                none,
                serde_json::json!({"query_status": "ok", "data": [{"id": "1400003", "ioc": term,
                    "threat_type": "botnet_cc", "threat_type_desc": "Indicator that identifies a botnet command&control server (C&C)",
                    "ioc_type": "domain", "malware": "win.asyncrat", "malware_printable": "AsyncRAT",
                    "confidence_level": 100, "first_seen": "2026-11-28 10:00:00 UTC", "tags": ["AsyncRAT"]}]})
                .to_string(),
            );
        }
        return (
            200,
            none,
            r#"{"query_status":"no_result","data":"Your search did not yield any results"}"#.into(),
        );
    }
    // Shodan InternetDB: GET /{ip}.
    let ip = path.trim_start_matches('/');
    if ip.parse::<std::net::IpAddr>().is_ok() {
        if ip == BAD_IP {
            return (
                200,
                none,
                serde_json::json!({"cpes": ["cpe:/a:openbsd:openssh"], "hostnames": [], "ip": ip,
                    "ports": [22, 443, 9001], "tags": ["tor"], "vulns": ["CVE-2023-38408"]})
                .to_string(),
            );
        }
        return (404, none, r#"{"detail":"No information available"}"#.into());
    }
    (404, none, r#"{"detail":"Not Found"}"#.into())
}
