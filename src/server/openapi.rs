//! The OpenAPI document, generated from the handlers and types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorDetail};
use super::routes::{alerts, feedback, health, incidents, triage};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = api.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "soc-copilot",
        description = "Alert triage with MITRE ATT&CK retrieval: verdicts, feedback, accuracy, webhook intake, incidents. \
                       When a token is configured, every route but /health needs `Authorization: Bearer <token>`."
    ),
    paths(
        triage::triage,
        triage::get_triage,
        feedback::feedback,
        feedback::accuracy,
        alerts::intake,
        alerts::list,
        incidents::list,
        incidents::get,
        health::health,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Bearer)
)]
pub struct ApiDoc;
