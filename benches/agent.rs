//! The agentic investigation's own cost: one alert triaged in agentic mode with three tool
//! turns (seven tool calls: intel, IOC history, related alerts, ATT&CK search, technique
//! detail, threat actors, similar alerts) against a scripted Anthropic server that answers
//! at once, compared with the same alert in pipeline mode (one model call). The difference
//! divided by the three extra turns is the latency each agentic step adds beyond the
//! model's own time. Real ATT&CK knowledge base (hybrid retrieval).
//! Run: `cargo bench --bench agent`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

use soc_copilot::alert::load_paths;
use soc_copilot::llm::ModelSettings;
use soc_copilot::llm::anthropic::Anthropic;
use soc_copilot::llm::client::DriveOptions;
use soc_copilot::store::StorePool;
use soc_copilot::triage::engine::TriageMode;
use soc_copilot::triage::events::Quiet;
use soc_copilot::triage::model::ModelEngine;
use soc_copilot::triage::{Pipeline, Request, TriageParams};

#[path = "support/kb.rs"]
mod kb;
#[path = "../tests/support/llm.rs"]
#[allow(dead_code)]
mod llm;

use llm::{LlmServer, Reply, anthropic_stream, anthropic_tool_calls};

const ANSWER: &str = r#"{"verdict": "HIGH", "confidence": 0.8, "reasoning": "r", "evidence": []}"#;

fn final_answer() -> Reply {
    Reply::sse(&anthropic_stream(
        &["Done.\n```json\n", ANSWER, "\n```"],
        1000,
        100,
    ))
}

fn agentic_script() -> Vec<Reply> {
    vec![
        Reply::sse(&anthropic_tool_calls(
            "",
            &[
                (
                    "toolu_1",
                    "intel_lookup",
                    r#"{"indicator":"185.220.101.47"}"#,
                ),
                (
                    "toolu_2",
                    "ioc_history",
                    r#"{"indicator":"185.220.101.47"}"#,
                ),
                ("toolu_3", "related_alerts", r#"{"hours":24}"#),
            ],
            16,
        )),
        Reply::sse(&anthropic_tool_calls(
            "",
            &[
                (
                    "toolu_4",
                    "attack_search",
                    r#"{"query":"encoded powershell from word"}"#,
                ),
                ("toolu_5", "attack_technique", r#"{"id":"T1059.001"}"#),
                (
                    "toolu_6",
                    "threat_actors",
                    r#"{"techniques":["T1059.001","T1204.002"]}"#,
                ),
            ],
            16,
        )),
        Reply::sse(&anthropic_tool_calls(
            "",
            &[("toolu_7", "similar_alerts", "{}")],
            16,
        )),
        final_answer(),
    ]
}

fn pipeline(
    kb: Arc<soc_copilot::search::KnowledgeBase>,
    stores: Arc<StorePool>,
    base: &str,
    mode: TriageMode,
) -> Pipeline {
    let provider = Anthropic::new(
        base,
        "sk-ant-bench",
        "claude-sonnet-4-5",
        reqwest::Client::new(),
        DriveOptions::default(),
    );
    let settings = ModelSettings {
        max_tokens: 1024,
        temperature: 0.2,
        input_per_mtok: 3.0,
        output_per_mtok: 15.0,
        json_schema: false,
    };
    Pipeline {
        kb,
        stores,
        engine: Arc::new(ModelEngine::new(Arc::new(provider), settings)),
        params: TriageParams {
            mode,
            ..TriageParams::default()
        },
        intel: None,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let kb = Arc::new(kb::knowledge_base());
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = Arc::new(StorePool::new(dir.path().to_path_buf()));
    let queue = load_paths(&[concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/queue/sample-queue.ndjson"
    )
    .into()]);
    let alert = Arc::new(queue.alerts[0].clone());
    // One triage with the given script on a fresh server (started outside the timing).
    let once = |mode: TriageMode| -> Duration {
        let script = match mode {
            TriageMode::Agentic => agentic_script(),
            TriageMode::Pipeline => vec![final_answer()],
        };
        let server = rt.block_on(LlmServer::start(script));
        let p = pipeline(kb.clone(), stores.clone(), &server.base_url(), mode);
        let t = Instant::now();
        let out = rt.block_on(p.run(Request::new(alert.clone()), &mut Quiet));
        let took = t.elapsed();
        let o = out.expect("triage");
        if mode == TriageMode::Agentic {
            assert_eq!(o.provenance.tool_calls.len(), 7);
            assert_eq!(o.provenance.turns, 4);
        }
        took
    };
    let mut g = c.benchmark_group("agent");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    for mode in [TriageMode::Pipeline, TriageMode::Agentic] {
        g.bench_function(
            format!("{} triage, model answers at once", mode.as_str()),
            |b| b.iter_custom(|iters| (0..iters).map(|_| once(mode)).sum()),
        );
    }
    g.finish();
    // The derived figure, from medians of 30 runs each.
    let median = |mode: TriageMode| {
        let mut v: Vec<Duration> = (0..30).map(|_| once(mode)).collect();
        v.sort();
        v[v.len() / 2]
    };
    let (pipe, agent) = (median(TriageMode::Pipeline), median(TriageMode::Agentic));
    let per_step = agent.saturating_sub(pipe) / 3;
    println!(
        "agentic step overhead: pipeline {:.1} ms, agentic (3 tool turns, 7 calls) {:.1} ms → {:.1} ms per step beyond the model's own time",
        pipe.as_secs_f64() * 1e3,
        agent.as_secs_f64() * 1e3,
        per_step.as_secs_f64() * 1e3
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
