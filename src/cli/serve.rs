use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use soc_copilot::alert::load::LoadedAlert;
use soc_copilot::server::{self, AppState, IntakeSink, Limits};
use soc_copilot::triage::intake::{self, AutoTriage};
use soc_copilot::triage::select::{EngineChoice, select};

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

/// The listen address. Beyond loopback a token is required: anyone who can reach the port
/// could otherwise record feedback that steers later verdicts.
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
        anyhow::bail!(
            "refusing to listen on {addr}, beyond this machine, with no API token: set SOC_COPILOT_API_TOKEN \
             (or [server] token), or listen on 127.0.0.1"
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
        max_connections: s.max_connections,
        header_read_timeout: server::HEADER_READ_TIMEOUT,
    }
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let addr = listen_addr(ctx, args.listen.as_deref())?;
    let policy = AutoTriage::parse(&ctx.config.server.auto_triage)
        .map_err(|e| anyhow::anyhow!("[server] auto_triage = {e}"))?;
    let pipeline = ctx.pipeline(select(&ctx.config, args.engine)?)?;
    let limits = limits(ctx);
    // Alerts accepted but not triaged when the last process stopped (even by kill -9).
    let backlog: Vec<LoadedAlert> = pipeline
        .stores
        .get()?
        .recover_intake()?
        .into_iter()
        .map(|a| LoadedAlert {
            alert: a.alert,
            raw: a.raw,
            origin: "intake (recovered after a restart)".into(),
        })
        .collect();
    if !backlog.is_empty() {
        eprintln!(
            "{} alerts accepted before the last stop were not triaged; triaging them now",
            backlog.len()
        );
    }
    let (intake_tx, intake_rx) = tokio::sync::mpsc::channel(limits.queue_depth.max(1));
    let (_kb_tx, kb_rx) = tokio::sync::watch::channel(Some(Ok(pipeline.kb.clone())));
    let mut state = AppState::new(
        kb_rx,
        pipeline.engine.clone(),
        pipeline.params,
        ctx.data_dir.clone(),
        limits,
        ctx.config.server.token.clone(),
        super::review::analyst_name(ctx),
        Some(IntakeSink {
            tx: intake_tx,
            triages: Some(policy),
        }),
    );
    state.intel = pipeline.intel.clone();
    state.incident_settings = ctx.config.incidents.settings();
    let state = Arc::new(state);
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
        // Grouping follows intake: every few seconds, when alerts or verdicts changed.
        let regroup = {
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                    let s = state.clone();
                    let r = tokio::task::spawn_blocking(move || {
                        let mut store = s.stores.get().map_err(|e| e.to_string())?;
                        soc_copilot::incident::refresh_if_changed(
                            &mut store,
                            s.incident_settings.clone(),
                            &s.incidents_seen,
                        )
                        .map_err(|e| e.to_string())
                    })
                    .await;
                    if let Ok(Err(e)) = r {
                        tracing::warn!("could not regroup incidents: {e}");
                    }
                }
            })
        };
        let release_pipeline = pipeline.clone();
        let workers = tokio::spawn(intake::work(
            pipeline,
            backlog,
            intake_rx,
            limits.concurrency,
        ));
        server::serve(listener, state, server::shutdown_signal()).await?;
        // The server (and with it the intake sender) is gone: queued alerts stay queued in
        // the store and are triaged after the next start (or by another replica, which can
        // take them at once: the leases are given back); runs in flight close as cancelled.
        workers.abort();
        regroup.abort();
        let _ = workers.await;
        intake::release(&release_pipeline).await;
        eprintln!("stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
