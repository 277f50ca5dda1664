//! What every request handler shares: the knowledge base (which may still be loading),
//! the engine, a small pool of store connections, admission limits and the intake channel.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};

use crate::alert::load::LoadedAlert;
use crate::config::Secret;
use crate::llm::select::Engine;
use crate::search::KnowledgeBase;
use crate::store::{Store, StoreError};
use crate::triage::TriageParams;

use super::error::ApiError;

/// The knowledge base once opened (or why it could not be); `None` while it loads.
pub type KbSlot = Option<Result<Arc<KnowledgeBase>, String>>;

/// Alerts pushed in through `POST /alerts`, for a console running the API.
#[derive(Debug)]
pub struct Intake {
    pub alerts: Vec<LoadedAlert>,
    pub source: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Triages that run at once.
    pub concurrency: usize,
    /// Triages that may wait for a slot; beyond that, 429.
    pub queue_depth: usize,
    pub body_limit: usize,
    pub request_timeout: Duration,
}

/// Store connections reused across requests (opening one runs the migration check).
pub struct StorePool {
    dir: PathBuf,
    idle: Mutex<Vec<Store>>,
}

pub struct Pooled<'a> {
    pool: &'a StorePool,
    store: Option<Store>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        // Present from creation until drop.
        #[allow(clippy::expect_used)]
        self.store.as_ref().expect("pooled store")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        #[allow(clippy::expect_used)]
        self.store.as_mut().expect("pooled store")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let (Some(s), Ok(mut idle)) = (self.store.take(), self.pool.idle.lock()) {
            idle.push(s);
        }
    }
}

impl StorePool {
    pub fn new(dir: PathBuf) -> StorePool {
        StorePool {
            dir,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let reused = self.idle.lock().ok().and_then(|mut v| v.pop());
        let store = match reused {
            Some(s) => s,
            None => Store::open_in(&self.dir)?,
        };
        Ok(Pooled {
            pool: self,
            store: Some(store),
        })
    }
}

pub struct AppState {
    pub kb: watch::Receiver<KbSlot>,
    pub engine: Option<Engine>,
    pub params: TriageParams,
    pub stores: StorePool,
    pub limits: Limits,
    pub token: Option<Secret>,
    pub analyst: String,
    pub intake: Option<mpsc::UnboundedSender<Intake>>,
    pub(super) permits: Semaphore,
    pub(super) in_flight: AtomicUsize,
    pub(super) store_ok: Mutex<Option<(Instant, bool)>>,
}

/// Counts a triage from admission to its end, so the queue can be bounded.
pub struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kb: watch::Receiver<KbSlot>,
        engine: Option<Engine>,
        params: TriageParams,
        data_dir: PathBuf,
        limits: Limits,
        token: Option<Secret>,
        analyst: String,
        intake: Option<mpsc::UnboundedSender<Intake>>,
    ) -> AppState {
        AppState {
            kb,
            engine,
            params,
            stores: StorePool::new(data_dir),
            permits: Semaphore::new(limits.concurrency.max(1)),
            limits,
            token: token.filter(|t| !t.0.is_empty()),
            analyst,
            intake,
            in_flight: AtomicUsize::new(0),
            store_ok: Mutex::new(None),
        }
    }

    /// The knowledge base, or 503 while it loads (or when it failed to).
    pub fn kb(&self) -> Result<Arc<KnowledgeBase>, ApiError> {
        match &*self.kb.borrow() {
            Some(Ok(kb)) => Ok(kb.clone()),
            Some(Err(e)) => Err(ApiError::unavailable(format!(
                "the knowledge base is unavailable: {e}"
            ))),
            None => Err(ApiError::unavailable(
                "the knowledge base is still loading; retry in a few seconds",
            )),
        }
    }

    /// Admits one more triage, or 429 when the running and waiting ones fill the queue.
    pub fn admit(&self) -> Result<Admitted<'_>, ApiError> {
        let cap = self.limits.concurrency.max(1) + self.limits.queue_depth;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = Admitted(&self.in_flight);
        if now >= cap {
            return Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "queue_full",
                format!("{cap} triages are running or waiting; retry shortly"),
            ));
        }
        Ok(guard)
    }

    pub fn engine_name(&self) -> &str {
        self.engine
            .as_ref()
            .map_or("offline", |e| e.provider.engine())
    }

    pub fn model(&self) -> Option<String> {
        self.engine.as_ref().map(|e| e.provider.model().to_string())
    }

    /// Whether the store answers, checked at most once a second.
    pub fn store_reachable(&self) -> bool {
        if let Ok(cached) = self.store_ok.lock()
            && let Some((at, ok)) = *cached
            && at.elapsed() < Duration::from_secs(1)
        {
            return ok;
        }
        let ok = self.stores.get().is_ok_and(|s| s.ping().is_ok());
        if let Ok(mut cached) = self.store_ok.lock() {
            *cached = Some((Instant::now(), ok));
        }
        ok
    }
}
