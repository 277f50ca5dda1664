//! The HTTP API through the real server on an ephemeral loopback port: every route, each
//! error status, auth on and off, the body limit, the queue limit, concurrent triages,
//! streaming, webhook payloads in the shapes Splunk and Elastic send, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use soc_copilot::alert::load::LoadedAlert;
use soc_copilot::llm::ModelSettings;
use soc_copilot::llm::anthropic::Anthropic;
use soc_copilot::llm::client::DriveOptions;
use soc_copilot::search::KbSlot;
use soc_copilot::search::KnowledgeBase;
use soc_copilot::search::ingest::locate;
use soc_copilot::server::{self, AppState, IntakeSink, Limits};
use soc_copilot::store::Store;
use soc_copilot::store::StorePool;
use soc_copilot::triage::Pipeline;
use soc_copilot::triage::TriageParams;
use soc_copilot::triage::intake::{self, AutoTriage, Intake};
use soc_copilot::triage::model::ModelEngine;
use soc_copilot::triage::{Engine, OfflineEngine};
use tokio::sync::{mpsc, oneshot, watch};

use crate::common::{fixture_bundle, ingest_into, repo};
use crate::support::llm::{LlmServer, Reply, anthropic_stream};

struct Api {
    base: String,
    dir: tempfile::TempDir,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
    /// The intake channel, when no worker pool consumes it (the console's case).
    intake: mpsc::Receiver<Intake>,
    _kb: watch::Sender<KbSlot>,
}

struct Opts {
    token: Option<&'static str>,
    engine: Arc<dyn Engine>,
    limits: Limits,
    kb_ready: bool,
    /// `serve`'s intake: the policy, and whether its worker pool runs (on what the store
    /// recovers first). `None`: alerts go to the channel, as in the console.
    triages: Option<(AutoTriage, bool)>,
    /// A data dir prepared by the test (a store left by an earlier process).
    dir: Option<tempfile::TempDir>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            token: None,
            engine: Arc::new(OfflineEngine),
            limits: Limits {
                concurrency: 4,
                queue_depth: 64,
                body_limit: 64 * 1024,
                request_timeout: Duration::from_secs(30),
                max_connections: 64,
                header_read_timeout: Duration::from_secs(10),
            },
            kb_ready: true,
            triages: None,
            dir: None,
        }
    }
}

async fn start(o: Opts) -> Api {
    let dir = match o.dir {
        Some(d) => d,
        None => tempfile::tempdir().expect("tempdir"),
    };
    ingest_into(&fixture_bundle(), dir.path(), Err("BM25 only".into()));
    let slot: KbSlot = if o.kb_ready {
        Some(Ok(Arc::new(
            KnowledgeBase::open(&locate(dir.path()), None).expect("kb"),
        )))
    } else {
        None
    };
    let (kb_tx, kb_rx) = watch::channel(slot);
    let (itx, mut irx) = mpsc::channel(o.limits.queue_depth.max(1));
    if let Some((_, true)) = o.triages {
        let pipeline = Pipeline {
            kb: Arc::new(KnowledgeBase::open(&locate(dir.path()), None).expect("kb")),
            stores: Arc::new(StorePool::new(dir.path().to_path_buf())),
            engine: o.engine.clone(),
            params: TriageParams::default(),
            intel: None,
        };
        let backlog = Store::open_in(dir.path())
            .expect("store")
            .recover_intake()
            .expect("recover")
            .into_iter()
            .map(|a| LoadedAlert {
                alert: a.alert,
                raw: a.raw,
                origin: "recovered".into(),
            })
            .collect();
        let (_, unused) = mpsc::channel(1);
        let rx = std::mem::replace(&mut irx, unused);
        tokio::spawn(intake::work(pipeline, backlog, rx, o.limits.concurrency));
    }
    let state = Arc::new(AppState::new(
        kb_rx,
        o.engine,
        TriageParams::default(),
        dir.path().to_path_buf(),
        o.limits,
        o.token.map(|t| soc_copilot::config::Secret(t.into())),
        "api-test".into(),
        Some(IntakeSink {
            tx: itx,
            triages: o.triages.map(|(p, _)| p),
        }),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        server::serve(listener, state, async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
    });
    Api {
        base,
        dir,
        http: reqwest::Client::new(),
        stop: Some(stop),
        done,
        intake: irx,
        _kb: kb_tx,
    }
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn alert() -> Value {
    json!({"alert": {"alert_id": "api-1", "severity": "high", "title": "Encoded PowerShell launched by Microsoft Word",
        "description": "WINWORD.EXE spawned powershell.exe -enc with a hidden window",
        "raw_log": {"ParentImage": "WINWORD.EXE", "CommandLine": "powershell -nop -w hidden -enc SQBFAFgA"}}})
}

/// Claude behind the scripted server `llm`.
fn claude(llm: &LlmServer) -> Arc<dyn Engine> {
    Arc::new(ModelEngine::new(
        Arc::new(Anthropic::new(
            &llm.base_url(),
            "sk-ant-x",
            "claude-sonnet-4-5",
            reqwest::Client::new(),
            DriveOptions::default(),
        )),
        ModelSettings {
            max_tokens: 512,
            temperature: 0.0,
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
            json_schema: false,
        },
    ))
}

fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_feedback_accuracy_and_lookup() {
    let api = start(Opts::default()).await;
    let (s, h) = api.get("/health").await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["status"], "ok");
    assert_eq!(h["engine"], "offline");
    assert!(h["techniques"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(h["store_reachable"], true);

    let (s, v) = api.post("/triage", alert()).await;
    assert_eq!(s, 200, "{v}");
    let id = v["triage_id"].as_str().expect("triage_id").to_string();
    assert!(
        ["CRITICAL", "HIGH", "MEDIUM", "LOW", "BENIGN"]
            .contains(&v["verdict"].as_str().unwrap_or(""))
    );
    assert_eq!(v["alert_id"], "api-1");
    assert_eq!(v["provenance"]["engine"], "offline");

    let (s, v) = api
        .post(
            "/triage",
            json!({"alert_text": "certutil -urlcache -f http://x.example/a.exe a.exe", "top_k": 3}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v["provenance"]["retrieval"]
            .as_array()
            .is_some_and(|r| r.len() <= 3)
    );
    // Any alert shape, unwrapped.
    let (s, v) = api.post("/triage", json!({"rule": {"level": 12, "description": "sshd brute force"}, "agent": {"name": "web-01"}})).await;
    assert_eq!(s, 200, "{v}");

    let (s, v) = api
        .post("/feedback", json!({"triage_id": id, "analyst_verdict": "HIGH", "analyst_correct": true, "analyst_notes": "confirmed with the user"}))
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, t) = api.get(&format!("/triage/{id}")).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["status"], "complete");
    assert_eq!(t["feedback"][0]["thumbs"], "up");
    assert_eq!(t["feedback"][0]["notes"], "confirmed with the user");
    let (s, a) = api.get("/feedback/accuracy").await;
    assert_eq!(s, 200);
    assert_eq!(a["overall"]["total"], 1);
    let (s, list) = api.get("/alerts?limit=10").await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_has_its_status_and_a_json_body() {
    let api = start(Opts::default()).await;
    // (route, body, status, error code, field named)
    type Case = (
        &'static str,
        Vec<u8>,
        u16,
        &'static str,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        ("/triage", b"".to_vec(), 400, "bad_request", None),
        ("/triage", b"{not json".to_vec(), 400, "bad_request", None),
        ("/triage", b"[1,2]".to_vec(), 400, "bad_request", None),
        (
            "/triage",
            br#"{"alert_text": "x", "top_k": 0}"#.to_vec(),
            400,
            "bad_request",
            Some("top_k"),
        ),
        (
            "/triage",
            br#"{"alert_text": "x", "top_k": "five"}"#.to_vec(),
            400,
            "bad_request",
            Some("top_k"),
        ),
        (
            "/feedback",
            br#"{"triage_id": "x", "analyst_verdict": "HIGH", "analyst_correct": "yes"}"#
                .to_vec(),
            400,
            "bad_request",
            Some("analyst_correct"),
        ),
        (
            "/feedback",
            br#"{"triage_id": "x", "analyst_verdict": "HIGH", "analyst_correct": true, "analyst_notes": 5}"#
                .to_vec(),
            400,
            "bad_request",
            Some("analyst_notes"),
        ),
        (
            "/triage",
            br#"{"alert_text": "x", "alert": {"a": 1}}"#.to_vec(),
            400,
            "bad_request",
            Some("alert"),
        ),
        (
            "/triage",
            br#"{"alert_text": "   "}"#.to_vec(),
            400,
            "bad_request",
            Some("alert_text"),
        ),
        (
            "/triage",
            br#"{"alert": "text"}"#.to_vec(),
            400,
            "bad_request",
            Some("alert"),
        ),
        (
            "/feedback",
            br#"{"triage_id": "nope", "analyst_verdict": "HIGH", "analyst_correct": true}"#
                .to_vec(),
            404,
            "unknown_triage",
            None,
        ),
        (
            "/feedback",
            br#"{"triage_id": "x", "analyst_verdict": "SPICY", "analyst_correct": true}"#.to_vec(),
            400,
            "bad_request",
            Some("analyst_verdict"),
        ),
        (
            "/feedback",
            br#"{"triage_id": "x", "analyst_verdict": "HIGH"}"#.to_vec(),
            400,
            "bad_request",
            Some("analyst_correct"),
        ),
        (
            "/alerts",
            b"\x00\x01\x02binary".to_vec(),
            400,
            "bad_request",
            None,
        ),
    ];
    for (path, body, status, code, field) in cases {
        let shown = String::from_utf8_lossy(&body).to_string();
        let (s, v) = api.raw(path, body).await;
        assert_eq!(s, status, "{path} {shown}: {v}");
        assert_eq!(error_code(&v), code, "{path} {shown}: {v}");
        if let Some(f) = field {
            assert_eq!(v["error"]["field"], f, "{path} {shown}: {v}");
        }
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let (s, v) = api.raw("/triage", vec![b'x'; 100 * 1024]).await;
    assert_eq!((s, error_code(&v)), (413, "too_large"), "{v}");
    let (s, v) = api.get("/nowhere").await;
    assert_eq!((s, error_code(&v)), (404, "not_found"));
    let (s, v) = api.get("/triage/no-such-id").await;
    assert_eq!((s, error_code(&v)), (404, "unknown_triage"));
    let (s, v) = api.get("/triage").await;
    assert_eq!((s, error_code(&v)), (405, "method_not_allowed"));
    let (s, v) = api.get("/alerts?limit=abc").await;
    assert_eq!((s, v["error"]["field"].as_str()), (400, Some("limit")));
    let (s, _) = api.get("/alerts?limit=0").await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_guards_every_route_but_health() {
    let api = start(Opts {
        token: Some("s3cret-token"),
        ..Opts::default()
    })
    .await;
    let (s, _) = api.get("/health").await;
    assert_eq!(s, 200);
    let r = api
        .http
        .post(format!("{}/triage", api.base))
        .json(&alert())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(error_code(&body), "unauthorized");
    assert!(!body.to_string().contains("s3cret"));
    for token in ["wrong", "s3cret-token-but-longer", ""] {
        let r = api
            .http
            .get(format!("{}/alerts", api.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 401, "{token}");
    }
    let r = api
        .http
        .post(format!("{}/triage", api.base))
        .bearer_auth("s3cret-token")
        .json(&alert())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let r = api
        .http
        .get(format!("{}/openapi.json", api.base))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401, "the spec needs the token too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_is_503_and_a_full_queue_is_429() {
    let api = start(Opts {
        kb_ready: false,
        ..Opts::default()
    })
    .await;
    let (s, h) = api.get("/health").await;
    assert_eq!((s, h["status"].as_str()), (503, Some("starting")));
    let (s, v) = api.post("/triage", alert()).await;
    assert_eq!((s, error_code(&v)), (503, "not_ready"));

    // One slot, no waiting room, and a model that never answers: the second triage is refused.
    let llm = LlmServer::start(vec![Reply::Pinging, Reply::Pinging]).await;
    let engine = claude(&llm);
    let api = start(Opts {
        engine,
        limits: Limits {
            concurrency: 1,
            queue_depth: 0,
            body_limit: 65536,
            request_timeout: Duration::from_secs(30),
            max_connections: 64,
            header_read_timeout: Duration::from_secs(10),
        },
        ..Opts::default()
    })
    .await;
    let url = format!("{}/triage", api.base);
    let first = tokio::spawn({
        let http = api.http.clone();
        async move { http.post(url).json(&alert()).send().await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while llm.recorded().is_empty() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = api
        .http
        .post(format!("{}/triage", api.base))
        .json(&alert())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let v: Value = r.json().await.expect("json");
    assert_eq!(error_code(&v), "queue_full");
    first.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_triages_are_all_answered_and_stored() {
    let api = start(Opts::default()).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let http = api.http.clone();
        let url = format!("{}/triage", api.base);
        tasks.push(tokio::spawn(async move {
            let body = json!({"alert": {"alert_id": format!("c-{i}"), "title": format!("Scheduled task created by schtasks #{i}"),
                "description": "schtasks /create /sc onlogon /tr C:\\Users\\Public\\u.exe"}});
            let r = http.post(url).json(&body).send().await.expect("send");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }));
    }
    for t in tasks {
        let (status, body) = t.await.expect("task");
        assert_eq!(status, 200, "{body}");
    }
    let store = Store::open_in(api.dir.path()).expect("store");
    let all = store.recent_triages(100).expect("triages");
    assert_eq!(all.len(), 24);
    assert!(
        all.iter()
            .all(|t| t.status == soc_copilot::store::TriageStatus::Complete)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_sends_techniques_reasoning_then_the_verdict() {
    let verdict = json!({"verdict": "HIGH", "confidence": 0.8, "matched_techniques": [{"id": "T1059.001", "name": "PowerShell", "rationale": "encoded"}],
        "attack_chain": [], "reasoning": "Word spawned PowerShell.", "recommended_actions": ["Isolate"], "false_positive_indicators": [],
        "investigation_queries": [], "evidence": [], "escalation": {"recommended": true, "draft": "x"}}).to_string();
    let llm = LlmServer::start(vec![Reply::sse(&anthropic_stream(
        &["Word spawned ", "PowerShell.\n```json\n", &verdict, "\n```"],
        100,
        40,
    ))])
    .await;
    let engine = claude(&llm);
    let api = start(Opts {
        engine,
        ..Opts::default()
    })
    .await;
    let r = api
        .http
        .post(format!("{}/triage?stream=true", api.base))
        .json(&alert())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"))
    );
    let text = r.text().await.expect("body");
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(events.first(), Some(&"techniques"), "{text}");
    assert!(events.contains(&"reasoning"));
    assert_eq!(events.last(), Some(&"verdict"), "{text}");
    let verdict_line = text
        .lines()
        .skip_while(|l| *l != "event: verdict")
        .nth(1)
        .expect("data");
    let v: Value =
        serde_json::from_str(verdict_line.strip_prefix("data: ").expect("data")).expect("json");
    assert_eq!(v["verdict"], "HIGH");
    assert!(v["triage_id"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_on_post_triage_runs_the_agent_and_streams_tool_events() {
    let verdict = json!({"verdict": "HIGH", "confidence": 0.8, "reasoning": "r",
        "evidence": [{"claim": "T1059.001 is PowerShell", "source": "toolu_T", "quote": "T1059.001 PowerShell"}]})
    .to_string();
    let llm = LlmServer::start(vec![
        Reply::sse(&crate::support::llm::anthropic_tool_calls(
            "",
            &[("toolu_T", "attack_technique", r#"{"id":"T1059.001"}"#)],
            6,
        )),
        Reply::sse(&anthropic_stream(
            &["ok\n```json\n", &verdict, "\n```"],
            100,
            40,
        )),
    ])
    .await;
    let api = start(Opts {
        engine: claude(&llm),
        ..Opts::default()
    })
    .await;
    let mut body = alert();
    body["mode"] = json!("bogus");
    let (status, v) = api.post("/triage", body.clone()).await;
    assert_eq!(status, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("mode must be"),
        "{v}"
    );
    body["mode"] = json!("agentic");
    let r = api
        .http
        .post(format!("{}/triage?stream=true", api.base))
        .json(&body)
        .send()
        .await
        .expect("send");
    let text = r.text().await.expect("body");
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    let call = events
        .iter()
        .position(|e| *e == "tool_call")
        .expect("tool_call event");
    let result = events
        .iter()
        .position(|e| *e == "tool_result")
        .expect("tool_result event");
    assert!(call < result && result < events.len() - 1, "{events:?}");
    assert!(text.contains("\"name\":\"attack_technique\""), "{text}");
    let verdict_line = text
        .lines()
        .skip_while(|l| *l != "event: verdict")
        .nth(1)
        .expect("data");
    let v: Value =
        serde_json::from_str(verdict_line.strip_prefix("data: ").expect("data")).expect("json");
    assert_eq!(v["provenance"]["mode"], "agentic");
    assert_eq!(v["claims"]["verified"], 1, "{v}");
    assert_eq!(v["provenance"]["tool_calls"][0]["id"], "toolu_T");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_payloads_from_splunk_and_elastic_are_queued() {
    let mut api = start(Opts::default()).await;
    let splunk =
        std::fs::read(repo().join("data/webhooks/splunk-alert-action.json")).expect("sample");
    let (s, v) = api.raw("/alerts", splunk).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["accepted"], 1);
    let elastic =
        std::fs::read(repo().join("data/webhooks/elastic-webhook-connector.json")).expect("sample");
    let (s, v) = api.raw("/alerts", elastic).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["alert_ids"], json!(["wh-elastic-01", "wh-elastic-02"]));
    let ndjson =
        b"{\"alert_text\": \"one\"}\nnot json\n{\"alert_id\": \"n-2\", \"title\": \"two\"}\n"
            .to_vec();
    let (s, v) = api.raw("/alerts", ndjson).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["errors"][0]["origin"], "POST /alerts:2");

    let first = api.intake.recv().await.expect("intake");
    let splunk = &first.alert.alert;
    assert_eq!(
        splunk.format, "splunk",
        "read as a Splunk webhook: {splunk:?}"
    );
    assert_eq!(splunk.host.as_deref(), Some("VPN-GW-01"));
    assert!(splunk.full_text().contains("Excessive Failed Logins"));
    let second = api.intake.recv().await.expect("intake");
    assert_eq!(second.alert.alert.host.as_deref(), Some("FIN-WS-051"));
    let (_, list) = api.get("/alerts").await;
    assert_eq!(list.as_array().map(Vec::len), Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_pushed_in_are_grouped_into_incidents_on_the_next_read() {
    let api = start(Opts::default()).await;
    let (s, v) = api.get("/incidents").await;
    assert_eq!((s, v), (200, json!([])));
    let line = |id: &str, host: &str, min: u32| {
        json!({"alert_id": id, "title": "Failed SSH logins", "host": host, "severity": "medium",
               "timestamp": format!("2026-11-20T10:{min:02}:00Z"),
               "description": "failed logins from 185.220.101.47"})
        .to_string()
    };
    let body = [
        line("s-1", "web-1", 0),
        line("s-2", "web-2", 30),
        json!({"alert_id": "o-1", "title": "Printer added", "host": "hr-1",
               "timestamp": "2026-11-20T10:10:00Z"})
        .to_string(),
    ]
    .join("\n");
    let (s, v) = api.raw("/alerts", body.into_bytes()).await;
    assert_eq!(s, 202, "{v}");
    let (s, list) = api.get("/incidents").await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["alert_count"], 2);
    let id = list[0]["id"].as_str().expect("id");
    let (s, one) = api.get(&format!("/incidents/{id}")).await;
    assert_eq!(s, 200, "{one}");
    assert_eq!(
        one["alerts"][1]["why"],
        "shares 185.220.101.47 within 30 min"
    );
    assert_eq!(one["alerts"][0]["key"], "s-1");
    let (s, missing) = api.get("/incidents/INC-999999").await;
    assert_eq!((s, error_code(&missing)), (404, "unknown_incident"));
    let (s, bad) = api.get("/incidents?limit=0").await;
    assert_eq!(
        (s, bad["error"]["field"].as_str()),
        (400, Some("limit")),
        "{bad}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_and_swagger_ui() {
    let api = start(Opts::default()).await;
    let (s, spec) = api.get("/openapi.json").await;
    assert_eq!(s, 200);
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    for p in [
        "/triage",
        "/triage/{id}",
        "/feedback",
        "/feedback/accuracy",
        "/alerts",
        "/incidents",
        "/incidents/{id}",
        "/health",
    ] {
        assert!(spec["paths"][p].is_object(), "{p} missing from the spec");
    }
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    let r = api
        .http
        .get(format!("{}/docs/", api.base))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.expect("html").contains("swagger"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_triage_in_flight_finish_and_be_stored() {
    let verdict = json!({"verdict": "LOW", "confidence": 0.6, "matched_techniques": [], "attack_chain": [], "reasoning": "r",
        "recommended_actions": [], "false_positive_indicators": [], "investigation_queries": [], "evidence": [],
        "escalation": {"recommended": false, "draft": ""}}).to_string();
    let mut slow = Reply::sse(&anthropic_stream(
        &["thinking… ", "```json\n", &verdict, "\n```"],
        10,
        10,
    ));
    if let Reply::Sse { delay, .. } = &mut slow {
        *delay = Duration::from_millis(150);
    }
    let llm = LlmServer::start(vec![slow]).await;
    let engine = claude(&llm);
    let mut api = start(Opts {
        engine,
        ..Opts::default()
    })
    .await;
    let url = format!("{}/triage", api.base);
    let http = api.http.clone();
    let pending = tokio::spawn(async move {
        http.post(url)
            .json(&alert())
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while llm.recorded().is_empty() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = api.stop.take().map(|s| s.send(()));
    assert_eq!(pending.await.expect("task").expect("answered"), 200);
    tokio::time::timeout(Duration::from_secs(10), &mut api.done)
        .await
        .expect("server stops")
        .expect("join");
    let store = Store::open_in(api.dir.path()).expect("store");
    let t = store.recent_triages(5).expect("triages");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].status, soc_copilot::store::TriageStatus::Complete);
}

/// Polls `GET /alerts` until every listed alert has left `queued`/`triaging`.
async fn settled(api: &Api, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let (_, list) = api.get("/alerts").await;
        let list = list.as_array().cloned().unwrap_or_default();
        if list.len() >= n
            && list
                .iter()
                .all(|a| !matches!(a["status"].as_str(), Some("queued" | "triaging")))
        {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("intake alerts were not triaged in time");
}

fn ndjson(ids: &[&str], severity: &str) -> Vec<u8> {
    ids.iter()
        .map(|id| {
            json!({"alert_id": id, "severity": severity, "title": format!("LSASS memory dumped with procdump on {id}"),
                "description": "procdump.exe -ma lsass.exe C:\\Windows\\Temp\\l.dmp"})
            .to_string()
                + "\n"
        })
        .collect::<String>()
        .into_bytes()
}

fn triages_of(dir: &std::path::Path, key: &str) -> Vec<soc_copilot::store::TriageRecord> {
    let store = Store::open_in(dir).expect("store");
    store
        .recent_triages(1000)
        .expect("triages")
        .into_iter()
        .filter(|t| t.alert_key == key)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_triages_what_it_is_sent_exactly_once() {
    let api = start(Opts {
        triages: Some((AutoTriage::parse("high").expect("policy"), true)),
        ..Opts::default()
    })
    .await;
    let (s, v) = api
        .raw("/alerts", ndjson(&["in-1", "in-2", "in-3"], "critical"))
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        (v["accepted"].as_u64(), v["queued"].as_u64()),
        (Some(3), Some(3))
    );
    // Below the `auto_triage` severity: stored, listed, not triaged.
    let (s, v) = api.raw("/alerts", ndjson(&["in-low"], "low")).await;
    assert_eq!((s, v["queued"].as_u64()), (202, Some(0)), "{v}");
    // The same keys again, while (or after) they are triaged: acknowledged, not queued.
    let (s, v) = api
        .raw("/alerts", ndjson(&["in-1", "in-2", "in-3"], "critical"))
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["queued"], 0);
    assert_eq!(v["duplicates"], json!(["in-1", "in-2", "in-3"]));

    let list = settled(&api, 4).await;
    for a in &list {
        match a["alert_id"].as_str() {
            Some("in-low") => assert_eq!(a["status"], "received", "{a}"),
            _ => {
                assert_eq!(a["status"], "triaged", "{a}");
                assert!(a["verdict"].as_str().is_some() && a["triage_id"].as_str().is_some());
            }
        }
    }
    for key in ["in-1", "in-2", "in-3"] {
        let t = triages_of(api.dir.path(), key);
        assert_eq!(t.len(), 1, "{key} triaged exactly once: {t:?}");
    }
    assert!(triages_of(api.dir.path(), "in-low").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_intake_queue_answers_429_and_stores_nothing() {
    let mut limits = Opts::default().limits;
    limits.queue_depth = 2;
    // No worker drains the queue: two alerts fill it.
    let api = start(Opts {
        limits,
        triages: Some((AutoTriage::All, false)),
        ..Opts::default()
    })
    .await;
    let (s, v) = api.raw("/alerts", ndjson(&["q-1", "q-2"], "high")).await;
    assert_eq!((s, v["queued"].as_u64()), (202, Some(2)), "{v}");
    let r = api
        .http
        .post(format!("{}/alerts", api.base))
        .header("content-type", "application/json")
        .body(ndjson(&["q-3"], "high"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 429);
    assert!(
        r.headers().get("retry-after").is_some(),
        "Retry-After is set"
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(error_code(&body), "queue_full");
    let (_, list) = api.get("/alerts").await;
    let ids: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["alert_id"].as_str())
        .collect();
    assert!(
        !ids.contains(&"q-3"),
        "the refused alert was not stored: {ids:?}"
    );
    assert_eq!(ids.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_left_queued_by_a_killed_process_are_triaged_after_restart() {
    // What `kill -9` mid-triage leaves: an accepted alert still queued, its run `running`.
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut store = Store::open_in(dir.path()).expect("store");
        let v = json!({"alert_id": "killed-1", "severity": "high", "title": "Shadow copies deleted with vssadmin",
            "description": "vssadmin.exe delete shadows /all /quiet"});
        let alert = soc_copilot::alert::parse::from_json(&v);
        let accepted = store
            .accept_intake(&[(&alert, &v.to_string(), true)])
            .expect("accept");
        let soc_copilot::store::intake::Accepted::New { row } = accepted[0] else {
            panic!("new alert")
        };
        store
            .start_triage("orphan-run", row, "anthropic", Some("claude-sonnet-4-5"))
            .expect("start");
    }
    // As a killed process leaves it: no live owner (a row from before owners were recorded).
    rusqlite::Connection::open(dir.path().join("soc-copilot.db"))
        .expect("db")
        .execute("UPDATE triages SET owner = NULL", [])
        .expect("owner cleared");
    let api = start(Opts {
        triages: Some((AutoTriage::All, true)),
        dir: Some(dir),
        ..Opts::default()
    })
    .await;
    let list = settled(&api, 1).await;
    assert_eq!(list[0]["status"], "triaged", "{list:?}");
    let runs = triages_of(api.dir.path(), "killed-1");
    assert_eq!(runs.len(), 2, "{runs:?}");
    let orphan = runs.iter().find(|t| t.id == "orphan-run").expect("orphan");
    assert_eq!(orphan.status, soc_copilot::store::TriageStatus::Abandoned);
    assert!(
        orphan
            .error
            .as_deref()
            .is_some_and(|e| e.contains("abandoned"))
    );
    assert!(
        runs.iter()
            .any(|t| t.status == soc_copilot::store::TriageStatus::Complete)
    );
}

/// The real binary: `serve` is killed with SIGKILL while a model triage of a pushed alert
/// streams; started again, it triages that alert, and the cut-off run is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_mid_triage_triages_the_alert_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    ingest_into(&fixture_bundle(), dir.path(), Err("BM25 only".into()));
    // A model that keeps the stream open (pings) and never answers.
    let llm = LlmServer::start(vec![Reply::Pinging]).await;
    let spawn = |engine: &str, port: u16| {
        std::process::Command::new(env!("CARGO_BIN_EXE_soc-copilot"))
            .args(["--data-dir", dir.path().to_str().expect("utf-8 path")])
            .args([
                "serve",
                "--engine",
                engine,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env("ANTHROPIC_API_KEY", "sk-ant-kill-test")
            .env("ANTHROPIC_BASE_URL", llm.base_url())
            .env("ORT_DYLIB_PATH", "/nonexistent")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("serve starts")
    };
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port()
    };
    let http = reqwest::Client::new();
    let wait_for = |base: String, want: &'static str| {
        let http = http.clone();
        async move {
            for _ in 0..400 {
                if let Ok(r) = http.get(format!("{base}/alerts")).send().await
                    && let Ok(v) = r.json::<Value>().await
                    && v[0]["status"] == want
                {
                    return v;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("the alert never reached {want}");
        }
    };
    let ready = |base: String| {
        let http = http.clone();
        async move {
            for _ in 0..400 {
                if http.get(format!("{base}/health")).send().await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("serve did not come up");
        }
    };

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = spawn("anthropic", port);
    ready(base.clone()).await;
    let r = http
        .post(format!("{base}/alerts"))
        .body(ndjson(&["kill-1"], "high"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    wait_for(base.clone(), "triaging").await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut second = spawn("offline", port);
    ready(base.clone()).await;
    let list = wait_for(base.clone(), "triaged").await;
    let _ = second.kill();
    let _ = second.wait();
    assert!(list[0]["verdict"].as_str().is_some(), "{list}");
    let runs = triages_of(dir.path(), "kill-1");
    assert_eq!(runs.len(), 2, "{runs:?}");
    let cut = runs
        .iter()
        .find(|t| t.engine == "anthropic")
        .expect("the killed run");
    assert_eq!(cut.status, soc_copilot::store::TriageStatus::Abandoned);
    assert!(
        cut.error
            .as_deref()
            .is_some_and(|e| e.contains("abandoned"))
    );
    let done = runs
        .iter()
        .find(|t| t.engine == "offline")
        .expect("the new run");
    assert_eq!(done.status, soc_copilot::store::TriageStatus::Complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sse_client_gets_every_delta_merged_into_fewer_events() {
    let verdict = json!({"verdict": "LOW", "confidence": 0.6, "reasoning": "r"}).to_string();
    let words: Vec<String> = (0..20_000).map(|i| format!("w{i} ")).collect();
    let mut parts: Vec<&str> = words.iter().map(String::as_str).collect();
    let tail = format!("\n```json\n{verdict}\n```");
    parts.push(&tail);
    let llm = LlmServer::start(vec![Reply::sse(&anthropic_stream(&parts, 100, 40))]).await;
    let engine = claude(&llm);
    let api = start(Opts {
        engine,
        ..Opts::default()
    })
    .await;
    let r = api
        .http
        .post(format!("{}/triage?stream=true", api.base))
        .json(&alert())
        .send()
        .await
        .expect("send");
    // The client falls behind: it reads nothing while the model streams.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = r.text().await.expect("body");
    let mut reasoning = String::new();
    let mut events = 0;
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l == "event: reasoning" {
            let data = lines
                .next()
                .and_then(|d| d.strip_prefix("data: "))
                .expect("data");
            let v: Value = serde_json::from_str(data).expect("json");
            reasoning.push_str(v["text"].as_str().expect("text"));
            events += 1;
        }
    }
    assert_eq!(reasoning, parts.concat(), "no delta was dropped");
    assert!(events <= parts.len());
    assert!(text.contains("event: verdict"), "and the verdict follows");
}

/// A JSON triage whose client hangs up (a short client timeout against a slow model) goes
/// on and is recorded complete: never left `running`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_triage_goes_on_after_its_client_leaves() {
    let answer = json!({"verdict": "LOW", "confidence": 0.6, "reasoning": "r"}).to_string();
    let stream = anthropic_stream(
        &["Thinking ", "slowly ", &format!("```json\n{answer}\n```")],
        100,
        50,
    );
    let llm = LlmServer::start(vec![Reply::Sse {
        chunks: stream.as_bytes().chunks(40).map(<[u8]>::to_vec).collect(),
        delay: Duration::from_millis(60),
    }])
    .await;
    let api = start(Opts {
        engine: claude(&llm),
        ..Opts::default()
    })
    .await;
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let r = short
        .post(format!("{}/triage", api.base))
        .json(&alert())
        .send()
        .await;
    assert!(r.is_err(), "the client gave up before the model answered");
    let mut last = Value::Null;
    for _ in 0..200 {
        let (_, list) = api.get("/alerts").await;
        if list[0]["status"] == "triaged" {
            last = list;
            break;
        }
        last = list;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last[0]["status"], "triaged", "{last}");
    assert_eq!(last[0]["verdict"], "LOW", "{last}");
    let runs = triages_of(api.dir.path(), "api-1");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, soc_copilot::store::TriageStatus::Complete);
}

/// `/health` is 503 "degraded" when the store takes no writes or the index cannot be
/// searched — not 200 while every triage fails — and no 500 names a machine path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_degraded_when_the_store_or_index_is_broken_and_500s_hide_paths() {
    let api = start(Opts::default()).await;
    let path = api.dir.path().display().to_string();
    let db = api.dir.path().join("soc-copilot.db");
    // A directory where the database should be: nothing can open it.
    std::fs::create_dir(&db).expect("dir in the way");
    let (s, h) = api.get("/health").await;
    assert_eq!(s, 503, "{h}");
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["store_reachable"], false);
    assert!(!h.to_string().contains(&path), "{h}");
    let (s, v) = api.post("/triage", alert()).await;
    assert_eq!(s, 500, "{v}");
    assert!(
        !v.to_string().contains(&path),
        "a 500 names no machine path: {v}"
    );
    std::fs::remove_dir(&db).expect("cleared");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, h) = api.get("/health").await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["retrieval"], "bm25-only");
    assert_eq!(h["index_searchable"], true);

    // The index loses its manifest: searching it is no longer trusted.
    std::fs::remove_file(locate(api.dir.path()).join("manifest.json")).expect("rm");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, h) = api.get("/health").await;
    assert_eq!(s, 503, "{h}");
    assert_eq!(h["index_searchable"], false);
    assert!(!h.to_string().contains(&path), "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_list_pages_and_returns_raw_only_when_asked() {
    let api = start(Opts::default()).await;
    let ids: Vec<String> = (0..5).map(|i| format!("page-{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (s, v) = api.raw("/alerts", ndjson(&refs, "low")).await;
    assert_eq!(s, 202, "{v}");
    let (s, first) = api.get("/alerts?limit=2").await;
    assert_eq!(s, 200);
    let first = first.as_array().cloned().expect("array");
    assert_eq!(first.len(), 2);
    assert!(
        first.iter().all(|a| a.get("raw").is_none()),
        "summaries only"
    );
    let cursor = first[1]["cursor"].as_i64().expect("cursor");
    let (_, second) = api.get(&format!("/alerts?limit=2&before={cursor}")).await;
    let second = second.as_array().cloned().expect("array");
    assert_eq!(second.len(), 2);
    let seen: Vec<&str> = first
        .iter()
        .chain(&second)
        .filter_map(|a| a["alert_id"].as_str())
        .collect();
    assert_eq!(seen, ["page-4", "page-3", "page-2", "page-1"]);
    let (_, raw) = api.get("/alerts?limit=1&raw=true").await;
    assert!(
        raw[0]["raw"].as_str().is_some_and(|r| r.contains("page-4")),
        "{raw}"
    );
    let (s, v) = api.get("/alerts?limit=500&raw=true").await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("limit")),
        "{v}"
    );
}

/// Sockets that never finish their headers are closed after the header timeout; at the
/// connection cap the stalest half-open one makes room, so `/health` still answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_bounded_in_time_and_number() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let api = start(Opts {
        limits: Limits {
            max_connections: 4,
            header_read_timeout: Duration::from_millis(1500),
            ..Opts::default().limits
        },
        ..Opts::default()
    })
    .await;
    let addr = api.base.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut c = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("partial");
        slow.push(c);
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The cap is full of half-open sockets: a real request still gets its answer.
    let mut fresh = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    fresh
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(1), fresh.read_to_end(&mut answer))
        .await
        .expect("answered before the header timeout")
        .expect("read");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // Every half-open socket ends: one evicted, the rest at the header timeout.
    let mut buf = [0u8; 256];
    for c in &mut slow {
        let r = tokio::time::timeout(Duration::from_secs(4), c.read(&mut buf))
            .await
            .expect("closed by the server");
        // hyper may answer 408 before closing; either way the socket ends.
        if let Ok(n) = r
            && n > 0
        {
            assert!(String::from_utf8_lossy(&buf[..n]).contains("408"));
        }
    }
    let (s, _) = api.get("/health").await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_alerts_are_400_and_feedback_needs_a_complete_run_and_names_its_analyst() {
    let api = start(Opts::default()).await;
    let (s, v) = api.post("/triage", json!({"alert": {}})).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("alert")),
        "{v}"
    );
    let (s, v) = api.raw("/alerts", b"{}".to_vec()).await;
    assert_eq!(s, 400, "{v}");

    let (s, v) = api.post("/triage", alert()).await;
    assert_eq!(s, 200, "{v}");
    let id = v["triage_id"].as_str().expect("id").to_string();
    let (s, v) = api
        .post("/feedback", json!({"triage_id": id, "analyst_verdict": "HIGH", "analyst_correct": true, "analyst": "jdoe"}))
        .await;
    assert_eq!(s, 201, "{v}");
    let (_, t) = api.get(&format!("/triage/{id}")).await;
    assert_eq!(t["feedback"][0]["analyst"], "jdoe");

    let row = {
        let store = Store::open_in(api.dir.path()).expect("store");
        store.alert_by_key("api-1").expect("q").expect("alert").row
    };
    Store::open_in(api.dir.path())
        .expect("store")
        .start_triage("still-running", row, "anthropic", None)
        .expect("start");
    let (s, v) = api
        .post("/feedback", json!({"triage_id": "still-running", "analyst_verdict": "LOW", "analyst_correct": false}))
        .await;
    assert_eq!((s, error_code(&v)), (409, "triage_not_complete"), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("running"))
    );
}
