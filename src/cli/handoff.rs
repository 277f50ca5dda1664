//! Hand-off commands: `export` (case systems, exchange formats, fine-tuning data),
//! `sigma` (a detection from a confirmed alert or incident) and `autoclose` (review and
//! reverse autonomous closures).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use soc_copilot::detect::{self, sigma};
use soc_copilot::handoff::finetune::{Shape, lines};
use soc_copilot::handoff::{Target, case, run};
use soc_copilot::privacy::Privacy;
use soc_copilot::store::Store;
use soc_copilot::triage::select::select;

use super::Context;
use super::triage::EngineChoice;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// An alert id or an incident id (`INC-…`); or `finetune` for training data.
    pub id: String,
    /// thehive | iris (pushed to the configured instance) | misp | stix | markdown.
    #[arg(long, value_name = "TARGET")]
    pub to: Option<String>,
    /// Write to this file instead (`-`: standard output). Required for misp, stix, markdown
    /// and finetune.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// `export finetune`: the chat shape of each line.
    #[arg(long, value_enum, default_value = "anthropic")]
    pub format: Shape,
}

pub fn export(ctx: &Context, a: ExportArgs) -> anyhow::Result<ExitCode> {
    if a.id == "finetune" {
        return finetune(ctx, a);
    }
    let Some(to) = a.to.as_deref() else {
        anyhow::bail!("say where: --to thehive|iris|misp|stix|markdown");
    };
    let Some(target) = Target::parse(to) else {
        anyhow::bail!("--to {to:?}: the targets are thehive, iris, misp, stix, markdown");
    };
    let mut store = Store::open_in(&ctx.data_dir)?;
    soc_copilot::incident::refresh(&mut store, ctx.config.incidents.settings())?;
    let Some(case) = case::load(&store, &a.id)? else {
        anyhow::bail!(
            "no stored alert or incident {:?}: `soc-copilot history` and `soc-copilot incidents list` show them",
            a.id
        );
    };
    let analyst = super::review::analyst_name(ctx);
    let mut rec = match &a.out {
        Some(p) if p.as_os_str() == "-" => {
            let text = run::render(target, &case)?;
            super::term::Clean(std::io::stdout().lock()).write_all(text.as_bytes())?;
            println!();
            return Ok(ExitCode::SUCCESS);
        }
        Some(path) => {
            let r = run::to_file(target, &case, path)?;
            eprintln!(
                "{} {} written to {}",
                target.label(),
                case.kind,
                path.display()
            );
            r
        }
        None => {
            let privacy = Privacy::from_config(&ctx.config)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (r, created) = rt.block_on(run::push(
                &ctx.config.handoff,
                target,
                &case,
                privacy.as_deref(),
            ))?;
            eprintln!(
                "{} {} {} as {} on {}",
                target.label(),
                if created { "created" } else { "already had" },
                case.reference,
                r.remote_id.as_deref().unwrap_or("?"),
                r.destination
            );
            r
        }
    };
    rec.analyst = analyst;
    store.record_export(&rec)?;
    Ok(ExitCode::SUCCESS)
}

fn finetune(ctx: &Context, a: ExportArgs) -> anyhow::Result<ExitCode> {
    let Some(out) = &a.out else {
        anyhow::bail!("export finetune needs --out FILE.jsonl");
    };
    let store = Store::open_in(&ctx.data_dir)?;
    let rows = store.training_rows()?;
    // Training data leaves with every entity kind pseudonymised, configured or not.
    let p = &ctx.config.privacy;
    let privacy = Privacy::new(
        &[
            "users".into(),
            "hosts".into(),
            "internal_ips".into(),
            "emails".into(),
        ],
        &p.custom,
        true,
        Some(store.path().to_path_buf()),
    )?;
    let (lines, skipped) = lines(&rows, a.format, &privacy);
    privacy.persist()?;
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    if out.as_os_str() == "-" {
        std::io::stdout().lock().write_all(body.as_bytes())?;
    } else {
        std::fs::write(out, body)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    }
    eprintln!(
        "{} reviewed triage(s) written as {:?} chat lines to {}; {skipped} skipped (thumbs down without a verdict, or no stored verdict)",
        lines.len(),
        a.format,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct SigmaArgs {
    /// A confirmed alert id or incident id.
    #[arg(required_unless_present = "check")]
    pub id: Option<String>,
    /// Draft with this engine: offline (from the alert's fields) or a model. Default:
    /// [llm] engine.
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    /// Save the rule here once it validates.
    #[arg(long, value_name = "FILE.yml")]
    pub out: Option<PathBuf>,
    /// Validate and test an existing rule file instead of drafting one.
    #[arg(long, value_name = "FILE.yml", conflicts_with = "id")]
    pub check: Option<PathBuf>,
}

pub fn sigma(ctx: &Context, a: SigmaArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_in(&ctx.data_dir)?;
    let (yaml, from) = match (&a.check, &a.id) {
        (Some(path), _) => (
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
            format!("{}", path.display()),
        ),
        (None, Some(id)) => draft(ctx, &store, id, a.engine)?,
        (None, None) => anyhow::bail!("give an alert or incident id, or --check FILE"),
    };
    let checked = detect::check(&store, &yaml)?;
    println!("{}", checked.yaml.trim_end());
    eprintln!("── drafted {from}");
    report(&checked);
    if let Some(out) = &a.out {
        if !checked.problems.is_empty() {
            anyhow::bail!(
                "not saved: the rule has {} problem(s) against the Sigma specification",
                checked.problems.len()
            );
        }
        std::fs::write(out, &checked.yaml)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
        eprintln!("saved to {}", out.display());
    }
    Ok(if checked.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn report(c: &detect::Checked) {
    if c.problems.is_empty() {
        eprintln!("valid against the Sigma specification");
    }
    for p in &c.problems {
        eprintln!("problem: {p}");
    }
    if let Some(h) = &c.history {
        eprintln!(
            "against the history: {} of {} stored alerts match; {} judged false positive (BENIGN/LOW), {} confirmed{}",
            h.matched,
            h.scanned,
            h.matched_false_positive,
            h.matched_confirmed,
            if h.examples.is_empty() {
                String::new()
            } else {
                format!(" — e.g. {}", h.examples.join(", "))
            }
        );
    }
}

/// A draft from the model when one is selected (falling back to the offline draft when
/// its answer holds no valid rule), else offline.
fn draft(
    ctx: &Context,
    store: &Store,
    id: &str,
    engine: Option<EngineChoice>,
) -> anyhow::Result<(String, String)> {
    let src = detect::confirmed_source(store, id)?;
    let offline = detect::offline_draft(&src);
    let engine = select(&ctx.config, engine)?;
    if engine.model().is_none() {
        return Ok((offline, "offline from the alert's fields".into()));
    }
    let pipeline = ctx.pipeline(engine)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let loaded = soc_copilot::alert::load::LoadedAlert {
        raw: String::new(),
        origin: id.to_string(),
        alert: src.alert.clone(),
    };
    let answer =
        rt.block_on(pipeline.answer(&loaded, None, &[], &[], detect::MODEL_QUESTION, &mut |_| {}));
    let label = pipeline.engine.label();
    match answer.error {
        None => match sigma::from_model_text(&answer.text) {
            Some(y) if sigma::validate(&y).is_empty() => Ok((y, format!("by {label}"))),
            Some(_) | None => {
                eprintln!("warning: {label}'s answer held no valid Sigma rule; drafting offline");
                Ok((offline, "offline from the alert's fields".into()))
            }
        },
        Some(e) => {
            eprintln!("warning: {label} failed ({e}); drafting offline");
            Ok((offline, "offline from the alert's fields".into()))
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum AutocloseCommand {
    /// Alerts closed by [autoclose], newest first, with why.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Reverse a closure (its number from `list`): the alert is open again.
    Undo { id: i64 },
}

pub fn autoclose(ctx: &Context, c: AutocloseCommand) -> anyhow::Result<ExitCode> {
    let mut store = Store::open_in(&ctx.data_dir)?;
    match c {
        AutocloseCommand::List { limit } => {
            let list = store.closures(limit)?;
            if list.is_empty() {
                println!(
                    "No autonomous closures{}.",
                    if ctx.config.autoclose.enabled {
                        ""
                    } else {
                        " ([autoclose] is off)"
                    }
                );
            }
            for c in list {
                println!(
                    "#{:<5} {}  {}{}\n       {} — {}",
                    c.id,
                    c.at,
                    c.alert_key,
                    c.reversed_at
                        .as_deref()
                        .map(|r| format!(
                            "  (reversed {r} by {})",
                            c.reversed_by.as_deref().unwrap_or("?")
                        ))
                        .unwrap_or_default(),
                    c.title,
                    c.justification
                );
            }
        }
        AutocloseCommand::Undo { id } => {
            let analyst = super::review::analyst_name(ctx);
            if store.reverse_closure(id, &analyst)? {
                println!("Closure #{id} reversed: the alert is open again.");
            } else {
                anyhow::bail!("no standing closure #{id} (`soc-copilot autoclose list`)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
