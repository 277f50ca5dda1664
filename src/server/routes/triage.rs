//! `POST /triage` (JSON or Server-Sent Events) and `GET /triage/{id}`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::alert::load::LoadedAlert;
use crate::alert::parse::{from_json, from_text};
use crate::search::Hit;
use crate::store::feedback::Feedback;
use crate::triage::engine::{EngineError, TriageOutcome};
use crate::triage::events::{Event as RunEvent, Observer, Quiet, outbox};
use crate::triage::provenance::Provenance;
use crate::triage::{Request, Verdict};

use super::super::error::{ApiError, ErrorBody, from_value, parse_json};
use super::super::state::AppState;

/// One alert to triage: free text, or an alert in any shape the engine reads (Elastic,
/// Splunk, Wazuh, the `{alert_id, title, …}` shape, or any JSON object).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriageRequest {
    /// The alert as text.
    #[serde(default)]
    pub alert_text: Option<String>,
    /// The alert as a JSON object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub alert: Option<serde_json::Value>,
    /// Techniques retrieved for the engine (1–50, default 8).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 50)]
    pub top_k: Option<u64>,
    /// `pipeline` (every indicator looked up, then one model call) or `agentic` (the model
    /// calls the tools it chooses). Default: the server's `[triage] mode`.
    #[serde(default)]
    #[schema(example = "agentic")]
    pub mode: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StreamQuery {
    /// Reply with Server-Sent Events: `techniques`, `reasoning` deltas, then `verdict`.
    #[serde(default)]
    pub stream: Option<bool>,
}

/// The verdict (with `triage_id`), the alert it is about and how it was reached.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriageResponse {
    #[serde(flatten)]
    pub verdict: Verdict,
    pub alert_id: String,
    pub provenance: Provenance,
}

impl TriageResponse {
    fn new(o: TriageOutcome, alert_id: String) -> TriageResponse {
        let mut provenance = o.provenance;
        provenance.prompt = None;
        TriageResponse {
            verdict: o.verdict,
            alert_id,
            provenance,
        }
    }
}

fn to_request(req: TriageRequest) -> Result<Request, ApiError> {
    let mode = match req.mode.as_deref() {
        None => None,
        Some(m) => Some(crate::triage::engine::TriageMode::parse(m).ok_or_else(|| {
            ApiError::field(
                "mode",
                format!("mode must be \"pipeline\" or \"agentic\", got {m:?}"),
            )
        })?),
    };
    let top_k = match req.top_k {
        None => 8,
        Some(k @ 1..=50) => k as usize,
        Some(k) => {
            return Err(ApiError::field(
                "top_k",
                format!("top_k must be 1–50, got {k}"),
            ));
        }
    };
    let (alert, raw) = match (req.alert_text, req.alert) {
        (Some(t), None) if !t.trim().is_empty() => (from_text(&t, None), t),
        (Some(_), None) => return Err(ApiError::field("alert_text", "alert_text is empty")),
        (None, Some(v)) if v.is_object() => (from_json(&v), v.to_string()),
        (None, Some(_)) => return Err(ApiError::field("alert", "alert must be a JSON object")),
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "alert",
                "send alert_text or alert, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::field(
                "alert_text",
                "the body needs alert_text (a string) or alert (an object)",
            ));
        }
    };
    if alert.is_empty() {
        return Err(ApiError::field("alert", crate::alert::load::EMPTY_ALERT));
    }
    if raw.len() > crate::alert::load::MAX_ALERT_BYTES {
        return Err(ApiError::field(
            "alert",
            "the alert is over 1 MiB; trim the raw event",
        ));
    }
    Ok(Request {
        alert: std::sync::Arc::new(LoadedAlert {
            alert,
            raw,
            origin: "POST /triage".into(),
        }),
        top_k: Some(top_k),
        delimiter: None,
        mode,
    })
}

/// Runs one triage through the pipeline, holding a triage slot throughout.
async fn run(
    s: Arc<AppState>,
    req: Request,
    observer: &mut dyn Observer,
) -> Result<TriageOutcome, ApiError> {
    let pipeline = s.pipeline()?;
    let _permit = s
        .permits
        .acquire()
        .await
        .map_err(|_| ApiError::unavailable("the server is shutting down"))?;
    pipeline.run(req, observer).await.map_err(engine_error)
}

fn engine_error(e: EngineError) -> ApiError {
    if let EngineError::BudgetSpent(why) = &e {
        return ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "budget_spent",
            why.clone(),
        );
    }
    if e.is_engine_failure() {
        ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "engine_failed",
            e.to_string(),
        )
    } else {
        ApiError::internal(e.to_string())
    }
}

fn json_event(name: &str, v: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(v)
        .unwrap_or_else(|_| Event::default().event(name))
}

#[derive(Serialize)]
struct TechniqueEvent<'a> {
    id: &'a str,
    name: &'a str,
    tactics: &'a [String],
    score: f32,
    why: Vec<String>,
}

fn techniques_event(hits: &[Hit]) -> Event {
    let t: Vec<TechniqueEvent> = hits
        .iter()
        .map(|h| TechniqueEvent {
            id: &h.id,
            name: &h.name,
            tactics: &h.tactics,
            score: h.score,
            why: h.why.iter().map(ToString::to_string).collect(),
        })
        .collect();
    json_event("techniques", &t)
}

/// A run event as an SSE event; `None` for events the API does not stream.
fn sse_event(e: RunEvent, alert_id: &str) -> Option<Event> {
    Some(match e {
        RunEvent::Started { .. } | RunEvent::RawAnswer(_) => return None,
        RunEvent::Retrieved(hits) => techniques_event(&hits),
        RunEvent::Text(text) => json_event("reasoning", &serde_json::json!({ "text": text })),
        RunEvent::Warning(w) => json_event("warning", &serde_json::json!({ "message": w })),
        RunEvent::ToolCall { id, name, input } => json_event(
            "tool_call",
            &serde_json::json!({ "id": id, "name": name, "input": input }),
        ),
        RunEvent::ToolResult(r) => json_event("tool_result", &r),
        RunEvent::AutoClosed(why) => {
            json_event("closed", &serde_json::json!({ "justification": why }))
        }
        RunEvent::Verdict(o) => json_event("verdict", &TriageResponse::new(*o, alert_id.into())),
        // The API error body (code and message), as JSON.
        RunEvent::Error(body) => Event::default().event("error").data(body),
    })
}

#[utoipa::path(
    post,
    path = "/triage",
    request_body = TriageRequest,
    params(StreamQuery),
    responses(
        (status = 200, description = "The verdict; with ?stream=true, text/event-stream events `techniques`, `reasoning`, `closed` (when [autoclose] closed it), `verdict` (or `error`)", body = TriageResponse),
        (status = 400, description = "Bad input; `field` names it", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 429, description = "Triage queue full", body = ErrorBody),
        (status = 502, description = "The model failed", body = ErrorBody),
        (status = 503, description = "Knowledge base not ready", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn triage(
    State(s): State<Arc<AppState>>,
    q: Result<Query<StreamQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::field("stream", e.body_text()))?;
    let value: serde_json::Value = parse_json(&body)?;
    // `{"alert_text"}` / `{"alert"}` as documented; any other object is taken as the alert.
    let req: TriageRequest = match &value {
        serde_json::Value::Object(m)
            if !m.is_empty()
                && !m.contains_key("alert_text")
                && !m.contains_key("alert")
                && !m.contains_key("top_k") =>
        {
            TriageRequest {
                alert_text: None,
                alert: Some(value),
                top_k: None,
                mode: None,
            }
        }
        serde_json::Value::Object(_) => from_value(value, "the body is not a triage request")?,
        _ => return Err(ApiError::bad_request("the body must be a JSON object")),
    };
    let req = to_request(req)?;
    s.kb()?;
    let alert_id = req.alert.alert.id.clone();
    if q.stream.unwrap_or(false) {
        let admitted = s.admit()?;
        drop(admitted);
        // Text deltas the client has not read yet merge into its next event: none dropped.
        let (mut tx, rx) = outbox();
        let s2 = s.clone();
        tokio::spawn(async move {
            let result = match s2.admit() {
                Ok(_admitted) => {
                    let mut relay = |e: RunEvent| {
                        // The error goes out once, below, with its API code.
                        if !matches!(e, RunEvent::Error(_)) {
                            tx.event(e);
                        }
                    };
                    run(s2.clone(), req, &mut relay).await.map(|_| ())
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tx.event(RunEvent::Error(
                    serde_json::to_string(&e.body).unwrap_or_default(),
                ));
            }
        });
        let stream = futures_util::stream::unfold((rx, alert_id), |(mut rx, id)| async move {
            loop {
                let e = rx.recv().await?;
                if let Some(ev) = sse_event(e, &id) {
                    return Some((Ok::<_, Infallible>(ev), (rx, id)));
                }
            }
        });
        return Ok(Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    // The run is its own task: a client that hangs up (or times out) does not stop it, and
    // its verdict is recorded (GET /alerts and GET /triage/{id} show it), as with streams.
    let s2 = s.clone();
    let o = tokio::spawn(async move {
        let _admitted = s2.admit()?;
        run(s2.clone(), req, &mut Quiet).await
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(Json(TriageResponse::new(o, alert_id)).into_response())
}

/// A stored triage with the analyst feedback on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredTriage {
    pub id: String,
    pub alert_id: String,
    pub alert_title: String,
    /// running, complete, failed, cancelled or abandoned.
    pub status: String,
    pub engine: String,
    pub model: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub verdict: Option<serde_json::Value>,
    pub error: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub latency_ms: Option<u64>,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub feedback: Vec<Feedback>,
}

#[utoipa::path(
    get,
    path = "/triage/{id}",
    params(("id" = String, Path, description = "The triage_id POST /triage returned")),
    responses(
        (status = 200, body = StoredTriage),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such triage", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_triage(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<StoredTriage>, ApiError> {
    tokio::task::spawn_blocking(move || {
        let store = s.stores.get()?;
        let Some(t) = store.triage(&id)? else {
            return Err(ApiError::not_found(
                "unknown_triage",
                format!("no triage with id {id}; POST /triage returns one"),
            ));
        };
        let feedback = store.feedback_for(&t.id)?;
        Ok(Json(StoredTriage {
            verdict: t
                .verdict_json
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok()),
            id: t.id,
            alert_id: t.alert_key,
            alert_title: t.alert_title,
            status: t.status.as_str().into(),
            engine: t.engine,
            model: t.model,
            error: t.error,
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            cost_usd: t.cost_usd,
            latency_ms: t.latency_ms,
            created_at: t.created_at,
            finished_at: t.finished_at,
            feedback,
        }))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
}
