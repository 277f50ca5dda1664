use std::process::ExitCode;

use soc_copilot::assets::{Discovery, attack_bundle, embedding_model, onnx_runtime};
use soc_copilot::search::ingest::locate;
use soc_copilot::search::kb::Manifest;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also load the embedding model to prove it works (takes a moment).
    #[arg(long)]
    pub load: bool,
    /// Run SQLite's full `integrity_check` instead of `quick_check`.
    #[arg(long)]
    pub full: bool,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    println!("soc-copilot {}", env!("CARGO_PKG_VERSION"));
    match &ctx.config.file {
        Some(f) => println!("config file: {}", f.display()),
        None => println!("config file: none (embedded defaults)"),
    }
    println!("data dir:    {}", ctx.data_dir.display());
    println!();

    let mut ok = true;
    let bundle = attack_bundle(&ctx.config, None, &ctx.data_dir);
    report(&bundle);
    if bundle.chosen.is_none() {
        println!("  → ingest will download {}", ctx.config.attack.url);
    }
    let model = embedding_model(&ctx.config, &ctx.data_dir);
    report(&model);
    let runtime = onnx_runtime(&ctx.config, &ctx.data_dir);
    report(&runtime);

    if args.load && model.chosen.is_some() && runtime.chosen.is_some() {
        match ctx.embedder() {
            Ok(e) => println!("embedding model loads: {} ({} dimensions)", e.id(), e.dim()),
            Err(e) => {
                ok = false;
                println!("embedding model FAILED to load: {e}");
            }
        }
    }

    println!();
    let dir = locate(&ctx.data_dir);
    match Manifest::read(&dir) {
        Ok(m) => {
            println!("knowledge base: {} (built {})", dir.display(), m.built_at);
            println!(
                "  ATT&CK {} · {} techniques + {} sub-techniques · {}",
                m.attack_version,
                m.counts.techniques,
                m.counts.subtechniques,
                match &m.dense {
                    Some(d) => format!("{} passages embedded with {}", d.passages, d.model_id),
                    None => format!(
                        "BM25 only: {}",
                        m.dense_missing.as_deref().unwrap_or("no embeddings")
                    ),
                }
            );
        }
        Err(e) => {
            ok = false;
            println!("knowledge base: {e}");
        }
    }
    if dir.exists() {
        let problems = soc_copilot::search::KnowledgeBase::verify(&dir);
        if problems.is_empty() {
            println!("  index verified: segments, catalog, vectors and a probe search are sound");
        } else {
            ok = false;
            for p in problems {
                println!("  DAMAGED: {p}");
            }
            println!("  → re-run `soc-copilot ingest` to rebuild the index");
        }
    }

    println!();
    ok &= check_store(&ctx.data_dir, args.full);
    if let Some(p) = soc_copilot::logging::problem() {
        ok = false;
        println!("log: {p} (commands log warnings to stderr instead)");
    } else {
        println!(
            "log: {}",
            ctx.data_dir.join("logs").join("soc-copilot.log").display()
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn report(d: &Discovery) {
    let status = if d.chosen.is_some() {
        "found"
    } else {
        "MISSING"
    };
    println!("{}: {status}", d.kind.label());
    for p in &d.probes {
        let mark = if Some(&p.location) == d.chosen.as_ref() {
            "→"
        } else if p.found {
            "✓"
        } else {
            "✗"
        };
        let note = p
            .note
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        println!("  {mark} {:<28} {}{note}", p.origin, p.location);
    }
    if d.chosen.is_none() {
        println!("  how to fix: {}", d.kind.remedy());
    }
}

/// Opens the database (without creating it), checks its schema version and runs
/// `quick_check` (`integrity_check` with `--full`). False when anything is wrong.
fn check_store(data_dir: &std::path::Path, full: bool) -> bool {
    use soc_copilot::store::{DB_FILE, Store};
    if let Some(url) = soc_copilot::store::database_url() {
        let shown = soc_copilot::store::redact(url);
        let store = match Store::connect(url) {
            Ok(s) => s,
            Err(e) => {
                println!("database: team store {shown} unreachable: {e}");
                return false;
            }
        };
        let version = store.schema_version().unwrap_or(-1);
        println!(
            "database: team store {shown} (PostgreSQL, schema {version} of {})",
            Store::known_schema()
        );
        if let Err(e) = store.probe_write() {
            println!("  cannot write: {e}");
            return false;
        }
        return version == Store::known_schema();
    }
    let path = data_dir.join(DB_FILE);
    if !path.exists() {
        println!(
            "database: {} (not created yet: the first triage creates it)",
            path.display()
        );
        return true;
    }
    let store = match Store::open(&path) {
        Ok(s) => s,
        Err(e) => {
            println!("database: DAMAGED or unreadable: {e}");
            println!(
                "  → move the file aside (keep it for recovery) and run again; a new one is created"
            );
            return false;
        }
    };
    let version = store.schema_version().unwrap_or(-1);
    println!(
        "database: {} (schema {version} of {})",
        path.display(),
        Store::known_schema()
    );
    let mut ok = version == Store::known_schema();
    match store.check_integrity(full) {
        Ok(p) if p.is_empty() => println!(
            "  {} passed",
            if full {
                "integrity_check"
            } else {
                "quick_check"
            }
        ),
        Ok(problems) => {
            ok = false;
            for p in problems.iter().take(20) {
                println!("  DAMAGED: {p}");
            }
            println!(
                "  → restore from a backup, or `sqlite3 {} .recover`",
                path.display()
            );
        }
        Err(e) => {
            ok = false;
            println!("  DAMAGED: the check could not run: {e}");
        }
    }
    if let Err(e) = store.probe_write() {
        ok = false;
        println!("  cannot write: {e}");
    }
    ok
}
