//! The Anthropic and OpenAI-compatible providers against local servers speaking their wire
//! formats: normal, split and coalesced streams, retries, errors, cut streams, cancellation.

use std::time::{Duration, Instant};

use soc_copilot::llm::anthropic::Anthropic;
use soc_copilot::llm::client::DriveOptions;
use soc_copilot::llm::openai::OpenAi;
use soc_copilot::llm::retry::RetryPolicy;
use soc_copilot::llm::{ChatRequest, LlmError, Message, Provider, StreamEvent, collect};

use crate::support::llm::{LlmServer, Reply, anthropic_error, anthropic_stream, openai_stream};

const KEY: &str = "sk-ant-test-SECRET-123";

fn fast() -> DriveOptions {
    DriveOptions {
        retry: RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(20),
            max: Duration::from_secs(5),
        },
        idle_timeout: Duration::from_millis(600),
    }
}

fn anthropic(server: &LlmServer) -> Anthropic {
    Anthropic::new(
        &server.base_url(),
        KEY,
        "claude-sonnet-4-5",
        reqwest::Client::new(),
        fast(),
    )
}

fn request() -> ChatRequest {
    ChatRequest {
        system: "You are a SOC analyst.".into(),
        messages: vec![Message::user("Triage this.")],
        max_tokens: 512,
        temperature: 0.2,
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn anthropic_normal_stream_and_request_shape() {
    let server = LlmServer::start(vec![Reply::sse(&anthropic_stream(
        &["Encoded ", "PowerShell ", "from Word."],
        812,
        57,
    ))])
    .await;
    let out = collect(anthropic(&server).stream(request())).await;
    assert_eq!(out.error, None);
    assert_eq!(out.text, "Encoded PowerShell from Word.");
    assert_eq!((out.usage.input_tokens, out.usage.output_tokens), (812, 57));
    assert_eq!(out.stop_reason.as_deref(), Some("end_turn"));

    let reqs = server.recorded();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1/messages");
    assert_eq!(reqs[0].header("x-api-key"), Some(KEY));
    assert_eq!(reqs[0].header("anthropic-version"), Some("2023-06-01"));
    let body: serde_json::Value = serde_json::from_str(&reqs[0].body).expect("json body");
    assert_eq!(body["stream"], true);
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["system"], "You are a SOC analyst.");
    assert_eq!(body["messages"][0]["role"], "user");
}

#[tokio::test]
async fn split_and_coalesced_chunks_give_the_same_text() {
    let text = anthropic_stream(&["été ", "naïve ", "→ done"], 10, 3);
    for reply in [
        Reply::sse_split(&text, 7),
        Reply::sse_split(&text, 1),
        Reply::sse(&text),
    ] {
        let server = LlmServer::start(vec![reply]).await;
        let out = collect(anthropic(&server).stream(request())).await;
        assert_eq!(out.error, None);
        assert_eq!(out.text, "été naïve → done");
    }
}

#[tokio::test]
async fn rate_limit_is_retried_after_retry_after() {
    let limited = Reply::Status {
        status: 429,
        headers: vec![("retry-after".into(), "1".into())],
        body: anthropic_error(
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        ),
    };
    let server =
        LlmServer::start(vec![limited, Reply::sse(&anthropic_stream(&["ok"], 1, 1))]).await;
    let started = Instant::now();
    let out = collect(anthropic(&server).stream(request())).await;
    assert_eq!(out.error, None);
    assert_eq!(out.text, "ok");
    assert_eq!(server.recorded().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn overloaded_529_is_retried_then_given_up() {
    let overloaded = Reply::status(529, &anthropic_error("overloaded_error", "Overloaded"));
    let server = LlmServer::start(vec![
        overloaded.clone(),
        overloaded.clone(),
        Reply::sse(&anthropic_stream(&["back"], 1, 1)),
    ])
    .await;
    let out = collect(anthropic(&server).stream(request())).await;
    assert_eq!(out.text, "back");
    assert_eq!(server.recorded().len(), 3);

    let always = LlmServer::start(vec![overloaded]).await;
    let out = collect(anthropic(&always).stream(request())).await;
    assert!(
        matches!(&out.error, Some(LlmError::Http { status: 529, kind, .. }) if kind == "overloaded_error"),
        "{:?}",
        out.error
    );
    assert_eq!(always.recorded().len(), 4, "first try + 3 retries");
}

#[tokio::test]
async fn unauthorized_is_not_retried_and_never_shows_the_key() {
    let server = LlmServer::start(vec![Reply::status(
        401,
        &anthropic_error("authentication_error", "invalid x-api-key"),
    )])
    .await;
    let out = collect(anthropic(&server).stream(request())).await;
    let err = out.error.expect("error");
    assert!(matches!(&err, LlmError::Http { status: 401, .. }));
    assert_eq!(server.recorded().len(), 1, "no retry on 401");
    let shown = err.to_string();
    assert!(
        shown.contains("invalid x-api-key") && !shown.contains(KEY),
        "{shown}"
    );
}

#[tokio::test]
async fn a_stream_cut_midway_is_reported_not_hung_on() {
    let full = anthropic_stream(&["partial ", "answer"], 5, 5);
    let cut_at = full.find("content_block_stop").expect("marker");
    let server = LlmServer::start(vec![Reply::Sse {
        chunks: vec![full.as_bytes()[..cut_at].to_vec()],
        delay: Duration::ZERO,
    }])
    .await;
    let out = collect(anthropic(&server).stream(request())).await;
    assert_eq!(out.text, "partial answer", "what arrived is kept");
    assert!(
        matches!(out.error, Some(LlmError::Interrupted { .. })),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn an_error_event_ends_the_stream() {
    let mut text = anthropic_stream(&["start "], 5, 5);
    let cut = text.find("event: content_block_stop").expect("marker");
    text.truncate(cut);
    text.push_str("event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n");
    let server = LlmServer::start(vec![Reply::sse(&text)]).await;
    let out = collect(anthropic(&server).stream(request())).await;
    assert_eq!(out.text, "start ");
    assert!(
        matches!(&out.error, Some(LlmError::Stream { kind, .. }) if kind == "overloaded_error"),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn silence_times_out_and_dropping_the_stream_cancels_it() {
    let server = LlmServer::start(vec![Reply::Silent]).await;
    let started = Instant::now();
    let out = collect(anthropic(&server).stream(request())).await;
    assert!(
        matches!(out.error, Some(LlmError::Interrupted { .. })),
        "{:?}",
        out.error
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    let server = LlmServer::start(vec![Reply::Pinging]).await;
    let rx = anthropic(&server).stream(request());
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(rx);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !*server.disconnected.lock().expect("lock") {
        assert!(
            Instant::now() < deadline,
            "the connection was not closed after cancelling"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn openai_compatible_stream_retry_and_errors() {
    let server = LlmServer::start(vec![
        Reply::status(
            500,
            r#"{"error": {"message": "model is loading", "type": "server_error"}}"#,
        ),
        Reply::sse_split(&openai_stream(&["Looks ", "benign."], 300, 4), 9),
    ])
    .await;
    let p = OpenAi::new(
        &server.base_url(),
        Some("local-token"),
        "llama3.1",
        reqwest::Client::new(),
        fast(),
    );
    let out = collect(p.stream(request())).await;
    assert_eq!(out.error, None);
    assert_eq!(out.text, "Looks benign.");
    assert_eq!((out.usage.input_tokens, out.usage.output_tokens), (300, 4));
    assert_eq!(out.stop_reason.as_deref(), Some("stop"));
    let reqs = server.recorded();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].path, "/v1/chat/completions");
    assert_eq!(reqs[1].header("authorization"), Some("Bearer local-token"));
    let body: serde_json::Value = serde_json::from_str(&reqs[1].body).expect("json");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["stream"], true);

    let bad = LlmServer::start(vec![Reply::status(
        400,
        r#"{"error": {"message": "context length exceeded", "type": "invalid_request_error"}}"#,
    )])
    .await;
    let out = collect(
        OpenAi::new(&bad.base_url(), None, "m", reqwest::Client::new(), fast()).stream(request()),
    )
    .await;
    assert!(
        matches!(&out.error, Some(LlmError::Http { status: 400, message, .. }) if message == "context length exceeded")
    );
    assert_eq!(bad.recorded().len(), 1);
    let _ = StreamEvent::Done { stop_reason: None };
}

/// OpenAI-compatible tool calls as servers stream them: the call's id and name first, its
/// arguments in pieces, then `finish_reason: tool_calls`.
fn openai_tool_call_stream(name: &str, args: &[&str]) -> String {
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        format!(
            "data: {}\n\n",
            serde_json::json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "model": "llama3.1",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let mut s = chunk(
        serde_json::json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
            "function": {"name": name, "arguments": ""}}]}),
        None,
    );
    for a in args {
        s.push_str(&chunk(
            serde_json::json!({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}),
            None,
        ));
    }
    s.push_str(&chunk(serde_json::json!({}), Some("tool_calls")));
    s.push_str("data: [DONE]\n\n");
    s
}

#[tokio::test]
async fn tools_tool_choice_and_response_format_go_out_and_tool_calls_come_back() {
    let schema = serde_json::json!({"type": "object", "required": ["verdict"],
        "properties": {"verdict": {"type": "string"}}});
    let tool = soc_copilot::llm::ToolSpec {
        name: "submit_verdict".into(),
        description: "Submit the triage verdict.".into(),
        input_schema: schema.clone(),
    };
    let forced = ChatRequest {
        tools: vec![tool],
        tool_choice: Some("submit_verdict".into()),
        ..request()
    };

    // OpenAI-compatible: function tools, a forced function, streamed tool_calls.
    let server = LlmServer::start(vec![Reply::sse_split(
        &openai_tool_call_stream("submit_verdict", &["{\"verd", "ict\": \"HIGH\"}"]),
        11,
    )])
    .await;
    let p = OpenAi::new(
        &server.base_url(),
        None,
        "llama3.1",
        reqwest::Client::new(),
        fast(),
    );
    let out = collect(p.stream(forced.clone())).await;
    assert_eq!(out.error, None);
    assert_eq!(out.tool_inputs, vec!["{\"verdict\": \"HIGH\"}".to_string()]);
    assert_eq!(out.stop_reason.as_deref(), Some("tool_calls"));
    let body: serde_json::Value = serde_json::from_str(&server.recorded()[0].body).expect("json");
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "submit_verdict");
    assert_eq!(body["tools"][0]["function"]["parameters"], schema);
    assert_eq!(body["tool_choice"]["function"]["name"], "submit_verdict");
    assert!(body.get("response_format").is_none());

    // Schema-constrained output (llama.cpp server, vLLM, Ollama): response_format.
    let server = LlmServer::start(vec![Reply::sse(&openai_stream(&["{}"], 10, 2))]).await;
    let p = OpenAi::new(
        &server.base_url(),
        None,
        "llama3.1",
        reqwest::Client::new(),
        fast(),
    );
    let constrained = ChatRequest {
        response_schema: Some(schema.clone()),
        ..request()
    };
    collect(p.stream(constrained)).await;
    let body: serde_json::Value = serde_json::from_str(&server.recorded()[0].body).expect("json");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["schema"], schema);

    // Anthropic: tools with input_schema and tool_choice {type: tool}.
    let server = LlmServer::start(vec![Reply::sse(&anthropic_stream(&["x"], 10, 2))]).await;
    assert!(anthropic(&server).forces_tools());
    collect(anthropic(&server).stream(forced)).await;
    let body: serde_json::Value = serde_json::from_str(&server.recorded()[0].body).expect("json");
    assert_eq!(body["tools"][0]["name"], "submit_verdict");
    assert_eq!(body["tools"][0]["input_schema"], schema);
    assert_eq!(
        body["tool_choice"],
        serde_json::json!({"type": "tool", "name": "submit_verdict"})
    );
}
