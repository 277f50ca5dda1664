//! Offline triage of one alert with a warm index (target ≤ 50 ms p50): retrieval, similar
//! cases, rules, verdict, and the writes to SQLite.
//! Run: `cargo bench --bench triage`.

use criterion::{Criterion, criterion_group, criterion_main};

use soc_copilot::alert::load_paths;
use soc_copilot::store::Store;
use soc_copilot::triage::{TriageParams, triage_offline};

#[path = "support/kb.rs"]
mod kb;

fn bench(c: &mut Criterion) {
    let kb = kb::knowledge_base();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_in(dir.path()).expect("store");
    let queue = load_paths(&[concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/queue/sample-queue.ndjson"
    )
    .into()]);
    let params = TriageParams::default();
    let mut i = 0;
    c.bench_function("offline_triage_one_alert", |b| {
        b.iter(|| {
            let alert = &queue.alerts[i % queue.alerts.len()];
            i += 1;
            // Measure the whole path, query embedding included (not the cache of recent ones).
            if let Some(e) = kb.embedder() {
                e.clear_recent();
            }
            triage_offline(&kb, &mut store, alert, &params).expect("triage")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(benches);
