//! Anthropic Messages API with `stream: true`.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::client::{
    ChatRequest, DriveOptions, LlmError, Message, StreamEvent, Usage, Wire, WireProvider,
};
use super::sse::SseEvent;

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const API_VERSION: &str = "2023-06-01";

pub struct AnthropicWire {
    base_url: String,
    api_key: String,
    model: String,
}

impl std::fmt::Debug for AnthropicWire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("AnthropicWire")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .finish()
    }
}

#[derive(Default)]
pub struct State {
    usage: Usage,
    /// Tool-use blocks by index: (id, name, accumulated input JSON).
    tools: HashMap<u64, (String, String, String)>,
    stop_reason: Option<String>,
}

impl Wire for AnthropicWire {
    type State = State;

    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn request(&self, http: &reqwest::Client, req: &ChatRequest) -> reqwest::RequestBuilder {
        let mut body = json!({
            "model": self.model,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "system": req.system,
            "messages": messages(&req.messages),
            "stream": true,
        });
        if !req.tools.is_empty() {
            body["tools"] = req
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
                .collect();
        }
        match req.tool_choice.as_deref() {
            Some(super::client::NO_TOOLS) => body["tool_choice"] = json!({"type": "none"}),
            Some(name) => body["tool_choice"] = json!({"type": "tool", "name": name}),
            None => {}
        }
        http.post(format!(
            "{}/v1/messages",
            self.base_url.trim_end_matches('/')
        ))
        .header("x-api-key", &self.api_key)
        .header("anthropic-version", API_VERSION)
        .header("accept", "text/event-stream")
        .json(&body)
    }

    fn on_event(&self, ev: &SseEvent, st: &mut State) -> Vec<StreamEvent> {
        let provider = "anthropic";
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            if ev.event == "ping" || ev.data.is_empty() {
                return Vec::new();
            }
            return vec![StreamEvent::Error(LlmError::Protocol {
                provider,
                message: format!("undecodable {} event", ev.event),
            })];
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(ev.event.as_str());
        match kind {
            "message_start" => {
                let u = &v["message"]["usage"];
                st.usage.input_tokens = u["input_tokens"].as_u64().unwrap_or(0)
                    + u["cache_read_input_tokens"].as_u64().unwrap_or(0)
                    + u["cache_creation_input_tokens"].as_u64().unwrap_or(0);
                st.usage.output_tokens = u["output_tokens"].as_u64().unwrap_or(0);
                vec![StreamEvent::Usage(st.usage)]
            }
            "content_block_start" => {
                let block = &v["content_block"];
                let index = v["index"].as_u64().unwrap_or(0);
                match block["type"].as_str() {
                    Some("tool_use") => {
                        let id = block["id"].as_str().unwrap_or_default().to_string();
                        let name = block["name"].as_str().unwrap_or_default().to_string();
                        st.tools.insert(index, (id, name, String::new()));
                        Vec::new()
                    }
                    Some("text") => match block["text"].as_str() {
                        Some(t) if !t.is_empty() => vec![StreamEvent::Text(t.to_string())],
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                }
            }
            "content_block_delta" => {
                let delta = &v["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => vec![StreamEvent::Text(
                        delta["text"].as_str().unwrap_or_default().to_string(),
                    )],
                    Some("input_json_delta") => {
                        let index = v["index"].as_u64().unwrap_or(0);
                        if let Some(t) = st.tools.get_mut(&index) {
                            t.2.push_str(delta["partial_json"].as_str().unwrap_or_default());
                        }
                        Vec::new()
                    }
                    _ => Vec::new(), // thinking and signature deltas are not shown
                }
            }
            "content_block_stop" => {
                let index = v["index"].as_u64().unwrap_or(0);
                match st.tools.remove(&index) {
                    Some((id, name, input_json)) => vec![StreamEvent::ToolUse {
                        id,
                        name,
                        input_json,
                    }],
                    None => Vec::new(),
                }
            }
            "message_delta" => {
                if let Some(r) = v["delta"]["stop_reason"].as_str() {
                    st.stop_reason = Some(r.to_string());
                }
                if let Some(o) = v["usage"]["output_tokens"].as_u64() {
                    st.usage.output_tokens = o;
                }
                vec![StreamEvent::Usage(st.usage)]
            }
            "message_stop" => vec![StreamEvent::Done {
                stop_reason: st.stop_reason.take(),
            }],
            "ping" => Vec::new(),
            "error" => {
                let (kind, message) = error_fields(&v);
                vec![StreamEvent::Error(LlmError::Stream {
                    provider,
                    kind,
                    message,
                })]
            }
            _ => Vec::new(),
        }
    }

    fn forces_tools(&self) -> bool {
        true
    }

    fn error_body(&self, body: &str) -> (String, String) {
        match serde_json::from_str::<Value>(body) {
            Ok(v) => error_fields(&v),
            Err(_) => ("unknown".into(), body.chars().take(300).collect()),
        }
    }
}

/// Messages in the Messages API's shape: plain text, or content blocks when a turn carries
/// `tool_use` calls (assistant) or `tool_result` answers (user).
fn messages(messages: &[Message]) -> Value {
    messages
        .iter()
        .map(|m| {
            if m.tool_calls.is_empty() && m.tool_results.is_empty() {
                return json!({"role": m.role, "content": m.content});
            }
            let mut blocks: Vec<Value> = Vec::new();
            for r in &m.tool_results {
                let mut b =
                    json!({"type": "tool_result", "tool_use_id": r.call_id, "content": r.content});
                if r.is_error {
                    b["is_error"] = json!(true);
                }
                blocks.push(b);
            }
            if !m.content.trim().is_empty() {
                blocks.push(json!({"type": "text", "text": m.content}));
            }
            for c in &m.tool_calls {
                let input: Value =
                    serde_json::from_str(&c.input_json).unwrap_or_else(|_| json!({}));
                blocks
                    .push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
            }
            json!({"role": m.role, "content": blocks})
        })
        .collect()
}

fn error_fields(v: &Value) -> (String, String) {
    let e = &v["error"];
    (
        e["type"].as_str().unwrap_or("error").to_string(),
        e["message"].as_str().unwrap_or("no message").to_string(),
    )
}

/// Claude over the Messages API.
pub type Anthropic = WireProvider<AnthropicWire>;

impl Anthropic {
    pub fn new(
        base_url: &str,
        api_key: &str,
        model: &str,
        http: reqwest::Client,
        opts: DriveOptions,
    ) -> Anthropic {
        let wire = AnthropicWire {
            base_url: base_url.to_string(),
            api_key: api_key.to_string(),
            model: model.to_string(),
        };
        WireProvider::from_wire(wire, model, http, opts)
    }
}
