use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use soc_copilot::alert::Alert;
use soc_copilot::alert::parse::{from_json, from_text};
use soc_copilot::eval::retrieval::read_cases;
use soc_copilot::search::{Hit, KnowledgeBase, Mode};

use super::Context;
use super::progress::bar;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Free text to search for (an alert title, a command line…).
    #[arg(conflicts_with_all = ["alert", "alerts"])]
    pub text: Option<String>,
    /// One alert as a JSON or text file (`-` for stdin).
    #[arg(long, value_name = "FILE", conflicts_with = "alerts")]
    pub alert: Option<PathBuf>,
    /// Batch: JSON lines `{"id", "alert": {...}}`; writes `{"id", "techniques": [...]}` lines.
    #[arg(long, value_name = "FILE.jsonl")]
    pub alerts: Option<PathBuf>,
    /// Where the batch predictions go (default: stdout).
    #[arg(long, value_name = "PREDS.jsonl", requires = "alerts")]
    pub out: Option<PathBuf>,
    /// How many techniques to return.
    #[arg(short, long)]
    pub k: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_enum, default_value_t = Mode::Hybrid)]
    pub mode: Mode,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let k = args.k.unwrap_or(ctx.config.retrieval.top_k).max(1);
    let params = ctx.config.search_params();
    if let Some(path) = &args.alerts {
        let kb = ctx.open_kb_for(args.mode)?;
        return batch(&kb, path, args.out.as_ref(), k, args.mode, &params);
    }
    let alert = match (&args.text, &args.alert) {
        (Some(t), _) => from_text(t, None),
        (None, Some(path)) => read_alert(path)?,
        (None, None) => {
            anyhow::bail!("give the text to search for, --alert FILE, or --alerts FILE.jsonl")
        }
    };
    let kb = ctx.open_kb_for(args.mode)?;
    let hits = kb.search_alert(&alert, k, args.mode, &params)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
    } else {
        print_table(&hits);
    }
    Ok(ExitCode::SUCCESS)
}

/// A JSON alert document, or plain text when the file is not JSON.
fn read_alert(path: &std::path::Path) -> anyhow::Result<Alert> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(64 << 20)
            .read_to_end(&mut bytes)
            .context("reading the alert from stdin")?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(64 << 20).read_to_end(&mut bytes))
            .with_context(|| format!("reading the alert file {}", path.display()))?;
    }
    let text = String::from_utf8_lossy(&bytes);
    Ok(match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => from_json(v.get("alert").unwrap_or(&v)),
        Err(_) => from_text(&text, None),
    })
}

fn print_table(hits: &[Hit]) {
    if hits.is_empty() {
        println!("no technique matched");
        return;
    }
    for (i, h) in hits.iter().enumerate() {
        println!(
            "{:>2}. {:<10} {}  [{}]  score {:.3}",
            i + 1,
            h.id,
            h.name,
            h.tactics.join(", "),
            h.score
        );
        let why: Vec<String> = h.why.iter().map(ToString::to_string).collect();
        if !why.is_empty() {
            println!("    why: {}", why.join(" · "));
        }
    }
}

fn batch(
    kb: &KnowledgeBase,
    path: &std::path::Path,
    out: Option<&PathBuf>,
    k: usize,
    mode: Mode,
    params: &soc_copilot::search::SearchParams,
) -> anyhow::Result<ExitCode> {
    let (cases, errors) = read_cases(path)?;
    for e in &errors {
        eprintln!(
            "warning: {}:{}: skipped: {}",
            path.display(),
            e.line,
            e.message
        );
    }
    let mut sink: Box<dyn Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(super::term::Clean(
            std::io::stdout().lock(),
        ))),
    };
    let pb = bar(
        cases.len() as u64,
        "  searching [{bar:40}] {pos}/{len} alerts",
    );
    for chunk in cases.chunks(256) {
        let alerts: Vec<Alert> = chunk.iter().map(|c| c.alert.clone()).collect();
        let results = kb.search_alerts(&alerts, k, mode, params)?;
        for (case, hits) in chunk.iter().zip(results) {
            let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
            serde_json::to_writer(
                &mut sink,
                &serde_json::json!({"id": case.id, "techniques": ids}),
            )?;
            sink.write_all(b"\n")?;
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    sink.flush()?;
    eprintln!(
        "{} alerts searched, {} lines skipped",
        cases.len(),
        errors.len()
    );
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
