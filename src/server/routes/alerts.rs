//! `POST /alerts` (webhook intake: one alert, an array, or NDJSON — Splunk's webhook alert
//! action and Elastic/Kibana webhook connectors included) and `GET /alerts`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::alert::load::{LoadError, Loaded, load_reader};

use crate::store::intake::Accepted;
use crate::triage::intake::Intake;

use super::super::error::{ApiError, ErrorBody};
use super::super::state::AppState;

/// A Kibana webhook connector whose body template wraps `{{context.alerts}}` sends one
/// object with the alerts under `context.alerts`; each of them is an alert.
fn unwrap_kibana(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let alerts = v.pointer("/context/alerts")?.as_array()?;
    (!alerts.is_empty() && alerts.iter().all(serde_json::Value::is_object))
        .then(|| serde_json::Value::Array(alerts.clone()).to_string())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntakeError {
    /// `POST /alerts:3` — the line (or array element) that could not be read.
    pub origin: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntakeResponse {
    /// Alerts read from the body and taken (new ones stored; duplicates acknowledged).
    pub accepted: usize,
    pub alert_ids: Vec<String>,
    /// Of those, how many were queued for triage.
    pub queued: usize,
    /// Alert ids already known (stored or triaged before): not stored or triaged again.
    pub duplicates: Vec<String>,
    pub errors: Vec<IntakeError>,
}

#[utoipa::path(
    post,
    path = "/alerts",
    request_body(content = Object, description = "One alert, a JSON array of alerts, or NDJSON; any shape the engine reads", content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted: stored and queued for triage (or shown in a console running the API); duplicates acknowledged", body = IntakeResponse),
        (status = 400, description = "Nothing could be read", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 429, description = "The intake queue is full; nothing was stored; retry after Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn intake(
    State(s): State<Arc<AppState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<IntakeResponse>), ApiError> {
    let mut loaded = Loaded::default();
    match unwrap_kibana(&body) {
        Some(array) => load_reader(array.as_bytes(), "POST /alerts context.alerts", &mut loaded),
        None => load_reader(&body[..], "POST /alerts", &mut loaded),
    }
    let errors: Vec<IntakeError> = loaded
        .errors
        .iter()
        .map(|e: &LoadError| IntakeError {
            origin: e.origin.clone(),
            message: e.message.clone(),
        })
        .collect();
    if loaded.alerts.is_empty() {
        let why = errors
            .first()
            .map_or("no alert in the body".to_string(), |e| {
                format!("{}: {}", e.origin, e.message)
            });
        return Err(ApiError::bad_request(format!(
            "no alert could be read — {why}"
        )));
    }
    let alerts = loaded.alerts;
    let alert_ids: Vec<String> = alerts.iter().map(|a| a.alert.id.clone()).collect();
    // Room in the queue first: a full queue answers 429 and stores nothing.
    let mut permits = match &s.intake {
        Some(sink) => Some(sink.tx.try_reserve_many(alerts.len()).map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "queue_full",
                format!(
                    "the intake queue has no room for {} more alerts; retry after a few seconds",
                    alerts.len()
                ),
            )
        })?),
        None => None,
    };
    let policy = s.intake.as_ref().and_then(|i| i.triages);
    let s2 = s.clone();
    let (alerts, accepted) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let mut store = s2.stores.get()?;
        let rows: Vec<_> = alerts
            .iter()
            .map(|a| {
                let queue = policy.is_some_and(|p| p.wants(a.alert.severity));
                (&a.alert, a.raw.as_str(), queue)
            })
            .collect();
        let accepted = store.accept_intake(&rows)?;
        Ok((alerts, accepted))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let mut duplicates = Vec::new();
    let mut queued = 0;
    for (a, acc) in alerts.into_iter().zip(accepted) {
        if acc == Accepted::Duplicate {
            duplicates.push(a.alert.id.clone());
            continue;
        }
        let forward = match s.intake.as_ref().map(|i| i.triages) {
            Some(Some(p)) => p.wants(a.alert.severity),
            Some(None) => true,
            None => false,
        };
        if forward && let Some(permit) = permits.as_mut().and_then(Iterator::next) {
            queued += usize::from(policy.is_some());
            permit.send(Intake {
                alert: a,
                source: "webhook".into(),
            });
        }
    }
    let accepted = alert_ids.len();
    tracing::info!(
        accepted,
        queued,
        duplicates = duplicates.len(),
        "alerts received"
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(IntakeResponse {
            accepted,
            alert_ids,
            queued,
            duplicates,
            errors,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// How many, newest first (1–1000, default 50; 1–100 with `raw`).
    pub limit: Option<u64>,
    /// Only alerts older than this cursor (the `cursor` of the last alert of the previous page).
    pub before: Option<i64>,
    /// Include each alert's raw event (default false: summaries only).
    pub raw: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertSummary {
    pub alert_id: String,
    pub title: String,
    pub source: String,
    pub severity: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub received_at: String,
    /// `received` (stored only), `queued`, `triaging`, `triaged`, `failed`, `cancelled` or
    /// `abandoned` (its process stopped mid-run).
    pub status: String,
    /// The latest triage of the alert, when there is one.
    pub triage_id: Option<String>,
    /// Its verdict, once triaged.
    pub verdict: Option<String>,
    pub confidence: Option<f64>,
    /// Pass as `before` to get the next (older) page.
    pub cursor: i64,
    /// The raw event as received, with `?raw=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

#[utoipa::path(
    get,
    path = "/alerts",
    params(ListQuery),
    responses((status = 200, body = [AlertSummary]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(s): State<Arc<AppState>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<AlertSummary>>, ApiError> {
    let Query(q) = q.map_err(|e| {
        let text = e.body_text();
        let field = ["before", "raw"]
            .into_iter()
            .find(|f| text.contains(f))
            .unwrap_or("limit");
        ApiError::field(field, text)
    })?;
    let raw = q.raw.unwrap_or(false);
    let max = if raw { 100 } else { 1000 };
    let limit = match q.limit {
        None => 50.min(max) as usize,
        Some(n) if (1..=max).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::field(
                "limit",
                format!(
                    "limit must be 1–{max}{}, got {n}",
                    if raw { " with raw=true" } else { "" }
                ),
            ));
        }
    };
    tokio::task::spawn_blocking(move || {
        let store = s.stores.get()?;
        Ok(Json(
            store
                .alert_statuses(limit, q.before, raw)?
                .into_iter()
                .map(|st| AlertSummary {
                    alert_id: st.alert_key,
                    title: st.title,
                    source: st.source,
                    severity: st.severity,
                    host: st.host,
                    user: st.user,
                    received_at: st.received_at,
                    status: st.status,
                    triage_id: st.triage_id,
                    verdict: st.verdict,
                    confidence: st.confidence,
                    cursor: st.row,
                    raw: st.raw,
                })
                .collect(),
        ))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
}
