//! Every error the API returns: `{"error": {"code", "message", "field"?}}` with the status
//! that fits. Messages say what was wrong and what to do; they never carry keys or bodies.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `unknown_triage`, `queue_full`…
    pub code: String,
    pub message: String,
    /// The request field that is wrong, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: ErrorDetail {
                    code: code.into(),
                    message: message.into(),
                    field: None,
                },
            },
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message);
        e.body.error.field = Some(field.into());
        e
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// A 500. The full message goes to the log; the client gets it with machine paths
    /// replaced by `<path>` (they say nothing a caller can act on and map the server).
    pub fn internal(message: impl Into<String>) -> ApiError {
        let message = message.into();
        tracing::error!("internal error: {message}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{} (details in the server log)", redact_paths(&message)),
        )
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            redact_paths(&message.into()),
        )
    }
}

/// Replaces file-system paths (absolute Unix paths, `~/…`, `C:\…`, `\\server\share`) with
/// `<path>`, keeping the rest of the message.
pub fn redact_paths(message: &str) -> String {
    static PATH: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(?P<pre>^|[\s"'(\[=])(?P<path>(?:~|\.{1,2})?/[^\s"'()\[\]{},;:]+|[A-Za-z]:\\[^\s"'()]*|\\\\[^\s"'()]+)"#,
        )
        .ok()
    });
    match &*PATH {
        Some(re) => re.replace_all(message, "${pre}<path>").into_owned(),
        None => "internal error".into(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        );
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let mut r = (self.status, Json(self.body)).into_response();
        if retry {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if unauthorized {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::UnknownTriage(id) => ApiError::not_found(
                "unknown_triage",
                format!(
                    "no triage with id {id}; POST /triage returns one, GET /alerts lists recent alerts"
                ),
            ),
            e @ crate::store::StoreError::NotComplete { .. } => {
                ApiError::new(StatusCode::CONFLICT, "triage_not_complete", e.to_string())
            }
            e @ crate::store::StoreError::HeldBy { .. } => {
                ApiError::new(StatusCode::CONFLICT, "alert_held", e.to_string())
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// Parses a JSON body, naming the line and column (and the field, when serde knows it).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    const WHAT: &str = "the body is not valid for this route";
    let v = serde_path_to_error::deserialize(&mut de).map_err(|e| invalid(WHAT, &e))?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("{WHAT}: {e}")))?;
    Ok(v)
}

/// Deserializes a request from an already parsed JSON value; errors name the field at fault.
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    what: &str,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| invalid(what, &e))
}

/// A 400 naming the field at fault: the path where deserializing stopped (`top_k`,
/// `verdicts[0]`), or the field of "missing field `x`" / "unknown field `x`".
fn invalid(what: &str, e: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let msg = e.inner().to_string();
    let path = e.path().to_string();
    let field = if path.is_empty() || path == "." || path == "?" {
        msg.split('`')
            .nth(1)
            .filter(|_| msg.contains("field"))
            .map(str::to_string)
    } else {
        Some(path)
    };
    let message = match &field {
        Some(f) if !msg.contains(&format!("`{f}`")) => format!("{what}: {f}: {msg}"),
        _ => format!("{what}: {msg}"),
    };
    let mut err = ApiError::bad_request(message);
    err.body.error.field = field;
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_reach_a_client() {
        for m in [
            "cannot open the database /var/lib/soc/soc-copilot.db: disk I/O error",
            "cannot read ~/data/index/meta.json",
            "cannot read C:\\Users\\ann\\soc\\x.db",
            "share \\\\filer\\soc\\x.db gone",
            "a ./relative/dir/file failed",
        ] {
            let r = redact_paths(m);
            assert!(
                !r.contains("soc-copilot.db")
                    && !r.contains("meta.json")
                    && !r.contains("zed")
                    && !r.contains("filer")
                    && !r.contains("relative"),
                "{m} → {r}"
            );
            assert!(r.contains("<path>"), "{r}");
        }
        assert_eq!(
            redact_paths("database error: and/or 1/2"),
            "database error: and/or 1/2"
        );
        let e = ApiError::internal("cannot open /srv/data/soc-copilot.db: locked");
        assert!(
            !e.body.error.message.contains("/srv"),
            "{}",
            e.body.error.message
        );
    }
}
