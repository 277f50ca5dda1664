//! Remote intel enrichment of one alert's indicators: 3 IPs, a domain and a hash (33 lookups
//! over nine providers) against a local server speaking each provider's API and answering in
//! 100 ms (target ≤ 300 ms wall: the lookups run at once), and the same lookups answered
//! from the store's cache. Run: `cargo bench --bench intel`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

use soc_copilot::intel::remote::Investigator;
use soc_copilot::intel::{Indicator, Kind};
use soc_copilot::store::StorePool;

#[path = "../tests/support/http.rs"]
#[allow(dead_code)]
mod http;
#[path = "../tests/support/intel.rs"]
#[allow(dead_code)]
mod support;

fn investigator(base: &str, dir: &std::path::Path) -> Investigator {
    let stores = Arc::new(StorePool::new(dir.to_path_buf()));
    Investigator::from_config(&support::config(base).intel, stores).expect("providers")
}

/// Five indicators never asked before (so nothing comes from the cache).
fn fresh(n: u32) -> Vec<Indicator> {
    let (a, b) = (n / 250 % 250 + 1, n % 250 + 1);
    vec![
        Indicator::new(Kind::Ip, &format!("8.{a}.{b}.1")),
        Indicator::new(Kind::Ip, &format!("8.{a}.{b}.2")),
        Indicator::new(Kind::Ip, &format!("8.{a}.{b}.3")),
        Indicator::new(Kind::Domain, &format!("h{n}.example.com")),
        Indicator::new(Kind::Sha256, &format!("{:064x}", n as u128 + 1)),
    ]
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = support::IntelServer::start();
    server.delay(100);
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = investigator(&server.base(), dir.path());
    let counter = AtomicU32::new(0);
    let mut g = c.benchmark_group("intel");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function(
        "5 indicators, 33 lookups, providers answer in 100 ms",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let inds = fresh(counter.fetch_add(1, Ordering::SeqCst));
                    let t = Instant::now();
                    let ls = rt.block_on(inv.investigate(&inds));
                    total += t.elapsed();
                    assert_eq!(ls.len(), 33);
                }
                total
            })
        },
    );
    let warm = fresh(999_999);
    rt.block_on(inv.investigate(&warm));
    g.bench_function("the same 33 lookups from the cache", |b| {
        b.iter(|| {
            let ls = rt.block_on(inv.investigate(&warm));
            assert!(ls.iter().all(|l| l.cached_secs.is_some()));
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
