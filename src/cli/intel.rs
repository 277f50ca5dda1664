//! `intel import|status|lookup` (offline threat intelligence) and `enrich` (the local
//! investigation of alerts: intel, IOC history, related alerts; no model).

use std::path::PathBuf;
use std::process::ExitCode;

use soc_copilot::intel::enrich::{Limits, enrich};
use soc_copilot::intel::import::{Options, read};
use soc_copilot::intel::{Indicator, Verdict};
use soc_copilot::store::Store;

use super::Context;

#[derive(Debug, clap::Subcommand)]
pub enum IntelCommand {
    /// Load offline intel: Feodo Tracker blocklists, URLhaus and ThreatFox CSV/JSON exports,
    /// MISP feed directories (manifest.json + event files), plain indicator lists.
    Import(ImportArgs),
    /// Imported records per source.
    Status,
    /// What the imported feeds and the alert history say about one indicator.
    Lookup {
        /// An IP, domain, URL, hash or e-mail address (defanged forms are accepted).
        indicator: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Files or MISP feed directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The source name stored with each record (default: the feed's own name, or the file
    /// name for a plain list).
    #[arg(long)]
    pub source: Option<String>,
    /// What a plain list's entries are: malicious (default), suspicious or benign (known
    /// scanners, CDNs). Feeds say it themselves.
    #[arg(long)]
    pub verdict: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct EnrichArgs {
    /// Alert files (any format `triage` reads), or - for standard input.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// One JSON object per alert.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, c: IntelCommand) -> anyhow::Result<ExitCode> {
    match c {
        IntelCommand::Import(a) => import(ctx, a),
        IntelCommand::Status => {
            let store = Store::open_in(&ctx.data_dir)?;
            let sources = store.intel_sources()?;
            if sources.is_empty() {
                println!("no offline intel imported: `soc-copilot intel import FILE`");
            }
            for (s, n) in sources {
                println!("{s}: {n} indicators");
            }
            Ok(ExitCode::SUCCESS)
        }
        IntelCommand::Lookup { indicator, json } => {
            let Some(ind) = Indicator::detect(&indicator) else {
                anyhow::bail!(
                    "{indicator:?} is not an IP, domain, URL, hash or e-mail address; give one of those"
                );
            };
            let store = Store::open_in(&ctx.data_dir)?;
            let intel = store.intel_for(&ind)?;
            let history = store.ioc_history(&ind, "", 20)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"indicator": ind, "intel": intel, "history": history})
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!("{ind}");
            if intel.is_empty() {
                println!("  offline intel: no record");
            }
            for r in &intel {
                println!(
                    "  offline intel ({}): {}{}{}",
                    r.source,
                    r.verdict.as_str(),
                    r.threat
                        .as_deref()
                        .map(|t| format!(" — {t}"))
                        .unwrap_or_default(),
                    r.first_seen
                        .as_deref()
                        .map(|t| format!(" (first seen {t})"))
                        .unwrap_or_default()
                );
            }
            println!("  seen in {} stored alert(s)", history.len());
            for s in &history {
                println!(
                    "    {} “{}” {} verdict {} analyst {}",
                    s.seen_at,
                    s.title,
                    s.alert_key,
                    s.verdict.as_deref().unwrap_or("-"),
                    s.analyst_verdict
                        .as_deref()
                        .or(s.thumbs.as_deref())
                        .unwrap_or("-")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn import(ctx: &Context, a: ImportArgs) -> anyhow::Result<ExitCode> {
    let verdict = match a.verdict.as_deref() {
        None => None,
        Some(v) => Some(Verdict::parse(v).ok_or_else(|| {
            anyhow::anyhow!("--verdict {v:?}: use malicious, suspicious or benign")
        })?),
    };
    let opts = Options {
        source: a.source.clone(),
        verdict,
    };
    let mut store = Store::open_in(&ctx.data_dir)?;
    let mut failed = false;
    for path in &a.paths {
        match read(path, &opts) {
            Ok(got) => {
                let n = store.import_intel(&got.records)?;
                println!(
                    "{}: {n} indicators from {} ({}){}",
                    path.display(),
                    got.source,
                    got.format,
                    if got.skipped.is_empty() {
                        String::new()
                    } else {
                        format!("; {} entries skipped", got.skipped.len())
                    }
                );
                for s in got.skipped.iter().take(5) {
                    eprintln!("  skipped {s}");
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {e}");
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn enrich_cmd(ctx: &Context, a: EnrichArgs) -> anyhow::Result<ExitCode> {
    let loaded = soc_copilot::alert::load_paths(&a.inputs);
    for e in &loaded.errors {
        eprintln!("skipped: {e}");
    }
    if loaded.alerts.is_empty() {
        anyhow::bail!("no alert could be read from {:?}", a.inputs);
    }
    let store = Store::open_in(&ctx.data_dir)?;
    let stores = std::sync::Arc::new(soc_copilot::store::StorePool::new(ctx.data_dir.clone()));
    let remote = ctx.intel(stores);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Some(r) = &remote {
        eprintln!("remote intel: {}", r.names().join(", "));
    }
    for l in &loaded.alerts {
        let mut e = enrich(&store, &l.alert, Limits::default())?;
        if let Some(r) = &remote {
            let started = std::time::Instant::now();
            e.remote = runtime.block_on(r.investigate(&e.indicators));
            e.took_ms += started.elapsed().as_secs_f64() * 1e3;
        }
        if a.json {
            println!(
                "{}",
                serde_json::json!({"alert": l.alert.id, "origin": l.origin, "enrichment": e})
            );
            continue;
        }
        println!(
            "── {} ({}) · {} indicators · {:.1} ms",
            l.alert.title,
            l.origin,
            e.indicators.len(),
            e.took_ms
        );
        let findings = e.findings();
        if findings.is_empty() {
            println!("  nothing known about its indicators, and no related alerts");
        }
        for f in findings {
            println!("  {f}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
