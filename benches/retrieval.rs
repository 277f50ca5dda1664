//! Retrieval latency with a warm index: one alert end to end (query building, embedding,
//! BM25, vector scan, fusion, evidence), and its parts.
//!
//! The index is built once into target/bench-data (re-runs reuse its vectors).
//! Run: `cargo bench --bench retrieval`. Criterion's median is the p50 reported in README.

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};

use soc_copilot::alert::parse::from_json;
use soc_copilot::search::document::ChunkPlan;
use soc_copilot::search::embed::Embedder;
use soc_copilot::search::ingest::{IngestOptions, Quiet, ingest, locate};
use soc_copilot::search::{KnowledgeBase, Mode, SearchParams, query};

fn env_path(var: &str) -> PathBuf {
    let v = std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} unset: run through cargo (see .cargo/config.toml)"));
    PathBuf::from(v)
}

fn knowledge_base() -> KnowledgeBase {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let embedder = Arc::new(
        Embedder::load(
            &env_path("SOC_COPILOT_MODEL_DIR"),
            &env_path("ORT_DYLIB_PATH"),
            2,
        )
        .expect("model loads"),
    );
    ingest(
        IngestOptions {
            bundle: env_path("SOC_COPILOT_ATTACK_BUNDLE"),
            source: "bench".into(),
            data_dir: data.clone(),
            embedder: Ok(embedder.clone()),
            plan: ChunkPlan::default(),
            attack_version: None,
            batch: 32,
        },
        &Quiet,
    )
    .expect("ingest");
    KnowledgeBase::open(&locate(&data), Some(embedder)).expect("open")
}

fn bench(c: &mut Criterion) {
    let kb = knowledge_base();
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/alerts/encoded-powershell-from-word.json"
    ))
    .expect("sample alert");
    let alert = from_json(&serde_json::from_str(&raw).expect("json"));
    let params = SearchParams::default();
    let q = query::build(&alert);
    let embedder = kb.embedder().expect("dense on").clone();

    let mut g = c.benchmark_group("search");
    g.bench_function("one_alert_hybrid", |b| {
        b.iter(|| {
            kb.search_alert(&alert, 10, Mode::Hybrid, &params)
                .expect("search")
        })
    });
    g.bench_function("one_alert_bm25", |b| {
        b.iter(|| {
            kb.search_alert(&alert, 10, Mode::Bm25, &params)
                .expect("search")
        })
    });
    g.bench_function("embed_query", |b| {
        b.iter(|| embedder.embed_one(&q.dense_text).expect("embed"))
    });
    let qv = embedder.embed_one(&q.dense_text).expect("embed");
    g.bench_function("rank_with_vector", |b| {
        b.iter(|| {
            kb.search_query(&q, Some(&qv), 10, Mode::Hybrid, &params)
                .expect("search")
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(60);
    targets = bench
}
criterion_main!(benches);
