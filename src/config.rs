//! Configuration: embedded defaults < the user's TOML file < `SOC_COPILOT_*` environment
//! variables < command-line flags. Works with no file at all.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::search::SearchParams;
use crate::search::document::ChunkPlan;
use crate::search::fuse::{FusionMethod, FusionParams};

const DEFAULTS: &str = include_str!("../assets/default-config.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "no data directory: set SOC_COPILOT_DATA_DIR or pass --data-dir (the platform has no home directory)"
    )]
    NoDataDir,
    #[error("{key} (from {origin}) {message}")]
    Value {
        key: String,
        origin: String,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    pub data_dir: Option<PathBuf>,
    pub attack_bundle: Option<String>,
    pub model_dir: Option<PathBuf>,
    pub ort_dylib: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackConfig {
    pub url: String,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalConfig {
    pub top_k: usize,
    pub depth: usize,
    pub fusion: FusionMethod,
    pub rrf_k: f32,
    pub dense_weight: f32,
    pub platform_penalty: f32,
    pub passage_weight: f32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingConfig {
    pub threads: usize,
    pub batch: usize,
    pub detections_per_technique: usize,
    pub procedures_per_technique: usize,
}

/// A secret read from config: never printed by `Debug`.
#[derive(Clone, Deserialize, Default, PartialEq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub model: String,
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// OpenAI-compatible servers only: ask for output constrained to the verdict's JSON
    /// schema (`response_format`), which llama.cpp server, vLLM and Ollama accept.
    #[serde(default)]
    pub json_schema: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    pub engine: String,
    pub max_tokens: u32,
    pub temperature: f32,
    pub idle_timeout_secs: u64,
    pub max_retries: u32,
    pub anthropic: ProviderConfig,
    pub openai: ProviderConfig,
    pub prices: std::collections::BTreeMap<String, Price>,
    /// Tiered models: the configured model answers first; this stronger one answers again
    /// when confidence is below `escalate_below` or the verdict is HIGH or above.
    #[serde(default)]
    pub escalate_model: Option<String>,
    #[serde(default = "escalate_below")]
    pub escalate_below: f64,
}

fn escalate_below() -> f64 {
    0.7
}

/// `[triage]`: how the investigation runs and what one alert, and one day, may spend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageConfig {
    /// `pipeline` or `agentic`.
    pub mode: String,
    pub max_tool_calls: u32,
    pub max_turns: u32,
    pub max_tokens: u64,
    pub max_cost_usd: f64,
    /// USD per UTC day across model triages; 0 = no cap.
    pub daily_cost_usd: f64,
}

impl Config {
    /// The analyst recorded with feedback and notes: `[analyst] name`, else `$USER`.
    /// Who is at this console or CLI: recorded with claims and judgements, and shown (to
    /// colleagues too), so it is cleaned of control and escape sequences like alert text.
    pub fn analyst_name(&self) -> String {
        let clean = |n: String| {
            Some(crate::alert::sanitize::sanitize(n.trim())).filter(|n| !n.trim().is_empty())
        };
        self.analyst
            .name
            .clone()
            .and_then(clean)
            .or_else(|| std::env::var("USER").ok().and_then(clean))
            .unwrap_or_else(|| "analyst".into())
    }
}

impl LlmConfig {
    /// The price of `model`: the longest configured prefix that matches it.
    pub fn price(&self, model: &str) -> Price {
        self.prices
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(
                Price {
                    input: 0.0,
                    output: 0.0,
                },
                |(_, p)| *p,
            )
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A PostgreSQL URL for the team store; none: SQLite in the data directory.
    pub url: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AnalystConfig {
    /// Recorded with feedback; default `$USER`.
    pub name: Option<String>,
}

/// One key or several, as written in `[tui.keys]`: `"j"` or `["j", "Down"]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    pub fn keys(&self) -> Vec<&str> {
        match self {
            KeyList::One(k) => vec![k.as_str()],
            KeyList::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuiConfig {
    /// Triages run at once by `a` (triage all new).
    pub concurrency: usize,
    /// Where `e` writes investigation exports; default `<data_dir>/exports`.
    pub export_dir: Option<PathBuf>,
    /// Alerts pushed in through `tui --listen` at or above this severity are triaged at
    /// once (`off`, `informational`, `low`, `medium`, `high`, `critical`).
    pub auto_triage: String,
    /// Key overrides: command name → key(s). The help overlay (`?`) lists the names.
    #[serde(default)]
    pub keys: std::collections::BTreeMap<String, KeyList>,
}

/// One remote threat-intel provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelProviderConfig {
    pub base_url: String,
    pub key: Option<Secret>,
    /// Keyless use (GreyNoise community, Shodan InternetDB) is opt-in; a keyed provider is
    /// used when its key is set unless this is `false`.
    pub enabled: Option<bool>,
    pub per_minute: u32,
    pub per_day: u32,
    pub ttl_hours: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelConfig {
    pub timeout_secs: u64,
    pub max_wait_secs: u64,
    pub abuseipdb: IntelProviderConfig,
    pub virustotal: IntelProviderConfig,
    pub greynoise: IntelProviderConfig,
    pub shodan: IntelProviderConfig,
    pub threatfox: IntelProviderConfig,
    pub urlhaus: IntelProviderConfig,
    pub malwarebazaar: IntelProviderConfig,
    pub otx: IntelProviderConfig,
    pub urlscan: IntelProviderConfig,
}

impl IntelConfig {
    /// Each provider with its name, for iteration and messages.
    pub fn providers(&self) -> [(&'static str, &IntelProviderConfig); 9] {
        [
            ("abuseipdb", &self.abuseipdb),
            ("virustotal", &self.virustotal),
            ("greynoise", &self.greynoise),
            ("shodan", &self.shodan),
            ("threatfox", &self.threatfox),
            ("urlhaus", &self.urlhaus),
            ("malwarebazaar", &self.malwarebazaar),
            ("otx", &self.otx),
            ("urlscan", &self.urlscan),
        ]
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    /// Triages that run at once.
    pub concurrency: usize,
    /// Triages that may wait for a slot before the API answers 429.
    pub queue_depth: usize,
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    /// Connections open at once (idle and half-open ones included).
    #[serde(default = "max_connections")]
    pub max_connections: usize,
    /// Bearer token every route but /health requires. Env: SOC_COPILOT_API_TOKEN.
    pub token: Option<Secret>,
    /// Alerts pushed to `POST /alerts` under `serve` at or above this severity are triaged
    /// by the intake workers: `all`, `off`, or a severity.
    #[serde(default = "all")]
    pub auto_triage: String,
}

fn max_connections() -> usize {
    512
}

fn all() -> String {
    "all".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsConfig {
    pub window_minutes: u64,
    pub chain_window_hours: u64,
    #[serde(default)]
    pub ignore: Vec<String>,
}

impl IncidentsConfig {
    pub fn settings(&self) -> crate::incident::correlate::Settings {
        crate::incident::correlate::Settings {
            window_secs: self.window_minutes as i64 * 60,
            chain_window_secs: self.chain_window_hours as i64 * 3600,
            ignore: std::sync::Arc::new(
                self.ignore
                    .iter()
                    .map(|e| e.trim().to_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect(),
            ),
        }
    }
}

/// One case system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffTarget {
    pub base_url: String,
    pub key: Option<Secret>,
    /// DFIR-IRIS only.
    pub customer_id: Option<i64>,
}

impl HandoffTarget {
    pub fn configured(&self) -> bool {
        !self.base_url.trim().is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffConfig {
    pub timeout_secs: u64,
    pub dir: PathBuf,
    pub thehive: HandoffTarget,
    pub iris: HandoffTarget,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    pub pseudonymise: Vec<String>,
    pub custom: Vec<String>,
    pub leak_check: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutocloseConfig {
    pub enabled: bool,
    pub min_confidence: f64,
    pub min_precedents: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub paths: Paths,
    #[serde(default)]
    pub store: StoreConfig,
    pub attack: AttackConfig,
    pub retrieval: RetrievalConfig,
    pub embedding: EmbeddingConfig,
    pub analyst: AnalystConfig,
    pub llm: LlmConfig,
    pub tui: TuiConfig,
    pub server: ServerConfig,
    pub intel: IntelConfig,
    pub triage: TriageConfig,
    pub incidents: IncidentsConfig,
    pub handoff: HandoffConfig,
    pub privacy: PrivacyConfig,
    pub autoclose: AutocloseConfig,
    /// The user file that was merged in, if any.
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// Environment variables the program reads (besides `ORT_DYLIB_PATH`, read by discovery).
pub mod env {
    pub const CONFIG: &str = "SOC_COPILOT_CONFIG";
    pub const DATA_DIR: &str = "SOC_COPILOT_DATA_DIR";
    pub const DATABASE_URL: &str = "SOC_COPILOT_DATABASE_URL";
    pub const ATTACK_BUNDLE: &str = "SOC_COPILOT_ATTACK_BUNDLE";
    pub const ATTACK_VERSION: &str = "SOC_COPILOT_ATTACK_VERSION";
    pub const MODEL_DIR: &str = "SOC_COPILOT_MODEL_DIR";
    pub const ORT_DYLIB: &str = "ORT_DYLIB_PATH";
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// The embedded defaults alone.
    pub fn defaults() -> Config {
        // The embedded file is part of the binary and covered by tests.
        #[allow(clippy::expect_used)]
        toml::from_str(DEFAULTS).expect("embedded default config is valid")
    }

    /// Defaults merged with the user's file (`explicit`, else `SOC_COPILOT_CONFIG`, else the
    /// platform config dir if the file exists), then environment overrides.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let mut merged: toml::Value =
            toml::from_str(DEFAULTS).map_err(|e| ConfigError::Invalid {
                path: PathBuf::from("<embedded defaults>"),
                message: e.to_string(),
            })?;
        let file = explicit
            .map(Path::to_path_buf)
            .or_else(|| env_var(env::CONFIG).map(PathBuf::from))
            .or_else(|| default_config_file().filter(|p| p.is_file()));
        if let Some(path) = &file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: path.clone(),
                source,
            })?;
            let user: toml::Value = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })?;
            merge(&mut merged, user);
        }
        let mut config: Config =
            merged
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Invalid {
                    path: file
                        .clone()
                        .unwrap_or_else(|| PathBuf::from("<embedded defaults>")),
                    message: e.to_string(),
                })?;
        config.file = file;
        if let Some(v) = env_var(env::DATA_DIR) {
            config.paths.data_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = env_var(env::DATABASE_URL) {
            config.store.url = Some(Secret(v));
        }
        if let Some(v) = env_var(env::ATTACK_VERSION) {
            config.attack.version = Some(v);
        }
        if let Some(v) = env_var("ANTHROPIC_API_KEY") {
            config.llm.anthropic.api_key = Some(Secret(v));
        }
        if let Some(v) = env_var("ANTHROPIC_BASE_URL") {
            config.llm.anthropic.base_url = v;
        }
        if let Some(v) = env_var("OPENAI_API_KEY") {
            config.llm.openai.api_key = Some(Secret(v));
        }
        if let Some(v) = env_var("OPENAI_BASE_URL") {
            config.llm.openai.base_url = v;
        }
        // Set but blank is a mistake, not "auth off": it is caught by `validate`.
        if let Ok(v) = std::env::var("SOC_COPILOT_API_TOKEN") {
            config.server.token = Some(Secret(v));
        }
        if let Some(v) = env_var("SOC_COPILOT_ENGINE") {
            config.llm.engine = v;
        }
        let intel = &mut config.intel;
        for (p, key_var) in [
            (&mut intel.abuseipdb, "ABUSEIPDB_API_KEY"),
            (&mut intel.virustotal, "VT_API_KEY"),
            (&mut intel.greynoise, "GREYNOISE_API_KEY"),
            (&mut intel.threatfox, "ABUSECH_AUTH_KEY"),
            (&mut intel.urlhaus, "ABUSECH_AUTH_KEY"),
            (&mut intel.malwarebazaar, "ABUSECH_AUTH_KEY"),
            (&mut intel.otx, "OTX_API_KEY"),
            (&mut intel.urlscan, "URLSCAN_API_KEY"),
        ] {
            if let Some(v) = env_var(key_var) {
                p.key = Some(Secret(v));
            }
        }
        for (p, name) in [
            (&mut intel.abuseipdb, "ABUSEIPDB"),
            (&mut intel.virustotal, "VIRUSTOTAL"),
            (&mut intel.greynoise, "GREYNOISE"),
            (&mut intel.shodan, "SHODAN"),
            (&mut intel.threatfox, "THREATFOX"),
            (&mut intel.urlhaus, "URLHAUS"),
            (&mut intel.malwarebazaar, "MALWAREBAZAAR"),
            (&mut intel.otx, "OTX"),
            (&mut intel.urlscan, "URLSCAN"),
        ] {
            if let Some(v) = env_var(&format!("SOC_COPILOT_INTEL_{name}_URL")) {
                p.base_url = v;
            }
        }
        for (t, name) in [
            (&mut config.handoff.thehive, "THEHIVE"),
            (&mut config.handoff.iris, "IRIS"),
        ] {
            if let Some(v) = env_var(&format!("SOC_COPILOT_HANDOFF_{name}_URL")) {
                t.base_url = v;
            }
            if let Some(v) = env_var(&format!("SOC_COPILOT_HANDOFF_{name}_KEY")) {
                t.key = Some(Secret(v));
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks values a type cannot: ranges that would panic or exhaust the machine, and a
    /// blank API token. The error names the key, where it came from, and the allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let source = self
            .file
            .as_ref()
            .map_or_else(|| "the defaults".to_string(), |p| p.display().to_string());
        let bad = |key: &str, message: String| ConfigError::Value {
            key: key.into(),
            origin: source.clone(),
            message,
        };
        let range = |key: &str, v: usize, lo: usize, hi: usize| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(bad(key, format!("= {v}: must be {lo}–{hi}")))
            }
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        range("[retrieval] top_k", self.retrieval.top_k, 1, 200)?;
        if crate::triage::engine::TriageMode::parse(&self.triage.mode).is_none() {
            return Err(bad(
                "[triage] mode",
                format!(
                    "= {:?}: must be \"pipeline\" or \"agentic\"",
                    self.triage.mode
                ),
            ));
        }
        range(
            "[triage] max_tool_calls",
            self.triage.max_tool_calls as usize,
            1,
            200,
        )?;
        range("[triage] max_turns", self.triage.max_turns as usize, 1, 50)?;
        for (key, v) in [
            ("[triage] max_cost_usd", self.triage.max_cost_usd),
            ("[triage] daily_cost_usd", self.triage.daily_cost_usd),
            ("[llm] escalate_below", self.llm.escalate_below),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad(key, format!("= {v}: must be a number ≥ 0")));
            }
        }
        range("[retrieval] depth", self.retrieval.depth, 1, 5000)?;
        range(
            "[incidents] window_minutes",
            self.incidents.window_minutes as usize,
            1,
            10080,
        )?;
        range(
            "[incidents] chain_window_hours",
            self.incidents.chain_window_hours as usize,
            1,
            720,
        )?;
        for e in &self.incidents.ignore {
            let e = e.trim();
            let cidr_ok = match e.split_once('/') {
                None => true,
                Some((net, bits)) => {
                    net.parse::<std::net::Ipv4Addr>().is_ok()
                        && bits.parse::<u32>().is_ok_and(|b| b <= 32)
                }
            };
            if e.is_empty() || e.contains(char::is_whitespace) || !cidr_ok {
                return Err(bad(
                    "[incidents] ignore",
                    format!(
                        "names {e:?}: give an address (198.51.100.30), an IPv4 network (198.51.100.0/24) or a domain (proxy.example.com)"
                    ),
                ));
            }
        }
        range(
            "[handoff] timeout_secs",
            self.handoff.timeout_secs as usize,
            1,
            600,
        )?;
        for kind in &self.privacy.pseudonymise {
            if crate::privacy::pseudo::Kind::parse(kind).is_none() {
                return Err(bad(
                    "[privacy] pseudonymise",
                    format!(
                        "names {kind:?}: the kinds are \"users\", \"hosts\", \"internal_ips\", \"emails\""
                    ),
                ));
            }
        }
        for (i, re) in self.privacy.custom.iter().enumerate() {
            if let Err(e) = regex::Regex::new(re) {
                return Err(bad(
                    "[privacy] custom",
                    format!(
                        "pattern {} ({re:?}) is not a valid regular expression: {e}",
                        i + 1
                    ),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.autoclose.min_confidence) {
            return Err(bad(
                "[autoclose] min_confidence",
                format!("= {}: must be 0–1", self.autoclose.min_confidence),
            ));
        }
        range(
            "[autoclose] min_precedents",
            self.autoclose.min_precedents,
            1,
            100,
        )?;
        range("[embedding] threads", self.embedding.threads, 0, cores * 4)?;
        range("[embedding] batch", self.embedding.batch, 1, 1024)?;
        range("[server] concurrency", self.server.concurrency, 1, 1024)?;
        range(
            "[intel] timeout_secs",
            self.intel.timeout_secs as usize,
            1,
            600,
        )?;
        range(
            "[intel] max_wait_secs",
            self.intel.max_wait_secs as usize,
            0,
            3600,
        )?;
        for (name, p) in self.intel.providers() {
            range(
                &format!("[intel.{name}] per_minute"),
                p.per_minute as usize,
                1,
                100_000,
            )?;
            range(
                &format!("[intel.{name}] per_day"),
                p.per_day as usize,
                1,
                10_000_000,
            )?;
            if !(p.ttl_hours.is_finite() && p.ttl_hours >= 0.0) {
                return Err(bad(
                    &format!("[intel.{name}] ttl_hours"),
                    format!("= {}: must be a number of hours ≥ 0", p.ttl_hours),
                ));
            }
            if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
                return Err(bad(
                    &format!("[intel.{name}] base_url"),
                    format!("= {:?}: must start with http:// or https://", p.base_url),
                ));
            }
        }
        range(
            "[server] queue_depth",
            self.server.queue_depth,
            0,
            1_000_000,
        )?;
        range(
            "[server] max_connections",
            self.server.max_connections,
            1,
            100_000,
        )?;
        range(
            "[server] body_limit_bytes",
            self.server.body_limit_bytes,
            1024,
            256 << 20,
        )?;
        if !(1..=3600).contains(&self.server.request_timeout_secs) {
            return Err(bad(
                "[server] request_timeout_secs",
                format!("= {}: must be 1–3600", self.server.request_timeout_secs),
            ));
        }
        let finite = [
            ("[retrieval] rrf_k", self.retrieval.rrf_k),
            ("[retrieval] dense_weight", self.retrieval.dense_weight),
            (
                "[retrieval] platform_penalty",
                self.retrieval.platform_penalty,
            ),
            ("[retrieval] passage_weight", self.retrieval.passage_weight),
        ];
        for (key, v) in finite {
            if !v.is_finite() || v < 0.0 {
                return Err(bad(key, format!("= {v}: must be a number ≥ 0")));
            }
        }
        if let Some(t) = &self.server.token
            && t.0.trim().is_empty()
        {
            return Err(ConfigError::Value {
                key: "[server] token / SOC_COPILOT_API_TOKEN".into(),
                origin: if std::env::var_os("SOC_COPILOT_API_TOKEN").is_some() {
                    "the environment".into()
                } else {
                    source.clone()
                },
                message: "is set but blank: a blank token does not turn auth off; set a real token or unset it".into(),
            });
        }
        Ok(())
    }

    /// The data directory: `--data-dir`/env/config, else the platform's.
    pub fn data_dir(&self) -> Result<PathBuf, ConfigError> {
        if let Some(d) = &self.paths.data_dir {
            return Ok(d.clone());
        }
        directories::ProjectDirs::from("", "", "soc-copilot")
            .map(|p| p.data_dir().to_path_buf())
            .ok_or(ConfigError::NoDataDir)
    }

    /// Retrieval, mode and budgets for triage runs, from `[retrieval]` and `[triage]`.
    pub fn triage_params(&self) -> crate::triage::TriageParams {
        let t = &self.triage;
        crate::triage::TriageParams {
            search: self.search_params(),
            mode: crate::triage::engine::TriageMode::parse(&t.mode).unwrap_or_default(),
            budget: crate::triage::engine::Budget {
                max_tool_calls: t.max_tool_calls,
                max_turns: t.max_turns,
                max_tokens: t.max_tokens,
                max_cost_usd: t.max_cost_usd,
                daily_cost_usd: t.daily_cost_usd,
            },
            autoclose: self
                .autoclose
                .enabled
                .then_some(crate::triage::autoclose::Policy {
                    min_confidence: self.autoclose.min_confidence,
                    min_precedents: self.autoclose.min_precedents,
                }),
            ..Default::default()
        }
    }

    pub fn search_params(&self) -> SearchParams {
        let r = &self.retrieval;
        SearchParams {
            fusion: FusionParams {
                method: r.fusion,
                rrf_k: r.rrf_k,
                dense_weight: r.dense_weight,
            },
            depth: r.depth.max(r.top_k),
            platform_penalty: r.platform_penalty,
            passage_weight: r.passage_weight,
        }
    }

    pub fn chunk_plan(&self) -> ChunkPlan {
        ChunkPlan {
            detections: self.embedding.detections_per_technique,
            procedures: self.embedding.procedures_per_technique,
        }
    }

    pub fn embedding_threads(&self) -> usize {
        match self.embedding.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }
}

pub fn default_config_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "soc-copilot")
        .map(|p| p.config_dir().join("config.toml"))
}

/// Deep-merges `over` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let c = Config::defaults();
        assert_eq!(c.retrieval.top_k, 10);
        assert!(c.attack.url.starts_with("https://"));
    }

    #[test]
    fn user_file_overrides_only_what_it_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[retrieval]\ntop_k = 3\n").expect("write");
        let c = Config::load(Some(&path)).expect("load");
        assert_eq!(c.retrieval.top_k, 3);
        assert_eq!(c.retrieval.depth, 100);
        assert_eq!(c.file.as_deref(), Some(path.as_path()));
    }

    #[test]
    fn secrets_never_print_and_prices_match_by_prefix() {
        let mut c = Config::defaults();
        c.llm.anthropic.api_key = Some(Secret("sk-ant-very-secret".into()));
        assert!(!format!("{c:?}").contains("very-secret"));
        assert_eq!(c.llm.price("claude-sonnet-4-5-20250929").input, 3.0);
        assert_eq!(c.llm.price("llama3.1").output, 0.0);
    }

    #[test]
    fn out_of_range_values_are_errors_naming_key_and_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases = [
            ("[retrieval]\ntop_k = 0\ndepth = 0\n", "top_k"),
            ("[embedding]\nthreads = 100000\n", "threads"),
            ("[server]\ntoken = \"  \"\n", "blank"),
            ("[server]\nconcurrency = 0\n", "concurrency"),
            (
                "[incidents]\nignore = [\"10.0.0.0/40\"]\n",
                "[incidents] ignore",
            ),
            ("[incidents]\nignore = [\" \"]\n", "[incidents] ignore"),
            ("[incidents]\nwindow_minutes = 0\n", "window_minutes"),
        ];
        for (i, (text, needle)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("c{i}.toml"));
            std::fs::write(&path, text).expect("write");
            let err = Config::load(Some(&path)).expect_err(text).to_string();
            assert!(err.contains(needle) && err.contains("c"), "{text}: {err}");
        }
    }

    #[test]
    fn bad_file_names_path_and_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[retrieval]\ntop_kk = 3\n").expect("write");
        let err = Config::load(Some(&path))
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("c.toml") && err.contains("top_kk"), "{err}");
    }
}
