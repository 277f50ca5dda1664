use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use soc_copilot::assets::attack_bundle;
use soc_copilot::attack::download;
use soc_copilot::search::ingest::{IngestOptions, ingest};

use super::Context;
use super::progress::{Bars, bar};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A local bundle (.json or .json.gz, STIX 2.0 or 2.1) or an http(s) URL to download.
    #[arg(long, value_name = "PATH_OR_URL")]
    pub from: Option<String>,
    /// The ATT&CK release to record, when the bundle does not carry one [env: SOC_COPILOT_ATTACK_VERSION].
    #[arg(long, value_name = "VERSION")]
    pub attack_version: Option<String>,
    /// Build the BM25 index only, without embeddings.
    #[arg(long)]
    pub no_embed: bool,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let found = attack_bundle(&ctx.config, args.from.as_deref(), &ctx.data_dir);
    if let Some(flag) = &args.from
        && found.chosen.as_deref() != Some(flag.as_str())
    {
        anyhow::bail!(
            "the ATT&CK bundle {flag} does not exist; pass an existing file or an http(s) URL"
        );
    }
    let source = found
        .chosen
        .clone()
        .unwrap_or_else(|| ctx.config.attack.url.clone());
    let bundle = if source.starts_with("http://") || source.starts_with("https://") {
        let dest = ctx.data_dir.join("attack").join("enterprise-attack.json");
        eprintln!("· downloading {source}");
        let pb = bar(0, "  {bytes}/{total_bytes} [{bar:40}] {bytes_per_sec}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(download::fetch(&source, &dest, &|done, total| {
            if let Some(t) = total {
                pb.set_length(t);
            }
            pb.set_position(done);
        }))?;
        pb.finish_and_clear();
        dest
    } else {
        PathBuf::from(&source)
    };

    let embedder = if args.no_embed {
        Err("ingest --no-embed was given".to_string())
    } else {
        ctx.embedder()
    };
    if let Err(why) = &embedder {
        eprintln!("warning: building without embeddings, so search will use BM25 alone: {why}");
    }
    let observer = Bars::new();
    let report = ingest(
        IngestOptions {
            bundle: bundle.clone(),
            source,
            data_dir: ctx.data_dir.clone(),
            embedder,
            plan: ctx.config.chunk_plan(),
            attack_version: args
                .attack_version
                .or_else(|| ctx.config.attack.version.clone()),
            batch: ctx.config.embedding.batch,
        },
        &observer,
    )
    .with_context(|| format!("ingesting {}", bundle.display()))?;

    let m = &report.manifest;
    let c = &m.counts;
    println!("knowledge base ready in {}", report.index_dir.display());
    println!(
        "  ATT&CK {} (STIX {}), bundle sha256 {}",
        m.attack_version,
        m.stix_version,
        &m.bundle_sha256[..12.min(m.bundle_sha256.len())]
    );
    println!(
        "  {} techniques + {} sub-techniques, {} tactics, {} mitigations, {} groups, {} software, {} campaigns",
        c.techniques, c.subtechniques, c.tactics, c.mitigations, c.groups, c.software, c.campaigns
    );
    println!(
        "  {} procedure examples, {} detection analytics, {} revoked ids mapped",
        c.procedures, c.analytics, c.revoked
    );
    match &m.dense {
        Some(d) => println!(
            "  {} passages embedded with {} ({} new, {} reused)",
            d.passages, d.model_id, report.embedded_vectors, report.reused_vectors
        ),
        None => println!(
            "  no embeddings: {}",
            m.dense_missing.as_deref().unwrap_or("unknown reason")
        ),
    }
    println!(
        "  took {:.1}s (parse {:.1}s, index {:.1}s, embed {:.1}s)",
        report.total_time.as_secs_f64(),
        report.parse_time.as_secs_f64(),
        report.index_time.as_secs_f64(),
        report.embed_time.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
