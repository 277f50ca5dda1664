//! The provider-independent half of LLM streaming: the request/response types, the
//! `Provider` trait every engine implements, and the HTTP driver that sends a request,
//! retries what is worth retrying, parses SSE and hands domain events to the consumer.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::retry::{RetryPolicy, parse_retry_after, retryable_status};
use super::sse::{SseEvent, SseParser};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// Tools the assistant called in this turn (assistant messages only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Answers to the previous turn's tool calls (user messages only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_results: Vec<ToolResult>,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Message {
        Message {
            role: Role::User,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_results: Vec::new(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Message {
        Message {
            role: Role::Assistant,
            ..Message::user(content)
        }
    }
}

/// A tool call the model made: its id (`toolu_…`, or the OpenAI call id), the tool's name
/// and its input as JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub input_json: String,
}

/// The answer to a tool call, sent back in the next user turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    pub call_id: String,
    pub content: String,
    /// The tool failed; `content` says why.
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    pub system: String,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    pub temperature: f32,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Forces a call of the tool with this name (its input is then schema-valid JSON).
    pub tool_choice: Option<String>,
    /// Asks for output constrained to this JSON schema where the wire format supports it
    /// (OpenAI-compatible `response_format`); ignored by the others.
    pub response_schema: Option<serde_json::Value>,
}

/// `tool_choice` that forbids tool calls for this request (tools stay declared, as the
/// conversation holds earlier calls).
pub const NO_TOOLS: &str = "none";

/// A tool offered to the model: a name, what it is for, and the JSON schema of its input.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("{provider} answered {status} ({kind}): {message}")]
    Http {
        provider: &'static str,
        status: u16,
        kind: String,
        message: String,
    },
    #[error("cannot reach {provider}: {message}")]
    Connect {
        provider: &'static str,
        message: String,
    },
    #[error("the {provider} stream broke off: {message}")]
    Interrupted {
        provider: &'static str,
        message: String,
    },
    #[error("{provider} sent an error event ({kind}): {message}")]
    Stream {
        provider: &'static str,
        kind: String,
        message: String,
    },
    #[error("{provider} sent something unexpected: {message}")]
    Protocol {
        provider: &'static str,
        message: String,
    },
}

/// What a provider's stream delivers, in order; it ends with `Done` or `Error`.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        input_json: String,
    },
    Usage(Usage),
    Done {
        stop_reason: Option<String>,
    },
    /// A request failed in a way worth retrying (429, 529, 5xx, a dropped connection);
    /// the client waits `wait` and tries again. Front ends say so while it waits.
    Retrying {
        attempt: u32,
        max_retries: u32,
        wait: std::time::Duration,
        reason: String,
    },
    Error(LlmError),
}

/// A streaming chat model. Dropping the receiver cancels the request.
pub trait Provider: Send + Sync {
    /// `anthropic`, `openai`.
    fn engine(&self) -> &'static str;
    fn model(&self) -> &str;
    fn stream(&self, request: ChatRequest) -> mpsc::Receiver<StreamEvent>;
    /// Whether `tool_choice` reliably forces a tool call (and so schema-valid output).
    fn forces_tools(&self) -> bool {
        false
    }
}

/// The provider-specific half: how to build the HTTP request and read its events.
pub trait Wire: Send + Sync + 'static {
    type State: Default + Send;
    fn name(&self) -> &'static str;
    fn request(&self, http: &reqwest::Client, req: &ChatRequest) -> reqwest::RequestBuilder;
    /// Domain events for one SSE event; `Done` among them ends the stream.
    fn on_event(&self, ev: &SseEvent, state: &mut Self::State) -> Vec<StreamEvent>;
    /// `(kind, message)` from an error response body.
    fn error_body(&self, body: &str) -> (String, String);
    /// Whether `tool_choice` reliably forces a tool call on this API.
    fn forces_tools(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy)]
pub struct DriveOptions {
    pub retry: RetryPolicy,
    /// No byte for this long mid-stream is treated as a dead stream.
    pub idle_timeout: Duration,
}

impl Default for DriveOptions {
    fn default() -> Self {
        DriveOptions {
            retry: RetryPolicy::default(),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// A provider made of a wire format, an HTTP client and driving options.
pub struct WireProvider<W: Wire> {
    wire: Arc<W>,
    http: reqwest::Client,
    opts: DriveOptions,
    model: String,
}

impl<W: Wire> WireProvider<W> {
    pub fn from_wire(wire: W, model: &str, http: reqwest::Client, opts: DriveOptions) -> Self {
        WireProvider {
            wire: Arc::new(wire),
            http,
            opts,
            model: model.to_string(),
        }
    }
}

impl<W: Wire> Provider for WireProvider<W> {
    fn engine(&self) -> &'static str {
        self.wire.name()
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn stream(&self, request: ChatRequest) -> mpsc::Receiver<StreamEvent> {
        spawn_stream(self.wire.clone(), self.http.clone(), request, self.opts)
    }

    fn forces_tools(&self) -> bool {
        self.wire.forces_tools()
    }
}

/// Starts `req` on the current tokio runtime; events arrive on the returned channel.
pub fn spawn_stream<W: Wire>(
    wire: Arc<W>,
    http: reqwest::Client,
    req: ChatRequest,
    opts: DriveOptions,
) -> mpsc::Receiver<StreamEvent> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        drive(wire.as_ref(), &http, &req, opts, &tx).await;
    });
    rx
}

async fn drive<W: Wire>(
    wire: &W,
    http: &reqwest::Client,
    req: &ChatRequest,
    opts: DriveOptions,
    tx: &mpsc::Sender<StreamEvent>,
) {
    let provider = wire.name();
    let mut attempt = 0;
    let response = loop {
        let sent = wire.request(http, req).send().await;
        let (retry_after, error) = match sent {
            Ok(r) if r.status().is_success() => break r,
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after =
                    parse_retry_after(r.headers().get("retry-after").and_then(|v| v.to_str().ok()));
                let body = read_bounded(r).await;
                let (kind, message) = wire.error_body(&body);
                let err = LlmError::Http {
                    provider,
                    status,
                    kind,
                    message,
                };
                if !retryable_status(status) {
                    let _ = tx.send(StreamEvent::Error(err)).await;
                    return;
                }
                (retry_after, err)
            }
            // The error text names the URL, never headers, so the key cannot leak here.
            Err(e) => (
                None,
                LlmError::Connect {
                    provider,
                    message: without_url(&e),
                },
            ),
        };
        if attempt >= opts.retry.max_retries {
            let _ = tx.send(StreamEvent::Error(error)).await;
            return;
        }
        let wait = opts.retry.delay(attempt, retry_after);
        tracing::warn!(provider, attempt, ?wait, "retrying after: {error}");
        attempt += 1;
        let _ = tx
            .send(StreamEvent::Retrying {
                attempt,
                max_retries: opts.retry.max_retries,
                wait,
                reason: error.to_string(),
            })
            .await;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = tx.closed() => return,
        }
    };

    let mut body = response.bytes_stream();
    let mut parser = SseParser::new();
    let mut state = W::State::default();
    loop {
        let next = tokio::select! {
            n = tokio::time::timeout(opts.idle_timeout, body.next()) => n,
            _ = tx.closed() => return, // cancelled: dropping `body` closes the connection
        };
        let chunk = match next {
            Ok(Some(Ok(c))) => c,
            broken => {
                let message = match broken {
                    Err(_) => format!("no data for {} s", opts.idle_timeout.as_secs()),
                    Ok(Some(Err(e))) => without_url(&e),
                    _ => "the connection closed before the message was complete".to_string(),
                };
                let _ = tx
                    .send(StreamEvent::Error(LlmError::Interrupted {
                        provider,
                        message,
                    }))
                    .await;
                return;
            }
        };
        let events = match parser.feed(&chunk) {
            Ok(ev) => ev,
            Err(e) => {
                let _ = tx
                    .send(StreamEvent::Error(LlmError::Protocol {
                        provider,
                        message: e.to_string(),
                    }))
                    .await;
                return;
            }
        };
        for ev in events {
            for out in wire.on_event(&ev, &mut state) {
                let end = matches!(out, StreamEvent::Done { .. } | StreamEvent::Error(_));
                if tx.send(out).await.is_err() || end {
                    return;
                }
            }
        }
    }
}

async fn read_bounded(r: reqwest::Response) -> String {
    let mut out = Vec::new();
    let mut body = r.bytes_stream();
    while let Some(Ok(chunk)) = body.next().await {
        out.extend_from_slice(&chunk);
        if out.len() > 64 * 1024 {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn without_url(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(url.as_str(), url.host_str().unwrap_or("the server"));
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Collects a whole stream: the text, tool uses, usage, and the error if it ended in one.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Collected {
    pub text: String,
    /// The input JSON of each tool call, in order.
    pub tool_inputs: Vec<String>,
    pub usage: Usage,
    pub stop_reason: Option<String>,
    pub error: Option<LlmError>,
}

pub async fn collect(mut rx: mpsc::Receiver<StreamEvent>) -> Collected {
    let mut c = Collected::default();
    while let Some(ev) = rx.recv().await {
        match ev {
            StreamEvent::Text(t) => c.text.push_str(&t),
            StreamEvent::Usage(u) => {
                c.usage.input_tokens = c.usage.input_tokens.max(u.input_tokens);
                c.usage.output_tokens = c.usage.output_tokens.max(u.output_tokens);
            }
            StreamEvent::ToolUse { input_json, .. } => c.tool_inputs.push(input_json),
            StreamEvent::Retrying { .. } => {}
            StreamEvent::Done { stop_reason } => {
                c.stop_reason = stop_reason;
                break;
            }
            StreamEvent::Error(e) => {
                c.error = Some(e);
                break;
            }
        }
    }
    c
}
