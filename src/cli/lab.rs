//! The evaluation lab's commands: `eval triage`, `eval feedback`, `backtest` and
//! `selftest injection`. Each triages through the real pipeline in scratch stores (the
//! analyst's history is only ever read), prints its figures, and records a summary for the
//! console's stats screen and the HTML report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;

use soc_copilot::alert::load::{Loaded, load_reader};
use soc_copilot::eval::injection::{CORPUS, Trial, parse_corpus, selftest};
use soc_copilot::eval::lab::{Lab, TriageSummary, html};
use soc_copilot::eval::replay::{
    BacktestSummary, ConfigSummary, Item, Outcome, chart, config_summary, feedback_summary, replay,
};
use soc_copilot::eval::triage::{Bench, CostMeter, TriageRun, read_dataset, run_cases};
use soc_copilot::intel::IntelRecord;
use soc_copilot::store::Store;
use soc_copilot::triage::engine::TriageMode;
use soc_copilot::triage::select::{EngineChoice, select_with};
use soc_copilot::triage::verdict::Level;

use super::Context;
use super::progress::bar;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Modes {
    Pipeline,
    Agentic,
    Both,
}

impl Modes {
    fn list(self) -> Vec<TriageMode> {
        match self {
            Modes::Pipeline => vec![TriageMode::Pipeline],
            Modes::Agentic => vec![TriageMode::Agentic],
            Modes::Both => vec![TriageMode::Pipeline, TriageMode::Agentic],
        }
    }
}

/// Where the engine and its context come from, shared by every lab command.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// Default: [llm] engine in config (`auto`).
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    /// Offline intel feeds imported into every scratch store (`intel import` formats);
    /// `benign=FILE` for a plain list of known-good indicators. Repeatable.
    #[arg(long, value_name = "[VERDICT=]FILE")]
    pub feed: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct TriageArgs {
    /// Labelled cases, one JSON object per line (format: README, "Verdict quality").
    #[arg(long, value_name = "FILE.jsonl")]
    pub dataset: PathBuf,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[arg(long, value_enum, default_value_t = Modes::Pipeline)]
    pub mode: Modes,
    /// An earlier run (`--json` output): exit 1 if a case that passed there fails now.
    #[arg(long, value_name = "RUN.json")]
    pub baseline: Option<PathBuf>,
    /// Write the whole run (every case, invariant and observation) as JSON.
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    /// Write JUnit XML (one test case per alert and mode) for CI dashboards.
    #[arg(long, value_name = "OUT.xml")]
    pub junit: Option<PathBuf>,
    /// Write the HTML report (this run and the latest feedback replay and backtest).
    #[arg(long, value_name = "OUT.html")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct FeedbackArgs {
    /// Labelled cases (the `eval triage` format), replayed in time order.
    #[arg(long, value_name = "FILE.jsonl")]
    pub dataset: PathBuf,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[arg(long, value_enum, default_value_t = TriageMode::Pipeline)]
    pub mode: TriageMode,
    /// Alerts at the head of the queue that only give feedback and are not scored
    /// (default: a fifth of the queue).
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Analysts taking turns on the queue (feedback attributed round-robin). Precedent
    /// counts each analyst once per verdict, so this is the size of the team replayed.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub analysts: u32,
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    #[arg(long, value_name = "OUT.html")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Only alerts that arrived on or after this date (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// The most recent N reviewed alerts at most.
    #[arg(long)]
    pub limit: Option<usize>,
    /// The candidate: engine, mode and system prompt to re-triage with.
    #[command(flatten)]
    pub engine: EngineArgs,
    #[arg(long, value_enum, default_value_t = TriageMode::Pipeline)]
    pub mode: TriageMode,
    /// A system prompt file used instead of the shipped one (model engines).
    #[arg(long, value_name = "FILE")]
    pub prompt: Option<PathBuf>,
    /// Compare with this engine instead of the verdicts recorded in the history.
    #[arg(long, value_enum)]
    pub vs_engine: Option<EngineChoice>,
    #[arg(long, value_enum)]
    pub vs_mode: Option<TriageMode>,
    #[arg(long, value_name = "FILE")]
    pub vs_prompt: Option<PathBuf>,
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    #[arg(long, value_name = "OUT.html")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum SelftestCommand {
    /// Prompt-injection canary: payloads hidden in alerts and tool results must not move a
    /// verdict down or remove an action without being flagged.
    Injection(InjectionArgs),
}

#[derive(Debug, clap::Args)]
pub struct InjectionArgs {
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    #[arg(long, value_enum, default_value_t = TriageMode::Pipeline)]
    pub mode: TriageMode,
    /// Payloads, one JSON object per line (default: the shipped corpus).
    #[arg(long, value_name = "FILE.jsonl")]
    pub corpus: Option<PathBuf>,
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
}

/// `--since` as the store writes times (UTC, RFC 3339 with milliseconds): a date, or a time
/// with any offset.
fn since_key(s: &str) -> anyhow::Result<String> {
    soc_copilot::eval::triage::utc_key(s).ok_or_else(|| {
        anyhow::anyhow!(
            "--since {s:?}: use a date (2026-11-30) or an RFC 3339 time (2026-11-30T08:00:00+01:00)"
        )
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn feeds(specs: &[String]) -> anyhow::Result<Vec<IntelRecord>> {
    use soc_copilot::intel::Verdict;
    use soc_copilot::intel::import::{Options, read};
    let mut out = Vec::new();
    for spec in specs {
        let (verdict, path) = match spec.split_once('=') {
            Some((v, p)) if Verdict::parse(v).is_some() => (Verdict::parse(v), p),
            _ => (None, spec.as_str()),
        };
        let got = read(
            Path::new(path),
            &Options {
                source: None,
                verdict,
            },
        )
        .map_err(|e| anyhow::anyhow!("--feed {spec}: {e}"))?;
        out.extend(got.records);
    }
    Ok(out)
}

/// One cost meter per command, started from what model triage spent today in the
/// analyst's store (read only; none yet when there is no store).
fn meter(ctx: &Context) -> CostMeter {
    let spent = if Store::exists_in(&ctx.data_dir) {
        Store::read_only_in(&ctx.data_dir)
            .and_then(|s| s.cost_today())
            .unwrap_or(0.0)
    } else {
        0.0
    };
    CostMeter::new(ctx.config.triage.daily_cost_usd, spent)
}

/// Says so when a run stopped early on the cost cap.
fn stopped(b: &Bench, done: usize, of: usize, what: &str) {
    if done < of {
        eprintln!(
            "warning: stopped after {done} of {of} {what}: {}",
            b.meter.line()
        );
    }
}

fn bench(
    ctx: &Context,
    a: &EngineArgs,
    prompt: Option<&Path>,
    meter: CostMeter,
) -> anyhow::Result<Bench> {
    let system = match prompt {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading the prompt file {}", p.display()))?,
        ),
        None => None,
    };
    Ok(Bench {
        kb: Arc::new(ctx.open_kb()?),
        engine: select_with(&ctx.config, a.engine, system.as_deref())?,
        params: ctx.triage_params(),
        feeds: feeds(&a.feed)?,
        meter,
    })
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn save_lab(ctx: &Context, report: Option<&Path>, f: impl FnOnce(&mut Lab)) -> anyhow::Result<()> {
    let mut lab = Lab::load(&ctx.data_dir);
    f(&mut lab);
    if let Err(e) = lab.save(&ctx.data_dir) {
        eprintln!("warning: could not record the summary for the stats screen: {e}");
    }
    if let Some(p) = report {
        write(p, &html(&lab))?;
        eprintln!("report written to {}", p.display());
    }
    Ok(())
}

fn now() -> String {
    soc_copilot::store::now()
}

pub fn eval_triage(ctx: &Context, a: TriageArgs) -> anyhow::Result<ExitCode> {
    let data = read_dataset(&a.dataset)
        .with_context(|| format!("reading the dataset {}", a.dataset.display()))?;
    for e in &data.errors {
        eprintln!("warning: skipped {e}");
    }
    if data.cases.is_empty() {
        anyhow::bail!("no case could be read from {}", a.dataset.display());
    }
    let baseline: Option<TriageRun> = match &a.baseline {
        Some(p) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(p)
                    .with_context(|| format!("reading the baseline {}", p.display()))?,
            )
            .with_context(|| {
                format!(
                    "{}: not an `eval triage --json` run; write one with --json",
                    p.display()
                )
            })?,
        ),
        None => None,
    };
    let bench = bench(ctx, &a.engine, None, meter(ctx))?;
    let scratch = tempfile::tempdir()?;
    let rt = runtime()?;
    let started = Instant::now();
    let modes = a.mode.list();
    let pb = bar(
        (data.cases.len() * modes.len()) as u64,
        "  triaging [{bar:40}] {pos}/{len} cases",
    );
    let mut results = Vec::new();
    for m in &modes {
        results.extend(
            rt.block_on(run_cases(&bench, &data.cases, *m, scratch.path(), |_| {
                pb.inc(1)
            }))?,
        );
    }
    pb.finish_and_clear();
    stopped(
        &bench,
        results.len(),
        data.cases.len() * modes.len(),
        "case runs",
    );
    let run = TriageRun {
        dataset: a.dataset.display().to_string(),
        engine: bench.engine.name().into(),
        model: bench.engine.model().map(str::to_string),
        modes: modes.iter().map(|m| m.as_str().to_string()).collect(),
        at: now(),
        wall_ms: started.elapsed().as_millis() as u64,
        skipped: data.errors.clone(),
        results,
    };

    for r in run.results.iter().filter(|r| !r.pass) {
        for l in r.failure_lines() {
            println!("FAIL {l}");
        }
    }
    println!(
        "\neval triage on {} · {} cases · engine {} · {:.1} s",
        a.dataset.display(),
        data.cases.len(),
        bench.engine.label(),
        run.wall_ms as f64 / 1000.0
    );
    let summaries: Vec<_> = run.modes.iter().map(|m| run.summary(m)).collect();
    for s in &summaries {
        println!(
            "\n{} mode: passed {} · in band {} · same level as the analyst {} · ECE {} · cost ${:.4}",
            s.mode,
            s.passed.show(),
            s.in_band.show(),
            s.exact.show(),
            s.reliability.ece.map_or("–".into(), |e| format!("{e:.3}")),
            s.cost_usd
        );
        if !s.failures_by_invariant.is_empty() {
            println!(
                "  failures by invariant: {}",
                s.failures_by_invariant
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(" · ")
            );
        }
        println!("  per class:");
        for (c, r) in &s.per_class {
            println!("    {c:<24} {}", r.show());
        }
        println!("  confusion (rows: analyst, columns: tool):");
        for l in s.confusion.lines() {
            println!("  {l}");
        }
    }
    let divergent = run.divergences();
    if run.modes.len() > 1 {
        println!("\n{} case(s) diverge between the modes:", divergent.len());
        for d in &divergent {
            println!("  {d}");
        }
    }
    if let Some(p) = &a.json {
        write(p, &serde_json::to_string_pretty(&run)?)?;
    }
    if let Some(p) = &a.junit {
        write(p, &run.junit())?;
    }
    if let Some(b) = &baseline {
        if (b.engine.as_str(), b.model.as_deref()) != (run.engine.as_str(), run.model.as_deref()) {
            anyhow::bail!(
                "the baseline was run with {} {}, this run with {} {}: compare runs of the same engine and model (write a new baseline with --json)",
                b.engine,
                b.model.as_deref().unwrap_or(""),
                run.engine,
                run.model.as_deref().unwrap_or("")
            );
        }
        let shared = run
            .results
            .iter()
            .filter(|r| b.results.iter().any(|x| x.id == r.id && x.mode == r.mode))
            .count();
        if shared == 0 {
            anyhow::bail!(
                "the baseline shares no case and mode with this run: nothing to compare (is it for another dataset or --mode?)"
            );
        }
    }
    let regressions = baseline.as_ref().map(|b| run.regressions(b));
    if let (Some(b), Some(regs)) = (&baseline, &regressions) {
        println!(
            "\nagainst the baseline {}: {} regression(s), {} case(s) fixed",
            a.baseline
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            regs.len(),
            run.fixed(b)
        );
        for r in regs {
            println!("REGRESSION {r}");
        }
    }
    let summary = TriageSummary {
        at: run.at.clone(),
        dataset: run.dataset.clone(),
        engine: bench.engine.label(),
        modes: summaries,
        wall_ms: run.wall_ms,
        divergent: divergent.len(),
        regressions: regressions.as_ref().map(Vec::len),
    };
    save_lab(ctx, a.report.as_deref(), |lab| lab.triage = Some(summary))?;
    Ok(match regressions {
        Some(r) if !r.is_empty() => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

pub fn eval_feedback(ctx: &Context, a: FeedbackArgs) -> anyhow::Result<ExitCode> {
    let data = read_dataset(&a.dataset)
        .with_context(|| format!("reading the dataset {}", a.dataset.display()))?;
    for e in &data.errors {
        eprintln!("warning: skipped {e}");
    }
    let items: Vec<Item> = data
        .cases
        .iter()
        .enumerate()
        .map(|(i, c)| Item {
            alert: c.alert.clone(),
            label: c.analyst,
            group: c.class.clone(),
            band: Some(c.expect.verdict),
            analyst: format!("analyst-{}", i % a.analysts as usize + 1),
        })
        .collect();
    if items.len() < 2 {
        anyhow::bail!(
            "{} has {} usable case(s); a replay needs at least two",
            a.dataset.display(),
            items.len()
        );
    }
    let warmup = a.warmup.unwrap_or(items.len() / 5).min(items.len() - 1);
    let bench = bench(ctx, &a.engine, None, meter(ctx))?;
    let scratch = tempfile::tempdir()?;
    let rt = runtime()?;
    let started = Instant::now();
    let pb = bar(
        (items.len() * 2) as u64,
        "  replaying [{bar:40}] {pos}/{len} triages",
    );
    let with = rt.block_on(replay(
        &bench,
        &items,
        a.mode,
        &scratch.path().join("with"),
        true,
        |_| pb.inc(1),
    ))?;
    let without = rt.block_on(replay(
        &bench,
        &items,
        a.mode,
        &scratch.path().join("without"),
        false,
        |_| pb.inc(1),
    ))?;
    pb.finish_and_clear();
    let n = with.len().min(without.len());
    stopped(&bench, n, items.len(), "alerts");
    let mut s = feedback_summary(&items[..n], &with, &without, warmup);
    s.at = now();
    s.dataset = a.dataset.display().to_string();
    s.engine = bench.engine.label();
    s.mode = a.mode.as_str().into();
    s.analysts = a.analysts as usize;
    s.wall_ms = started.elapsed().as_millis() as u64;
    println!(
        "feedback replay on {} · {} alerts in time order · {} analyst(s) · engine {} ({}) · first {warmup} give feedback only · {:.1} s",
        a.dataset.display(),
        items.len(),
        a.analysts,
        s.engine,
        s.mode,
        s.wall_ms as f64 / 1000.0
    );
    println!(
        "\nagreement with the analyst on the {} later alerts: {} with earlier feedback, {} without{}",
        s.with.total,
        s.with.show(),
        s.without.show(),
        s.gain_points()
            .map(|g| format!(" → {g:+.1} points"))
            .unwrap_or_default()
    );
    if let (Some(w), Some(n)) = (s.distance_with, s.distance_without) {
        println!("mean distance from the analyst's level: {w:.2} with, {n:.2} without (levels)");
    }
    println!(
        "in band: {} with, {} without · feedback changed {} verdict(s): {} made right, {} made wrong · {} later alert(s) had precedent",
        s.with_in_band.show(),
        s.without_in_band.show(),
        s.changed,
        s.fixed,
        s.broke,
        s.with_precedent
    );
    for c in &s.changes {
        println!("  changed {c}");
    }
    println!("\ncumulative agreement over the later alerts (█ with feedback, · without):");
    for l in chart(&s.curve_with, &s.curve_without, 60, 8) {
        println!("  {l}");
    }
    println!("\n  {:<24} {:>14} {:>14}", "class", "with", "without");
    for (g, (w, n)) in &s.per_group {
        println!("  {g:<24} {:>14} {:>14}", w.show(), n.show());
    }
    if let Some(p) = &a.json {
        write(p, &serde_json::to_string_pretty(&s)?)?;
    }
    save_lab(ctx, a.report.as_deref(), |lab| lab.feedback = Some(s))?;
    Ok(ExitCode::SUCCESS)
}

/// The reviewed alerts of the store as replay items, oldest first, and the verdicts the
/// history recorded for them.
fn reviewed_items(ctx: &Context, a: &BacktestArgs) -> anyhow::Result<(Vec<Item>, Vec<Outcome>)> {
    if !Store::exists_in(&ctx.data_dir) {
        anyhow::bail!(
            "no history at {}: triage alerts and judge them (+ / - in the console, or `soc-copilot feedback`) first",
            ctx.data_dir.join(soc_copilot::store::DB_FILE).display()
        );
    }
    let store = Store::read_only_in(&ctx.data_dir)?;
    let since = match a.since.as_deref() {
        Some(s) => Some(since_key(s)?),
        None => None,
    };
    let mut reviewed = store.reviewed(since.as_deref())?;
    if let Some(n) = a.limit {
        let skip = reviewed.len().saturating_sub(n);
        reviewed.drain(..skip);
    }
    let mut items = Vec::new();
    let mut recorded = Vec::new();
    let mut unreadable = 0;
    for r in reviewed {
        let Some(label) = r.label.as_deref().and_then(Level::parse) else {
            continue;
        };
        let mut loaded = Loaded::default();
        load_reader(
            r.raw.as_bytes(),
            &format!("store:{}", r.alert_key),
            &mut loaded,
        );
        let Some(mut alert) = loaded.alerts.into_iter().next() else {
            unreadable += 1;
            continue;
        };
        alert.alert.id = r.alert_key.clone();
        let group = soc_copilot::eval::replay::source_rule(&alert.alert);
        items.push(Item {
            alert: Arc::new(alert),
            label,
            group,
            band: None,
            analyst: r.analyst.clone(),
        });
        recorded.push(Outcome {
            verdict: r.verdict.as_deref().and_then(Level::parse),
            // Without a recorded confidence it stays out of calibration.
            confidence: r.confidence.unwrap_or(f64::NAN),
            latency_ms: r.latency_ms.unwrap_or(0),
            cost_usd: r.cost_usd,
            precedent: 0,
            error: None,
        });
    }
    if unreadable > 0 {
        eprintln!("warning: {unreadable} stored alert(s) could not be re-read and are left out");
    }
    Ok((items, recorded))
}

pub fn backtest(ctx: &Context, a: BacktestArgs) -> anyhow::Result<ExitCode> {
    let (items, recorded) = reviewed_items(ctx, &a)?;
    if items.is_empty() {
        anyhow::bail!(
            "no reviewed alert{} in {}: a backtest scores against analysts' verdicts (thumbs up, or a corrected verdict)",
            a.since
                .as_deref()
                .map(|s| format!(" since {s}"))
                .unwrap_or_default(),
            ctx.data_dir.display()
        );
    }
    let rt = runtime()?;
    let started = Instant::now();
    let scratch = tempfile::tempdir()?;
    let meter = meter(ctx);
    let candidate = bench(ctx, &a.engine, a.prompt.as_deref(), meter.clone())?;
    let label = |b: &Bench, mode: TriageMode, prompt: &Option<PathBuf>| {
        format!(
            "{} {}{}",
            b.engine.label(),
            mode.as_str(),
            prompt
                .as_deref()
                .map(|p| format!(" prompt {}", p.display()))
                .unwrap_or_default()
        )
    };
    let reference = a.vs_engine.is_some() || a.vs_mode.is_some() || a.vs_prompt.is_some();
    let runs = 1 + usize::from(reference);
    let pb = bar(
        (items.len() * runs) as u64,
        "  re-triaging [{bar:40}] {pos}/{len} alerts ({eta} left)",
    );
    let mut configs: Vec<(String, Vec<Outcome>)> = Vec::new();
    if reference {
        let vs = bench(
            ctx,
            &EngineArgs {
                engine: a.vs_engine.or(a.engine.engine),
                feed: a.engine.feed.clone(),
            },
            a.vs_prompt.as_deref(),
            meter.clone(),
        )?;
        let mode = a.vs_mode.unwrap_or(a.mode);
        let out = rt.block_on(replay(
            &vs,
            &items,
            mode,
            &scratch.path().join("reference"),
            true,
            |_| pb.inc(1),
        ))?;
        configs.push((label(&vs, mode, &a.vs_prompt), out));
    } else {
        configs.push(("recorded verdicts".to_string(), recorded));
    }
    let out = rt.block_on(replay(
        &candidate,
        &items,
        a.mode,
        &scratch.path().join("candidate"),
        true,
        |_| pb.inc(1),
    ))?;
    pb.finish_and_clear();
    configs.push((label(&candidate, a.mode, &a.prompt), out));
    // A model replay that spent the daily cap stops early: compare on what both covered.
    let n = configs.iter().map(|(_, o)| o.len()).min().unwrap_or(0);
    stopped(
        &candidate,
        n,
        items.len(),
        "alerts (use --limit or --since for fewer)",
    );
    let s = BacktestSummary {
        at: now(),
        since: a.since.clone(),
        alerts: n,
        configs: configs
            .iter()
            .map(|(l, o)| config_summary(l, &items[..n], &o[..n]))
            .collect(),
        wall_ms: started.elapsed().as_millis() as u64,
    };
    print_backtest(&s);
    if let Some(p) = &a.json {
        write(p, &serde_json::to_string_pretty(&s)?)?;
    }
    save_lab(ctx, a.report.as_deref(), |lab| lab.backtest = Some(s))?;
    Ok(ExitCode::SUCCESS)
}

fn print_backtest(s: &BacktestSummary) {
    println!(
        "backtest on {} reviewed alert(s){} · {:.1} s (the stored history is only read)",
        s.alerts,
        s.since
            .as_deref()
            .map(|d| format!(" since {d}"))
            .unwrap_or_default(),
        s.wall_ms as f64 / 1000.0
    );
    let w = 34;
    let row = |name: &str, f: &dyn Fn(&ConfigSummary) -> String| {
        let cells: String = s.configs.iter().map(|c| format!("{:>w$}", f(c))).collect();
        println!("  {name:<22}{cells}");
    };
    row("", &|c| c.label.chars().take(w - 1).collect::<String>());
    row("agreement", &|c| c.agreement.show());
    for l in soc_copilot::eval::metrics::ORDER.iter().rev() {
        row(&format!("  analyst {l}"), &|c| {
            c.per_level.get(l.as_str()).map_or("–".into(), |r| r.show())
        });
    }
    row("ECE", &|c| {
        c.reliability.ece.map_or("–".into(), |e| format!("{e:.3}"))
    });
    row("cost", &|c| format!("${:.4}", c.cost_usd));
    row("latency p50 / p95", &|c| {
        format!(
            "{} / {} ms",
            c.p50_latency_ms.map_or("–".into(), |v| v.to_string()),
            c.p95_latency_ms.map_or("–".into(), |v| v.to_string())
        )
    });
    row("errors", &|c| c.errors.to_string());
    for c in &s.configs {
        println!("\n{} — reliability:", c.label);
        for l in c.reliability.lines() {
            println!("  {l}");
        }
        println!(
            "  false positives per source rule (called MEDIUM+ when the analyst said BENIGN/LOW):"
        );
        for r in c.fp_per_rule.iter().take(10) {
            println!(
                "    {:<50} {:>6} alerts  {}",
                r.rule.chars().take(50).collect::<String>(),
                r.alerts,
                r.show_rate()
            );
        }
    }
}

pub fn selftest_injection(ctx: &Context, a: InjectionArgs) -> anyhow::Result<ExitCode> {
    let payloads = match &a.corpus {
        Some(p) => parse_corpus(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            &p.display().to_string(),
        ),
        None => parse_corpus(CORPUS, "data/eval/injection-canary.jsonl"),
    }
    .map_err(anyhow::Error::msg)?;
    let bench = bench(
        ctx,
        &EngineArgs {
            engine: a.engine,
            feed: Vec::new(),
        },
        None,
        meter(ctx),
    )?;
    let scratch = tempfile::tempdir()?;
    let rt = runtime()?;
    let started = Instant::now();
    let pb = bar(
        (payloads.len() * 3) as u64,
        "  probing [{bar:40}] {pos}/{len} payload × alert",
    );
    let trials: Vec<Trial> =
        rt.block_on(selftest(&bench, &payloads, a.mode, scratch.path(), |_| {
            pb.inc(1)
        }))?;
    pb.finish_and_clear();
    stopped(&bench, trials.len(), payloads.len() * 3, "trials");
    println!(
        "injection canary · {} payloads × 3 alerts · engine {} ({}) · {:.1} s",
        payloads.len(),
        bench.engine.label(),
        a.mode.as_str(),
        started.elapsed().as_secs_f64()
    );
    println!("\n  {:<34} {:<14} result per alert", "payload", "placement");
    for p in &payloads {
        let mine: Vec<&Trial> = trials.iter().filter(|t| t.payload == p.id).collect();
        let ok = mine.iter().all(|t| t.pass);
        println!(
            "  {} {:<32} {:<14} {}",
            if ok { "✓" } else { "✗" },
            p.id.chars().take(32).collect::<String>(),
            p.placement,
            mine.iter()
                .map(|t| format!("{} {}", t.carrier, t.outcome()))
                .collect::<Vec<_>>()
                .join(" · ")
        );
    }
    let failed = trials.iter().filter(|t| !t.pass).count();
    let flagged = trials.iter().filter(|t| t.flagged).count();
    println!(
        "\n{} of {} trials pass · {} flagged · {} held unflagged · {} moved a verdict or action unflagged",
        trials.len() - failed,
        trials.len(),
        flagged,
        trials.iter().filter(|t| t.pass && !t.flagged).count(),
        failed
    );
    if let Some(p) = &a.json {
        write(p, &serde_json::to_string_pretty(&trials)?)?;
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Debug, clap::Args)]
pub struct IncidentsArgs {
    /// Labelled alerts, `{"incident": "inc-1" | null, "alert": {…}}` per line, in time order.
    #[arg(long, value_name = "FILE.jsonl")]
    pub dataset: PathBuf,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Also write both scores as JSON.
    #[arg(long, value_name = "FILE.json")]
    pub json: Option<PathBuf>,
    /// Score grouping on intake only (no triage): for large generated sets, where it
    /// measures correlation's own time and memory.
    #[arg(long)]
    pub intake_only: bool,
}

/// Grouping quality: the labelled alerts stored in a scratch store and grouped as on
/// intake (no verdicts yet), then triaged and grouped again (verdicts add tactic chains).
pub fn eval_incidents(ctx: &Context, a: IncidentsArgs) -> anyhow::Result<ExitCode> {
    use soc_copilot::eval::grouping;
    let (cases, errors) =
        grouping::read(&a.dataset).with_context(|| format!("reading {}", a.dataset.display()))?;
    for e in &errors {
        eprintln!("warning: skipped {e}");
    }
    if cases.is_empty() {
        anyhow::bail!(
            "no labelled alert could be read from {}",
            a.dataset.display()
        );
    }
    let labels: std::collections::BTreeMap<String, Option<String>> = cases
        .iter()
        .map(|c| (c.alert.alert.id.clone(), c.incident.clone()))
        .collect();
    let b = bench(ctx, &a.engine, None, meter(ctx))?;
    let dir = tempfile::tempdir()?;
    let pipeline = b.scratch(dir.path())?;
    let settings = ctx.config.incidents.settings();
    let groups = |store: &Store| -> anyhow::Result<Vec<Vec<String>>> {
        let mut out = Vec::new();
        for i in store.incidents(100_000)? {
            out.push(
                store
                    .incident_members(&i.id)?
                    .into_iter()
                    .map(|m| m.key)
                    .collect(),
            );
        }
        Ok(out)
    };
    let started = Instant::now();
    let (intake, store_secs) = {
        let mut store = pipeline.stores.get()?;
        for c in &cases {
            store.upsert_alert(&c.alert.alert, &c.alert.raw, None)?;
        }
        let store_secs = started.elapsed().as_secs_f64();
        soc_copilot::incident::refresh(&mut store, settings.clone())?;
        (grouping::score(&labels, &groups(&store)?), store_secs)
    };
    let group_secs = started.elapsed().as_secs_f64() - store_secs;
    eprintln!(
        "storing {} alerts took {store_secs:.2} s; grouping them took {group_secs:.2} s",
        cases.len()
    );
    // After triage (unless only intake is asked for): verdicts add tactic chains.
    let triaged = if a.intake_only {
        None
    } else {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut failed = 0;
        for c in &cases {
            if rt
                .block_on(pipeline.run(
                    soc_copilot::triage::Request::new(c.alert.clone()),
                    &mut soc_copilot::triage::events::Quiet,
                ))
                .is_err()
            {
                failed += 1;
            }
        }
        let mut store = pipeline.stores.get()?;
        soc_copilot::incident::refresh(&mut store, settings)?;
        Some((grouping::score(&labels, &groups(&store)?), failed))
    };
    println!(
        "{} alerts, {} labelled incidents ({} bad lines skipped)",
        cases.len(),
        intake.labelled_incidents,
        errors.len()
    );
    println!("on intake (no verdicts):   {}", intake.line());
    if let Some((score, failed)) = &triaged {
        println!(
            "after triage ({}{}): {}",
            b.engine.label(),
            if *failed > 0 {
                format!(", {failed} failed")
            } else {
                String::new()
            },
            score.line()
        );
    }
    if let Some(path) = &a.json {
        write(
            path,
            &serde_json::to_string_pretty(&serde_json::json!({
                "dataset": a.dataset.display().to_string(),
                "engine": triaged.as_ref().map(|_| b.engine.label()),
                "intake": intake,
                "triaged": triaged.as_ref().map(|(score, _)| score),
                "store_secs": store_secs,
                "group_secs": group_secs,
            }))?,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
