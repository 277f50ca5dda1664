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
