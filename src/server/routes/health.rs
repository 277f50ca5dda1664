//! `GET /health`: what a load balancer or an operator needs to know, without auth.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::super::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `starting` (knowledge base loading) or `degraded`.
    pub status: String,
    pub version: String,
    pub attack_version: Option<String>,
    pub techniques: Option<usize>,
    pub engine: String,
    pub model: Option<String>,
    pub embedding_model_loaded: bool,
    /// The store took a write (a one-row probe) within the last second.
    pub store_reachable: bool,
    /// The index answered a probe search.
    pub index_searchable: bool,
    /// `hybrid` (BM25 + embeddings) or `bm25-only` (the embedding model is not loaded:
    /// verdicts rest on keyword retrieval alone).
    pub retrieval: String,
    /// Why the status is not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[utoipa::path(
    get,
    path = "/health",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Starting or degraded", body = Health),
    )
)]
pub async fn health(State(s): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
    let s2 = s.clone();
    let probe = tokio::task::spawn_blocking(move || s2.probe())
        .await
        .unwrap_or_else(|_| crate::server::state::Probe {
            store: Some("the store check did not finish".into()),
            index: None,
        });
    let store_reachable = probe.store.is_none();
    let mut h = Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        attack_version: None,
        techniques: None,
        engine: s.engine_name().into(),
        model: s.model(),
        embedding_model_loaded: false,
        store_reachable,
        index_searchable: probe.index.is_none(),
        retrieval: "bm25-only".into(),
        problem: None,
    };
    match &*s.kb.borrow() {
        Some(Ok(kb)) => {
            h.attack_version = Some(kb.catalog.attack_version.clone());
            h.techniques = Some(kb.catalog.techniques.len());
            h.embedding_model_loaded = kb.has_dense();
            if kb.has_dense() {
                h.retrieval = "hybrid".into();
            }
        }
        Some(Err(e)) => {
            h.status = "degraded".into();
            h.problem = Some(format!("knowledge base unavailable: {e}"));
        }
        None => {
            h.status = "starting".into();
            h.problem = Some("the knowledge base is loading".into());
        }
    }
    if let Some(p) = probe.store.or(probe.index)
        && h.problem.is_none()
    {
        h.status = "degraded".into();
        h.problem = Some(p);
    }
    let code = if h.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(h))
}
