use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use soc_copilot::alert::load_paths;
pub use soc_copilot::triage::select::EngineChoice;
use soc_copilot::triage::select::select;
use soc_copilot::triage::{Event, Request, TriageOutcome, Verdict};

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Alert files, directories, NDJSON, or `-` for stdin.
    #[arg(required_unless_present = "batch", value_name = "FILE|-")]
    pub inputs: Vec<PathBuf>,
    /// Triage many alerts from JSONL (or `-`): one verdict JSON per line, in input order.
    #[arg(long, value_name = "FILE.jsonl|-", conflicts_with = "inputs")]
    pub batch: Option<PathBuf>,
    /// Alerts triaged at once with --batch.
    #[arg(long, default_value_t = 4, requires = "batch")]
    pub concurrency: usize,
    /// Write --batch verdicts here instead of stdout.
    #[arg(long, value_name = "FILE", requires = "batch")]
    pub out: Option<PathBuf>,
    /// With --batch, skip alerts already triaged in the store (their stored verdict is written).
    #[arg(long, requires = "batch")]
    pub resume: bool,
    /// Default: [llm] engine in config (`auto`) [env: SOC_COPILOT_ENGINE].
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    /// Print each verdict as one JSON line on stdout (reasoning still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// How the investigation runs: `pipeline` (every indicator looked up, then one model
    /// call) or `agentic` (the model calls the tools it chooses). Default: [triage] mode.
    #[arg(long, value_enum)]
    pub mode: Option<soc_copilot::triage::engine::TriageMode>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(input) = args.batch {
        let engine = select(&ctx.config, args.engine)?;
        return super::batch::run(
            ctx,
            engine,
            super::batch::Batch {
                input,
                concurrency: args.concurrency,
                out: args.out,
                resume: args.resume,
            },
        );
    }
    let loaded = load_paths(&args.inputs);
    for e in &loaded.errors {
        eprintln!("warning: skipped {e}");
    }
    if loaded.alerts.is_empty() {
        anyhow::bail!("no alert could be read from {:?}", args.inputs);
    }
    let pipeline = ctx.pipeline(select(&ctx.config, args.engine)?)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut stdout = super::term::Clean(std::io::stdout().lock());
    let mut failed = 0;
    for l in loaded.alerts {
        eprintln!("── {} ({})", l.alert.title, l.origin);
        let origin = l.origin.clone();
        let mut echo = |e: Event| {
            let mut err = super::term::Clean(std::io::stderr().lock());
            let _ = match e {
                Event::Text(t) => write!(err, "{t}"),
                Event::Warning(w) => write!(err, "\n[{w}]\n"),
                Event::ToolCall { name, input, .. } => {
                    write!(
                        err,
                        "\n[tool → {name} {}]\n",
                        input.chars().take(120).collect::<String>()
                    )
                }
                Event::ToolResult(r) => writeln!(err, "[{}]", r.result_line()),
                _ => Ok(()),
            };
            let _ = err.flush();
        };
        match runtime.block_on(pipeline.run(Request::new(Arc::new(l)), &mut echo)) {
            Ok(outcome) => {
                eprintln!();
                if args.json {
                    writeln!(stdout, "{}", serde_json::to_string(&outcome.verdict)?)?;
                } else {
                    print_summary(&mut stdout, &outcome)?;
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("\nerror: {origin}: {e}");
            }
        }
    }
    super::incidents::regroup(ctx);
    Ok(if failed == 0 && loaded.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn print_summary(out: &mut impl Write, o: &TriageOutcome) -> std::io::Result<()> {
    let v: &Verdict = &o.verdict;
    let p = &o.provenance;
    writeln!(
        out,
        "{} (confidence {:.2}) · triage {}",
        v.verdict, v.confidence, v.triage_id
    )?;
    writeln!(
        out,
        "  engine {}{} · ATT&CK {} · prompt {} · {} ms{} · tokens {} in / {} out · ${:.4}",
        p.engine,
        p.model
            .as_deref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default(),
        p.attack_version,
        &p.prompt_hash[..p.prompt_hash.len().min(12)],
        p.latency_ms,
        p.ttft_ms
            .map(|t| format!(", first token {t} ms"))
            .unwrap_or_default(),
        p.input_tokens,
        p.output_tokens,
        p.cost_usd
    )?;
    if let Some(c) = &v.claims {
        writeln!(
            out,
            "  {} · {} mode · {} tool call(s) · {} model turn(s){}",
            c.line(),
            p.mode,
            p.tool_calls.len(),
            p.turns,
            p.escalated_from
                .as_deref()
                .map(|m| format!(" · escalated from {m}"))
                .unwrap_or_default()
        )?;
    }
    for t in &v.matched_techniques {
        writeln!(out, "  {} {} — {}", t.id, t.name, t.rationale)?;
    }
    for e in v.evidence.iter().filter(|e| e.verified == Some(false)) {
        writeln!(
            out,
            "  unverified claim: {} ({})",
            e.claim,
            e.check.as_deref().unwrap_or("quote not found")
        )?;
    }
    for w in &v.warnings {
        writeln!(out, "  warning: {w}")?;
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
