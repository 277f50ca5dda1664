//! Tokio tasks that perform Effects and report back as Actions, one file per kind of work:
//! the knowledge base (`kb`), loading the queue with its history (`load`), triage and chat
//! runs through the engine's pipeline (`runs`), and store writes and exports (`save`).
//! Runs are bounded by a semaphore and cancellable through their abort handles; the action
//! channel is bounded, and a run's text deltas coalesce while the console is behind.

mod cases;
mod kb;
mod load;
mod runs;
mod save;
mod team;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::AbortHandle;

use crate::config::Config;
use crate::search::{KbSlot, KnowledgeBase};
use crate::store::{Pooled, StorePool};
use crate::triage::{Engine, Pipeline, TriageParams};

use super::action::{Action, RunId};
use super::effect::Effect;

pub use load::Source;

/// Actions waiting for the console at most; senders wait (and text coalesces) beyond it.
pub const ACTION_QUEUE: usize = 1024;

/// What the workers need to know, fixed for the session.
#[derive(Clone)]
pub struct WorkerConfig {
    pub config: Config,
    pub data_dir: PathBuf,
    pub engine: Arc<dyn Engine>,
    pub params: TriageParams,
    pub concurrency: usize,
    pub export_dir: PathBuf,
    /// The team database (PostgreSQL) when the store is shared: alerts are claimed and the
    /// change feed is followed.
    pub database: Option<String>,
}

struct Shared {
    cfg: WorkerConfig,
    /// Remote intel providers, built once so their rate budgets hold across runs.
    intel: Option<Arc<crate::intel::remote::Investigator>>,
    kb: watch::Sender<KbSlot>,
    stores: Arc<StorePool>,
    permits: Semaphore,
    /// The change feed's newest event when the queue was read: following starts there.
    watermark: std::sync::atomic::AtomicI64,
    /// Claims being written now, and whether the console is closing: quitting waits for
    /// the first before it lets go of everything, and the second stops new ones.
    claims_in_flight: std::sync::atomic::AtomicUsize,
    quitting: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// The knowledge base once it is open (waiting if it is still loading).
    async fn kb(&self) -> Result<Arc<KnowledgeBase>, String> {
        crate::search::slot::wait(&mut self.kb.subscribe()).await
    }

    /// The triage pipeline, once the knowledge base is open.
    async fn pipeline(&self) -> Result<Pipeline, String> {
        self.pipeline_with(self.cfg.engine.clone()).await
    }

    /// The same pipeline with another engine (the offline one, for a run the analyst asked
    /// to be decided without the model).
    async fn pipeline_with(&self, engine: Arc<dyn Engine>) -> Result<Pipeline, String> {
        Ok(Pipeline {
            kb: self.kb().await?,
            stores: self.stores.clone(),
            engine,
            params: self.cfg.params,
            intel: self.intel.clone(),
        })
    }

    fn store(&self) -> Result<Pooled<'_>, String> {
        self.stores.get().map_err(|e| e.to_string())
    }
}

pub struct Workers {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Action>,
    rt: tokio::runtime::Handle,
    tasks: HashMap<RunId, AbortHandle>,
}

impl Workers {
    pub fn new(cfg: WorkerConfig, tx: mpsc::Sender<Action>, rt: tokio::runtime::Handle) -> Workers {
        let (kb, _) = watch::channel(None);
        let permits = Semaphore::new(cfg.concurrency.max(1));
        let stores = Arc::new(match &cfg.database {
            Some(url) => StorePool::team(cfg.data_dir.clone(), url),
            None => StorePool::new(cfg.data_dir.clone()),
        });
        let intel = crate::intel::remote::Investigator::for_config(&cfg.config, stores.clone())
            .map(Arc::new);
        Workers {
            shared: Arc::new(Shared {
                intel,
                cfg,
                kb,
                stores,
                permits,
                // Unknown until the queue's load reads it.
                watermark: std::sync::atomic::AtomicI64::new(-1),
                claims_in_flight: std::sync::atomic::AtomicUsize::new(0),
                quitting: std::sync::atomic::AtomicBool::new(false),
            }),
            tx,
            rt,
            tasks: HashMap::new(),
        }
    }

    /// Follows the knowledge base as it loads (the API inside the console shares it).
    pub fn kb_watch(&self) -> watch::Receiver<KbSlot> {
        self.shared.kb.subscribe()
    }

    fn spawn_run(&mut self, run: RunId, fut: impl Future<Output = ()> + Send + 'static) {
        self.tasks.retain(|_, h| !h.is_finished());
        let h = self.rt.spawn(fut);
        self.tasks.insert(run, h.abort_handle());
    }

    /// Runs `f` on the blocking pool (store writes, file I/O), where it may block on the
    /// bounded action channel.
    fn blocking(&self, f: impl FnOnce(&Shared, &mpsc::Sender<Action>) + Send + 'static) {
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        self.rt.spawn_blocking(move || f(&shared, &tx));
    }

    pub fn perform(&mut self, effect: Effect) {
        match effect {
            Effect::Triage {
                item,
                run,
                alert,
                delimiter,
                offline,
                claim,
            } => {
                let fut = runs::triage(
                    self.shared.clone(),
                    self.tx.clone(),
                    runs::TriageRun {
                        item,
                        run,
                        alert,
                        delimiter,
                        offline,
                        claim,
                    },
                );
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
                let fut = runs::ask(
                    self.shared.clone(),
                    self.tx.clone(),
                    runs::Question {
                        item,
                        run,
                        alert,
                        verdict,
                        history,
                        question,
                    },
                );
                self.spawn_run(run, fut);
            }
            Effect::Cancel { run, alert_key } => {
                if let Some(h) = self.tasks.remove(&run) {
                    h.abort();
                }
                self.blocking(move |s, _| {
                    save::close_runs(s, &alert_key, "cancelled by the analyst")
                });
            }
            Effect::SaveFeedback {
                item,
                feedback,
                what,
                claim,
            } => self.blocking(move |s, tx| {
                save::feedback(s, tx, item, &feedback, what, claim.as_deref());
            }),
            Effect::SaveNote {
                item,
                alert,
                triage_id,
                text,
            } => self.blocking(move |s, tx| save::note(s, tx, item, &alert, triage_id, &text)),
            Effect::LoadStats { analyst } => {
                self.blocking(move |s, tx| save::stats(s, tx, analyst.as_deref()));
            }
            Effect::Claim {
                item,
                alert,
                takeover,
            } => self.blocking(move |s, tx| team::claim(s, tx, item, &alert, takeover)),
            Effect::Release { item, alert } => {
                self.blocking(move |s, tx| team::release(s, tx, item, &alert));
            }
            Effect::Follow => team::follow(self.shared.clone(), self.tx.clone()),
            Effect::LoadIocHistory { item, alert } => self.blocking(move |s, tx| {
                let action = match s.store().and_then(|st| {
                    crate::intel::enrich::seen_before(&st, &alert.alert, 20)
                        .map_err(|e| e.to_string())
                }) {
                    Ok(history) => Action::IocHistoryLoaded { item, history },
                    Err(e) => {
                        Action::Notice(format!("the indicator history could not be read: {e}"))
                    }
                };
                let _ = tx.blocking_send(action);
            }),
            Effect::LoadDetail { id } => {
                let (shared, tx) = (self.shared.clone(), self.tx.clone());
                self.rt.spawn(kb::detail(shared, tx, id));
            }
            Effect::Preview {
                item,
                alert,
                sent,
                delimiter,
            } => {
                let (shared, tx) = (self.shared.clone(), self.tx.clone());
                self.rt
                    .spawn(runs::preview(shared, tx, item, alert, sent, delimiter));
            }
            Effect::Export {
                item,
                name,
                markdown,
            } => self.blocking(move |s, tx| save::export(s, tx, item, &name, &markdown)),
            Effect::LoadIncidents { alerts } => {
                self.blocking(move |s, tx| cases::load(s, tx, &alerts));
            }
            Effect::TriageIncident { id } => {
                let (shared, tx) = (self.shared.clone(), self.tx.clone());
                self.rt.spawn(cases::triage_incident(shared, tx, id));
            }
            Effect::IncidentDecision { pairs, merge, what } => {
                self.blocking(move |s, tx| cases::decide(s, tx, &pairs, merge, what));
            }
            Effect::Handoff {
                reference,
                target,
                alert,
            } => {
                let (shared, tx) = (self.shared.clone(), self.tx.clone());
                self.rt
                    .spawn(cases::handoff(shared, tx, reference, target, alert));
            }
            Effect::DraftDetection { reference, alert } => {
                let (shared, tx) = (self.shared.clone(), self.tx.clone());
                self.rt.spawn(cases::draft(shared, tx, reference, alert));
            }
            Effect::SaveDetection { reference, yaml } => {
                self.blocking(move |s, tx| cases::save_detection(s, tx, &reference, &yaml));
            }
            Effect::LoadClosures => self.blocking(cases::closures),
            Effect::UndoClosure { key } => {
                self.blocking(move |s, tx| cases::undo_closure(s, tx, key));
            }
            Effect::Quit { running, release } => {
                for (run, _) in &running {
                    if let Some(h) = self.tasks.remove(run) {
                        h.abort();
                    }
                }
                let shared = self.shared.clone();
                shared
                    .quitting
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                // Quitting waits for this (see `finish`), so no run is left open in the store.
                let h = self.rt.spawn_blocking(move || {
                    for (_, key) in running {
                        save::close_runs(&shared, &key, "the console was closed while it ran");
                    }
                    // Colleagues can take what this analyst held, claims being written now
                    // included.
                    if release {
                        for _ in 0..300 {
                            if shared
                                .claims_in_flight
                                .load(std::sync::atomic::Ordering::SeqCst)
                                == 0
                            {
                                break;
                            }
                            std::thread::sleep(std::time::Duration::from_millis(10));
                        }
                        let analyst = shared.cfg.config.analyst_name();
                        if let Err(e) = shared.store().and_then(|mut st| {
                            st.release_all_claims(&analyst).map_err(|e| e.to_string())
                        }) {
                            tracing::warn!("could not let go of the alerts held: {e}");
                        }
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
