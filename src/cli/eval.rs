use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;

use soc_copilot::alert::Alert;
use soc_copilot::eval::retrieval::{Report, read_cases, score};
use soc_copilot::search::Mode;

use super::Context;
use super::progress::bar;

#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Recall@1/5/10 and MRR@10 (exact and family) of technique retrieval on labelled alerts.
    Retrieval(RetrievalArgs),
    /// Cited precision and coverage of the offline engine's verdicts on labelled alerts.
    Citations(CitationArgs),
    /// Verdict quality: every labelled case through the real pipeline, each invariant
    /// checked (verdict band, technique families, escalation, suggestions, injection flag,
    /// intel); compare with a baseline run to catch regressions.
    Triage(super::lab::TriageArgs),
    /// Does analyst feedback help? Replay a labelled queue in time order with and without
    /// earlier feedback as precedent and compare agreement on the later alerts.
    Feedback(super::lab::FeedbackArgs),
    /// Grouping quality on a labelled set of interleaved incidents: pairwise precision and
    /// recall, incidents recovered whole, on intake and after triage.
    Incidents(super::lab::IncidentsArgs),
}

#[derive(Debug, clap::Args)]
pub struct CitationArgs {
    /// JSON lines `{"id", "source", "techniques", "alert"}`.
    #[arg(long, value_name = "FILE.jsonl")]
    pub dataset: PathBuf,
    #[arg(long)]
    pub json: bool,
    /// Also write, per alert, the evidence each retrieved candidate had (the citation
    /// rule's inputs) with whether its family is correct: for studying the rule.
    #[arg(long, value_name = "FILE.jsonl")]
    pub dump: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RetrievalArgs {
    /// JSON lines `{"id", "source", "techniques", "alert"}`.
    #[arg(long, value_name = "FILE.jsonl")]
    pub dataset: PathBuf,
    #[arg(long, value_enum, default_value_t = Mode::Hybrid)]
    pub mode: Mode,
    /// Score this predictions file (`{"id", "techniques"}` lines) instead of searching.
    #[arg(long, value_name = "PREDS.jsonl")]
    pub preds: Option<PathBuf>,
    /// Also write the predictions made.
    #[arg(long, value_name = "PREDS.jsonl", conflicts_with = "preds")]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, cmd: EvalCommand) -> anyhow::Result<ExitCode> {
    let args = match cmd {
        EvalCommand::Retrieval(args) => args,
        EvalCommand::Citations(args) => return citations(ctx, args),
        EvalCommand::Triage(args) => return super::lab::eval_triage(ctx, args),
        EvalCommand::Feedback(args) => return super::lab::eval_feedback(ctx, args),
        EvalCommand::Incidents(args) => return super::lab::eval_incidents(ctx, args),
    };
    let cases = dataset(&args.dataset)?;
    let started = Instant::now();
    let predictions = match &args.preds {
        Some(p) => read_predictions(p)?,
        None => {
            let kb = ctx.open_kb_for(args.mode)?;
            let params = ctx.config.search_params();
            let pb = bar(
                cases.len() as u64,
                "  searching [{bar:40}] {pos}/{len} alerts",
            );
            let mut preds = BTreeMap::new();
            for chunk in cases.chunks(256) {
                let alerts: Vec<Alert> = chunk.iter().map(|c| c.alert.clone()).collect();
                for (case, hits) in chunk
                    .iter()
                    .zip(kb.search_alerts(&alerts, 10, args.mode, &params)?)
                {
                    preds.insert(
                        case.id.clone(),
                        hits.into_iter().map(|h| h.id).collect::<Vec<_>>(),
                    );
                }
                pb.inc(chunk.len() as u64);
            }
            pb.finish_and_clear();
            preds
        }
    };
    let elapsed = started.elapsed();
    if let Some(out) = &args.out {
        let mut text = String::new();
        for (id, t) in &predictions {
            text.push_str(&serde_json::json!({"id": id, "techniques": t}).to_string());
            text.push('\n');
        }
        std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    }
    let reports = score(&cases, &predictions);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        let mode = if args.preds.is_some() {
            "predictions file".to_string()
        } else {
            format!("{:?}", args.mode).to_lowercase()
        };
        println!(
            "retrieval on {} ({} cases, mode {mode}, {:.1}s)",
            args.dataset.display(),
            cases.len(),
            elapsed.as_secs_f64()
        );
        print_reports(&reports);
    }
    Ok(ExitCode::SUCCESS)
}

fn read_predictions(path: &std::path::Path) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    #[derive(serde::Deserialize)]
    struct Line {
        id: String,
        techniques: Vec<String>,
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = BTreeMap::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let l: Line = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}:{}: expected {{\"id\", \"techniques\"}}",
                path.display(),
                i + 1
            )
        })?;
        out.insert(l.id, l.techniques);
    }
    Ok(out)
}

fn print_reports(reports: &BTreeMap<String, Report>) {
    println!(
        "{:<10} {:>6}  {:>7} {:>7} {:>7} {:>7}   {:>7} {:>7} {:>7} {:>7}",
        "source", "cases", "ex@1", "ex@5", "ex@10", "exMRR", "fam@1", "fam@5", "fam@10", "famMRR"
    );
    let order = reports
        .keys()
        .filter(|k| *k != "overall")
        .chain(std::iter::once(&"overall".to_string()))
        .cloned()
        .collect::<Vec<_>>();
    for k in order {
        let Some(r) = reports.get(&k) else { continue };
        println!(
            "{:<10} {:>6}  {:>7.3} {:>7.3} {:>7.3} {:>7.3}   {:>7.3} {:>7.3} {:>7.3} {:>7.3}",
            k,
            r.cases,
            r.exact.recall_at_1,
            r.exact.recall_at_5,
            r.exact.recall_at_10,
            r.exact.mrr_at_10,
            r.family.recall_at_1,
            r.family.recall_at_5,
            r.family.recall_at_10,
            r.family.mrr_at_10
        );
    }
}

/// The offline engine over each labelled alert (hybrid retrieval, no precedent, nothing
/// stored): which techniques its verdict cites, scored by family.
fn citations(ctx: &Context, args: CitationArgs) -> anyhow::Result<ExitCode> {
    use soc_copilot::triage::injection;
    use soc_copilot::triage::offline::{OfflineInput, triage};
    let cases = dataset(&args.dataset)?;
    let started = Instant::now();
    let kb = ctx.open_kb_for(Mode::Hybrid)?;
    let params = ctx.config.search_params();
    let top_k = ctx.triage_params().top_k;
    let pb = bar(
        cases.len() as u64,
        "  triaging [{bar:40}] {pos}/{len} alerts",
    );
    let mut cited = BTreeMap::new();
    let mut dump = String::new();
    for chunk in cases.chunks(256) {
        let alerts: Vec<Alert> = chunk.iter().map(|c| c.alert.clone()).collect();
        for (case, hits) in
            chunk
                .iter()
                .zip(kb.search_alerts(&alerts, top_k, Mode::Hybrid, &params)?)
        {
            if args.dump.is_some() {
                let families: Vec<&str> = case
                    .techniques
                    .iter()
                    .map(|t| soc_copilot::attack::catalog::family_of(t))
                    .collect();
                for s in soc_copilot::triage::cite::support(
                    &case.alert,
                    &hits,
                    &kb.catalog,
                    &soc_copilot::triage::cite::alert_platforms(&case.alert),
                ) {
                    let correct =
                        families.contains(&soc_copilot::attack::catalog::family_of(&s.id));
                    let mut v = serde_json::to_value(&s)?;
                    v["case"] = case.id.clone().into();
                    v["source"] = case.source.clone().into();
                    v["correct"] = correct.into();
                    dump.push_str(&v.to_string());
                    dump.push('\n');
                }
            }
            let flags = injection::detect(&case.alert.full_text());
            let v = triage(&OfflineInput {
                alert: &case.alert,
                hits: &hits,
                similar: &[],
                catalog: &kb.catalog,
                injection_flags: &flags,
                enrichment: &soc_copilot::intel::enrich::Enrichment::default(),
            });
            cited.insert(
                case.id.clone(),
                v.matched_techniques
                    .into_iter()
                    .map(|m| m.id)
                    .collect::<Vec<_>>(),
            );
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    if let Some(p) = &args.dump {
        std::fs::write(p, dump).with_context(|| format!("writing {}", p.display()))?;
    }
    let reports = soc_copilot::eval::citations::score(&cases, &cited);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "offline citations on {} ({} cases, {:.1}s)",
        args.dataset.display(),
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<10} {:>6} {:>7} {:>7} {:>10} {:>10} {:>10}",
        "source", "cases", "cited", "/alert", "precision", "coverage", "none cited"
    );
    for (k, r) in reports
        .iter()
        .filter(|(k, _)| *k != "overall")
        .chain(reports.get_key_value("overall"))
    {
        println!(
            "{:<10} {:>6} {:>7} {:>7.2} {:>10.3} {:>10.3} {:>10}",
            k,
            r.cases,
            r.cited,
            r.cited as f64 / r.cases.max(1) as f64,
            r.precision,
            r.coverage,
            r.none_cited
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The labelled cases of a dataset; lines that cannot be read are reported and skipped.
fn dataset(path: &std::path::Path) -> anyhow::Result<Vec<soc_copilot::eval::retrieval::Case>> {
    let (cases, errors) = read_cases(path)?;
    for e in &errors {
        eprintln!(
            "warning: {}:{}: skipped: {}",
            path.display(),
            e.line,
            e.message
        );
    }
    Ok(cases)
}
