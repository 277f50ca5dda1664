//! `triage --batch`: many alerts from JSONL (or stdin), triaged N at a time, one verdict JSON
//! per line in input order, resumable, with a progress bar and a summary.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Mutex, mpsc};
use std::time::Instant;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};

use soc_copilot::alert::load::LoadedAlert;
use soc_copilot::alert::load_paths;
use soc_copilot::llm::select::Engine;
use soc_copilot::search::KnowledgeBase;
use soc_copilot::store::Store;
use soc_copilot::triage::model::triage_with_model;
use soc_copilot::triage::{TriageParams, Verdict, triage_offline};

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

fn stored_verdict(store: &Store, key: &str) -> Option<serde_json::Value> {
    let row = store.alert_by_key(key).ok()??.row;
    let t = store.latest_complete_triage_for(row).ok()??;
    serde_json::from_str(t.verdict_json.as_deref()?).ok()
}

fn one(
    kb: &KnowledgeBase,
    store: &mut Store,
    engine: Option<&Engine>,
    rt: &tokio::runtime::Handle,
    alert: &LoadedAlert,
    params: &TriageParams,
    resume: bool,
) -> Done {
    if resume
        && store.has_completed_triage(&alert.alert.id).unwrap_or(false)
        && let Some(v) = stored_verdict(store, &alert.alert.id)
    {
        return Done::Resumed(Box::new(v));
    }
    let r = match engine {
        None => triage_offline(kb, store, alert, params),
        Some(e) => {
            let mut quiet = |_: &str| {};
            rt.block_on(triage_with_model(
                e.provider.as_ref(),
                &e.settings,
                kb,
                store,
                alert,
                params,
                &mut quiet,
            ))
        }
    };
    match r {
        Ok(o) => Done::Triaged {
            tokens: (o.provenance.input_tokens, o.provenance.output_tokens),
            cost: o.provenance.cost_usd,
            verdict: Box::new(o.verdict),
        },
        Err(e) => Done::Failed(e.to_string()),
    }
}

pub fn run(ctx: &Context, engine: Option<Engine>, b: Batch) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let loaded = load_paths(std::slice::from_ref(&b.input));
    for e in &loaded.errors {
        eprintln!("skipped {e}");
    }
    let bad_lines = loaded.errors.len();
    if loaded.alerts.is_empty() {
        anyhow::bail!("no alert could be read from {}", b.input.display());
    }
    let kb = ctx.open_kb()?;
    let params = TriageParams {
        search: ctx.config.search_params(),
        ..TriageParams::default()
    };
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
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let handle = rt.handle().clone();
    let work = Mutex::new(loaded.alerts.into_iter().enumerate());
    let (tx, rx) = mpsc::channel::<(usize, String, Done)>();
    let threads = b.concurrency.clamp(1, 64);
    let data_dir: &Path = &ctx.data_dir;

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let (mut failed, mut resumed, mut tokens, mut cost) = (0usize, 0usize, (0u64, 0u64), 0.0f64);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        for _ in 0..threads {
            let tx = tx.clone();
            let (kb, work, engine, handle, params) =
                (&kb, &work, engine.as_ref(), &handle, &params);
            scope.spawn(move || {
                let mut store = match Store::open_in(data_dir) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return;
                    }
                };
                loop {
                    let next = work.lock().ok().and_then(|mut w| w.next());
                    let Some((i, alert)) = next else { break };
                    let done = one(kb, &mut store, engine, handle, &alert, params, b.resume);
                    if tx.send((i, alert.alert.id.clone(), done)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Results arrive in any order; lines go out in input order.
        let mut pending: BTreeMap<usize, String> = BTreeMap::new();
        let mut next = 0usize;
        for (i, id, done) in rx {
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
            pending.insert(i, line);
            while let Some(l) = pending.remove(&next) {
                writeln!(out, "{l}")?;
                next += 1;
            }
            bar.inc(1);
        }
        Ok(())
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
    Ok(if failed == 0 && bad_lines == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
