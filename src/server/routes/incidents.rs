//! `GET /incidents` and `GET /incidents/{id}`: alerts correlated into incidents. Grouping
//! is brought up to date (when anything changed) before every read, so an alert accepted
//! by `POST /alerts` is in its incident on the next read.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::incident::{IncidentDetail, detail, refresh_if_changed};
use crate::store::incidents::IncidentSummary;

use super::super::error::{ApiError, ErrorBody};
use super::super::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub struct IncidentsQuery {
    /// How many, most recent activity first (1–1000, default 100).
    pub limit: Option<u64>,
}

fn refreshed(s: &AppState) -> Result<crate::store::Pooled<'_>, ApiError> {
    let mut store = s.stores.get()?;
    refresh_if_changed(&mut store, s.incident_settings.clone(), &s.incidents_seen)?;
    Ok(store)
}

#[utoipa::path(
    get,
    path = "/incidents",
    params(IncidentsQuery),
    responses((status = 200, body = [IncidentSummary]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(s): State<Arc<AppState>>,
    q: Result<Query<IncidentsQuery>, QueryRejection>,
) -> Result<Json<Vec<IncidentSummary>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::field("limit", e.body_text()))?;
    let limit = match q.limit {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::field(
                "limit",
                format!("limit must be 1–1000, got {n}"),
            ));
        }
    };
    tokio::task::spawn_blocking(move || Ok(Json(refreshed(&s)?.incidents(limit)?)))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
}

#[utoipa::path(
    get,
    path = "/incidents/{id}",
    params(("id" = String, Path, description = "The incident id (`INC-…`)")),
    responses(
        (status = 200, body = IncidentDetail),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such incident (grouping may have changed: list again)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    tokio::task::spawn_blocking(move || {
        let store = refreshed(&s)?;
        detail(&store, &id)?.map(Json).ok_or_else(|| {
            ApiError::not_found(
                "unknown_incident",
                format!("no incident {id:?}; GET /incidents lists the current ones (grouping changes as alerts arrive)"),
            )
        })
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
}
