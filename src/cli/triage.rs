use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use soc_copilot::alert::load_paths;
use soc_copilot::llm::Provider;
use soc_copilot::llm::anthropic::Anthropic;
use soc_copilot::llm::client::DriveOptions;
use soc_copilot::llm::openai::OpenAi;
use soc_copilot::llm::retry::RetryPolicy;
use soc_copilot::store::Store;
use soc_copilot::triage::model::{ModelSettings, triage_with_model};
use soc_copilot::triage::{TriageOutcome, TriageParams, Verdict, triage_offline};

use super::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    /// Anthropic when an API key is configured, otherwise offline.
    Auto,
    /// Deterministic rules + ATT&CK retrieval; no network, no key.
    Offline,
    /// Claude through the Anthropic Messages API (ANTHROPIC_API_KEY).
    Anthropic,
    /// Any OpenAI-compatible server (Ollama, llama.cpp, vLLM) at [llm.openai] base_url.
    Openai,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Alert files, directories, NDJSON, or `-` for stdin.
    #[arg(required = true, value_name = "FILE|-")]
    pub inputs: Vec<PathBuf>,
    /// Default: [llm] engine in config (`auto`) [env: SOC_COPILOT_ENGINE].
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    /// Print each verdict as one JSON line on stdout (reasoning still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// The provider the engine choice names, or None for offline. Errors say what to set.
pub fn provider(
    ctx: &Context,
    choice: Option<EngineChoice>,
) -> anyhow::Result<Option<Box<dyn Provider>>> {
    let llm = &ctx.config.llm;
    let choice = match choice {
        Some(c) => c,
        None => match llm.engine.as_str() {
            "offline" => EngineChoice::Offline,
            "anthropic" => EngineChoice::Anthropic,
            "openai" => EngineChoice::Openai,
            "auto" => EngineChoice::Auto,
            other => anyhow::bail!(
                "[llm] engine = {other:?} is not one of auto, offline, anthropic, openai"
            ),
        },
    };
    let opts = DriveOptions {
        retry: RetryPolicy {
            max_retries: llm.max_retries,
            ..RetryPolicy::default()
        },
        idle_timeout: Duration::from_secs(llm.idle_timeout_secs.max(1)),
    };
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .build()?;
    let key = llm
        .anthropic
        .api_key
        .as_ref()
        .map(|k| k.0.clone())
        .filter(|k| !k.is_empty());
    Ok(match (choice, key) {
        (EngineChoice::Offline, _) | (EngineChoice::Auto, None) => None,
        (EngineChoice::Anthropic | EngineChoice::Auto, Some(key)) => {
            Some(Box::new(Anthropic::new(
                &llm.anthropic.base_url,
                &key,
                &llm.anthropic.model,
                http,
                opts,
            )))
        }
        (EngineChoice::Anthropic, None) => {
            anyhow::bail!(
                "--engine anthropic needs an API key: set ANTHROPIC_API_KEY (or use --engine offline)"
            )
        }
        (EngineChoice::Openai, _) => {
            let key = llm
                .openai
                .api_key
                .as_ref()
                .map(|k| k.0.as_str())
                .filter(|k| !k.is_empty());
            Some(Box::new(OpenAi::new(
                &llm.openai.base_url,
                key,
                &llm.openai.model,
                http,
                opts,
            )))
        }
    })
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let loaded = load_paths(&args.inputs);
    for e in &loaded.errors {
        eprintln!("warning: skipped {e}");
    }
    if loaded.alerts.is_empty() {
        anyhow::bail!("no alert could be read from {:?}", args.inputs);
    }
    let provider = provider(ctx, args.engine)?;
    let kb = ctx.open_kb()?;
    let mut store = Store::open_in(&ctx.data_dir)?;
    let params = TriageParams {
        search: ctx.config.search_params(),
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let settings = provider.as_ref().map(|p| {
        let price = ctx.config.llm.price(p.model());
        ModelSettings {
            max_tokens: ctx.config.llm.max_tokens,
            temperature: ctx.config.llm.temperature,
            input_per_mtok: price.input,
            output_per_mtok: price.output,
        }
    });
    let mut stdout = std::io::stdout().lock();
    let mut failed = 0;
    for l in &loaded.alerts {
        eprintln!("── {} ({})", l.alert.title, l.origin);
        let result: Result<TriageOutcome, _> = match (&provider, &settings) {
            (Some(p), Some(s)) => {
                let mut echo = |t: &str| {
                    eprint!("{t}");
                    let _ = std::io::stderr().flush();
                };
                runtime.block_on(triage_with_model(
                    p.as_ref(),
                    s,
                    &kb,
                    &mut store,
                    l,
                    &params,
                    &mut echo,
                ))
            }
            _ => triage_offline(&kb, &mut store, l, &params)
                .inspect(|o| eprintln!("{}", o.verdict.reasoning)),
        };
        match result {
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
                eprintln!("\nerror: {}: {e}", l.origin);
            }
        }
    }
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
    for t in &v.matched_techniques {
        writeln!(out, "  {} {} — {}", t.id, t.name, t.rationale)?;
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
