use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use soc_copilot::alert::load_paths;
use soc_copilot::store::Store;
use soc_copilot::triage::{TriageParams, Verdict, triage_offline};

use super::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    /// Deterministic rules + ATT&CK retrieval; no network, no key.
    Offline,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Alert files, directories, NDJSON, or `-` for stdin.
    #[arg(required = true, value_name = "FILE|-")]
    pub inputs: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = EngineChoice::Offline)]
    pub engine: EngineChoice,
    /// Print each verdict as one JSON line on stdout (reasoning still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let loaded = load_paths(&args.inputs);
    for e in &loaded.errors {
        eprintln!("warning: skipped {e}");
    }
    if loaded.alerts.is_empty() {
        anyhow::bail!("no alert could be read from {:?}", args.inputs);
    }
    let kb = ctx.open_kb()?;
    let mut store = Store::open_in(&ctx.data_dir)?;
    let params = TriageParams {
        search: ctx.config.search_params(),
        ..Default::default()
    };
    let mut stdout = std::io::stdout().lock();
    let mut failed = 0;
    for l in &loaded.alerts {
        match triage_offline(&kb, &mut store, l, &params) {
            Ok(outcome) => {
                eprintln!("── {} ({})", l.alert.title, l.origin);
                eprintln!("{}", outcome.verdict.reasoning);
                if args.json {
                    writeln!(stdout, "{}", serde_json::to_string(&outcome.verdict)?)?;
                } else {
                    print_summary(&mut stdout, &outcome.verdict)?;
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: triage failed: {e}", l.origin);
            }
        }
    }
    Ok(if failed == 0 && loaded.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn print_summary(out: &mut impl Write, v: &Verdict) -> std::io::Result<()> {
    writeln!(
        out,
        "{} (confidence {:.2}) · triage {}",
        v.verdict, v.confidence, v.triage_id
    )?;
    for t in &v.matched_techniques {
        writeln!(out, "  {} {} — {}", t.id, t.name, t.rationale)?;
    }
    for f in &v.injection_flags {
        writeln!(out, "  ! injection attempt: {f}")?;
    }
    for a in v.recommended_actions.iter().take(4) {
        writeln!(out, "  → {a}")?;
    }
    writeln!(
        out,
        "  feedback: soc-copilot feedback {} up|down [--verdict V]",
        v.triage_id
    )
}
