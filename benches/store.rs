//! `accuracy` over 100,000 feedback rows (target ≤ 100 ms).
//! Run: `cargo bench --bench store`.

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::params;

use soc_copilot::store::Store;

const ROWS: usize = 100_000;

fn seeded_store(dir: &std::path::Path) -> Store {
    let store = Store::open_in(dir).expect("open");
    drop(store);
    // Seed through SQL in one transaction: building 100k triages through the API would be
    // the slow part of the bench, not what it measures.
    let mut conn = rusqlite::Connection::open(dir.join("soc-copilot.db")).expect("raw");
    let tx = conn.transaction().expect("tx");
    {
        let mut alert = tx
            .prepare("INSERT INTO alerts (alert_key, format, title, normalized, raw, created_at) VALUES (?1, 'plain-text', ?2, '{}', '', '2026-11-01T00:00:00Z')")
            .expect("prepare");
        let mut triage = tx
            .prepare("INSERT INTO triages (id, alert_id, status, engine, verdict, confidence, created_at) VALUES (?1, ?2, 'complete', 'offline', ?3, ?4, '2026-11-01T00:00:00Z')")
            .expect("prepare");
        let mut feedback = tx
            .prepare("INSERT INTO feedback (triage_id, thumbs, analyst_verdict, analyst, created_at, verdict, confidence, engine) VALUES (?1, ?2, ?3, 'bench', ?4, ?5, ?6, 'offline')")
            .expect("prepare");
        let verdicts = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "BENIGN"];
        for i in 0..ROWS {
            alert
                .execute(params![format!("a{i}"), format!("alert {i}")])
                .expect("alert");
            let row = tx.last_insert_rowid();
            let v = verdicts[i % 5];
            triage
                .execute(params![format!("t{i}"), row, v, (i % 100) as f64 / 100.0])
                .expect("triage");
            let thumbs = if i % 4 == 0 { "down" } else { "up" };
            let analyst = if i % 4 == 0 {
                Some(verdicts[(i / 4) % 5])
            } else {
                None
            };
            let day = format!("2026-11-{:02}T12:00:00Z", 1 + i % 28);
            feedback
                .execute(params![
                    format!("t{i}"),
                    thumbs,
                    analyst,
                    day,
                    v,
                    (i % 100) as f64 / 100.0
                ])
                .expect("feedback");
        }
    }
    tx.commit().expect("commit");
    Store::open_in(dir).expect("reopen")
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = seeded_store(dir.path());
    let acc = store.accuracy().expect("accuracy");
    assert_eq!(acc.overall.total, ROWS as u64);
    c.bench_function("accuracy_100k_feedback", |b| {
        b.iter(|| store.accuracy().expect("accuracy"))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
