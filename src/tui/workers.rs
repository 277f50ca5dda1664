//! Tokio tasks that perform Effects and report back as Actions: opening (or building) the
//! knowledge base, loading the queue with its history, triage and chat runs (bounded by a
//! semaphore, cancellable through their abort handles), and every store write.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::AbortHandle;

use crate::alert::load::{Loaded, LoadedAlert};
use crate::alert::sanitize::sanitize;
use crate::config::Config;
use crate::llm::select::Engine;
use crate::llm::{Role, StreamEvent, Usage};
use crate::search::ingest::{IngestObserver, IngestOptions, ingest, locate};
use crate::search::{Hit, KnowledgeBase, Mode, build_query};
use crate::store::Store;
use crate::store::feedback::NewFeedback;
use crate::triage::chat::{self, ChatTurn};
use crate::triage::model::{TriageObserver, triage_with_model};
use crate::triage::{TriageParams, Verdict, injection, prompt, triage_offline};

use super::action::{Action, ItemId, RunId};
use super::effect::{Effect, SentPrompt};
use super::state::{History, Judgement, LoadedItem, PreviewDoc, TechniqueDetail, TechniqueRow};

/// What the workers need to know, fixed for the session.
#[derive(Clone)]
pub struct WorkerConfig {
    pub config: Config,
    pub data_dir: PathBuf,
    pub engine: Option<Engine>,
    pub params: TriageParams,
    pub concurrency: usize,
    pub export_dir: PathBuf,
}

use crate::server::KbSlot;

struct Shared {
    cfg: WorkerConfig,
    kb: watch::Sender<KbSlot>,
    permits: Semaphore,
}

impl Shared {
    /// The knowledge base once it is open (waiting if it is still loading).
    async fn kb(&self) -> Result<Arc<KnowledgeBase>, String> {
        let mut rx = self.kb.subscribe();
        let slot = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| "the knowledge base loader stopped".to_string())?;
        match &*slot {
            Some(r) => r.clone(),
            None => Err("the knowledge base is not open".into()),
        }
    }

    fn store(&self) -> Result<Store, String> {
        Store::open_in(&self.cfg.data_dir).map_err(|e| e.to_string())
    }
}

pub struct Workers {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Action>,
    rt: tokio::runtime::Handle,
    tasks: HashMap<RunId, AbortHandle>,
}

fn rows(hits: &[Hit]) -> Vec<TechniqueRow> {
    hits.iter().map(TechniqueRow::from).collect()
}

/// Forwards a model triage's progress to the console.
struct Relay {
    tx: mpsc::UnboundedSender<Action>,
    item: ItemId,
    run: RunId,
}

impl TriageObserver for Relay {
    fn retrieved(&mut self, hits: &[Hit]) {
        let _ = self.tx.send(Action::Retrieved {
            item: self.item,
            run: self.run,
            techniques: rows(hits),
        });
    }

    fn text(&mut self, text: &str) {
        let _ = self.tx.send(Action::ReasoningDelta {
            item: self.item,
            run: self.run,
            text: sanitize(text),
        });
    }
}

struct KbProgress {
    tx: mpsc::UnboundedSender<Action>,
    total: AtomicUsize,
    done: AtomicUsize,
}

impl IngestObserver for KbProgress {
    fn stage(&self, name: &str) {
        let _ = self
            .tx
            .send(Action::KbProgress(format!("first run: {name}")));
    }
    fn embedding_started(&self, total: usize) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn embedded(&self, n: usize) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        let total = self.total.load(Ordering::Relaxed).max(1);
        let _ = self.tx.send(Action::KbProgress(format!(
            "first run: embedding ATT&CK {}%",
            done * 100 / total
        )));
    }
}

/// Where the queue comes from.
pub enum Source {
    Paths(Vec<PathBuf>),
    Loaded(Loaded),
}

impl Workers {
    pub fn new(
        cfg: WorkerConfig,
        tx: mpsc::UnboundedSender<Action>,
        rt: tokio::runtime::Handle,
    ) -> Workers {
        let (kb, _) = watch::channel(None);
        let permits = Semaphore::new(cfg.concurrency.max(1));
        Workers {
            shared: Arc::new(Shared { cfg, kb, permits }),
            tx,
            rt,
            tasks: HashMap::new(),
        }
    }

    /// Follows the knowledge base as it loads (the API inside the console shares it).
    pub fn kb_watch(&self) -> watch::Receiver<KbSlot> {
        self.shared.kb.subscribe()
    }

    /// Opens the knowledge base in the background; on a first run with a local ATT&CK
    /// bundle, builds it first.
    pub fn open_kb(&self) {
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        self.rt.spawn_blocking(move || {
            let result = open_or_build(&shared.cfg, &tx);
            let _ = tx.send(match &result {
                Ok(kb) => Action::KbReady {
                    description: format!(
                        "ATT&CK {} · {}",
                        kb.catalog.attack_version,
                        if kb.has_dense() {
                            "hybrid retrieval"
                        } else {
                            "BM25 only"
                        }
                    ),
                },
                Err(e) => Action::KbFailed(e.clone()),
            });
            shared.kb.send_replace(Some(result));
        });
    }

    /// Loads the queue and what the store holds for each alert. It starts once the
    /// embedding model is set up (or after a few seconds at most): creating the ONNX session
    /// briefly needs far more memory than it keeps, and a large queue loading at the same
    /// moment would stack on that peak.
    pub fn load(&self, source: Source) {
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        let rt = self.rt.clone();
        self.rt.spawn(async move {
            let mut kb = shared.kb.subscribe();
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(3),
                kb.wait_for(Option::is_some),
            )
            .await;
            drop(kb);
            rt.spawn_blocking(move || load_queue(&shared, &tx, source));
        });
    }
}

fn load_queue(shared: &Shared, tx: &mpsc::UnboundedSender<Action>, source: Source) {
    let loaded = match source {
        Source::Paths(p) => crate::alert::load_paths(&p),
        Source::Loaded(l) => l,
    };
    let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    let store = shared.store();
    let items = loaded
        .alerts
        .into_iter()
        .map(|alert| {
            let history = match &store {
                Ok(s) => history(s, &alert.alert.id).unwrap_or_else(|e| {
                    tracing::warn!(alert = alert.alert.id, "could not read its history: {e}");
                    History::default()
                }),
                Err(_) => History::default(),
            };
            LoadedItem { alert, history }
        })
        .collect();
    if let Err(e) = &store {
        let _ = tx.send(Action::Notice(format!(
            "the store could not be opened, history is not shown: {e}"
        )));
    }
    let _ = tx.send(Action::QueueLoaded { items, errors });
}

impl Workers {
    fn spawn_run(&mut self, run: RunId, fut: impl Future<Output = ()> + Send + 'static) {
        self.tasks.retain(|_, h| !h.is_finished());
        let h = self.rt.spawn(fut);
        self.tasks.insert(run, h.abort_handle());
    }

    fn blocking(&self, f: impl FnOnce(&Shared, &mpsc::UnboundedSender<Action>) + Send + 'static) {
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        self.rt.spawn_blocking(move || f(&shared, &tx));
    }

    pub fn perform(&mut self, effect: Effect) {
        match effect {
            Effect::Triage { item, run, alert } => {
                let fut = triage(self.shared.clone(), self.tx.clone(), item, run, alert);
                self.spawn_run(run, fut);
            }
            Effect::Chat {
                item,
                run,
                alert,
                verdict,
                history,
                question,
            } => {
                let fut = ask(
                    self.shared.clone(),
                    self.tx.clone(),
                    item,
                    run,
                    alert,
                    verdict,
                    history,
                    question,
                );
                self.spawn_run(run, fut);
            }
            Effect::Cancel { run, alert_key } => {
                if let Some(h) = self.tasks.remove(&run) {
                    h.abort();
                }
                self.blocking(move |s, _| close_runs(s, &alert_key, "cancelled by the analyst"));
            }
            Effect::SaveFeedback {
                item,
                feedback,
                what,
            } => {
                self.blocking(move |s, tx| {
                    let r = s
                        .store()
                        .and_then(|mut st| save_feedback(&mut st, &feedback));
                    let _ = tx.send(match r {
                        Ok(()) => Action::Saved { item, what },
                        Err(error) => Action::SaveFailed { item, what, error },
                    });
                });
            }
            Effect::SaveNote {
                item,
                alert,
                triage_id,
                text,
            } => self.blocking(move |s, tx| {
                let r = s.store().and_then(|mut st| {
                    let row = alert_row(&mut st, &alert)?;
                    st.add_note(row, triage_id.as_deref(), &text, &analyst(&s.cfg.config))
                        .map_err(|e| e.to_string())
                });
                let what = "note".to_string();
                let _ = tx.send(match r {
                    Ok(_) => Action::Saved { item, what },
                    Err(error) => Action::SaveFailed { item, what, error },
                });
            }),
            Effect::LoadStats => self.blocking(|s, tx| {
                let r = s
                    .store()
                    .and_then(|st| st.accuracy().map_err(|e| e.to_string()));
                let _ = tx.send(match r {
                    Ok(a) => Action::StatsLoaded(Box::new(a)),
                    Err(e) => Action::StatsFailed(e),
                });
            }),
            Effect::LoadDetail { id } => {
                let shared = self.shared.clone();
                let tx = self.tx.clone();
                self.rt.spawn(async move {
                    match shared.kb().await {
                        Ok(kb) => {
                            if let Some(d) = detail(&kb, &id) {
                                let _ = tx.send(Action::DetailLoaded(Box::new(d)));
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Action::Notice(e));
                        }
                    }
                });
            }
            Effect::Preview { item, alert, sent } => {
                let shared = self.shared.clone();
                let tx = self.tx.clone();
                self.rt.spawn(async move {
                    let doc = match sent {
                        Some(s) => Ok(sent_preview(s)),
                        None => match shared.kb().await {
                            Ok(kb) => {
                                let s2 = shared.clone();
                                tokio::task::spawn_blocking(move || would_send(&s2, &kb, &alert))
                                    .await
                                    .unwrap_or_else(|e| Err(e.to_string()))
                            }
                            Err(e) => Err(e),
                        },
                    };
                    let _ = tx.send(match doc {
                        Ok(d) => Action::PreviewLoaded {
                            item,
                            preview: Box::new(d),
                        },
                        Err(e) => Action::Notice(format!("preview failed: {e}")),
                    });
                });
            }
            Effect::Export {
                item,
                name,
                markdown,
            } => self.blocking(move |s, tx| {
                let _ = tx.send(match export(&s.cfg.export_dir, &name, &markdown) {
                    Ok(path) => Action::Exported { item, path },
                    Err(error) => Action::SaveFailed {
                        item,
                        what: "export".into(),
                        error,
                    },
                });
            }),
            Effect::Quit { running } => {
                for (run, _) in &running {
                    if let Some(h) = self.tasks.remove(run) {
                        h.abort();
                    }
                }
                let shared = self.shared.clone();
                // Quitting waits for this (see `finish`), so no run is left open in the store.
                let h = self.rt.spawn_blocking(move || {
                    for (_, key) in running {
                        close_runs(&shared, &key, "the console was closed while it ran");
                    }
                });
                self.tasks.insert(RunId(0), h.abort_handle());
            }
        }
    }

    /// Waits for the store writes quitting asked for.
    pub async fn finish(&mut self) {
        for _ in 0..200 {
            if self.tasks.values().all(AbortHandle::is_finished) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

fn analyst(config: &Config) -> String {
    config
        .analyst
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "analyst".into())
}

fn close_runs(s: &Shared, key: &str, why: &str) {
    if let Err(e) = s
        .store()
        .and_then(|mut st| st.cancel_running(key, why).map_err(|e| e.to_string()))
    {
        tracing::warn!(alert = key, "could not close its open runs: {e}");
    }
}

fn save_feedback(st: &mut Store, f: &NewFeedback) -> Result<(), String> {
    st.add_feedback(f).map(|_| ()).map_err(|e| e.to_string())
}

fn alert_row(st: &mut Store, alert: &LoadedAlert) -> Result<i64, String> {
    match st
        .alert_by_key(&alert.alert.id)
        .map_err(|e| e.to_string())?
    {
        Some(a) => Ok(a.row),
        None => st
            .upsert_alert(&alert.alert, &alert.raw, None)
            .map_err(|e| e.to_string()),
    }
}

fn open_or_build(
    cfg: &WorkerConfig,
    tx: &mpsc::UnboundedSender<Action>,
) -> Result<Arc<KnowledgeBase>, String> {
    let embedder = crate::search::embed::discover(&cfg.config, &cfg.data_dir).map(Arc::new);
    let dir = locate(&cfg.data_dir);
    if crate::search::kb::Manifest::read(&dir).is_err() {
        let found = crate::assets::attack_bundle(&cfg.config, None, &cfg.data_dir);
        let Some(bundle) = found.chosen.filter(|b| !b.starts_with("http")) else {
            return Err("no knowledge base yet: run `soc-copilot ingest` (it downloads ATT&CK or reads --from FILE)".into());
        };
        let progress = KbProgress {
            tx: tx.clone(),
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        };
        ingest(
            IngestOptions {
                bundle: PathBuf::from(&bundle),
                source: bundle,
                data_dir: cfg.data_dir.clone(),
                embedder: embedder.clone(),
                plan: cfg.config.chunk_plan(),
                attack_version: cfg.config.attack.version.clone(),
                batch: cfg.config.embedding.batch,
            },
            &progress,
        )
        .map_err(|e| format!("building the knowledge base failed: {e}"))?;
    }
    let _ = tx.send(Action::KbProgress("opening the knowledge base".into()));
    let dir = locate(&cfg.data_dir);
    KnowledgeBase::open(&dir, embedder.ok())
        .map(Arc::new)
        .map_err(|e| format!("{e} (in {})", dir.display()))
}

fn history(store: &Store, key: &str) -> Result<History, crate::store::StoreError> {
    let Some(sa) = store.alert_by_key(key)? else {
        return Ok(History::default());
    };
    let mut h = History {
        chat: store.chat_for(sa.row)?,
        notes: store
            .notes_for(sa.row)?
            .into_iter()
            .map(|n| n.text)
            .collect(),
        ..History::default()
    };
    if let Some(t) = store.latest_complete_triage_for(sa.row)? {
        h.verdict = t
            .verdict_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok());
        h.provenance = t
            .provenance_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok());
        if let Some(fb) = store.feedback_for(&t.id)?.last() {
            h.judgement = Judgement {
                thumbs: Some(fb.thumbs),
                reason: fb.reason.as_deref().and_then(|r| {
                    crate::store::feedback::DownReason::ALL
                        .into_iter()
                        .find(|d| d.as_str() == r)
                }),
                analyst_verdict: fb
                    .analyst_verdict
                    .as_deref()
                    .and_then(crate::triage::Level::parse),
            };
        }
        h.triage_id = Some(t.id);
    }
    Ok(h)
}

async fn triage(
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Action>,
    item: ItemId,
    run: RunId,
    alert: Arc<LoadedAlert>,
) {
    let Ok(_permit) = shared.permits.acquire().await else {
        return;
    };
    let _ = tx.send(Action::TriageStarted { item, run });
    let result = match shared.kb().await {
        Err(e) => Err(e),
        Ok(kb) => match shared.cfg.engine.clone() {
            None => {
                let s = shared.clone();
                tokio::task::spawn_blocking(move || {
                    let mut store = s.store()?;
                    triage_offline(&kb, &mut store, &alert, &s.cfg.params)
                        .map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
            }
            Some(engine) => match shared.store() {
                Err(e) => Err(e),
                Ok(mut store) => {
                    let mut relay = Relay {
                        tx: tx.clone(),
                        item,
                        run,
                    };
                    triage_with_model(
                        engine.provider.as_ref(),
                        &engine.settings,
                        &kb,
                        &mut store,
                        &alert,
                        &shared.cfg.params,
                        &mut relay,
                    )
                    .await
                    .map_err(|e| e.to_string())
                }
            },
        },
    };
    let _ = tx.send(match result {
        Ok(outcome) => Action::TriageDone {
            item,
            run,
            outcome: Box::new(outcome),
        },
        Err(error) => Action::TriageFailed { item, run, error },
    });
}

#[allow(clippy::too_many_arguments)]
async fn ask(
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Action>,
    item: ItemId,
    run: RunId,
    alert: Arc<LoadedAlert>,
    verdict: Option<Box<Verdict>>,
    history: Vec<(Role, String)>,
    question: String,
) {
    let fail = |error: String| {
        let _ = tx.send(Action::ChatFailed { item, run, error });
    };
    let kb = match shared.kb().await {
        Ok(kb) => kb,
        Err(e) => return fail(e),
    };
    let (kb2, s2, a2, q2) = (kb.clone(), shared.clone(), alert.clone(), question.clone());
    let prepared = tokio::task::spawn_blocking(move || {
        let hits = chat::retrieve(&kb2, &a2.alert, &q2, 5, &s2.cfg.params.search)
            .map_err(|e| e.to_string())?;
        let mut store = s2.store()?;
        let row = alert_row(&mut store, &a2)?;
        store
            .add_chat_message(row, "user", &q2, None, None, (0, 0))
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((hits, store, row))
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    let (hits, mut store, row) = match prepared {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let _ = tx.send(Action::ChatRetrieved {
        item,
        run,
        techniques: rows(&hits),
    });
    let flags = injection::detect(&alert.alert.full_text());
    let turn = ChatTurn {
        alert: &alert.alert,
        verdict: verdict.as_deref(),
        hits: &hits,
        catalog: &kb.catalog,
        injection_flags: &flags,
        history: &history,
        question: &question,
    };
    let (answer, engine, model, usage) = match &shared.cfg.engine {
        None => {
            let a = chat::offline_answer(&turn);
            let _ = tx.send(Action::ChatDelta {
                item,
                run,
                text: a.clone(),
            });
            (a, "offline", None, Usage::default())
        }
        Some(e) => {
            let mut rx = e.provider.stream(chat::request(&turn, &e.settings));
            let mut text = String::new();
            let mut usage = Usage::default();
            while let Some(ev) = rx.recv().await {
                match ev {
                    StreamEvent::Text(t) => {
                        let t = sanitize(&t);
                        text.push_str(&t);
                        let _ = tx.send(Action::ChatDelta { item, run, text: t });
                    }
                    StreamEvent::Usage(u) => {
                        usage.input_tokens = usage.input_tokens.max(u.input_tokens);
                        usage.output_tokens = usage.output_tokens.max(u.output_tokens);
                    }
                    StreamEvent::Done { .. } => break,
                    StreamEvent::Error(err) => {
                        if !text.is_empty() {
                            let _ = store.add_chat_message(
                                row,
                                "assistant",
                                &format!("{text}\n\n[answer cut off: {err}]"),
                                Some(e.provider.engine()),
                                Some(e.provider.model()),
                                (usage.input_tokens, usage.output_tokens),
                            );
                        }
                        return fail(err.to_string());
                    }
                    StreamEvent::ToolUse { .. } => {}
                }
            }
            (
                text,
                e.provider.engine(),
                Some(e.provider.model().to_string()),
                usage,
            )
        }
    };
    if let Err(e) = store.add_chat_message(
        row,
        "assistant",
        &answer,
        Some(engine),
        model.as_deref(),
        (usage.input_tokens, usage.output_tokens),
    ) {
        let _ = tx.send(Action::Notice(format!(
            "the answer could not be stored: {e}"
        )));
    }
    let _ = tx.send(Action::ChatDone { item, run });
}

fn detail(kb: &KnowledgeBase, id: &str) -> Option<TechniqueDetail> {
    let c = &kb.catalog;
    let t = c.get(id)?;
    Some(TechniqueDetail {
        id: t.id.clone(),
        name: t.name.clone(),
        tactics: c.tactic_names(t),
        platforms: t.platforms.clone(),
        description: t.description.clone(),
        detection: t
            .detections
            .iter()
            .flat_map(|d| {
                d.analytics
                    .iter()
                    .map(move |a| format!("{}: {}", d.name, a.description))
            })
            .take(8)
            .collect(),
        mitigations: t
            .mitigations
            .iter()
            .map(|m| {
                format!(
                    "{} {}: {}",
                    m.id,
                    m.name,
                    crate::attack::markup::truncate_words(&m.how, 300)
                )
            })
            .collect(),
        groups: c
            .groups_using(&t.id)
            .iter()
            .map(|g| g.name.clone())
            .collect(),
        url: t.url.clone(),
    })
}

fn sent_preview(s: SentPrompt) -> PreviewDoc {
    let delimiter = s
        .user
        .find("<<ALERT-")
        .and_then(|i| {
            let rest = &s.user[i + 2..];
            rest.find(">>").map(|j| rest[..j].to_string())
        })
        .unwrap_or_default();
    PreviewDoc {
        heading: format!("Was sent to {} when the alert was triaged", s.engine),
        system: prompt::SYSTEM.to_string(),
        user: s.user,
        delimiter,
        hash: s.hash,
    }
}

/// The prompt a triage of this alert would send now: same retrieval, same similar cases.
fn would_send(s: &Shared, kb: &KnowledgeBase, alert: &LoadedAlert) -> Result<PreviewDoc, String> {
    let q = build_query(&alert.alert);
    let emb = kb.embedder().and_then(|e| e.embed_one(&q.dense_text).ok());
    let p = &s.cfg.params;
    let hits = kb
        .search_query(&q, emb.as_deref(), p.top_k, Mode::Hybrid, &p.search)
        .map_err(|e| e.to_string())?;
    let similar = match &emb {
        Some(v) => s
            .store()?
            .similar_reviewed(v, &alert.alert.id, p.similar_k, 0.5)
            .map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let flags = injection::detect(&alert.alert.full_text());
    let built = prompt::build(&alert.alert, &hits, &kb.catalog, &similar, &flags);
    let heading = match &s.cfg.engine {
        Some(e) => format!("Would be sent to {} (the fence delimiter is new for every request)", e.label()),
        None => "Offline engine: nothing leaves this machine. With a model configured, this is what it would receive.".to_string(),
    };
    Ok(PreviewDoc {
        heading,
        system: built.system,
        user: built.user,
        delimiter: built.delimiter,
        hash: built.hash,
    })
}

fn export(dir: &std::path::Path, name: &str, markdown: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let path = dir.join(format!("{safe}-{stamp}.md"));
    std::fs::write(&path, markdown).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
