//! Similar-case lookup at team scale: 100,000 reviewed alerts embedded by the product's own
//! model (alert texts generated from 48 detection rules × hosts × users × command lines;
//! the vectors are cached under target/ after the first run), on SQLite and on PostgreSQL (a throwaway
//! cluster from the distribution's packages, as the tests use). For each backend: the
//! approximate index's lookup (`similar_reviewed`, target ≤ 5 ms p50), the exact scan it
//! replaces, the index's recall@5 against that scan, and the time to build the index on
//! first use. The PostgreSQL store is filled by `store migrate`'s copy, timed too.
//!
//! Run: `cargo bench --bench precedent` (`PRECEDENT_N=20000` for a smaller history).

#[path = "../tests/support/pg.rs"]
mod pg;

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rusqlite::params;
use soc_copilot::store::Store;
use soc_copilot::store::alerts::embedding_blob;

const DIM: usize = 384;

/// Alert texts like a SIEM's: a rule, a host, a user, a process and its command line.
fn texts(n: usize, seed: u64) -> Vec<String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let rules = [
        "Encoded PowerShell command launched by Office application",
        "LSASS process memory accessed by non-system process",
        "New service installed with suspicious binary path",
        "Outbound connection to newly registered domain",
        "Multiple failed logons followed by success",
        "Scheduled task created from temporary folder",
        "Shadow copies deleted with vssadmin",
        "Rundll32 executing script from user profile",
        "Certutil used to download file",
        "Suspicious WMI process creation",
        "Kerberoasting: many TGS requests for service accounts",
        "DNS tunnelling: long random subdomains",
        "Registry Run key added for persistence",
        "Remote desktop logon from unusual country",
        "Mass file renames with new extension (ransomware)",
        "PsExec service installed on remote host",
        "Credential dumping tool signature detected",
        "Phishing link clicked in e-mail",
        "Macro-enabled document opened from internet zone",
        "Large outbound transfer to cloud storage",
        "Privilege escalation via token manipulation",
        "Unsigned driver loaded",
        "Security log cleared",
        "Brute force against VPN gateway",
        "Port scan from internal host",
        "Web shell file written to IIS directory",
        "SQL injection attempt blocked by WAF",
        "Cobalt Strike beacon pattern in network traffic",
        "Mimikatz command line observed",
        "Password spraying across many accounts",
        "New local administrator account created",
        "Firewall rule disabled by script",
        "Antivirus real-time protection turned off",
        "Browser credential store accessed",
        "Scheduled backup job ran vssadmin (admin tool)",
        "Software update agent contacted vendor CDN",
        "Vulnerability scanner probed many ports",
        "Admin used remote PowerShell for patching",
        "Impossible travel sign-in",
        "OAuth consent granted to unknown application",
        "Mailbox forwarding rule to external address",
        "Exfiltration over DNS TXT records",
        "Living-off-the-land binary mshta executed remote HTA",
        "Process injection into explorer.exe",
        "AS-REP roasting attempt",
        "Golden ticket: TGT with unusual lifetime",
        "Container escape attempt via privileged mount",
        "Cryptominer process with high CPU",
    ];
    let procs = [
        "powershell.exe -nop -w hidden -enc",
        "cmd.exe /c",
        "rundll32.exe",
        "mshta.exe http://",
        "certutil.exe -urlcache -f",
        "wmic process call create",
        "schtasks /create /tn",
        "vssadmin delete shadows /all",
        "reg add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
        "psexec.exe \\\\",
        "bitsadmin /transfer",
        "curl -o",
    ];
    (0..n)
        .map(|_| {
            let rule = rules[rng.random_range(0..rules.len())];
            let host = format!(
                "{}-{}-{:03}",
                ["FIN", "HR", "ENG", "DC", "WEB", "SQL"][rng.random_range(0..6)],
                ["WS", "LT", "SRV"][rng.random_range(0..3)],
                rng.random_range(0..400)
            );
            let user = format!("user{:04}", rng.random_range(0..3000));
            let p = procs[rng.random_range(0..procs.len())];
            format!(
                "{rule} on {host} by {user}: {p} {:x} (event {})",
                rng.random::<u32>(),
                rng.random_range(1000..99999)
            )
        })
        .collect()
}

/// Embeds `n` generated alerts with the product's model, cached in target/.
fn vectors(n: usize) -> Vec<Vec<f32>> {
    let cache = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/precedent-vectors-{n}.bin"));
    if let Ok(bytes) = std::fs::read(&cache) {
        let flat = soc_copilot::store::alerts::blob_embedding(&bytes);
        if flat.len() == n * DIM {
            return flat.chunks(DIM).map(<[f32]>::to_vec).collect();
        }
    }
    let var = |v: &str| {
        std::env::var(v).unwrap_or_else(|_| {
            panic!("{v} must point into ../shared (cargo sets it from .cargo/config.toml)")
        })
    };
    let embedder = soc_copilot::search::embed::Embedder::load(
        std::path::Path::new(&var("SOC_COPILOT_MODEL_DIR")),
        std::path::Path::new(&var("ORT_DYLIB_PATH")),
        2,
    )
    .expect("the embedding model loads");
    let t = Instant::now();
    let out = embedder.embed(&texts(n, 42), 64).expect("embeds");
    println!(
        "embedded {n} alert texts in {:.0} s (cached in {})",
        t.elapsed().as_secs_f64(),
        cache.display()
    );
    let flat: Vec<f32> = out.iter().flatten().copied().collect();
    let _ = std::fs::write(&cache, embedding_blob(&flat));
    out
}

fn seed_sqlite(dir: &std::path::Path, vectors: &[Vec<f32>]) {
    drop(Store::open_in(dir).expect("open"));
    let mut conn = rusqlite::Connection::open(dir.join("soc-copilot.db")).expect("raw");
    let tx = conn.transaction().expect("tx");
    {
        let mut alert = tx
            .prepare("INSERT INTO alerts (alert_key, format, title, normalized, raw, embedding, created_at) VALUES (?1, 'plain-text', ?2, '{}', '', ?3, '2026-11-01T00:00:00.000Z')")
            .expect("prepare");
        let mut triage = tx
            .prepare("INSERT INTO triages (id, alert_id, status, engine, verdict, confidence, created_at) VALUES (?1, ?2, 'complete', 'offline', ?3, 0.7, '2026-11-01T00:00:00.000Z')")
            .expect("prepare");
        let mut feedback = tx
            .prepare("INSERT INTO feedback (triage_id, thumbs, analyst_verdict, analyst, created_at, verdict, confidence, engine) VALUES (?1, ?2, ?3, ?4, '2026-11-01T00:00:00.000Z', ?5, 0.7, 'offline')")
            .expect("prepare");
        let verdicts = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "BENIGN"];
        for (i, v) in vectors.iter().enumerate() {
            alert
                .execute(params![
                    format!("a{i}"),
                    format!("alert {i}"),
                    embedding_blob(v)
                ])
                .expect("alert");
            let row = tx.last_insert_rowid();
            let verdict = verdicts[i % 5];
            triage
                .execute(params![format!("t{i}"), row, verdict])
                .expect("triage");
            let down = i % 4 == 0;
            feedback
                .execute(params![
                    format!("t{i}"),
                    if down { "down" } else { "up" },
                    down.then(|| verdicts[(i / 4) % 5]),
                    format!("analyst{}", i % 5),
                    verdict
                ])
                .expect("feedback");
        }
    }
    tx.commit().expect("commit");
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn measure(label: &str, store: &Store, queries: &[Vec<f32>]) {
    let t = Instant::now();
    let ready =
        soc_copilot::store::precedent::warm(store, Duration::from_secs(1800)).expect("warm");
    assert!(ready, "the index was built");
    let build = t.elapsed();
    let mut times = Vec::new();
    for q in queries {
        let t = Instant::now();
        let got = store.similar_reviewed(q, "none", 5, 0.5).expect("lookup");
        times.push(t.elapsed());
        if got.is_empty() {
            let exact = store
                .similar_reviewed_exact(q, "none", 5, 0.0)
                .expect("exact");
            let cands = soc_copilot::store::precedent::candidates(store, q, 5).expect("cands");
            panic!(
                "no similar case; the exact scan's best: {:?} {:?}; candidates {:?}",
                exact.iter().map(|c| c.similarity).collect::<Vec<_>>(),
                exact
                    .iter()
                    .map(|c| c.alert_key.clone())
                    .collect::<Vec<_>>(),
                cands
            );
        }
    }
    times.sort();
    let mut exact_times = Vec::new();
    let (mut hits, mut wanted) = (0usize, 0usize);
    for q in queries.iter().take(30) {
        let t = Instant::now();
        let exact = store
            .similar_reviewed_exact(q, "none", 5, 0.5)
            .expect("exact");
        exact_times.push(t.elapsed());
        let ann = store.similar_reviewed(q, "none", 5, 0.5).expect("ann");
        wanted += exact.len();
        hits += exact
            .iter()
            .filter(|e| ann.iter().any(|a| a.alert_key == e.alert_key))
            .count();
    }
    exact_times.sort();
    println!(
        "{label:<11} index read + build {:>7.2} s | lookup p50 {:>6.2} ms  p99 {:>6.2} ms ({} queries) | exact scan p50 {:>7.1} ms | recall@5 {:.3}",
        build.as_secs_f64(),
        pct(&times, 0.5),
        pct(&times, 0.99),
        times.len(),
        pct(&exact_times, 0.5),
        hits as f64 / wanted.max(1) as f64
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read.
    let n: usize = std::env::var("PRECEDENT_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let all = vectors(n + 500);
    let (history, queries) = all.split_at(n);
    println!("{n} reviewed alerts, {DIM}-dimensional vectors, k = 5");
    let dir = tempfile::tempdir().expect("tempdir");
    let t = Instant::now();
    seed_sqlite(dir.path(), history);
    println!("seeded SQLite in {:.1} s", t.elapsed().as_secs_f64());
    let sqlite = Store::open_in(dir.path()).expect("open");
    measure("SQLite", &sqlite, queries);

    let url = pg::database();
    let team = Store::connect(&url).expect("team store");
    let t = Instant::now();
    let report = sqlite.copy_into(&team).expect("copy");
    println!(
        "store migrate --to postgres: {} rows copied in {:.1} s",
        report.copied(),
        t.elapsed().as_secs_f64()
    );
    measure("PostgreSQL", &team, queries);
}
