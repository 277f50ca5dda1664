//! The event loop: terminal events, worker actions and a frame timer, selected together.
//! Each input goes through `update`; effects go to the workers; a frame is drawn when the
//! state is dirty, at most every 16 ms, so a flood of tokens never means a draw per token.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::llm::select::{EngineChoice, select};
use crate::triage::TriageParams;

use super::action::Action;
use super::console::Console;
use super::keymap::Keymap;
use super::state::State;
use super::terminal;
use super::ui::Theme;
use super::workers::{Source, WorkerConfig, Workers};

/// When to leave by itself (used to measure start-up and memory; hidden from help).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExitAfter {
    FirstFrame,
    Loaded,
}

/// The HTTP API run inside the console (`tui --listen`): alerts a SIEM pushes appear live.
pub struct Api {
    pub listener: std::net::TcpListener,
    pub limits: crate::server::Limits,
    pub token: Option<crate::config::Secret>,
}

pub struct Options {
    pub api: Option<Api>,
    pub inputs: Vec<PathBuf>,
    pub config: Config,
    pub data_dir: PathBuf,
    pub engine: Option<EngineChoice>,
    pub exit_after: Option<ExitAfter>,
    pub started: Instant,
}

/// The sample queue that ships in `data/`: next to the working directory, or the source tree.
pub fn sample_queue() -> PathBuf {
    let local = PathBuf::from("data/queue");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/queue")
}

pub fn analyst_name(config: &Config) -> String {
    config
        .analyst
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "analyst".into())
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    let keymap = Keymap::with_overrides(&opts.config.tui.keys).map_err(anyhow::Error::msg)?;
    let engine = select(&opts.config, opts.engine)?;
    let inputs = if opts.inputs.is_empty() {
        vec![sample_queue()]
    } else {
        opts.inputs.clone()
    };
    // Standard input is read before the terminal is taken over; keys then come from the tty.
    let source = if inputs.iter().any(|p| p.as_os_str() == "-") {
        Source::Loaded(crate::alert::load_paths(&inputs))
    } else {
        Source::Paths(inputs)
    };
    let label = engine
        .as_ref()
        .map_or_else(|| "offline".to_string(), |e| e.label());
    let cfg = WorkerConfig {
        params: TriageParams {
            search: opts.config.search_params(),
            ..TriageParams::default()
        },
        concurrency: opts.config.tui.concurrency,
        export_dir: opts
            .config
            .tui
            .export_dir
            .clone()
            .unwrap_or_else(|| opts.data_dir.join("exports")),
        engine,
        data_dir: opts.data_dir.clone(),
        config: opts.config.clone(),
    };
    let mut state = State::new(&label, &analyst_name(&opts.config));
    state.auto_triage = match opts
        .config
        .tui
        .auto_triage
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "off" | "none" => None,
        s => Some(crate::alert::Severity::parse(s).ok_or_else(|| {
            anyhow::anyhow!(
                "[tui] auto_triage = {s:?} is not off, informational, low, medium, high or critical"
            )
        })?),
    };
    let console = Console::new(state, keymap, Theme::from_env());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = rt.block_on(event_loop(console, cfg, source, opts))?;
    if let Some(r) = report {
        eprintln!("{r}");
    }
    Ok(())
}

/// Runs the HTTP API on this runtime; pushed alerts become `AlertsArrived` actions.
pub fn start_api(
    api: Api,
    cfg: WorkerConfig,
    kb: tokio::sync::watch::Receiver<crate::server::KbSlot>,
    tx: mpsc::UnboundedSender<Action>,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<String> {
    use std::sync::Arc;
    api.listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(api.listener)?;
    let addr = listener.local_addr()?.to_string();
    let (intake_tx, mut intake_rx) = mpsc::unbounded_channel::<crate::server::Intake>();
    let state = Arc::new(crate::server::AppState::new(
        kb,
        cfg.engine.clone(),
        cfg.params,
        cfg.data_dir.clone(),
        api.limits,
        api.token,
        analyst_name(&cfg.config),
        Some(intake_tx),
    ));
    tokio::spawn(async move {
        let stopped = async {
            let _ = stop.await;
        };
        if let Err(e) = crate::server::serve(listener, state, stopped).await {
            tracing::error!("the API stopped: {e}");
        }
    });
    tokio::spawn(async move {
        while let Some(i) = intake_rx.recv().await {
            let items = super::state::LoadedItem::fresh(i.alerts);
            if tx
                .send(Action::AlertsArrived {
                    items,
                    source: i.source,
                })
                .is_err()
            {
                break;
            }
        }
    });
    tracing::info!(%addr, "API listening inside the console");
    Ok(addr)
}

/// Resident memory now and at its peak, from /proc (Linux; empty elsewhere).
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or_else(|| "?".to_string(), |v| format!("{} MB", v / 1024))
    };
    format!("resident {} (peak {})", kb("VmRSS:"), kb("VmHWM:"))
}

const FRAME: Duration = Duration::from_millis(16);

async fn event_loop(
    mut console: Console,
    cfg: WorkerConfig,
    source: Source,
    opts: Options,
) -> anyhow::Result<Option<String>> {
    let mut term = terminal::enter()?;
    let result = drive(&mut term, &mut console, cfg, source, opts).await;
    terminal::leave()?;
    result
}

async fn drive(
    term: &mut terminal::Term,
    console: &mut Console,
    cfg: WorkerConfig,
    source: Source,
    mut opts: Options,
) -> anyhow::Result<Option<String>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Action>();
    let api_cfg = cfg.clone();
    let mut workers = Workers::new(cfg, tx.clone(), tokio::runtime::Handle::current());
    workers.load(source);
    workers.open_kb();
    // Stops the API when the console quits.
    let (_stop_api, stop_rx) = tokio::sync::oneshot::channel::<()>();
    if let Some(api) = opts.api.take() {
        let addr = start_api(api, api_cfg, workers.kb_watch(), tx.clone(), stop_rx)?;
        console.state.api = Some(addr);
    }
    term.draw(|f| console.draw(f))?;
    console.state.dirty = false;
    let first_frame = opts.started.elapsed();
    tracing::info!("first frame after {} ms", first_frame.as_millis());
    if opts.exit_after == Some(ExitAfter::FirstFrame) {
        return Ok(Some(format!(
            "first frame after {:.1} ms",
            first_frame.as_secs_f64() * 1e3
        )));
    }
    let mut events = EventStream::new();
    let mut last_draw = Instant::now();
    loop {
        let deadline = last_draw + FRAME;
        let mut effects = Vec::new();
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => effects = console.key(k),
                Some(Ok(Event::Paste(s))) => effects = console.paste(&s),
                Some(Ok(Event::Resize(..))) => effects = console.dispatch(Action::Resize),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            Some(a) = rx.recv() => {
                effects = console.dispatch(a);
                // Take what else is waiting, so one frame covers a burst of tokens.
                for _ in 0..1024 {
                    match rx.try_recv() {
                        Ok(a) => effects.extend(console.dispatch(a)),
                        Err(_) => break,
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()), if console.state.dirty => {}
        }
        for e in effects {
            workers.perform(e);
        }
        if console.state.quit {
            workers.finish().await;
            break;
        }
        if console.state.dirty && last_draw.elapsed() >= FRAME {
            term.draw(|f| console.draw(f))?;
            console.state.dirty = false;
            last_draw = Instant::now();
            if opts.exit_after == Some(ExitAfter::Loaded)
                && !console.state.loading
                && !matches!(console.state.kb, super::state::KbState::Loading(_))
            {
                return Ok(Some(format!(
                    "first frame after {:.1} ms; {} alerts loaded and drawn, knowledge base and model ready after {:.1} ms; {}",
                    first_frame.as_secs_f64() * 1e3,
                    console.state.items.len(),
                    opts.started.elapsed().as_secs_f64() * 1e3,
                    memory()
                )));
            }
        }
    }
    Ok(None)
}
