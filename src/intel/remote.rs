//! Remote threat-intel lookups, each provider in its own wire format: AbuseIPDB v2 `check`,
//! VirusTotal v3 (`ip_addresses`, `domains`, `files`, `urls`), GreyNoise community, Shodan
//! InternetDB, abuse.ch ThreatFox, URLhaus and MalwareBazaar, AlienVault OTX, and urlscan.io
//! search (search only: a scan is never submitted). Each indicator goes to the providers that answer for
//! its kind, all at once; answers (negative ones too) are cached in the store per provider;
//! each provider's free-tier budget is respected by waiting, and an exhausted budget or a
//! failure is reported as such — never as "clean". Keys never appear in errors or logs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{IntelConfig, IntelProviderConfig};
use crate::store::StorePool;

use super::{Indicator, Kind, Verdict};

/// The providers this build speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    AbuseIpDb,
    VirusTotal,
    GreyNoise,
    Shodan,
    ThreatFox,
    UrlHaus,
    MalwareBazaar,
    Otx,
    UrlScan,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::AbuseIpDb => "abuseipdb",
            Api::VirusTotal => "virustotal",
            Api::GreyNoise => "greynoise",
            Api::Shodan => "shodan",
            Api::ThreatFox => "threatfox",
            Api::UrlHaus => "urlhaus",
            Api::MalwareBazaar => "malwarebazaar",
            Api::Otx => "otx",
            Api::UrlScan => "urlscan",
        }
    }

    /// Which indicator kinds the provider answers for.
    pub fn answers(self, k: Kind) -> bool {
        match self {
            Api::AbuseIpDb | Api::GreyNoise | Api::Shodan => k == Kind::Ip,
            Api::VirusTotal => matches!(
                k,
                Kind::Ip | Kind::Domain | Kind::Url | Kind::Md5 | Kind::Sha1 | Kind::Sha256
            ),
            Api::ThreatFox => k != Kind::Email,
            Api::UrlHaus | Api::UrlScan => matches!(k, Kind::Url | Kind::Domain | Kind::Ip),
            Api::MalwareBazaar => matches!(k, Kind::Md5 | Kind::Sha1 | Kind::Sha256),
            Api::Otx => k != Kind::Email,
        }
    }

    fn keyless(self) -> bool {
        matches!(self, Api::GreyNoise | Api::Shodan)
    }
}

/// How a lookup ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The provider knows the indicator; `verdict` is `None` when it holds no opinion.
    Found {
        verdict: Option<Verdict>,
        summary: String,
    },
    /// The provider has no record of it.
    NotFound,
    /// The rate budget (ours or the provider's) ran out: nothing is known, not "clean".
    BudgetExhausted(String),
    Failed(String),
}

/// One lookup of one indicator at one provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lookup {
    pub provider: &'static str,
    pub indicator: Indicator,
    pub outcome: Outcome,
    /// Age of the cached answer used, when one was.
    pub cached_secs: Option<u64>,
    pub latency_ms: u64,
    /// The provider's answer as it came (from the cache row when cached), at most
    /// `RAW_SHOWN` characters: what the console's Intel tab shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// Longest raw answer kept with a lookup for display.
const RAW_SHOWN: usize = 2_000;

fn shown(raw: Option<String>) -> Option<String> {
    raw.map(|r| {
        if r.chars().count() <= RAW_SHOWN {
            r
        } else {
            let mut s: String = r.chars().take(RAW_SHOWN).collect();
            s.push('…');
            s
        }
    })
}

impl Lookup {
    /// One line naming the lookup: what the console and the prompt show.
    pub fn line(&self) -> String {
        let what = match &self.outcome {
            Outcome::Found { verdict, summary } => format!(
                "{summary}{}",
                verdict
                    .map(|v| format!(" → {}", v.as_str()))
                    .unwrap_or_default()
            ),
            Outcome::NotFound => "no record".into(),
            Outcome::BudgetExhausted(w) => format!("not looked up: {w}"),
            Outcome::Failed(w) => format!("lookup failed: {w}"),
        };
        let when = match self.cached_secs {
            Some(s) => format!(" (cached {})", age(s)),
            None => format!(" ({} ms)", self.latency_ms),
        };
        format!("{} {}: {what}{when}", self.provider, self.indicator)
    }

    pub fn verdict(&self) -> Option<Verdict> {
        match &self.outcome {
            Outcome::Found { verdict, .. } => *verdict,
            _ => None,
        }
    }
}

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s => format!("{} h ago", s / 3600),
    }
}

/// A provider's free-tier budget: requests per minute (a sliding window) and per day.
pub struct Budget {
    per_minute: usize,
    per_day: usize,
    state: Mutex<(VecDeque<Instant>, usize, Instant)>,
}

impl Budget {
    pub fn new(per_minute: u32, per_day: u32) -> Budget {
        Budget {
            per_minute: per_minute.max(1) as usize,
            per_day: per_day.max(1) as usize,
            state: Mutex::new((VecDeque::new(), 0, Instant::now())),
        }
    }

    /// Takes one request from the budget, waiting up to `max_wait` for the minute window;
    /// the reason when it cannot.
    pub async fn take(&self, max_wait: Duration) -> Result<(), String> {
        let deadline = Instant::now() + max_wait;
        loop {
            let wait = {
                let Ok(mut s) = self.state.lock() else {
                    return Err("budget state poisoned".into());
                };
                let now = Instant::now();
                if now.duration_since(s.2) >= Duration::from_secs(86_400) {
                    s.1 = 0;
                    s.2 = now;
                }
                if s.1 >= self.per_day {
                    return Err(format!("daily budget of {} requests used", self.per_day));
                }
                while s
                    .0
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
                {
                    s.0.pop_front();
                }
                if s.0.len() < self.per_minute {
                    s.0.push_back(now);
                    s.1 += 1;
                    return Ok(());
                }
                s.0.front().map_or(Duration::ZERO, |t| {
                    Duration::from_secs(60) - now.duration_since(*t)
                })
            };
            if Instant::now() + wait > deadline {
                return Err(format!(
                    "{} requests a minute used; the next slot is {:.0} s away",
                    self.per_minute,
                    wait.as_secs_f64()
                ));
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// One configured provider.
pub struct Remote {
    pub api: Api,
    base: String,
    key: Option<String>,
    budget: Budget,
    ttl: Duration,
}

impl Remote {
    pub fn new(api: Api, c: &IntelProviderConfig) -> Remote {
        Remote {
            api,
            base: c.base_url.trim_end_matches('/').to_string(),
            key: c
                .key
                .as_ref()
                .map(|k| k.0.trim().to_string())
                .filter(|k| !k.is_empty()),
            budget: Budget::new(c.per_minute, c.per_day),
            ttl: Duration::from_secs_f64(c.ttl_hours.max(0.0) * 3600.0),
        }
    }

    fn request(&self, http: &reqwest::Client, ind: &Indicator) -> reqwest::RequestBuilder {
        let key = self.key.clone().unwrap_or_default();
        let v = &ind.value;
        match self.api {
            Api::AbuseIpDb => http
                .get(format!("{}/api/v2/check", self.base))
                .query(&[("ipAddress", v.as_str()), ("maxAgeInDays", "90")])
                .header("Key", key)
                .header("Accept", "application/json"),
            Api::VirusTotal => {
                let path = match ind.kind {
                    Kind::Ip => format!("ip_addresses/{v}"),
                    Kind::Domain => format!("domains/{v}"),
                    // A URL's id is its unpadded URL-safe base64.
                    Kind::Url => format!(
                        "urls/{}",
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
                    ),
                    _ => format!("files/{v}"),
                };
                http.get(format!("{}/api/v3/{path}", self.base))
                    .header("x-apikey", key)
            }
            Api::GreyNoise => {
                let r = http.get(format!("{}/v3/community/{v}", self.base));
                if self.key.is_some() {
                    r.header("key", key)
                } else {
                    r
                }
            }
            Api::Shodan => http.get(format!("{}/{v}", self.base)),
            Api::ThreatFox => http
                .post(format!("{}/api/v1/", self.base))
                .header("Auth-Key", key)
                .json(&serde_json::json!({"query": "search_ioc", "search_term": v})),
            Api::UrlHaus => {
                let (path, field) = if ind.kind == Kind::Url {
                    ("url", "url")
                } else {
                    ("host", "host")
                };
                http.post(format!("{}/v1/{path}/", self.base))
                    .header("Auth-Key", key)
                    .form(&[(field, v.as_str())])
            }
            Api::MalwareBazaar => http
                .post(format!("{}/api/v1/", self.base))
                .header("Auth-Key", key)
                .form(&[("query", "get_info"), ("hash", v.as_str())]),
            Api::Otx => {
                let section = match ind.kind {
                    Kind::Ip if v.contains(':') => "IPv6",
                    Kind::Ip => "IPv4",
                    Kind::Domain => "domain",
                    Kind::Url => "url",
                    _ => "file",
                };
                // The indicator is one path segment, percent-encoded (a URL has slashes).
                let url = reqwest::Url::parse(&self.base).map(|mut u| {
                    if let Ok(mut seg) = u.path_segments_mut() {
                        seg.pop_if_empty().extend([
                            "api",
                            "v1",
                            "indicators",
                            section,
                            v.as_str(),
                            "general",
                        ]);
                    }
                    u
                });
                match url {
                    Ok(u) => http.get(u).header("X-OTX-API-KEY", key),
                    Err(_) => http.get(format!(
                        "{}/api/v1/indicators/{section}/{v}/general",
                        self.base
                    )),
                }
            }
            // Search only: a scan is never submitted (public scans leak what is looked at).
            Api::UrlScan => {
                let q = match ind.kind {
                    Kind::Ip => format!("ip:\"{v}\""),
                    Kind::Domain => format!("domain:\"{v}\""),
                    _ => format!("page.url:\"{v}\""),
                };
                http.get(format!("{}/api/v1/search/", self.base))
                    .query(&[("q", q.as_str()), ("size", "20")])
                    .header("API-Key", key)
            }
        }
    }

    /// Reads a provider's answer into an outcome.
    pub fn interpret(&self, status: u16, body: &Value) -> Outcome {
        let n = |v: &Value| v.as_f64().unwrap_or(0.0);
        match (self.api, status) {
            (_, 401 | 403) => Outcome::Failed(format!(
                "{} refused the key (HTTP {status}): check it",
                self.api.name()
            )),
            (Api::Shodan | Api::VirusTotal | Api::Otx, 404) => Outcome::NotFound,
            (Api::GreyNoise, 404) => Outcome::NotFound,
            (_, s) if !(200..300).contains(&s) => Outcome::Failed(format!(
                "HTTP {s}{}",
                error_message(body)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )),
            (Api::AbuseIpDb, _) => {
                let d = &body["data"];
                if d.is_null() {
                    return malformed("no `data`");
                }
                let score = n(&d["abuseConfidenceScore"]);
                let reports = n(&d["totalReports"]);
                let verdict = if d["isWhitelisted"].as_bool() == Some(true) {
                    Some(Verdict::Benign)
                } else if score >= 75.0 {
                    Some(Verdict::Malicious)
                } else if score >= 25.0 {
                    Some(Verdict::Suspicious)
                } else {
                    None
                };
                Outcome::Found {
                    verdict,
                    summary: format!(
                        "abuse confidence {score:.0} % from {reports:.0} reports{}",
                        d["usageType"]
                            .as_str()
                            .map(|u| format!(" ({u})"))
                            .unwrap_or_default()
                    ),
                }
            }
            (Api::VirusTotal, _) => {
                let s = &body["data"]["attributes"]["last_analysis_stats"];
                if s.is_null() {
                    return malformed("no `last_analysis_stats`");
                }
                let (m, su, h) = (n(&s["malicious"]), n(&s["suspicious"]), n(&s["harmless"]));
                let total = m + su + h + n(&s["undetected"]);
                let verdict = if m >= 3.0 {
                    Some(Verdict::Malicious)
                } else if m >= 1.0 || su >= 2.0 {
                    Some(Verdict::Suspicious)
                } else {
                    None
                };
                Outcome::Found {
                    verdict,
                    summary: format!(
                        "{m:.0}/{total:.0} engines flag it malicious, {su:.0} suspicious"
                    ),
                }
            }
            (Api::GreyNoise, _) => {
                let class = body["classification"].as_str().unwrap_or("unknown");
                let riot = body["riot"].as_bool() == Some(true);
                let noise = body["noise"].as_bool() == Some(true);
                let verdict = match class {
                    "malicious" => Some(Verdict::Malicious),
                    "benign" => Some(Verdict::Benign),
                    _ if riot => Some(Verdict::Benign),
                    _ => None,
                };
                Outcome::Found {
                    verdict,
                    summary: format!(
                        "{}{}{}",
                        if noise {
                            "scans the internet"
                        } else {
                            "not seen scanning"
                        },
                        if riot {
                            ", a known business service"
                        } else {
                            ""
                        },
                        body["name"]
                            .as_str()
                            .filter(|s| !s.is_empty() && *s != "unknown")
                            .map(|s| format!(" ({s}, {class})"))
                            .unwrap_or_else(|| format!(" ({class})"))
                    ),
                }
            }
            (Api::Shodan, _) => {
                let list = |k: &str| -> Vec<String> {
                    body[k]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .take(8)
                                .map(|x| x.to_string().trim_matches('"').to_string())
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let (ports, vulns, tags) = (list("ports"), list("vulns"), list("tags"));
                let verdict = tags
                    .iter()
                    .any(|t| matches!(t.as_str(), "malware" | "c2" | "compromised"))
                    .then_some(Verdict::Suspicious);
                Outcome::Found {
                    verdict,
                    summary: format!(
                        "open ports {}; CVEs {}; tags {}",
                        or_none(&ports),
                        or_none(&vulns),
                        or_none(&tags)
                    ),
                }
            }
            // A host answer lists its URLs; a URL answer describes the one URL.
            (Api::UrlHaus, _) => abusech(body, &["no_results"], |b| match b["urls"].as_array() {
                Some(urls) => format!("host with {} malware URL(s) on record", urls.len()),
                None => format!(
                    "{} URL, {}",
                    b["url_status"].as_str().unwrap_or("listed"),
                    b["threat"].as_str().unwrap_or("malware")
                ),
            }),
            (Api::MalwareBazaar, _) => abusech(body, &["hash_not_found", "no_results"], |b| {
                let d = &b["data"][0];
                format!(
                    "malware sample: {} ({}), first seen {}",
                    d["signature"].as_str().unwrap_or("unnamed family"),
                    d["file_type"].as_str().unwrap_or("file"),
                    d["first_seen"].as_str().unwrap_or("?")
                )
            }),
            (Api::Otx, _) => {
                let p = &body["pulse_info"];
                if p.is_null() {
                    return malformed("no `pulse_info`");
                }
                let count = n(&p["count"]);
                let names: Vec<&str> = p["pulses"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x["name"].as_str())
                            .take(2)
                            .collect()
                    })
                    .unwrap_or_default();
                let verdict = if count >= 5.0 {
                    Some(Verdict::Malicious)
                } else if count >= 1.0 {
                    Some(Verdict::Suspicious)
                } else {
                    None
                };
                Outcome::Found {
                    verdict,
                    summary: format!(
                        "in {count:.0} OTX pulse(s){}",
                        if names.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", names.join("; "))
                        }
                    ),
                }
            }
            (Api::UrlScan, _) => {
                let Some(results) = body["results"].as_array() else {
                    return malformed("no `results`");
                };
                if results.is_empty() {
                    return Outcome::NotFound;
                }
                let flagged = results
                    .iter()
                    .filter(|r| {
                        r["verdicts"]["overall"]["malicious"].as_bool() == Some(true)
                            || r["verdicts"]["malicious"].as_bool() == Some(true)
                    })
                    .count();
                Outcome::Found {
                    verdict: (flagged > 0).then_some(Verdict::Malicious),
                    summary: format!(
                        "{} public scan(s), {flagged} flagged malicious",
                        n(&body["total"]).max(results.len() as f64)
                    ),
                }
            }
            (Api::ThreatFox, _) => abusech(body, &["no_result"], |b| {
                let first = &b["data"][0];
                format!(
                    "{} ({}, confidence {} %)",
                    first["malware_printable"].as_str().unwrap_or("listed"),
                    first["threat_type"].as_str().unwrap_or("ioc"),
                    first["confidence_level"].as_f64().unwrap_or(0.0)
                )
            }),
        }
    }
}

/// abuse.ch APIs (ThreatFox, URLhaus, MalwareBazaar) answer 200 with a `query_status`: `ok`
/// (listed: malicious), one of `not_found` (no record), or anything else (a failure).
fn abusech(body: &Value, not_found: &[&str], summary: impl Fn(&Value) -> String) -> Outcome {
    match body["query_status"].as_str() {
        Some("ok") => Outcome::Found {
            verdict: Some(Verdict::Malicious),
            summary: summary(body),
        },
        Some(s) if not_found.contains(&s) => Outcome::NotFound,
        Some(other) => Outcome::Failed(format!("query_status {other}")),
        None => malformed("no `query_status`"),
    }
}

fn or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn malformed(what: &str) -> Outcome {
    Outcome::Failed(format!("malformed answer: {what}"))
}

/// The message of a provider's error body, whichever shape it uses.
fn error_message(body: &Value) -> Option<String> {
    body["errors"][0]["detail"]
        .as_str()
        .or_else(|| body["error"]["message"].as_str())
        .or_else(|| body["message"].as_str())
        .or_else(|| body["detail"].as_str())
        .map(|m| m.chars().take(200).collect())
}

fn retry_after(r: &reqwest::Response) -> Option<Duration> {
    r.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The configured providers, an HTTP client and the store for the cache.
pub struct Investigator {
    pub providers: Vec<Arc<Remote>>,
    http: reqwest::Client,
    timeout: Duration,
    max_wait: Duration,
    stores: Arc<StorePool>,
    /// Pseudonymised entities are never looked up: they would leave the machine.
    privacy: Option<Arc<crate::privacy::Privacy>>,
}

/// Remote answers kept at most (bytes of raw body per lookup).
const RAW_LIMIT: usize = 16 * 1024;

impl Investigator {
    /// The providers with a key (or keyless and enabled); `None` when there is none.
    pub fn from_config(c: &IntelConfig, stores: Arc<StorePool>) -> Option<Investigator> {
        let apis = [
            (Api::AbuseIpDb, &c.abuseipdb),
            (Api::VirusTotal, &c.virustotal),
            (Api::GreyNoise, &c.greynoise),
            (Api::Shodan, &c.shodan),
            (Api::ThreatFox, &c.threatfox),
            (Api::UrlHaus, &c.urlhaus),
            (Api::MalwareBazaar, &c.malwarebazaar),
            (Api::Otx, &c.otx),
            (Api::UrlScan, &c.urlscan),
        ];
        let providers: Vec<Arc<Remote>> = apis
            .into_iter()
            .filter(|(api, p)| {
                let keyed = p.key.as_ref().is_some_and(|k| !k.0.trim().is_empty());
                match p.enabled {
                    Some(false) => false,
                    Some(true) => keyed || api.keyless(),
                    None => keyed,
                }
            })
            .map(|(api, p)| Arc::new(Remote::new(api, p)))
            .collect();
        if providers.is_empty() {
            return None;
        }
        Some(Investigator {
            providers,
            http: reqwest::Client::builder()
                .user_agent(concat!("soc-copilot/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            timeout: Duration::from_secs(c.timeout_secs.max(1)),
            max_wait: Duration::from_secs(c.max_wait_secs),
            stores,
            privacy: None,
        })
    }

    /// The providers `config` sets up, never sent a pseudonymised entity. When the
    /// pseudonym map cannot be read, remote intel stays off rather than risk a leak.
    pub fn for_config(
        config: &crate::config::Config,
        stores: Arc<StorePool>,
    ) -> Option<Investigator> {
        let privacy = match crate::privacy::Privacy::from_config(config) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("remote intel is off: pseudonymisation cannot start: {e}");
                return None;
            }
        };
        Investigator::from_config(&config.intel, stores).map(|i| i.with_privacy(privacy))
    }

    /// Never looks up a value `privacy` pseudonymises (an internal host's name, an
    /// employee's address): only public indicators leave, and only the indicator itself.
    pub fn with_privacy(mut self, privacy: Option<Arc<crate::privacy::Privacy>>) -> Investigator {
        self.privacy = privacy;
        self
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.api.name()).collect()
    }

    /// Every indicator at every provider that answers for its kind, all at once.
    pub async fn investigate(&self, indicators: &[Indicator]) -> Vec<Lookup> {
        let jobs = indicators.iter().filter(|ind| {
            let private = self.privacy.as_ref().is_some_and(|p| p.is_private(&ind.value));
            if private {
                tracing::info!(kind = ?ind.kind, "not looked up remotely: a pseudonymised entity");
            }
            !private
        }).flat_map(|ind| {
            self.providers
                .iter()
                .filter(|p| p.api.answers(ind.kind))
                .map(move |p| self.lookup(p.clone(), ind.clone()))
        });
        futures_util::future::join_all(jobs).await
    }

    async fn lookup(&self, p: Arc<Remote>, ind: Indicator) -> Lookup {
        let started = Instant::now();
        let name = p.api.name();
        // The cache first: a fresh answer (positive or negative) costs no request.
        let (stores, i2, ttl) = (self.stores.clone(), ind.clone(), p.ttl.as_secs_f64());
        let cached = tokio::task::spawn_blocking(move || {
            stores
                .get()
                .ok()
                .and_then(|s| s.intel_cached(name, &i2, ttl).ok().flatten())
        })
        .await
        .ok()
        .flatten();
        if let Some((outcome, raw, age)) = cached
            && let Ok(outcome) = serde_json::from_str::<Outcome>(&outcome)
        {
            return Lookup {
                provider: name,
                indicator: ind,
                outcome,
                cached_secs: Some(age.max(0.0) as u64),
                latency_ms: started.elapsed().as_millis() as u64,
                raw: shown(raw),
            };
        }
        let (outcome, raw) = self.fetch(&p, &ind).await;
        // Only answers are cached; a failure or an exhausted budget is asked again later.
        if matches!(outcome, Outcome::Found { .. } | Outcome::NotFound)
            && let Ok(text) = serde_json::to_string(&outcome)
        {
            let (stores, i2, raw) = (self.stores.clone(), ind.clone(), raw.clone());
            let _ = tokio::task::spawn_blocking(move || {
                if let Ok(s) = stores.get()
                    && let Err(e) = s.intel_cache_put(name, &i2, &text, raw.as_deref())
                {
                    tracing::warn!(provider = name, "could not cache an intel answer: {e}");
                }
            })
            .await;
        }
        Lookup {
            provider: name,
            indicator: ind,
            outcome,
            cached_secs: None,
            latency_ms: started.elapsed().as_millis() as u64,
            raw: shown(raw),
        }
    }

    async fn fetch(&self, p: &Remote, ind: &Indicator) -> (Outcome, Option<String>) {
        for attempt in 0..2 {
            if let Err(why) = p.budget.take(self.max_wait).await {
                return (Outcome::BudgetExhausted(why), None);
            }
            let sent = tokio::time::timeout(self.timeout, p.request(&self.http, ind).send()).await;
            let resp = match sent {
                Err(_) => {
                    return (
                        Outcome::Failed(format!("no answer within {} s", self.timeout.as_secs())),
                        None,
                    );
                }
                // The error text never holds headers, so the key cannot leak through it.
                Ok(Err(e)) => {
                    return (
                        Outcome::Failed(format!(
                            "could not reach {}: {}",
                            p.api.name(),
                            e.without_url()
                        )),
                        None,
                    );
                }
                Ok(Ok(r)) => r,
            };
            let status = resp.status().as_u16();
            if status == 429 {
                let wait = retry_after(&resp).unwrap_or(Duration::from_secs(60));
                if attempt == 0 && wait <= self.max_wait {
                    tracing::info!(provider = p.api.name(), ?wait, "rate limited; waiting");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return (
                    Outcome::BudgetExhausted(format!(
                        "{} answered 429 (rate limit); retry after {:.0} s",
                        p.api.name(),
                        wait.as_secs_f64()
                    )),
                    None,
                );
            }
            let body = match tokio::time::timeout(self.timeout, resp.bytes()).await {
                Ok(Ok(b)) => b,
                _ => return (Outcome::Failed("the answer was cut off".into()), None),
            };
            let raw: String = String::from_utf8_lossy(&body[..body.len().min(RAW_LIMIT)]).into();
            let value: Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(_) if status == 404 => Value::Null,
                Err(e) => {
                    return (
                        Outcome::Failed(format!("malformed answer (HTTP {status}): {e}")),
                        Some(raw),
                    );
                }
            };
            return (p.interpret(status, &value), Some(raw));
        }
        (Outcome::Failed("rate limited".into()), None)
    }
}
