//! Streaming overhead: from the moment a server writes one SSE `content_block_delta` to the
//! loopback socket until the text reaches the consumer through the real Anthropic provider
//! (reqwest → SSE parser → event mapping → channel). Target ≤ 1 ms p50.
//! Run: `cargo bench --bench streaming`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use soc_copilot::llm::anthropic::Anthropic;
use soc_copilot::llm::client::DriveOptions;
use soc_copilot::llm::{ChatRequest, Message, Provider, StreamEvent};

const HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n\
event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
const DELTA: &[u8] = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"token \"}}\n\n";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (go_tx, mut go_rx) = mpsc::unbounded_channel::<()>();
    let (sent_tx, mut sent_rx) = mpsc::unbounded_channel::<Instant>();
    let addr = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let _ = s.set_nodelay(true);
            let mut buf = vec![0u8; 65536];
            let _ = s.read(&mut buf).await; // the request (small enough for one read)
            s.write_all(HEAD.as_bytes()).await.expect("head");
            while go_rx.recv().await.is_some() {
                let t = Instant::now();
                s.write_all(DELTA).await.expect("delta");
                let _ = sent_tx.send(t);
            }
        });
        addr
    });
    let provider = Anthropic::new(
        &format!("http://{addr}"),
        "bench-key",
        "claude-sonnet-4-5",
        reqwest::Client::new(),
        DriveOptions {
            idle_timeout: Duration::from_secs(600),
            ..DriveOptions::default()
        },
    );
    let mut rx = rt.block_on(async {
        let mut rx = provider.stream(ChatRequest {
            system: "s".into(),
            messages: vec![Message::user("u")],
            max_tokens: 10,
            temperature: 0.0,
            ..ChatRequest::default()
        });
        // message_start's usage arrives first.
        while let Some(ev) = rx.recv().await {
            if matches!(ev, StreamEvent::Usage(_)) {
                break;
            }
        }
        rx
    });
    c.bench_function("socket_write_to_text_delta", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    go_tx.send(()).expect("go");
                    loop {
                        match rx.recv().await {
                            Some(StreamEvent::Text(_)) => break,
                            Some(_) => continue,
                            None => panic!("stream ended"),
                        }
                    }
                    let received = Instant::now();
                    let sent = sent_rx.recv().await.expect("sent time");
                    total += received.saturating_duration_since(sent);
                }
                total
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(benches);
