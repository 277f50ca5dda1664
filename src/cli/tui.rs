use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use soc_copilot::server::Embedded;
use soc_copilot::triage::select::EngineChoice;
use soc_copilot::tui::app::{ApiLink, StartApi};
use soc_copilot::tui::{ExitAfter, Options};

use super::Context;

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Alert files, directories, NDJSON, or `-` for stdin (default: the sample queue in data/queue).
    #[arg(value_name = "PATH|-")]
    pub inputs: Vec<PathBuf>,
    /// Default: [llm] engine in config (`auto`) [env: SOC_COPILOT_ENGINE].
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    /// Also run the HTTP API here (e.g. 127.0.0.1:8000): alerts a SIEM pushes to POST /alerts
    /// appear in the queue live.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// How the investigation runs: `pipeline` (every indicator looked up, then one model
    /// call) or `agentic` (the model calls the tools it chooses). Default: [triage] mode.
    #[arg(long, value_enum)]
    pub mode: Option<soc_copilot::triage::engine::TriageMode>,
    /// Leave after the first frame or once the queue is drawn, printing timings (benchmarks).
    #[arg(long, value_enum, hide = true)]
    pub exit_after: Option<ExitAfter>,
}

pub fn run(ctx: Context, args: Args, started: Instant) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the console needs a terminal; for pipelines use `soc-copilot triage`, `search` or `serve`"
        );
    }
    let api = match &args.listen {
        Some(l) => Some(api_in_console(&ctx, l)?),
        None => None,
    };
    soc_copilot::tui::run(Options {
        api,
        inputs: args.inputs,
        config: ctx.config,
        data_dir: ctx.data_dir,
        engine: args.engine,
        exit_after: args.exit_after,
        started,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The HTTP API inside the console: bound now (so a busy port fails before the terminal is
/// taken over), started on the console's runtime, handing pushed alerts to the console
/// through a bounded channel.
fn api_in_console(ctx: &Context, listen: &str) -> anyhow::Result<StartApi> {
    let addr = super::serve::listen_addr(ctx, Some(listen))?;
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let api = Embedded {
        listener,
        limits: super::serve::limits(ctx),
        token: ctx.config.server.token.clone(),
        analyst: super::review::analyst_name(ctx),
        data_dir: ctx.data_dir.clone(),
        params: ctx.triage_params(),
    };
    Ok(Box::new(move |kb, engine| {
        let (addr, intake) = api.start(kb, engine)?;
        Ok(ApiLink { addr, intake })
    }))
}
