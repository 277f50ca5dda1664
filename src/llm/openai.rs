//! OpenAI-compatible chat completions with streaming: OpenAI itself, and the local servers
//! an air-gapped SOC runs (Ollama, llama.cpp server, vLLM).

use serde_json::{Value, json};

use super::client::{
    ChatRequest, DriveOptions, LlmError, Role, StreamEvent, Usage, Wire, WireProvider,
};
use super::sse::SseEvent;

pub struct OpenAiWire {
    base_url: String,
    api_key: Option<String>,
    model: String,
}

#[derive(Default)]
pub struct State {
    usage: Usage,
    stop_reason: Option<String>,
    /// Tool calls by index as they stream: (id, name, accumulated arguments).
    tools: std::collections::BTreeMap<u64, (String, String, String)>,
}

impl State {
    /// Streamed tool calls end with the message: hand them over, in index order.
    fn finish_tools(&mut self) -> Vec<StreamEvent> {
        std::mem::take(&mut self.tools)
            .into_values()
            .map(|(id, name, input_json)| StreamEvent::ToolUse {
                id,
                name,
                input_json,
            })
            .collect()
    }
}

impl Wire for OpenAiWire {
    type State = State;

    fn name(&self) -> &'static str {
        "openai"
    }

    fn request(&self, http: &reqwest::Client, req: &ChatRequest) -> reqwest::RequestBuilder {
        let mut messages = vec![json!({"role": "system", "content": req.system})];
        for m in &req.messages {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            // Tool answers are `role: tool` messages, one per call, before any text.
            for r in &m.tool_results {
                let content = if r.is_error {
                    format!("ERROR: {}", r.content)
                } else {
                    r.content.clone()
                };
                messages
                    .push(json!({"role": "tool", "tool_call_id": r.call_id, "content": content}));
            }
            if m.tool_calls.is_empty() {
                if !m.content.is_empty() || m.tool_results.is_empty() {
                    messages.push(json!({"role": role, "content": m.content}));
                }
            } else {
                let calls: Vec<Value> = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.input_json}})
                    })
                    .collect();
                let content = if m.content.is_empty() {
                    Value::Null
                } else {
                    json!(m.content)
                };
                messages
                    .push(json!({"role": "assistant", "content": content, "tool_calls": calls}));
            }
        }
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if !req.tools.is_empty() {
            body["tools"] = req
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.input_schema}})
                })
                .collect();
        }
        match req.tool_choice.as_deref() {
            Some(super::client::NO_TOOLS) => body["tool_choice"] = json!("none"),
            Some(name) => {
                body["tool_choice"] = json!({"type": "function", "function": {"name": name}})
            }
            None => {}
        }
        if let Some(schema) = &req.response_schema {
            body["response_format"] = json!({"type": "json_schema",
                "json_schema": {"name": "verdict", "schema": schema}});
        }
        let mut b = http
            .post(format!(
                "{}/v1/chat/completions",
                self.base_url.trim_end_matches('/')
            ))
            .json(&body);
        if let Some(k) = &self.api_key {
            b = b.bearer_auth(k);
        }
        b
    }

    fn on_event(&self, ev: &SseEvent, st: &mut State) -> Vec<StreamEvent> {
        let provider = "openai";
        if ev.data.trim() == "[DONE]" {
            let mut out = st.finish_tools();
            out.push(StreamEvent::Usage(st.usage));
            out.push(StreamEvent::Done {
                stop_reason: st.stop_reason.take(),
            });
            return out;
        }
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            return vec![StreamEvent::Error(LlmError::Protocol {
                provider,
                message: "undecodable stream chunk".into(),
            })];
        };
        if v.get("error").is_some() {
            let (kind, message) = error_fields(&v);
            return vec![StreamEvent::Error(LlmError::Stream {
                provider,
                kind,
                message,
            })];
        }
        let mut out = Vec::new();
        if let Some(choice) = v["choices"].get(0) {
            if let Some(t) = choice["delta"]["content"].as_str()
                && !t.is_empty()
            {
                out.push(StreamEvent::Text(t.to_string()));
            }
            for call in choice["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let index = call["index"].as_u64().unwrap_or(0);
                let entry = st.tools.entry(index).or_default();
                if let Some(id) = call["id"].as_str() {
                    entry.0 = id.to_string();
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    entry.1.push_str(name);
                }
                if let Some(args) = call["function"]["arguments"].as_str() {
                    entry.2.push_str(args);
                }
            }
            if let Some(r) = choice["finish_reason"].as_str() {
                st.stop_reason = Some(r.to_string());
            }
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            st.usage.input_tokens = u["prompt_tokens"].as_u64().unwrap_or(st.usage.input_tokens);
            st.usage.output_tokens = u["completion_tokens"]
                .as_u64()
                .unwrap_or(st.usage.output_tokens);
        }
        out
    }

    fn error_body(&self, body: &str) -> (String, String) {
        match serde_json::from_str::<Value>(body) {
            Ok(v) => error_fields(&v),
            Err(_) => ("unknown".into(), body.chars().take(300).collect()),
        }
    }
}

fn error_fields(v: &Value) -> (String, String) {
    let e = &v["error"];
    let kind = e["type"]
        .as_str()
        .or_else(|| e["code"].as_str())
        .unwrap_or("error")
        .to_string();
    let message = e["message"]
        .as_str()
        .or_else(|| e.as_str())
        .unwrap_or("no message")
        .to_string();
    (kind, message)
}

/// Any OpenAI-compatible chat-completions server.
pub type OpenAi = WireProvider<OpenAiWire>;

impl OpenAi {
    pub fn new(
        base_url: &str,
        api_key: Option<&str>,
        model: &str,
        http: reqwest::Client,
        opts: DriveOptions,
    ) -> OpenAi {
        let wire = OpenAiWire {
            base_url: base_url.into(),
            api_key: api_key.map(str::to_string),
            model: model.into(),
        };
        WireProvider::from_wire(wire, model, http, opts)
    }
}
