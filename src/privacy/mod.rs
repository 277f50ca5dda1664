//! Private data stays home. `Privacy` holds the pseudonym map (stored locally only) for the
//! entity kinds `[privacy] pseudonymise` names; `PrivateProvider` wraps a model provider so
//! every request is pseudonymised and leak-checked before it leaves, and everything that
//! comes back is turned back into the real values before anyone sees it.

pub mod pseudo;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use regex::Regex;
use tokio::sync::mpsc;

use crate::alert::Alert;
use crate::config::Config;
use crate::llm::client::{ChatRequest, LlmError, Provider, StreamEvent};
use crate::store::Store;
pub use pseudo::{Kind, Pseudonymiser};

/// An outbound request still carried configured entities: it was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "blocked before sending to {destination}: the request still contains {} after pseudonymisation; nothing was sent. Check [privacy] in the config (the values are not repeated here)",
    kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
)]
pub struct Leak {
    pub destination: String,
    pub kinds: Vec<Kind>,
}

pub struct Privacy {
    kinds: BTreeSet<Kind>,
    leak_check: bool,
    map: Mutex<Pseudonymiser>,
    /// The database the map is kept in; `None` keeps it in memory (tests, scratch runs).
    db: Option<PathBuf>,
}

impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Privacy")
            .field("kinds", &self.kinds)
            .finish()
    }
}

impl Privacy {
    /// Pseudonymisation as configured, the map kept in the data dir's store; `None` when
    /// `[privacy] pseudonymise` and `custom` are both empty.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Arc<Privacy>>> {
        let p = &config.privacy;
        if p.pseudonymise.is_empty() && p.custom.is_empty() {
            return Ok(None);
        }
        // One map per data dir in a process: the model, intel and case-system paths must
        // agree on every token.
        static SHARED: std::sync::OnceLock<
            Mutex<std::collections::HashMap<PathBuf, Arc<Privacy>>>,
        > = std::sync::OnceLock::new();
        let db = config.data_dir()?.join(crate::store::DB_FILE);
        let mut shared = SHARED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(p) = shared.get(&db) {
            return Ok(Some(p.clone()));
        }
        let privacy = Arc::new(Privacy::new(
            &p.pseudonymise,
            &p.custom,
            p.leak_check,
            Some(db.clone()),
        )?);
        shared.insert(db, privacy.clone());
        Ok(Some(privacy))
    }

    pub fn new(
        kinds: &[String],
        custom: &[String],
        leak_check: bool,
        db: Option<PathBuf>,
    ) -> anyhow::Result<Privacy> {
        let mut set = BTreeSet::new();
        for k in kinds {
            set.insert(Kind::parse(k).ok_or_else(|| {
                anyhow::anyhow!("[privacy] pseudonymise names {k:?}: the kinds are users, hosts, internal_ips, emails")
            })?);
        }
        let custom = custom
            .iter()
            .map(|r| Regex::new(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("[privacy] custom: {e}"))?;
        let mut map = Pseudonymiser::new(custom);
        if let Some(path) = &db
            && (crate::store::database_url().is_some() || path.exists())
        {
            let store = Store::open_or_team(path)?;
            for (kind, value, token) in store.pseudonyms()? {
                if let Some(k) = Kind::parse(&kind) {
                    map.restore(k, &value, &token);
                }
            }
        }
        Ok(Privacy {
            kinds: set,
            leak_check,
            map: Mutex::new(map),
            db,
        })
    }

    fn map(&self) -> MutexGuard<'_, Pseudonymiser> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.kinds.iter().copied()
    }

    /// Learns the alert's entities of the configured kinds.
    pub fn learn_alert(&self, alert: &Alert) {
        let mut found: Vec<(Kind, String)> = Vec::new();
        let want = |k| self.kinds.contains(&k);
        if want(Kind::User) {
            found.extend(
                alert
                    .user
                    .iter()
                    .chain(&alert.iocs.users)
                    .map(|u| (Kind::User, u.clone())),
            );
        }
        if want(Kind::Host) {
            found.extend(
                alert
                    .host
                    .iter()
                    .chain(&alert.iocs.hosts)
                    .map(|h| (Kind::Host, h.clone())),
            );
        }
        {
            let mut map = self.map();
            for (k, v) in found {
                map.learn(k, &v);
            }
        }
        self.learn_text(&alert.full_text());
    }

    /// Learns one entity of a known kind, when that kind is configured.
    pub fn learn_entity(&self, kind: Kind, value: Option<&str>) {
        if let Some(v) = value
            && self.kinds.contains(&kind)
        {
            self.map().learn(kind, v);
        }
    }

    /// Learns what can be recognised in free text: internal addresses, e-mail addresses and
    /// the custom patterns.
    pub fn learn_text(&self, text: &str) {
        let iocs = crate::alert::ioc::extract(text, &[]);
        let mut map = self.map();
        if self.kinds.contains(&Kind::InternalIp) {
            for ip in &iocs.private_ips {
                map.learn(Kind::InternalIp, ip);
            }
        }
        if self.kinds.contains(&Kind::Email) {
            for e in &iocs.emails {
                map.learn(Kind::Email, e);
            }
        }
        map.learn_custom(text);
    }

    /// Stores what was learnt, so tokens stay the same across runs and processes. A value
    /// another process stored first takes its token.
    pub fn persist(&self) -> anyhow::Result<()> {
        let fresh = self.map().take_fresh();
        if fresh.is_empty() {
            return Ok(());
        }
        let Some(db) = &self.db else { return Ok(()) };
        let rows: Vec<(String, String, String)> = fresh
            .iter()
            .map(|(k, v, t)| (k.config_name().to_string(), v.clone(), t.clone()))
            .collect();
        let mut store = Store::open_or_team(db)?;
        let tokens = store.save_pseudonyms(&rows)?;
        let mut map = self.map();
        for ((kind, value, proposed), token) in fresh.iter().zip(tokens) {
            if *proposed != token {
                map.forget(value);
                map.restore(*kind, value, &token);
            }
        }
        Ok(())
    }

    pub fn apply(&self, text: &str) -> String {
        self.map().apply(text)
    }

    pub fn reverse(&self, text: &str) -> String {
        self.map().reverse(text)
    }

    /// Known entities still present in any of `texts`.
    pub fn leaks<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Vec<Kind> {
        if !self.leak_check {
            return Vec::new();
        }
        let map = self.map();
        let mut kinds: Vec<Kind> = texts.into_iter().flat_map(|t| map.leaks(t)).collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// Whether `value` is a pseudonymised entity (an intel lookup of it would send it out).
    pub fn is_private(&self, value: &str) -> bool {
        !self.map().leaks(value).is_empty()
    }

    /// The request as it leaves: every text learnt from, pseudonymised, then checked.
    pub fn protect(&self, mut req: ChatRequest, destination: &str) -> Result<ChatRequest, Leak> {
        for t in texts(&req) {
            self.learn_text(t);
        }
        if let Err(e) = self.persist() {
            tracing::warn!("the pseudonym map could not be stored: {e}");
        }
        {
            let map = self.map();
            req.system = map.apply(&req.system);
            for m in &mut req.messages {
                m.content = map.apply(&m.content);
                for r in &mut m.tool_results {
                    r.content = map.apply(&r.content);
                }
                for c in &mut m.tool_calls {
                    c.input_json = map_json_strings(&c.input_json, |s| map.apply(s));
                }
            }
        }
        let kinds = self.leaks(texts(&req));
        if kinds.is_empty() {
            Ok(req)
        } else {
            Err(Leak {
                destination: destination.to_string(),
                kinds,
            })
        }
    }
}

/// Every text of a request that leaves.
fn texts(req: &ChatRequest) -> Vec<&str> {
    let mut out = vec![req.system.as_str()];
    for m in &req.messages {
        out.push(&m.content);
        out.extend(m.tool_results.iter().map(|r| r.content.as_str()));
        out.extend(m.tool_calls.iter().map(|c| c.input_json.as_str()));
    }
    out
}

/// `json` with `f` applied to every string in it (keys too); text that is not JSON is
/// changed as a whole.
pub fn map_json_strings(json: &str, f: impl Fn(&str) -> String) -> String {
    fn walk(v: serde_json::Value, f: &dyn Fn(&str) -> String) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::String(s) => Value::String(f(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| walk(v, f)).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (f(&k), walk(v, f))).collect())
            }
            other => other,
        }
    }
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(v) => walk(v, &f).to_string(),
        Err(_) => f(json),
    }
}

/// A token may be cut between two streamed deltas (`USER_` | `12`): text ending in what
/// could be the start of one is held back until the next delta or the end.
fn split_tail(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = bytes.len();
    while i > 0
        && (bytes[i - 1].is_ascii_uppercase()
            || bytes[i - 1].is_ascii_digit()
            || bytes[i - 1] == b'_')
    {
        i -= 1;
    }
    // Only a run that could grow into PREFIX_N is held (at most a few bytes).
    if bytes.len() - i > 16 { bytes.len() } else { i }
}

/// A provider whose requests are pseudonymised and leak-checked before they leave, and
/// whose answers (text and tool calls) come back with the real values.
pub struct PrivateProvider {
    inner: Arc<dyn Provider>,
    privacy: Arc<Privacy>,
}

impl PrivateProvider {
    pub fn wrap(inner: Arc<dyn Provider>, privacy: Arc<Privacy>) -> Arc<dyn Provider> {
        Arc::new(PrivateProvider { inner, privacy })
    }
}

impl Provider for PrivateProvider {
    fn engine(&self) -> &'static str {
        self.inner.engine()
    }

    fn model(&self) -> &str {
        self.inner.model()
    }

    fn forces_tools(&self) -> bool {
        self.inner.forces_tools()
    }

    fn stream(&self, request: ChatRequest) -> mpsc::Receiver<StreamEvent> {
        let (tx, rx) = mpsc::channel(256);
        let provider = self.inner.engine();
        let req = match self.privacy.protect(request, provider) {
            Ok(r) => r,
            Err(leak) => {
                let _ = tx.try_send(StreamEvent::Error(LlmError::Protocol {
                    provider,
                    message: leak.to_string(),
                }));
                return rx;
            }
        };
        let mut upstream = self.inner.stream(req);
        let privacy = self.privacy.clone();
        tokio::spawn(async move {
            let mut held = String::new();
            while let Some(ev) = upstream.recv().await {
                let out = match ev {
                    StreamEvent::Text(t) => {
                        held.push_str(&t);
                        let cut = split_tail(&held);
                        let ready: String = held.drain(..cut).collect();
                        if ready.is_empty() {
                            continue;
                        }
                        vec![StreamEvent::Text(privacy.reverse(&ready))]
                    }
                    StreamEvent::ToolUse {
                        id,
                        name,
                        input_json,
                    } => vec![StreamEvent::ToolUse {
                        id,
                        name,
                        input_json: map_json_strings(&input_json, |s| privacy.reverse(s)),
                    }],
                    done @ (StreamEvent::Done { .. } | StreamEvent::Error(_)) => {
                        let mut v = Vec::new();
                        if !held.is_empty() {
                            v.push(StreamEvent::Text(
                                privacy.reverse(&std::mem::take(&mut held)),
                            ));
                        }
                        v.push(done);
                        v
                    }
                    other => vec![other],
                };
                for ev in out {
                    if tx.send(ev).await.is_err() {
                        return; // the consumer went away: dropping `upstream` cancels
                    }
                }
            }
        });
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_cut_between_deltas_is_held_back() {
        assert_eq!(split_tail("logged in as USER_"), "logged in as ".len());
        assert_eq!(split_tail("done."), 5);
        let s = "x".repeat(3) + &"A".repeat(20);
        assert_eq!(split_tail(&s), s.len());
    }

    #[test]
    fn json_strings_are_mapped_without_breaking_escapes() {
        let out = map_json_strings(r#"{"host":"HOST_1","n":2}"#, |s| {
            s.replace("HOST_1", "CORP\\ws\"1")
        });
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        assert_eq!(v["host"], "CORP\\ws\"1");
        assert_eq!(v["n"], 2);
    }
}
