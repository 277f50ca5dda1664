//! A scripted HTTP server for LLM APIs: each request gets the next reply — a status with a
//! body (the APIs' real error shapes), or an SSE stream written in chosen chunks, optionally
//! cut off — and every request is recorded for assertions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug)]
pub enum Reply {
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// SSE body in these chunks, `delay` apart; the connection closes after the last.
    Sse {
        chunks: Vec<Vec<u8>>,
        delay: Duration,
    },
    /// Headers, then pings every 50 ms until the client goes away (recorded as `disconnected`).
    Pinging,
    /// Headers, then silence.
    Silent,
    /// The reply this function picks after reading the request (a model that answers by
    /// what it was asked).
    By(Responder),
}

/// A reply chosen from the request.
#[derive(Clone)]
pub struct Responder(pub Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>);

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Responder")
    }
}

impl Reply {
    pub fn by(f: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Reply {
        Reply::By(Responder(Arc::new(f)))
    }
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Reply {
        Reply::Status {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The whole SSE text in one write (coalesced events).
    pub fn sse(text: &str) -> Reply {
        Reply::Sse {
            chunks: vec![text.as_bytes().to_vec()],
            delay: Duration::ZERO,
        }
    }

    /// The SSE text in pieces of `n` bytes (events split anywhere, even inside UTF-8).
    pub fn sse_split(text: &str, n: usize) -> Reply {
        Reply::Sse {
            chunks: text.as_bytes().chunks(n).map(<[u8]>::to_vec).collect(),
            delay: Duration::from_millis(1),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Recorded {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct LlmServer {
    pub addr: std::net::SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    pub disconnected: Arc<Mutex<bool>>,
}

impl LlmServer {
    /// Reply `i` answers request `i`; the last reply answers any further requests.
    pub async fn start(replies: Vec<Reply>) -> LlmServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let disconnected = Arc::new(Mutex::new(false));
        let (reqs, disc) = (requests.clone(), disconnected.clone());
        tokio::spawn(async move {
            let mut n = 0usize;
            while let Ok((stream, _)) = listener.accept().await {
                let reply = replies.get(n).or(replies.last()).cloned();
                n += 1;
                let (reqs, disc) = (reqs.clone(), disc.clone());
                tokio::spawn(async move {
                    if let Some(reply) = reply {
                        serve(stream, reply, reqs, disc).await;
                    }
                });
            }
        });
        LlmServer {
            addr,
            requests,
            disconnected,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let path = lines.next()?.split_whitespace().nth(1)?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = stream.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    Some(Recorded {
        path,
        headers,
        body,
    })
}

const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";

async fn serve(
    mut stream: TcpStream,
    reply: Reply,
    reqs: Arc<Mutex<Vec<Recorded>>>,
    disc: Arc<Mutex<bool>>,
) {
    let Some(req) = read_request(&mut stream).await else {
        return;
    };
    let reply = match reply {
        Reply::By(f) => (f.0)(&req),
        other => other,
    };
    reqs.lock().expect("lock").push(req);
    match reply {
        Reply::By(_) => {
            let _ = stream
                .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
        }
        Reply::Status {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} Status\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        }
        Reply::Sse { chunks, delay } => {
            let _ = stream.write_all(SSE_HEAD.as_bytes()).await;
            for c in chunks {
                if stream.write_all(&c).await.is_err() {
                    return;
                }
                let _ = stream.flush().await;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
        }
        Reply::Pinging => {
            let _ = stream.write_all(SSE_HEAD.as_bytes()).await;
            for _ in 0..200 {
                if stream
                    .write_all(b"event: ping\ndata: {\"type\": \"ping\"}\n\n")
                    .await
                    .is_err()
                {
                    *disc.lock().expect("lock") = true;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Reply::Silent => {
            let _ = stream.write_all(SSE_HEAD.as_bytes()).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    }
    let _ = stream.shutdown().await;
}

/// A complete Anthropic Messages stream for `parts` of text.
pub fn anthropic_stream(parts: &[&str], input_tokens: u64, output_tokens: u64) -> String {
    let mut s = format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{{\"input_tokens\":{input_tokens},\"output_tokens\":1}}}}}}\n\n\
         event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n\
         event: ping\ndata: {{\"type\": \"ping\"}}\n\n"
    );
    for p in parts {
        let text = serde_json::to_string(p).expect("json string");
        s.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{text}}}}}\n\n"
        ));
    }
    s.push_str(&format!(
        "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n\
         event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}},\"usage\":{{\"output_tokens\":{output_tokens}}}}}\n\n\
         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    ));
    s
}

/// An Anthropic stream whose answer is one `tool_use` block (as `tool_choice` forces), its
/// input arriving as `input_json_delta` pieces.
pub fn anthropic_tool_use(
    name: &str,
    input_parts: &[&str],
    input_tokens: u64,
    output_tokens: u64,
) -> String {
    let mut s = format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_02\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{{\"input_tokens\":{input_tokens},\"output_tokens\":1}}}}}}\n\n\
         event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":{name:?},\"input\":{{}}}}}}\n\n"
    );
    for p in input_parts {
        let partial = serde_json::to_string(p).expect("json string");
        s.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":{partial}}}}}\n\n"
        ));
    }
    s.push_str(&format!(
        "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n\
         event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"tool_use\",\"stop_sequence\":null}},\"usage\":{{\"output_tokens\":{output_tokens}}}}}\n\n\
         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    ));
    s
}

/// Anthropic's error body shape.
pub fn anthropic_error(kind: &str, message: &str) -> String {
    serde_json::json!({"type": "error", "error": {"type": kind, "message": message}}).to_string()
}

/// A complete OpenAI chat-completions stream for `parts`, with a usage chunk and `[DONE]`.
pub fn openai_stream(parts: &[&str], prompt_tokens: u64, completion_tokens: u64) -> String {
    let mut s = String::new();
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "llama3.1",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    s.push_str(&format!(
        "data: {}\n\n",
        chunk(
            serde_json::json!({"role": "assistant", "content": ""}),
            None
        )
    ));
    for p in parts {
        s.push_str(&format!(
            "data: {}\n\n",
            chunk(serde_json::json!({"content": p}), None)
        ));
    }
    s.push_str(&format!(
        "data: {}\n\n",
        chunk(serde_json::json!({}), Some("stop"))
    ));
    s.push_str(&format!(
        "data: {}\n\n",
        serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}})
    ));
    s.push_str("data: [DONE]\n\n");
    s
}

/// An Anthropic turn that says `text`, then calls tools — several `tool_use` blocks in one
/// message, each input streamed as `input_json_delta` pieces cut at `split` bytes — and
/// stops with `stop_reason: tool_use`.
pub fn anthropic_tool_calls(text: &str, calls: &[(&str, &str, &str)], split: usize) -> String {
    let mut s = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_t\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":900,\"output_tokens\":1}}}\n\n",
    );
    let mut index = 0;
    if !text.is_empty() {
        let t = serde_json::to_string(text).expect("json");
        s.push_str(&format!(
            "event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n\
             event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{t}}}}}\n\n\
             event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n"
        ));
        index = 1;
    }
    for (id, name, input) in calls {
        s.push_str(&format!(
            "event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":{index},\"content_block\":{{\"type\":\"tool_use\",\"id\":{id:?},\"name\":{name:?},\"input\":{{}}}}}}\n\n"
        ));
        let bytes = input.as_bytes();
        for piece in bytes.chunks(split.max(1)) {
            let partial = serde_json::to_string(&String::from_utf8_lossy(piece)).expect("json");
            s.push_str(&format!(
                "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":{partial}}}}}\n\n"
            ));
        }
        s.push_str(&format!(
            "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":{index}}}\n\n"
        ));
        index += 1;
    }
    s.push_str(
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":120}}\n\n\
         event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    s
}

/// An OpenAI chat-completions turn that calls tools: `tool_calls` deltas (the id and name
/// first, the arguments in `split`-byte pieces), `finish_reason: tool_calls`, usage, `[DONE]`.
pub fn openai_tool_calls(calls: &[(&str, &str, &str)], split: usize) -> String {
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        serde_json::json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "model": "llama3.1",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    let mut s = format!(
        "data: {}\n\n",
        chunk(
            serde_json::json!({"role": "assistant", "content": null}),
            None
        )
    );
    for (i, (id, name, args)) in calls.iter().enumerate() {
        s.push_str(&format!(
            "data: {}\n\n",
            chunk(
                serde_json::json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None
            )
        ));
        for piece in args.as_bytes().chunks(split.max(1)) {
            s.push_str(&format!(
                "data: {}\n\n",
                chunk(
                    serde_json::json!({"tool_calls": [{"index": i,
                        "function": {"arguments": String::from_utf8_lossy(piece)}}]}),
                    None
                )
            ));
        }
    }
    s.push_str(&format!(
        "data: {}\n\n",
        chunk(serde_json::json!({}), Some("tool_calls"))
    ));
    s.push_str(&format!(
        "data: {}\n\n",
        serde_json::json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "choices": [],
            "usage": {"prompt_tokens": 700, "completion_tokens": 40, "total_tokens": 740}})
    ));
    s.push_str("data: [DONE]\n\n");
    s
}
