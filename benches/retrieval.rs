//! Retrieval latency with a warm index: one alert end to end (query building, embedding,
//! BM25, vector scan, fusion, evidence), and its parts.
//!
//! The index is built once into target/bench-data (re-runs reuse its vectors).
//! Run: `cargo bench --bench retrieval`. Criterion's median is the p50 reported in README.

use criterion::{Criterion, criterion_group, criterion_main};

use soc_copilot::alert::parse::from_json;
use soc_copilot::search::{Mode, SearchParams, query};

#[path = "support/kb.rs"]
mod kb;
use kb::knowledge_base;

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
    // Every iteration embeds the query: the cache of recent query vectors is emptied first.
    g.bench_function("one_alert_hybrid", |b| {
        b.iter(|| {
            embedder.clear_recent();
            kb.search_alert(&alert, 10, Mode::Hybrid, &params)
                .expect("search")
        })
    });
    // The same alert text again (a rule firing on another host): the vector comes from the cache.
    g.bench_function("one_alert_hybrid_repeat", |b| {
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
        b.iter(|| {
            embedder.clear_recent();
            embedder.embed_one(&q.dense_text).expect("embed")
        })
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
