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

use super::super::error::{ApiError, ErrorBody};
use super::super::state::{AppState, Intake};

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
    pub accepted: usize,
    pub alert_ids: Vec<String>,
    pub errors: Vec<IntakeError>,
}

#[utoipa::path(
    post,
    path = "/alerts",
    request_body(content = Object, description = "One alert, a JSON array of alerts, or NDJSON; any shape the engine reads", content_type = "application/json"),
    responses(
        (status = 202, description = "Queued (stored, and shown in a console running the API)", body = IntakeResponse),
        (status = 400, description = "Nothing could be read", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody),
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
    let s2 = s.clone();
    let alerts = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let mut store = s2.stores.get()?;
        for a in &alerts {
            store.upsert_alert(&a.alert, &a.raw, None)?;
        }
        Ok(alerts)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let accepted = alerts.len();
    if let Some(tx) = &s.intake {
        let _ = tx.send(Intake {
            alerts,
            source: "webhook".into(),
        });
    }
    tracing::info!(accepted, "alerts received");
    Ok((
        StatusCode::ACCEPTED,
        Json(IntakeResponse {
            accepted,
            alert_ids,
            errors,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// How many, newest first (1–1000, default 50).
    pub limit: Option<u64>,
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
    let Query(q) = q.map_err(|e| ApiError::field("limit", e.body_text()))?;
    let limit = match q.limit {
        None => 50,
        Some(n @ 1..=1000) => n as usize,
        Some(n) => {
            return Err(ApiError::field(
                "limit",
                format!("limit must be 1–1000, got {n}"),
            ));
        }
    };
    tokio::task::spawn_blocking(move || {
        let store = s.stores.get()?;
        Ok(Json(
            store
                .recent_alerts(limit)?
                .into_iter()
                .map(|a| AlertSummary {
                    alert_id: a.alert.id,
                    title: a.alert.title,
                    source: a.alert.source,
                    severity: a.alert.severity.map(|s| s.as_str().to_string()),
                    host: a.alert.host,
                    user: a.alert.user,
                    received_at: a.created_at,
                })
                .collect(),
        ))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
}
