//! The HTTP API: triage, feedback, accuracy, health, webhook intake, the OpenAPI document
//! and a Swagger UI — on the same engine as the CLI and the console.

pub mod auth;
pub mod error;
pub mod openapi;
pub mod routes;
pub mod state;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub use state::{AppState, IntakeSink, Limits};

pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/triage", post(routes::triage::triage))
        .route("/triage/{id}", get(routes::triage::get_triage))
        .route("/feedback", post(routes::feedback::feedback))
        .route("/feedback/accuracy", get(routes::feedback::accuracy))
        .route(
            "/alerts",
            post(routes::alerts::intake).get(routes::alerts::list),
        )
        .route("/incidents", get(routes::incidents::list))
        .route("/incidents/{id}", get(routes::incidents::get))
        .route("/health", get(routes::health::health))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi::ApiDoc::openapi()))
        .layer(DefaultBodyLimit::max(state.limits.body_limit))
        .layer(from_fn_with_state(state.clone(), auth::timeout))
        .layer(from_fn_with_state(state.clone(), auth::require_token))
        .layer(from_fn(auth::json_errors))
        .layer(from_fn(auth::access_log));
    api.with_state(state)
}

/// The API run inside another program (the console): bound by the caller, started on the
/// caller's runtime, handing every alert pushed to `POST /alerts` to the returned channel.
pub struct Embedded {
    pub listener: std::net::TcpListener,
    pub limits: Limits,
    pub token: Option<crate::config::Secret>,
    pub analyst: String,
    pub data_dir: std::path::PathBuf,
    pub params: crate::triage::TriageParams,
}

impl Embedded {
    /// Serves until the runtime stops; returns the address and the intake channel.
    pub fn start(
        self,
        kb: tokio::sync::watch::Receiver<crate::search::KbSlot>,
        engine: Arc<dyn crate::triage::Engine>,
    ) -> std::io::Result<(
        String,
        tokio::sync::mpsc::Receiver<crate::triage::intake::Intake>,
    )> {
        self.listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let addr = listener.local_addr()?.to_string();
        let (tx, intake) = tokio::sync::mpsc::channel(self.limits.queue_depth.max(1));
        let state = Arc::new(AppState::new(
            kb,
            engine,
            self.params,
            self.data_dir,
            self.limits,
            self.token,
            self.analyst,
            Some(IntakeSink { tx, triages: None }),
        ));
        tokio::spawn(async move {
            if let Err(e) = serve(listener, state, std::future::pending::<()>()).await {
                tracing::error!("the API stopped: {e}");
            }
        });
        tracing::info!(%addr, "API listening inside the console");
        Ok((addr, intake))
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// How long a client may take to send a request's headers before its connection closes.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves until `shutdown` resolves; requests in flight (and their store writes) finish.
///
/// Each connection is bounded: its headers must arrive within `header_read_timeout`, it
/// closes after `request_timeout` + 20 s without a byte either way (an answer or an SSE
/// keep-alive is always sooner), and at most `max_connections` are open at once. At the
/// cap, the half-open connection silent longest (one that never completed a request) is
/// closed to make room; when there is none, the new one is closed. So a flood of half-open
/// sockets cannot starve `/health`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let idle = state.limits.request_timeout + std::time::Duration::from_secs(20);
    let header_timeout = state.limits.header_read_timeout;
    let slots = Arc::new(tokio::sync::Semaphore::new(
        state.limits.max_connections.max(1),
    ));
    let app = router(state);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut conns = tokio::task::JoinSet::new();
    let open = idle::Registry::default();
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            // At the cap: the connection that has sent nothing for longest and never
            // completed a request (a half-open socket) makes room; if there is none, the
            // new one is closed.
            Err(_) if open.evict_stalest() => {
                match tokio::time::timeout(
                    std::time::Duration::from_millis(500),
                    slots.clone().acquire_owned(),
                )
                .await
                {
                    Ok(Ok(slot)) => slot,
                    _ => {
                        tracing::warn!(%peer, "connection refused: at the connection cap");
                        continue;
                    }
                }
            }
            Err(_) => {
                tracing::warn!(%peer, "connection refused: at the connection cap");
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        let (app, mut stop) = (app.clone(), stop_rx.clone());
        let (activity, evicted, entry) = open.add();
        conns.spawn(async move {
            let _slot = slot;
            let _entry = entry;
            let io = TokioIo::new(idle::Tracked::new(stream, activity.clone()));
            let served = activity.clone();
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    served.served();
                    app.clone().oneshot(req.map(axum::body::Body::new))
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(io, service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(%peer, "connection ended: {e}");
                        }
                        return;
                    }
                    _ = stop.changed() => {
                        conn.as_mut().graceful_shutdown();
                    }
                    _ = evicted.notified() => {
                        tracing::debug!(%peer, "half-open connection closed to make room");
                        return;
                    }
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {
                        if activity.idle_for() > idle {
                            tracing::debug!(%peer, "connection closed: idle");
                            return;
                        }
                    }
                }
            }
        });
    }
    // Stop accepting; let requests in flight finish (their store writes included).
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
    Ok(())
}

mod idle {
    //! Time since a connection last moved a byte, for the idle timeout.

    use std::collections::HashMap;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    pub struct Activity {
        origin: Instant,
        last_ms: AtomicU64,
        /// A request got through (its headers were read): not a half-open socket.
        served: AtomicBool,
    }

    impl Default for Activity {
        fn default() -> Self {
            Activity {
                origin: Instant::now(),
                last_ms: AtomicU64::new(0),
                served: AtomicBool::new(false),
            }
        }
    }

    type Open = HashMap<u64, (Arc<Activity>, Arc<tokio::sync::Notify>)>;

    /// The open connections, so the stalest half-open one can be closed at the cap.
    #[derive(Default, Clone)]
    pub struct Registry {
        open: Arc<Mutex<Open>>,
        next: Arc<AtomicU64>,
    }

    /// Removes its connection from the registry when the connection ends.
    pub struct Entry {
        id: u64,
        open: Arc<Mutex<Open>>,
    }

    impl Drop for Entry {
        fn drop(&mut self) {
            if let Ok(mut m) = self.open.lock() {
                m.remove(&self.id);
            }
        }
    }

    impl Registry {
        pub fn add(&self) -> (Arc<Activity>, Arc<tokio::sync::Notify>, Entry) {
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            let (a, n) = (
                Arc::new(Activity::default()),
                Arc::new(tokio::sync::Notify::new()),
            );
            if let Ok(mut m) = self.open.lock() {
                m.insert(id, (a.clone(), n.clone()));
            }
            let entry = Entry {
                id,
                open: self.open.clone(),
            };
            (a, n, entry)
        }

        /// Tells the connection that never completed a request and has been silent longest
        /// (at least 200 ms) to close. False when there is none.
        pub fn evict_stalest(&self) -> bool {
            let Ok(mut m) = self.open.lock() else {
                return false;
            };
            let victim = m
                .iter()
                .filter(|(_, (a, _))| !a.served.load(Ordering::Relaxed))
                .map(|(id, (a, _))| (*id, a.idle_for()))
                .filter(|(_, idle)| *idle >= Duration::from_millis(200))
                .max_by_key(|(_, idle)| *idle)
                .map(|(id, _)| id);
            match victim.and_then(|id| m.remove(&id)) {
                Some((_, n)) => {
                    n.notify_one();
                    true
                }
                None => false,
            }
        }
    }

    impl Activity {
        pub fn served(&self) {
            self.served.store(true, Ordering::Relaxed);
        }

        fn touch(&self) {
            self.last_ms
                .store(self.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
        }

        pub fn idle_for(&self) -> Duration {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            self.origin.elapsed().saturating_sub(last)
        }
    }

    pub struct Tracked<S> {
        inner: S,
        activity: Arc<Activity>,
    }

    impl<S> Tracked<S> {
        pub fn new(inner: S, activity: Arc<Activity>) -> Self {
            Tracked { inner, activity }
        }
    }

    impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let before = buf.filled().len();
            let r = Pin::new(&mut self.inner).poll_read(cx, buf);
            if buf.filled().len() > before {
                self.activity.touch();
            }
            r
        }
    }

    impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let r = Pin::new(&mut self.inner).poll_write(cx, buf);
            if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
                self.activity.touch();
            }
            r
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }
}
