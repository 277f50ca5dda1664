//! Recording and reading what analysts said: `feedback`, `history`, `accuracy`.

use std::process::ExitCode;

use soc_copilot::store::feedback::{DownReason, NewFeedback};
use soc_copilot::store::{Store, Thumbs};
use soc_copilot::triage::Level;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct FeedbackArgs {
    pub triage_id: String,
    #[arg(value_enum)]
    pub thumbs: Thumbs,
    /// The verdict the analyst settled on.
    #[arg(long, value_enum)]
    pub verdict: Option<Level>,
    /// Why the verdict was wrong (with `down`).
    #[arg(long, value_enum)]
    pub reason: Option<DownReason>,
    #[arg(long)]
    pub notes: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AccuracyArgs {
    #[arg(long)]
    pub json: bool,
    /// Only the judgements of this analyst (default: the whole team's).
    #[arg(long, value_name = "NAME")]
    pub analyst: Option<String>,
}

pub fn analyst_name(ctx: &Context) -> String {
    ctx.config.analyst_name()
}

pub fn feedback(ctx: &Context, a: FeedbackArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open_in(&ctx.data_dir)?;
    store.add_feedback(&NewFeedback {
        triage_id: a.triage_id.clone(),
        thumbs: Some(a.thumbs),
        reason: a.reason,
        analyst_verdict: a.verdict.map(|v| v.as_str().to_string()),
        notes: a.notes,
        analyst: analyst_name(ctx),
    })?;
    println!(
        "recorded thumbs {} on triage {}",
        a.thumbs.as_str(),
        a.triage_id
    );
    Ok(ExitCode::SUCCESS)
}

pub fn history(ctx: &Context, a: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_in(&ctx.data_dir)?;
    let triages = store.recent_triages(a.limit)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&triages)?);
        return Ok(ExitCode::SUCCESS);
    }
    if triages.is_empty() {
        println!("no triages yet; run `soc-copilot triage FILE`");
    }
    for t in triages {
        let fb = store.feedback_for(&t.id)?;
        let last = fb
            .last()
            .map(|f| format!(" · {} by {}", f.thumbs.as_str(), f.analyst))
            .unwrap_or_default();
        println!(
            "{}  {:<8} {:<9} {:>4}  {}  [{}{}]",
            &t.created_at[..t.created_at.len().min(19)],
            t.verdict.as_deref().unwrap_or("-"),
            t.status.as_str(),
            t.confidence.map(|c| format!("{c:.2}")).unwrap_or_default(),
            t.alert_title,
            t.id,
            last
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn accuracy(ctx: &Context, a: AccuracyArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_in(&ctx.data_dir)?;
    let acc = store.accuracy_of(a.analyst.as_deref())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&acc)?);
        return Ok(ExitCode::SUCCESS);
    }
    let pct = |r: &soc_copilot::store::accuracy::Rate| {
        r.accuracy
            .map_or("-".to_string(), |x| format!("{:.1}%", x * 100.0))
    };
    println!(
        "reviewed triages{}: {} · correct {} · accuracy {}",
        a.analyst
            .as_deref()
            .map_or(String::new(), |n| format!(" judged by {n}")),
        acc.overall.total,
        acc.overall.correct,
        pct(&acc.overall)
    );
    println!("thumbs up {} · down {}", acc.thumbs_up, acc.thumbs_down);
    for (v, r) in &acc.per_verdict {
        println!("  {v:<9} {:>5} reviewed  {:>7}", r.total, pct(r));
    }
    if acc.per_analyst.len() > 1 {
        println!("by analyst:");
        for (who, r) in &acc.per_analyst {
            println!("  {who:<16} {:>5} reviewed  {:>7}", r.total, pct(r));
        }
    }
    if !acc.down_reasons.is_empty() {
        println!("thumbs-down reasons:");
        for (k, n) in &acc.down_reasons {
            println!("  {k:<18} {n}");
        }
    }
    println!("calibration (confidence → accuracy):");
    for b in &acc.calibration {
        println!(
            "  {:.1}–{:.1}  {:>5} triages  {:>7}",
            b.from,
            b.to,
            b.rate.total,
            pct(&b.rate)
        );
    }
    Ok(ExitCode::SUCCESS)
}
