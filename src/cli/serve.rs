use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use soc_copilot::llm::select::{EngineChoice, select};
use soc_copilot::server::{self, AppState, Limits};
use soc_copilot::triage::TriageParams;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (default: [server] listen, 127.0.0.1:8000).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Default: [llm] engine in config (`auto`) [env: SOC_COPILOT_ENGINE].
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
}

/// The listen address, and a warning when it leaves loopback without a token.
pub fn listen_addr(ctx: &Context, flag: Option<&str>) -> anyhow::Result<SocketAddr> {
    let raw = flag.unwrap_or(&ctx.config.server.listen);
    let addr: SocketAddr = raw
        .parse()
        .with_context(|| format!("--listen {raw:?} is not an address like 127.0.0.1:8000"))?;
    if !addr.ip().is_loopback()
        && ctx
            .config
            .server
            .token
            .as_ref()
            .is_none_or(|t| t.0.is_empty())
    {
        eprintln!(
            "warning: listening on {addr}, beyond this machine, with no token: set SOC_COPILOT_API_TOKEN"
        );
    }
    Ok(addr)
}

pub fn limits(ctx: &Context) -> Limits {
    let s = &ctx.config.server;
    Limits {
        concurrency: s.concurrency.max(1),
        queue_depth: s.queue_depth,
        body_limit: s.body_limit_bytes.max(1024),
        request_timeout: Duration::from_secs(s.request_timeout_secs.max(1)),
    }
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let addr = listen_addr(ctx, args.listen.as_deref())?;
    let engine = select(&ctx.config, args.engine)?;
    let kb = Arc::new(ctx.open_kb()?);
    let (_kb_tx, kb_rx) = tokio::sync::watch::channel(Some(Ok(kb)));
    let state = Arc::new(AppState::new(
        kb_rx,
        engine,
        TriageParams {
            search: ctx.config.search_params(),
            ..TriageParams::default()
        },
        ctx.data_dir.clone(),
        limits(ctx),
        ctx.config.server.token.clone(),
        super::review::analyst_name(ctx),
        None,
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr()?;
        eprintln!(
            "soc-copilot API on http://{bound} ({} engine{}) — docs at http://{bound}/docs",
            state.engine_name(),
            if state.token.is_some() {
                ", bearer token required"
            } else {
                ""
            }
        );
        tracing::info!(%bound, "listening");
        server::serve(listener, state, server::shutdown_signal()).await?;
        eprintln!("stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
