//! The knowledge base: opened in the background (built first on a first run with a local
//! ATT&CK bundle, with progress in the status line), and technique details for `t`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

use crate::search::KnowledgeBase;
use crate::search::ingest::{IngestObserver, IngestOptions, ingest, locate};

use super::super::action::Action;
use super::super::state::TechniqueDetail;
use super::{Shared, WorkerConfig, Workers};

struct KbProgress {
    tx: mpsc::Sender<Action>,
    total: AtomicUsize,
    done: AtomicUsize,
}

impl IngestObserver for KbProgress {
    fn stage(&self, name: &str) {
        // Progress is advisory: when the console is behind, skip a step rather than wait.
        let _ = self
            .tx
            .try_send(Action::KbProgress(format!("first run: {name}")));
    }
    fn embedding_started(&self, total: usize) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn embedded(&self, n: usize) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        let total = self.total.load(Ordering::Relaxed).max(1);
        let _ = self.tx.try_send(Action::KbProgress(format!(
            "first run: embedding ATT&CK {}%",
            done * 100 / total
        )));
    }
}

impl Workers {
    /// Opens the knowledge base in the background; on a first run with a local ATT&CK
    /// bundle, builds it first.
    pub fn open_kb(&self) {
        self.blocking(|shared, tx| {
            let result = open_or_build(&shared.cfg, tx);
            let _ = tx.blocking_send(match &result {
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
}

fn open_or_build(
    cfg: &WorkerConfig,
    tx: &mpsc::Sender<Action>,
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
    let _ = tx.try_send(Action::KbProgress("opening the knowledge base".into()));
    let dir = locate(&cfg.data_dir);
    KnowledgeBase::open(&dir, embedder.ok())
        .map(Arc::new)
        .map_err(|e| format!("{e} (in {})", dir.display()))
}

pub(super) async fn detail(shared: Arc<Shared>, tx: mpsc::Sender<Action>, id: String) {
    let action = match shared.kb().await {
        Ok(kb) => match technique(&kb, &id) {
            Some(d) => Action::DetailLoaded(Box::new(d)),
            None => return,
        },
        Err(e) => Action::Notice(e),
    };
    let _ = tx.send(action).await;
}

fn technique(kb: &KnowledgeBase, id: &str) -> Option<TechniqueDetail> {
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
