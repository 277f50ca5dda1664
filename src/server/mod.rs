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

/// Serves until `shutdown` resolves; requests in flight (and their store writes) finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
