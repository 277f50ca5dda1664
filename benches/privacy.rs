//! Pseudonymisation overhead per alert: learning an alert's entities, then pseudonymising
//! and leak-checking the request that carries it (system text plus the fenced alert, its
//! raw text and its normalised fields, about as a triage prompt carries them), and turning
//! a reply that names the tokens back. Every kind on (users, hosts, internal IPs, e-mail
//! addresses) and one custom pattern; the map grows over the sample queue as it would.
//! Run: `cargo bench --bench privacy`.

use criterion::{Criterion, criterion_group, criterion_main};

use soc_copilot::alert::load_paths;
use soc_copilot::llm::client::{ChatRequest, Message};
use soc_copilot::privacy::Privacy;

fn bench(c: &mut Criterion) {
    let queue = load_paths(&[concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/queue/sample-queue.ndjson"
    )
    .into()]);
    let kinds: Vec<String> = ["users", "hosts", "internal_ips", "emails"]
        .map(String::from)
        .to_vec();
    let privacy = Privacy::new(&kinds, &[r"EMP-\d{6}".to_string()], true, None).expect("privacy");
    let system = "You are a SOC analyst. Triage the alert between the fences. ".repeat(40);
    let requests: Vec<(usize, ChatRequest)> = queue
        .alerts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let body = format!(
                "<alert untrusted>\n{}\n{}\n</alert>",
                a.raw,
                serde_json::to_string_pretty(&a.alert).unwrap_or_default()
            );
            (
                i,
                ChatRequest {
                    system: system.clone(),
                    messages: vec![Message::user(body)],
                    ..Default::default()
                },
            )
        })
        .collect();
    let bytes: usize = requests
        .iter()
        .map(|(_, r)| r.system.len() + r.messages[0].content.len())
        .sum();
    eprintln!(
        "{} alerts, {} bytes per request on average",
        requests.len(),
        bytes / requests.len().max(1)
    );
    let mut i = 0;
    c.bench_function("pseudonymise_one_alert_request", |b| {
        b.iter(|| {
            let (k, req) = &requests[i % requests.len()];
            i += 1;
            privacy.learn_alert(&queue.alerts[*k].alert);
            let sent = privacy.protect(req.clone(), "bench").expect("no leak");
            privacy.reverse(&sent.messages[0].content)
        })
    });
    c.bench_function("request_clone_baseline", |b| {
        b.iter(|| {
            let (_, req) = &requests[i % requests.len()];
            i += 1;
            req.clone()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(benches);
