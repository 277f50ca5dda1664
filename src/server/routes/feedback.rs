//! `POST /feedback` and `GET /feedback/accuracy`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::store::accuracy::Accuracy;
use crate::store::feedback::{NewFeedback, Thumbs};
use crate::triage::Level;

use super::super::error::{ApiError, ErrorBody, parse_json};
use super::super::state::AppState;

/// The analyst's judgement of a triage.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    pub triage_id: String,
    /// The alert, for the caller's records; the store already has it.
    #[serde(default)]
    pub alert_text: Option<String>,
    /// The verdict the caller saw; checked against the stored one when given.
    #[serde(default)]
    pub agent_verdict: Option<String>,
    /// CRITICAL, HIGH, MEDIUM, LOW or BENIGN.
    pub analyst_verdict: String,
    /// Whether the tool's verdict was right (thumbs up or down).
    pub analyst_correct: bool,
    #[serde(default)]
    pub analyst_notes: Option<String>,
    /// Who gives the feedback (recorded with it; default: the server's analyst name).
    #[serde(default)]
    #[schema(max_length = 64)]
    pub analyst: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackResponse {
    pub feedback_id: i64,
    pub triage_id: String,
}

fn level(field: &str, v: &str) -> Result<Level, ApiError> {
    Level::parse(v).ok_or_else(|| {
        ApiError::field(
            field,
            format!("{field} must be one of CRITICAL, HIGH, MEDIUM, LOW, BENIGN; got {v:?}"),
        )
    })
}

#[utoipa::path(
    post,
    path = "/feedback",
    request_body = FeedbackRequest,
    responses(
        (status = 201, body = FeedbackResponse),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown triage_id", body = ErrorBody),
        (status = 409, description = "The triage is not complete (running, failed, cancelled or abandoned), or another analyst holds the alert (team mode)", body = ErrorBody),
        (status = 413, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn feedback(
    State(s): State<Arc<AppState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<FeedbackResponse>), ApiError> {
    let req: FeedbackRequest = parse_json(&body)?;
    let analyst_verdict = level("analyst_verdict", &req.analyst_verdict)?;
    if let Some(a) = &req.agent_verdict {
        level("agent_verdict", a)?;
    }
    if req.triage_id.trim().is_empty() {
        return Err(ApiError::field("triage_id", "triage_id is empty"));
    }
    let analyst = match req.analyst.as_deref().map(str::trim) {
        None => s.analyst.clone(),
        Some(a) if a.is_empty() || a.chars().count() > 64 || a.chars().any(char::is_control) => {
            return Err(ApiError::field(
                "analyst",
                "analyst must be 1–64 printable characters (or left out for the server's analyst name)",
            ));
        }
        Some(a) => a.to_string(),
    };
    tokio::task::spawn_blocking(move || {
        let mut store = s.stores.get()?;
        if let (Some(agent), Some(t)) = (&req.agent_verdict, store.triage(&req.triage_id)?)
            && let Some(stored) = &t.verdict
            && !stored.eq_ignore_ascii_case(agent)
        {
            return Err(ApiError::field(
                "agent_verdict",
                format!("triage {} has verdict {stored}, not {agent}", req.triage_id),
            ));
        }
        let id = store.add_feedback(&NewFeedback {
            triage_id: req.triage_id.clone(),
            thumbs: Some(if req.analyst_correct {
                Thumbs::Up
            } else {
                Thumbs::Down
            }),
            reason: None,
            analyst_verdict: Some(analyst_verdict.as_str().into()),
            notes: req.analyst_notes.filter(|n| !n.trim().is_empty()),
            analyst,
        })?;
        Ok((
            StatusCode::CREATED,
            Json(FeedbackResponse {
                feedback_id: id,
                triage_id: req.triage_id,
            }),
        ))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AccuracyQuery {
    /// Only this analyst's judgements (default: the whole team's).
    #[param(max_length = 64)]
    pub analyst: Option<String>,
}

#[utoipa::path(
    get,
    path = "/feedback/accuracy",
    params(AccuracyQuery),
    responses((status = 200, body = Accuracy), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn accuracy(
    State(s): State<Arc<AppState>>,
    q: Result<Query<AccuracyQuery>, QueryRejection>,
) -> Result<Json<Accuracy>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    tokio::task::spawn_blocking(move || {
        Ok(Json(s.stores.get()?.accuracy_of(q.analyst.as_deref())?))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
}
