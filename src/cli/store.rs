//! `store`: where the history lives, and moving it into a team database.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args as ClapArgs, Subcommand};

use soc_copilot::store::{DB_FILE, Store, redact};

use super::Context;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the SQLite history (alerts, triages, feedback, notes, chat, incidents, exports,
    /// intel, pseudonyms, closures) into a PostgreSQL team store. Idempotent: re-running it
    /// copies only what is new.
    Migrate(MigrateArgs),
    /// The change feed: new alerts, verdicts, feedback, notes, claims and takeovers as every
    /// console and replica records them (live with --follow: LISTEN/NOTIFY on PostgreSQL).
    Events(EventsArgs),
}

#[derive(Debug, ClapArgs)]
pub struct EventsArgs {
    /// Keep printing events as they are recorded (until interrupted).
    #[arg(long)]
    pub follow: bool,
    /// Start after this event id (default: the newest 20, or only new ones with --follow).
    #[arg(long, value_name = "ID")]
    pub since: Option<i64>,
    /// One JSON object per line, with the time it was received (`received_at`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct MigrateArgs {
    /// The team store: postgres://user@host:port/database.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub to: String,
    /// The SQLite file to copy (default: the data directory's).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Print the per-table counts as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, c: StoreCommand) -> anyhow::Result<ExitCode> {
    match c {
        StoreCommand::Migrate(a) => migrate(ctx, a),
        StoreCommand::Events(a) => events(ctx, a),
    }
}

fn migrate(ctx: &Context, a: MigrateArgs) -> anyhow::Result<ExitCode> {
    let from = a.from.unwrap_or_else(|| ctx.data_dir.join(DB_FILE));
    if !from.is_file() {
        anyhow::bail!(
            "no SQLite history at {}: pass --from FILE (the soc-copilot.db of the data directory to copy)",
            from.display()
        );
    }
    if !soc_copilot::store::is_postgres_url(&a.to) {
        anyhow::bail!(
            "--to {}: give the team store as postgres://user@host:port/database",
            redact(&a.to)
        );
    }
    // The file is opened as usual (its schema brought up to date first, so both sides match).
    let source = Store::open(&from)?;
    let team = Store::connect(&a.to)?;
    let started = std::time::Instant::now();
    let report = source.copy_into(&team)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "copied {} into {} in {:.1} s",
        from.display(),
        redact(&a.to),
        started.elapsed().as_secs_f64()
    );
    println!("  {:<18} {:>9} {:>16}", "table", "copied", "already there");
    for t in &report.tables {
        println!("  {:<18} {:>9} {:>16}", t.table, t.copied, t.present);
    }
    if report.copied() == 0 {
        println!("nothing new: the team store already holds this history");
    }
    Ok(ExitCode::SUCCESS)
}

fn events(ctx: &Context, a: EventsArgs) -> anyhow::Result<ExitCode> {
    use soc_copilot::store::follow::Follower;
    let store = Store::open_in(&ctx.data_dir)?;
    let since = match a.since {
        Some(s) => Some(s),
        None if a.follow => None,
        None => Some((store.last_event()? - 20).max(0)),
    };
    let mut follower = Follower::new(store, since)?;
    loop {
        let batch = follower.next(std::time::Duration::from_secs(if a.follow {
            3600
        } else {
            0
        }))?;
        for e in &batch {
            if a.json {
                let mut v = serde_json::to_value(e)?;
                v["received_at"] = soc_copilot::store::now().into();
                println!("{v}");
            } else {
                println!(
                    "#{:<6} {}  {:<9} alert {:<7} {}{}",
                    e.id,
                    e.at,
                    e.kind,
                    e.alert_row.map_or("-".into(), |r| r.to_string()),
                    e.analyst
                        .as_deref()
                        .map_or(String::new(), |a| format!("by {a} ")),
                    e.triage_id
                        .as_deref()
                        .map_or(String::new(), |t| format!("triage {t}"))
                );
            }
        }
        if !a.follow && batch.len() < 500 {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}
