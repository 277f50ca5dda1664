//! The event loop: terminal events, worker actions and a frame timer, selected together.
//! Each input goes through `update`; effects go to the workers. A key (or paste, or resize)
//! is drawn at once; worker output is drawn when the state is dirty, at most every 16 ms,
//! so a flood of tokens never means a draw per token.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::search::KbSlot;
use crate::triage::intake::Intake;
use crate::triage::select::{EngineChoice, select};

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

/// What the console gets back from starting the API inside it (`tui --listen`): its
/// address, and the channel on which alerts a SIEM pushes arrive.
pub struct ApiLink {
    pub addr: String,
    pub intake: mpsc::Receiver<Intake>,
}

/// Starts the HTTP API on the console's runtime, given the knowledge base as it loads and
/// the engine. The composition root (the CLI) supplies it, so the console never reaches
/// into the server: alerts come in only through the returned channel.
pub type StartApi = Box<
    dyn FnOnce(
            tokio::sync::watch::Receiver<KbSlot>,
            std::sync::Arc<dyn crate::triage::Engine>,
        ) -> anyhow::Result<ApiLink>
        + Send,
>;

pub struct Options {
    pub api: Option<StartApi>,
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
    // The mode is named when the model investigates itself (the offline engine never does).
    let label = match (opts.config.triage_params().mode, engine.model()) {
        (crate::triage::engine::TriageMode::Agentic, Some(_)) => {
            format!("{} · agentic", engine.label())
        }
        _ => engine.label(),
    };
    let cfg = WorkerConfig {
        params: opts.config.triage_params(),
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
        database: crate::store::database_url()
            .filter(|u| crate::store::is_postgres_url(u))
            .map(str::to_string),
    };
    let mut state = State::new(&label, &opts.config.analyst_name());
    state.team = cfg.database.is_some();
    let h = &opts.config.handoff;
    state.handoff_ready = [
        (crate::handoff::Target::TheHive, &h.thehive),
        (crate::handoff::Target::Iris, &h.iris),
    ]
    .into_iter()
    .filter(|(_, t)| t.configured() && t.key.as_ref().is_some_and(|k| !k.0.trim().is_empty()))
    .map(|(target, _)| target)
    .collect();
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

/// Alerts pushed through the API become `AlertsArrived` actions; what arrived together is
/// handed over together.
pub fn forward_intake(mut intake: mpsc::Receiver<Intake>, tx: mpsc::Sender<Action>) {
    tokio::spawn(async move {
        while let Some(first) = intake.recv().await {
            let mut alerts = vec![first.alert];
            while let Ok(more) = intake.try_recv() {
                alerts.push(more.alert);
            }
            let items = super::state::LoadedItem::fresh(alerts);
            let arrived = Action::AlertsArrived {
                items,
                source: first.source,
            };
            if tx.send(arrived).await.is_err() {
                break;
            }
        }
    });
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
    let (tx, mut rx) = mpsc::channel::<Action>(super::workers::ACTION_QUEUE);
    let engine = cfg.engine.clone();
    let mut workers = Workers::new(cfg, tx.clone(), tokio::runtime::Handle::current());
    workers.load(source);
    workers.open_kb();
    if let Some(start) = opts.api.take() {
        let link = start(workers.kb_watch(), engine)?;
        forward_intake(link.intake, tx.clone());
        console.state.api = Some(link.addr);
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
        // What the analyst does is drawn at once; only worker output waits for the frame
        // timer (keys come at human rates, tokens do not).
        let mut input = false;
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    input = true;
                    effects = console.key(k);
                }
                Some(Ok(Event::Paste(s))) => {
                    input = true;
                    effects = console.paste(&s);
                }
                Some(Ok(Event::Resize(..))) => {
                    input = true;
                    effects = console.dispatch(Action::Resize);
                }
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
        if console.state.dirty && (input || last_draw.elapsed() >= FRAME) {
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
