//! `triage --batch`: many alerts from JSONL (or stdin), triaged N at a time, one verdict JSON
//! per line in input order, resumable, with a progress bar and a summary.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use soc_copilot::alert::load::LoadedAlert;
use soc_copilot::alert::load_paths;
use soc_copilot::store::StorePool;
use soc_copilot::triage::events::Quiet;
use soc_copilot::triage::{Engine, Pipeline, Request, Verdict};

use super::Context;

pub struct Batch {
    pub input: PathBuf,
    pub concurrency: usize,
    pub out: Option<PathBuf>,
    pub resume: bool,
}

/// What one alert produced.
enum Done {
    Triaged {
        verdict: Box<Verdict>,
        tokens: (u64, u64),
        cost: f64,
    },
    Resumed(Box<serde_json::Value>),
    Failed(String),
}

/// The verdict stored for an alert already triaged, for `--resume`.
fn stored_verdict(stores: &StorePool, key: &str) -> Option<serde_json::Value> {
    let store = stores.get().ok()?;
    if !store.has_completed_triage(key).unwrap_or(false) {
        return None;
    }
    let row = store.alert_by_key(key).ok()??.row;
    let t = store.latest_complete_triage_for(row).ok()??;
    serde_json::from_str(t.verdict_json.as_deref()?).ok()
}

async fn one(pipeline: &Pipeline, alert: LoadedAlert, resume: bool) -> Done {
    if resume {
        let (stores, key) = (pipeline.stores.clone(), alert.alert.id.clone());
        let stored = tokio::task::spawn_blocking(move || stored_verdict(&stores, &key))
            .await
            .ok()
            .flatten();
        if let Some(v) = stored {
            return Done::Resumed(Box::new(v));
        }
    }
    match pipeline
        .run(Request::new(Arc::new(alert)), &mut Quiet)
        .await
    {
        Ok(o) => Done::Triaged {
            tokens: (o.provenance.input_tokens, o.provenance.output_tokens),
            cost: o.provenance.cost_usd,
            verdict: Box::new(o.verdict),
        },
        Err(e) => Done::Failed(e.to_string()),
    }
}

pub fn run(ctx: &Context, engine: Arc<dyn Engine>, b: Batch) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let loaded = load_paths(std::slice::from_ref(&b.input));
    for e in &loaded.errors {
        eprintln!("skipped {e}");
    }
    let bad_lines = loaded.errors.len();
    if loaded.alerts.is_empty() {
        anyhow::bail!("no alert could be read from {}", b.input.display());
    }
    let pipeline = ctx.pipeline(engine)?;
    let total = loaded.alerts.len();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} alerts · {elapsed} · eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    let mut out: Box<dyn Write> = match &b.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(super::term::Clean(
            std::io::stdout().lock(),
        ))),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let concurrency = b.concurrency.clamp(1, 64);
    let ids: Vec<String> = loaded.alerts.iter().map(|a| a.alert.id.clone()).collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let (mut failed, mut resumed, mut tokens, mut cost) = (0usize, 0usize, (0u64, 0u64), 0.0f64);
    rt.block_on(async {
        // `buffered` runs `concurrency` alerts at once and yields results in input order.
        let mut results = futures_util::stream::iter(loaded.alerts)
            .map(|a| one(&pipeline, a, b.resume))
            .buffered(concurrency)
            .enumerate();
        while let Some((i, done)) = results.next().await {
            let id = ids[i].clone();
            let line = match done {
                Done::Triaged {
                    verdict,
                    tokens: t,
                    cost: c,
                } => {
                    *counts
                        .entry(verdict.verdict.as_str().to_string())
                        .or_default() += 1;
                    tokens.0 += t.0;
                    tokens.1 += t.1;
                    cost += c;
                    let mut v = serde_json::to_value(&*verdict)?;
                    v["alert_id"] = serde_json::Value::String(id);
                    v.to_string()
                }
                Done::Resumed(mut v) => {
                    resumed += 1;
                    if let Some(l) = v.get("verdict").and_then(|l| l.as_str()) {
                        *counts.entry(l.to_string()).or_default() += 1;
                    }
                    v["alert_id"] = serde_json::Value::String(id);
                    v["resumed"] = serde_json::Value::Bool(true);
                    v.to_string()
                }
                Done::Failed(e) => {
                    failed += 1;
                    bar.suspend(|| eprintln!("error: alert {id}: {e}"));
                    serde_json::json!({ "alert_id": id, "error": e }).to_string()
                }
            };
            writeln!(out, "{line}")?;
            bar.inc(1);
        }
        Ok::<_, anyhow::Error>(())
    })?;
    out.flush()?;
    bar.finish_and_clear();
    let per_verdict: Vec<String> = soc_copilot::triage::Level::ALL
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l.as_str(),
                counts.get(l.as_str()).copied().unwrap_or(0)
            )
        })
        .collect();
    eprintln!(
        "{total} alerts in {:.1} s: {} · failed {failed} · bad input lines {bad_lines} · resumed {resumed} · tokens {} in / {} out · ${cost:.4}",
        started.elapsed().as_secs_f64(),
        per_verdict.join(", "),
        tokens.0,
        tokens.1
    );
    super::incidents::regroup(ctx);
    Ok(if failed == 0 && bad_lines == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
