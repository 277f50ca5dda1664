//! `soc-copilot incidents …`: alerts correlated into incidents — list, show, merge, split,
//! and one incident-level triage.

use std::process::ExitCode;

use soc_copilot::incident::{self, IncidentDetail};
use soc_copilot::store::Store;
use soc_copilot::triage::Event;
use soc_copilot::triage::select::select;

use super::Context;
use super::triage::EngineChoice;

#[derive(Debug, clap::Subcommand)]
pub enum IncidentsCommand {
    /// Incidents, most recent activity first (grouping is brought up to date first).
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// One incident: its alerts in time order with why each joined, the technique chain
    /// ordered by tactic, and its incident-level verdict.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Make two incidents (or an incident and a lone alert, by its id) one; kept:
    /// correlation never separates them again.
    Merge { a: String, b: String },
    /// Take an alert (its id) out of an incident (kept: never rejoined automatically).
    Split { id: String, alert: String },
    /// One triage over the whole incident (one model call, or the offline engine).
    Triage {
        id: String,
        #[arg(long, value_enum)]
        engine: Option<EngineChoice>,
    },
}

fn refreshed(ctx: &Context) -> anyhow::Result<Store> {
    let mut store = Store::open_in(&ctx.data_dir)?;
    incident::refresh(&mut store, ctx.config.incidents.settings())?;
    Ok(store)
}

fn members_of(store: &Store, id: &str) -> anyhow::Result<Vec<i64>> {
    let m = store.incident_members(id)?;
    if m.is_empty() {
        anyhow::bail!("no incident {id:?}: `soc-copilot incidents list` shows the current ones");
    }
    Ok(m.into_iter().map(|m| m.row).collect())
}

/// The alert rows of an incident id, or the one row of an alert id (merging a lone alert
/// into an incident).
fn rows_of(store: &Store, id: &str) -> anyhow::Result<Vec<i64>> {
    if store.incident(id)?.is_some() {
        return members_of(store, id);
    }
    match store.alert_by_key(id)? {
        Some(a) => Ok(vec![a.row]),
        None => anyhow::bail!(
            "{id:?} is neither an incident (`soc-copilot incidents list`) nor a stored alert id"
        ),
    }
}

pub fn run(ctx: &Context, c: IncidentsCommand) -> anyhow::Result<ExitCode> {
    let analyst = super::review::analyst_name(ctx);
    match c {
        IncidentsCommand::List { limit, json } => {
            let store = refreshed(ctx)?;
            let list = store.incidents(limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("No incidents: no two stored alerts are linked.");
            } else {
                for i in list {
                    println!(
                        "{:<10} {:>3} alerts  {} → {}  {:<8} {}",
                        i.id,
                        i.alert_count,
                        i.first_at,
                        i.last_at,
                        i.verdict
                            .or(i.worst_alert_verdict)
                            .unwrap_or_else(|| "-".into()),
                        i.title
                    );
                }
            }
        }
        IncidentsCommand::Show { id, json } => {
            let store = refreshed(ctx)?;
            let Some(d) = incident::detail(&store, &id)? else {
                anyhow::bail!(
                    "no incident {id:?}: `soc-copilot incidents list` shows the current ones"
                );
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                print_detail(&d);
            }
        }
        IncidentsCommand::Merge { a, b } => {
            let mut store = refreshed(ctx)?;
            let (ra, rb) = (rows_of(&store, &a)?, rows_of(&store, &b)?);
            // Every pair across the two is merged: earlier splits between them are undone.
            let pairs: Vec<(i64, i64)> = ra
                .iter()
                .flat_map(|x| rb.iter().map(move |y| (*x, *y)))
                .collect();
            store.record_incident_pairs(&pairs, true, &analyst)?;
            incident::refresh(&mut store, ctx.config.incidents.settings())?;
            let now = store.incident_of(ra[0])?.unwrap_or_else(|| "?".into());
            println!("Merged {a} and {b} into {now}.");
        }
        IncidentsCommand::Split { id, alert } => {
            let mut store = refreshed(ctx)?;
            let rows = members_of(&store, &id)?;
            let Some(stored) = store.alert_by_key(&alert)? else {
                anyhow::bail!("no stored alert with id {alert:?}");
            };
            if !rows.contains(&stored.row) {
                anyhow::bail!("alert {alert:?} is not in {id}");
            }
            let pairs: Vec<(i64, i64)> = rows
                .iter()
                .filter(|r| **r != stored.row)
                .map(|r| (*r, stored.row))
                .collect();
            store.record_incident_pairs(&pairs, false, &analyst)?;
            incident::refresh(&mut store, ctx.config.incidents.settings())?;
            println!("Took {alert} out of {id}; it will not be regrouped with those alerts.");
        }
        IncidentsCommand::Triage { id, engine } => {
            refreshed(ctx)?;
            let pipeline = ctx.pipeline(select(&ctx.config, engine)?)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let mut echo = |e: Event| {
                if let Event::Text(t) = e {
                    use std::io::Write as _;
                    let mut err = super::term::Clean(std::io::stderr().lock());
                    let _ = write!(err, "{t}");
                }
            };
            let o = rt.block_on(incident::triage(&pipeline, &id, &mut echo))?;
            eprintln!();
            let v = &o.verdict;
            println!(
                "{id}: {} (confidence {:.2}) · triage {} · {}",
                v.verdict, v.confidence, v.triage_id, o.provenance.engine
            );
            for a in &v.recommended_actions {
                println!("  → {a}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_detail(d: &IncidentDetail) {
    let i = &d.incident;
    println!("{} — {}", i.id, i.title);
    println!(
        "{} alerts, {} → {}; verdict {}",
        i.alert_count,
        i.first_at,
        i.last_at,
        i.verdict
            .as_deref()
            .unwrap_or("not triaged as an incident (`incidents triage`)")
    );
    println!("\nTimeline:");
    for m in &d.alerts {
        println!(
            "  {}  {:<8} {} [{}{}]{}",
            m.at,
            m.verdict.as_deref().unwrap_or("-"),
            m.title,
            m.host.as_deref().unwrap_or("-"),
            m.user
                .as_deref()
                .map(|u| format!(", {u}"))
                .unwrap_or_default(),
            if m.why.is_empty() {
                String::new()
            } else {
                format!(" — {}", m.why)
            }
        );
    }
    if !d.chain.is_empty() {
        println!("\nChain (by tactic):");
        for c in &d.chain {
            println!(
                "  {:<22} {} {}",
                c.tactic,
                c.technique.as_deref().unwrap_or(""),
                c.name
            );
        }
    }
}

/// Brings incidents up to date after alerts were stored (`triage`, `triage --batch`).
pub fn regroup(ctx: &Context) {
    let r = Store::open_in(&ctx.data_dir)
        .map_err(anyhow::Error::from)
        .and_then(|mut s| Ok(incident::refresh(&mut s, ctx.config.incidents.settings())?));
    match r {
        Ok(r) if r.incidents > 0 => eprintln!(
            "{} incident(s) group {} of {} stored alerts (`soc-copilot incidents list`)",
            r.incidents, r.grouped, r.alerts
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: could not regroup incidents: {e}"),
    }
}
