//! What every engine shares: the context gathered for an alert (retrieval, similar reviewed
//! cases, injection flags, the fence delimiter), the `Engine` trait the offline engine and
//! the model engines implement, and the store rows a run leaves. `pipeline::Pipeline::run`
//! is the one entry point that strings these together.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use crate::alert::load::LoadedAlert;
use crate::llm::{LlmError, Usage};
use crate::search::{KnowledgeBase, Mode, SearchParams, build_query};
use crate::store::similar::SimilarCase;
use crate::store::{NewTriage, Store, StoreError, TriageStatus, new_id};

use super::chat::{ChatTurn, offline_answer};
use super::events::{Event, Observer};
use super::injection;
use super::offline::{self, OfflineInput};
use super::prompt::{self, Prompt};
use super::provenance::{Provenance, RetrievedTechnique, sha256_hex};
use super::rules::RULESET_VERSION;
use super::verdict::Verdict;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kb(#[from] crate::search::kb::KbError),
    #[error("triage {triage_id} failed: {error}")]
    Llm { triage_id: String, error: LlmError },
    #[error("triage {triage_id} failed: {message}")]
    InvalidVerdict { triage_id: String, message: String },
    #[error("triage {triage_id} was cancelled before it finished")]
    Cancelled { triage_id: String },
    #[error("the knowledge base is not available: {0}")]
    KbUnavailable(String),
    /// A spending limit stops the run before it starts.
    #[error("{0}")]
    BudgetSpent(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// The model (not this program) failed: a front end may answer 502 rather than 500.
    pub fn is_engine_failure(&self) -> bool {
        matches!(
            self,
            EngineError::Llm { .. } | EngineError::InvalidVerdict { .. }
        )
    }
}

#[derive(Debug, Clone)]
pub struct TriageOutcome {
    pub triage_id: String,
    pub alert_row: i64,
    pub verdict: Verdict,
    pub provenance: Provenance,
}

/// How the investigation runs: the engine routes indicators to lookups itself and hands
/// the results to one model call (`pipeline`), or the model calls the tools it chooses
/// (`agentic`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TriageMode {
    #[default]
    Pipeline,
    Agentic,
}

impl TriageMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TriageMode::Pipeline => "pipeline",
            TriageMode::Agentic => "agentic",
        }
    }

    pub fn parse(s: &str) -> Option<TriageMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pipeline" => Some(TriageMode::Pipeline),
            "agentic" => Some(TriageMode::Agentic),
            _ => None,
        }
    }
}

/// What one alert's triage may spend at most, and what a day of triage may cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub max_tool_calls: u32,
    pub max_turns: u32,
    pub max_tokens: u64,
    pub max_cost_usd: f64,
    /// USD per UTC day across all model triages; 0 means no cap.
    pub daily_cost_usd: f64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_tool_calls: 12,
            max_turns: 6,
            max_tokens: 120_000,
            max_cost_usd: 0.50,
            daily_cost_usd: 0.0,
        }
    }
}

/// Retrieval depth given to engines, how many similar reviewed cases they see, the mode of
/// the investigation and its budget.
#[derive(Debug, Clone, Copy)]
pub struct TriageParams {
    pub top_k: usize,
    pub similar_k: usize,
    pub search: SearchParams,
    pub mode: TriageMode,
    pub budget: Budget,
    /// `[autoclose]` when enabled: confident BENIGN verdicts backed by analysts close.
    pub autoclose: Option<super::autoclose::Policy>,
}

impl Default for TriageParams {
    fn default() -> Self {
        TriageParams {
            top_k: 8,
            similar_k: 3,
            search: SearchParams::default(),
            mode: TriageMode::Pipeline,
            budget: Budget::default(),
            autoclose: None,
        }
    }
}

/// The context every engine gets for one alert: retrieved techniques, similar reviewed
/// cases, injection flags, and the delimiter that fences the alert in any prompt — chosen
/// here, once, so the analyst's preview and the request sent are the same text.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The alert's store row; 0 when only gathered for a preview.
    pub alert_row: i64,
    pub hits: Vec<crate::search::Hit>,
    pub similar: Vec<SimilarCase>,
    pub injection_flags: Vec<String>,
    pub delimiter: String,
    /// The local investigation: offline intel, IOC history, related alerts.
    pub enrichment: crate::intel::enrich::Enrichment,
    embedding: Option<Vec<f32>>,
}

impl Prepared {
    /// The provenance every engine records: who triaged, with which prompt and context.
    pub fn provenance(
        &self,
        engine: &str,
        model: Option<&str>,
        prompt_hash: String,
        kb: &KnowledgeBase,
    ) -> Provenance {
        Provenance {
            engine: engine.into(),
            model: model.map(str::to_string),
            prompt_hash,
            attack_version: kb.catalog.attack_version.clone(),
            retrieval: self.hits.iter().map(RetrievedTechnique::from).collect(),
            retrieval_mode: retrieval_mode(kb).into(),
            degraded: degradations(kb),
            similar_cases: self.similar.iter().map(|c| c.alert_key.clone()).collect(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        }
    }
}

/// `hybrid` when the embedding model and the index vectors are both in use, else `bm25-only`.
pub fn retrieval_mode(kb: &KnowledgeBase) -> &'static str {
    if kb.has_dense() {
        "hybrid"
    } else {
        "bm25-only"
    }
}

/// What runs in a reduced form with this knowledge base, said so a verdict can carry it.
pub fn degradations(kb: &KnowledgeBase) -> Vec<String> {
    match &kb.dense_off {
        Some(why) if !kb.has_dense() => vec![format!(
            "retrieval ran on BM25 alone and similar reviewed alerts were not searched: {why}; \
             techniques and verdict can differ from a hybrid run"
        )],
        None if !kb.has_dense() => {
            vec!["retrieval ran on BM25 alone and similar reviewed alerts were not searched".into()]
        }
        _ => Vec::new(),
    }
}

/// Retrieval, similar cases and injection flags for an alert, without writing anything.
/// Blocking: embedding, tantivy and SQLite.
pub fn gather(
    kb: &KnowledgeBase,
    store: &Store,
    loaded: &LoadedAlert,
    params: &TriageParams,
    delimiter: Option<String>,
) -> Result<Prepared, EngineError> {
    gather_with(
        kb,
        store,
        loaded,
        params,
        delimiter,
        crate::intel::enrich::Limits::default(),
    )
}

/// `gather` with the investigation's limits (`prepare` finds related alerts itself, once
/// the alert is stored).
fn gather_with(
    kb: &KnowledgeBase,
    store: &Store,
    loaded: &LoadedAlert,
    params: &TriageParams,
    delimiter: Option<String>,
    limits: crate::intel::enrich::Limits,
) -> Result<Prepared, EngineError> {
    let alert = &loaded.alert;
    let q = build_query(alert);
    let embedding = match kb.embedder() {
        Some(e) => e.embed_one(&q.dense_text).ok(),
        None => None,
    };
    let hits = kb.search_query(
        &q,
        embedding.as_deref(),
        params.top_k,
        Mode::Hybrid,
        &params.search,
    )?;
    let similar = match &embedding {
        Some(v) => store.similar_reviewed(v, &alert.id, params.similar_k, 0.5)?,
        None => Vec::new(),
    };
    let enrichment = crate::intel::enrich::enrich(store, alert, limits)?;
    Ok(Prepared {
        alert_row: 0,
        hits,
        similar,
        injection_flags: injection::detect(&alert.full_text()),
        delimiter: delimiter.unwrap_or_else(prompt::new_delimiter),
        enrichment,
        embedding,
    })
}

/// `gather`, then stores the alert (with its embedding, for similarity later).
pub fn prepare(
    kb: &KnowledgeBase,
    store: &mut Store,
    loaded: &LoadedAlert,
    params: &TriageParams,
    delimiter: Option<String>,
) -> Result<Prepared, EngineError> {
    let limits = crate::intel::enrich::Limits::default();
    let without_related = crate::intel::enrich::Limits {
        related: 0,
        ..limits
    };
    let mut p = gather_with(kb, store, loaded, params, delimiter, without_related)?;
    p.alert_row = store.upsert_alert(&loaded.alert, &loaded.raw, p.embedding.as_deref())?;
    // Related alerts are found from the stored copy, which exists only now.
    p.enrichment.related =
        store.related_alerts(&loaded.alert.id, limits.related_hours, limits.related)?;
    Ok(p)
}

/// What an engine is given for one decision.
pub struct DecideInput<'a> {
    pub kb: &'a KnowledgeBase,
    pub alert: &'a LoadedAlert,
    pub prepared: &'a Prepared,
    pub started: Instant,
    pub mode: TriageMode,
    /// The investigation's tools (agentic mode).
    pub tools: Option<&'a super::tools::Toolbox>,
    pub budget: Budget,
}

/// What an engine decided, or why it could not, with what it cost.
pub struct Decision {
    pub verdict: Result<Verdict, EngineFailure>,
    /// The model's raw text (both turns when repaired), kept with the run.
    pub raw: Option<String>,
    pub usage: Usage,
    pub cost_usd: f64,
    pub ttft_ms: Option<u64>,
    /// What was sent; its hash goes into the provenance.
    pub prompt: Option<Prompt>,
    /// Tools the model called (agentic mode), in order.
    pub tool_calls: Vec<super::tools::ToolRecord>,
    /// Model turns taken (requests, repair included).
    pub turns: u32,
    /// The model that decided, when not the engine's own (a tiered run that escalated:
    /// `cheap → strong`).
    pub model: Option<String>,
    /// The mode that actually ran (agentic falls back to pipeline without a model).
    pub mode: TriageMode,
}

impl Decision {
    /// A decision with nothing spent yet.
    pub fn new(verdict: Result<Verdict, EngineFailure>, mode: TriageMode) -> Decision {
        Decision {
            verdict,
            raw: None,
            usage: Usage::default(),
            cost_usd: 0.0,
            ttft_ms: None,
            prompt: None,
            tool_calls: Vec::new(),
            turns: 0,
            model: None,
            mode,
        }
    }
}

#[derive(Debug, Clone)]
pub enum EngineFailure {
    Llm(LlmError),
    Invalid(String),
}

/// A follow-up answer: what arrived, and the error that cut it off, if one did.
pub struct ChatAnswer {
    pub text: String,
    pub usage: Usage,
    pub error: Option<String>,
}

/// An engine: the offline rules, or a model behind a provider. Front ends never ask which.
pub trait Engine: Send + Sync {
    /// `offline`, `anthropic`, `openai`.
    fn name(&self) -> &'static str;
    fn model(&self) -> Option<&str>;
    /// `offline`, or `anthropic · claude-sonnet-4-5`.
    fn label(&self) -> String {
        match self.model() {
            Some(m) => format!("{} · {m}", self.name()),
            None => self.name().to_string(),
        }
    }
    /// Exactly what this engine would send for a prepared alert; `None` when nothing leaves
    /// the machine.
    fn outbound(
        &self,
        kb: &KnowledgeBase,
        alert: &LoadedAlert,
        p: &Prepared,
        mode: TriageMode,
    ) -> Option<Prompt>;
    /// Decides, reporting reasoning text and warnings to `obs` as they come.
    fn decide<'a>(
        &'a self,
        input: DecideInput<'a>,
        obs: &'a mut dyn Observer,
    ) -> BoxFuture<'a, Decision>;
    /// Answers a follow-up question, streaming the answer's text to `on_text`.
    fn answer<'a>(
        &'a self,
        turn: ChatTurn<'a>,
        on_text: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, ChatAnswer>;
}

/// The deterministic engine: rules, retrieval and analyst precedent; never a model.
pub struct OfflineEngine;

impl OfflineEngine {
    /// The offline verdict; pure CPU over the prepared context (regexes and lookups).
    pub fn verdict(kb: &KnowledgeBase, alert: &LoadedAlert, p: &Prepared) -> Verdict {
        offline::triage(&OfflineInput {
            alert: &alert.alert,
            hits: &p.hits,
            similar: &p.similar,
            catalog: &kb.catalog,
            injection_flags: &p.injection_flags,
            enrichment: &p.enrichment,
        })
    }
}

impl Engine for OfflineEngine {
    fn name(&self) -> &'static str {
        offline::ENGINE
    }

    fn model(&self) -> Option<&str> {
        None
    }

    fn outbound(
        &self,
        _: &KnowledgeBase,
        _: &LoadedAlert,
        _: &Prepared,
        _: TriageMode,
    ) -> Option<Prompt> {
        None
    }

    fn decide<'a>(
        &'a self,
        input: DecideInput<'a>,
        obs: &'a mut dyn Observer,
    ) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            if input.mode == TriageMode::Agentic {
                obs.event(Event::Warning(
                    "agentic mode needs a model; the offline engine ran the pipeline investigation"
                        .into(),
                ));
            }
            let verdict = OfflineEngine::verdict(input.kb, input.alert, input.prepared);
            obs.event(Event::Text(verdict.reasoning.clone()));
            Decision::new(Ok(verdict), TriageMode::Pipeline)
        })
    }

    fn answer<'a>(
        &'a self,
        turn: ChatTurn<'a>,
        on_text: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, ChatAnswer> {
        Box::pin(async move {
            let text = offline_answer(&turn);
            on_text(&text);
            ChatAnswer {
                text,
                usage: Usage::default(),
                error: None,
            }
        })
    }
}

/// The prompt hash recorded for a decision: the prompt sent, or the offline rule set.
pub fn prompt_hash(d: &Decision) -> String {
    match &d.prompt {
        Some(p) => p.hash.clone(),
        None => sha256_hex(&[RULESET_VERSION]),
    }
}

/// The store row for a triage: a verdict when it completed, an error when it failed.
pub(crate) fn triage_row(
    triage_id: &str,
    alert_row: i64,
    provenance: &Provenance,
    verdict: Option<&Verdict>,
    raw_output: Option<&str>,
    error: Option<String>,
) -> NewTriage {
    NewTriage {
        id: triage_id.into(),
        alert_row,
        engine: provenance.engine.clone(),
        model: provenance.model.clone(),
        verdict: verdict.map(|v| v.verdict.as_str().into()),
        confidence: verdict.map(|v| v.confidence),
        verdict_json: verdict.and_then(|v| serde_json::to_string(v).ok()),
        raw_output: raw_output.map(str::to_string),
        error,
        provenance_json: serde_json::to_string(provenance).ok(),
        input_tokens: provenance.input_tokens,
        output_tokens: provenance.output_tokens,
        cost_usd: provenance.cost_usd,
        latency_ms: Some(provenance.latency_ms),
        ttft_ms: provenance.ttft_ms,
    }
}

/// Writes the end of a run: the verdict, or the failure with the raw text. A run cancelled
/// meanwhile is left as it is and reported as `Cancelled`.
pub fn record(
    store: &mut Store,
    triage_id: &str,
    alert_row: i64,
    provenance: &Provenance,
    outcome: Result<&Verdict, &str>,
    raw_output: Option<&str>,
) -> Result<(), EngineError> {
    let (row, status) = match outcome {
        Ok(v) => (
            triage_row(triage_id, alert_row, provenance, Some(v), raw_output, None),
            TriageStatus::Complete,
        ),
        Err(e) => (
            triage_row(
                triage_id,
                alert_row,
                provenance,
                None,
                raw_output,
                Some(e.to_string()),
            ),
            TriageStatus::Failed,
        ),
    };
    if store.finish_triage(&row, status)? {
        Ok(())
    } else {
        Err(EngineError::Cancelled {
            triage_id: triage_id.into(),
        })
    }
}

/// The offline engine's whole run on the calling thread, through the same stages as
/// `Pipeline::run` (prepare, start, decide, record). For benches and synchronous tests.
pub fn triage_offline(
    kb: &KnowledgeBase,
    store: &mut Store,
    loaded: &LoadedAlert,
    params: &TriageParams,
) -> Result<TriageOutcome, EngineError> {
    let started = Instant::now();
    let prepared = prepare(kb, store, loaded, params, None)?;
    let triage_id = new_id();
    store.start_triage(&triage_id, prepared.alert_row, offline::ENGINE, None)?;
    let mut verdict = OfflineEngine::verdict(kb, loaded, &prepared);
    verdict.triage_id = triage_id.clone();
    let provenance = Provenance {
        latency_ms: started.elapsed().as_millis() as u64,
        ..prepared.provenance(offline::ENGINE, None, sha256_hex(&[RULESET_VERSION]), kb)
    };
    verdict.warnings.extend(provenance.degraded.iter().cloned());
    record(
        store,
        &triage_id,
        prepared.alert_row,
        &provenance,
        Ok(&verdict),
        None,
    )?;
    Ok(TriageOutcome {
        triage_id,
        alert_row: prepared.alert_row,
        verdict,
        provenance,
    })
}
