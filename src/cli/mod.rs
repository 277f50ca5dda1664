//! The command line: argument parsing and one function per subcommand.

/// Every line the CLI prints is sanitised (see `term`): these shadow the std macros in all
/// the modules below.
macro_rules! eprintln {
    () => { $crate::cli::term::err_line("") };
    ($($t:tt)*) => { $crate::cli::term::err_line(&format!($($t)*)) };
}
macro_rules! println {
    () => { $crate::cli::term::out_line("") };
    ($($t:tt)*) => { $crate::cli::term::out_line(&format!($($t)*)) };
}

pub mod batch;
pub mod doctor;
pub mod eval;
pub mod handoff;
pub mod incidents;
pub mod ingest;
pub mod intel;
pub mod lab;
pub mod progress;
pub mod review;
pub mod search;
pub mod serve;
pub mod store;
pub mod term;
pub mod triage;
pub mod tui;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use soc_copilot::config::Config;
use soc_copilot::search::KnowledgeBase;
use soc_copilot::search::embed::{Embedder, discover};
use soc_copilot::search::ingest::locate;

#[derive(Debug, Parser)]
#[command(name = "soc-copilot", version, about = "Security alert triage with MITRE ATT&CK retrieval", long_about = None)]
pub struct Cli {
    /// Config file to merge over the defaults (default: ~/.config/soc-copilot/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the index, database and logs live [env: SOC_COPILOT_DATA_DIR].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Team mode: a PostgreSQL URL for the store, shared by every console and API replica
    /// (default: SQLite in the data directory) [env: SOC_COPILOT_DATABASE_URL; config: [store] url].
    #[arg(long, global = true, value_name = "URL", hide_env_values = true)]
    pub database: Option<String>,
    /// With no command, the console opens on the sample queue.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The analyst console: work a queue of alerts from the keyboard (the default command).
    Tui(tui::Args),
    /// Build the ATT&CK knowledge base (BM25 index + embeddings) from a STIX bundle.
    Ingest(ingest::Args),
    /// Find the ATT&CK techniques that fit an alert or a piece of text.
    Search(search::Args),
    /// Measure the tool against labelled data.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Triage alerts: retrieval, a verdict, everything recorded in the store.
    Triage(triage::Args),
    /// Record an analyst's thumbs up/down (and corrected verdict) on a triage.
    Feedback(review::FeedbackArgs),
    /// Recent triages with their verdicts and feedback.
    History(review::HistoryArgs),
    /// How often verdicts were right: overall, per verdict, by day, calibration.
    Accuracy(review::AccuracyArgs),
    /// The HTTP API: triage, feedback, accuracy, health, webhook intake; docs at /docs.
    Serve(serve::Args),
    /// Show where each asset was looked for, what was found, and how to supply what is missing.
    Doctor(doctor::Args),
    /// Offline threat intelligence: import feeds, list sources, look up an indicator.
    #[command(subcommand)]
    Intel(intel::IntelCommand),
    /// The local investigation of alerts without a model: offline intel on their
    /// indicators, where each was seen before and how it was judged, related alerts.
    Enrich(intel::EnrichArgs),
    /// Re-triage the alerts analysts reviewed with another engine, mode or prompt and compare
    /// agreement, calibration, false positives per rule, cost and latency (history untouched).
    Backtest(lab::BacktestArgs),
    /// Hand an alert or incident to a case system (TheHive, DFIR-IRIS) or export it as MISP,
    /// STIX 2.1 or Markdown; `export finetune` writes reviewed triages as training data.
    Export(handoff::ExportArgs),
    /// Draft a Sigma rule from a confirmed alert or incident, validate it and test it
    /// against the stored history.
    Sigma(handoff::SigmaArgs),
    /// Review and reverse autonomous closures ([autoclose]).
    #[command(subcommand)]
    Autoclose(handoff::AutocloseCommand),
    /// Alerts correlated into incidents: list, show, merge, split, triage as one.
    #[command(subcommand)]
    Incidents(incidents::IncidentsCommand),
    /// Self-checks of the tool's defences.
    #[command(subcommand)]
    Selftest(lab::SelftestCommand),
    /// The store: copy an analyst's SQLite history into a PostgreSQL team store.
    #[command(subcommand)]
    Store(store::StoreCommand),
}

/// What every subcommand starts from.
pub struct Context {
    pub config: Config,
    pub data_dir: PathBuf,
}

impl Context {
    pub fn new(cli: &Cli) -> anyhow::Result<Context> {
        let mut config = Config::load(cli.config.as_deref())?;
        if let Some(d) = &cli.data_dir {
            config.paths.data_dir = Some(d.clone());
        }
        if let Some(url) = &cli.database {
            config.store.url = Some(soc_copilot::config::Secret(url.clone()));
        }
        if let Some(url) = &config.store.url {
            soc_copilot::store::use_database(&url.0)?;
        }
        let data_dir = config.data_dir()?;
        Ok(Context { config, data_dir })
    }

    pub fn embedder(&self) -> Result<Arc<Embedder>, String> {
        discover(&self.config, &self.data_dir).map(Arc::new)
    }

    /// Opens the knowledge base with the embedding model if it loads; says so on stderr
    /// when retrieval falls back to BM25 alone.
    pub fn open_kb(&self) -> anyhow::Result<KnowledgeBase> {
        let embedder = self.embedder();
        let load_error = embedder.as_ref().err().cloned();
        let dir = locate(&self.data_dir);
        let kb = KnowledgeBase::open(&dir, embedder.ok())
            .with_context(|| format!("opening the knowledge base in {}", dir.display()))?;
        if let Some(why) = &kb.dense_off {
            let detail = load_error.map(|e| format!(" ({e})")).unwrap_or_default();
            eprintln!(
                "warning: semantic search is off, results come from BM25 alone: {why}{detail}"
            );
        }
        Ok(kb)
    }

    /// The triage pipeline every triage front end runs: the knowledge base, the store, the
    /// selected engine and the configured retrieval.
    pub fn pipeline(
        &self,
        engine: Arc<dyn soc_copilot::triage::Engine>,
    ) -> anyhow::Result<soc_copilot::triage::Pipeline> {
        let stores = Arc::new(soc_copilot::store::StorePool::new(self.data_dir.clone()));
        Ok(soc_copilot::triage::Pipeline {
            kb: Arc::new(self.open_kb()?),
            intel: self.intel(stores.clone()),
            stores,
            engine,
            params: self.triage_params(),
        })
    }

    /// The remote threat-intel providers configured (with a key, or keyless and enabled).
    pub fn intel(
        &self,
        stores: Arc<soc_copilot::store::StorePool>,
    ) -> Option<Arc<soc_copilot::intel::remote::Investigator>> {
        soc_copilot::intel::remote::Investigator::for_config(&self.config, stores).map(Arc::new)
    }

    pub fn triage_params(&self) -> soc_copilot::triage::TriageParams {
        self.config.triage_params()
    }

    /// Opens the knowledge base for a search mode; `dense` without embeddings is an error
    /// rather than a silent fall-back, since the caller asked for that retriever by name.
    pub fn open_kb_for(&self, mode: soc_copilot::search::Mode) -> anyhow::Result<KnowledgeBase> {
        let kb = self.open_kb()?;
        if mode == soc_copilot::search::Mode::Dense && !kb.has_dense() {
            anyhow::bail!(
                "--mode dense needs the embedding model and an index built with it (see `soc-copilot doctor`)"
            );
        }
        Ok(kb)
    }
}

pub fn run(cli: Cli, started: std::time::Instant) -> anyhow::Result<ExitCode> {
    let mut ctx = Context::new(&cli)?;
    let command = cli.command.unwrap_or(Command::Tui(tui::Args::default()));
    // `--mode` overrides `[triage] mode` for this run, in every pipeline the command builds.
    if let Command::Triage(triage::Args { mode: Some(m), .. })
    | Command::Tui(tui::Args { mode: Some(m), .. }) = &command
    {
        ctx.config.triage.mode = m.as_str().into();
    }
    let _log = soc_copilot::logging::init(&ctx.data_dir, !matches!(command, Command::Tui(_)));
    match command {
        Command::Tui(a) => tui::run(ctx, a, started),
        Command::Ingest(a) => ingest::run(&ctx, a),
        Command::Search(a) => search::run(&ctx, a),
        Command::Eval(e) => eval::run(&ctx, e),
        Command::Triage(a) => triage::run(&ctx, a),
        Command::Feedback(a) => review::feedback(&ctx, a),
        Command::History(a) => review::history(&ctx, a),
        Command::Accuracy(a) => review::accuracy(&ctx, a),
        Command::Doctor(a) => doctor::run(&ctx, a),
        Command::Serve(a) => serve::run(&ctx, a),
        Command::Intel(c) => intel::run(&ctx, c),
        Command::Enrich(a) => intel::enrich_cmd(&ctx, a),
        Command::Backtest(a) => lab::backtest(&ctx, a),
        Command::Selftest(lab::SelftestCommand::Injection(a)) => lab::selftest_injection(&ctx, a),
        Command::Incidents(c) => incidents::run(&ctx, c),
        Command::Export(a) => handoff::export(&ctx, a),
        Command::Sigma(a) => handoff::sigma(&ctx, a),
        Command::Autoclose(c) => handoff::autoclose(&ctx, c),
        Command::Store(c) => store::run(&ctx, c),
    }
}
