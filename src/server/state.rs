//! What every request handler shares: the knowledge base (which may still be loading),
//! the engine, a small pool of store connections, admission limits and the intake channel.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};

use crate::config::Secret;
use crate::search::{KbSlot, KnowledgeBase};
use crate::store::StorePool;
use crate::triage::intake::{AutoTriage, Intake};
use crate::triage::{Engine, Pipeline, TriageParams};

use super::error::ApiError;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Triages that run at once.
    pub concurrency: usize,
    /// Triages that may wait for a slot; beyond that, 429.
    pub queue_depth: usize,
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// Connections open at once; one over the cap is closed at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
}

/// Where `POST /alerts` sends what it accepted. The composition root wires the receiver:
/// `serve` runs the intake workers on it, the console shows the alerts.
#[derive(Clone)]
pub struct IntakeSink {
    pub tx: mpsc::Sender<Intake>,
    /// Which alerts the receiver triages (they are queued, and recovered after a restart);
    /// `None`: the receiver gets every alert and decides for itself (the console).
    pub triages: Option<AutoTriage>,
}

/// What `/health` found wrong with the store and the index.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub store: Option<String>,
    pub index: Option<String>,
}

pub struct AppState {
    pub kb: watch::Receiver<KbSlot>,
    pub engine: Arc<dyn Engine>,
    pub params: TriageParams,
    pub stores: Arc<StorePool>,
    pub limits: Limits,
    pub token: Option<Secret>,
    pub analyst: String,
    pub intake: Option<IntakeSink>,
    /// Remote threat-intel providers shared by every triage (their budgets too).
    pub intel: Option<Arc<crate::intel::remote::Investigator>>,
    /// How alerts are correlated into incidents (`[incidents]`).
    pub incident_settings: crate::incident::correlate::Settings,
    /// What the store looked like at the last correlation (see `refresh_if_changed`).
    pub incidents_seen: Mutex<Option<(i64, i64, i64)>>,
    pub(super) permits: Semaphore,
    pub(super) in_flight: AtomicUsize,
    pub(super) store_ok: Mutex<Option<(Instant, Probe)>>,
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
        engine: Arc<dyn Engine>,
        params: TriageParams,
        data_dir: PathBuf,
        limits: Limits,
        token: Option<Secret>,
        analyst: String,
        intake: Option<IntakeSink>,
    ) -> AppState {
        AppState {
            kb,
            engine,
            params,
            stores: Arc::new(StorePool::new(data_dir)),
            permits: Semaphore::new(limits.concurrency.max(1)),
            limits,
            token: token.filter(|t| !t.0.is_empty()),
            analyst,
            intake,
            intel: None,
            incident_settings: Default::default(),
            incidents_seen: Mutex::new(None),
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

    /// The triage pipeline, or 503 while the knowledge base loads.
    pub fn pipeline(&self) -> Result<Pipeline, ApiError> {
        Ok(Pipeline {
            kb: self.kb()?,
            stores: self.stores.clone(),
            engine: self.engine.clone(),
            params: self.params,
            intel: self.intel.clone(),
        })
    }

    pub fn engine_name(&self) -> &str {
        self.engine.name()
    }

    pub fn model(&self) -> Option<String> {
        self.engine.model().map(str::to_string)
    }

    /// Whether the store takes a write and the index answers a search, checked at most
    /// once a second (blocking: call from the blocking pool). The problem, when there is
    /// one, says what without naming machine paths.
    pub fn probe(&self) -> Probe {
        if let Ok(cached) = self.store_ok.lock()
            && let Some((at, p)) = &*cached
            && at.elapsed() < Duration::from_secs(1)
        {
            return p.clone();
        }
        let store = match self.stores.get().and_then(|s| s.probe_write()) {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!("health: the store does not take writes: {e}");
                Some(format!(
                    "the store does not take writes ({})",
                    super::error::redact_paths(&e.to_string())
                ))
            }
        };
        let index = match &*self.kb.borrow() {
            Some(Ok(kb)) => kb.probe().err().map(|e| {
                tracing::warn!("health: the index cannot be searched: {e}");
                format!(
                    "the index cannot be searched ({})",
                    super::error::redact_paths(&e.to_string())
                )
            }),
            _ => None,
        };
        let p = Probe { store, index };
        if let Ok(mut cached) = self.store_ok.lock() {
            *cached = Some((Instant::now(), p.clone()));
        }
        p
    }
}
