//! Alert → retrieve → (similar reviewed cases) → verdict → store. The offline path runs
//! here synchronously; everything an engine produced is recorded, failures included.

use std::time::Instant;

use crate::alert::load::LoadedAlert;
use crate::search::{KnowledgeBase, Mode, SearchParams, build_query};
use crate::store::similar::SimilarCase;
use crate::store::{NewTriage, Store, StoreError, TriageStatus, new_id};

use super::injection;
use super::offline::{self, OfflineInput};
use super::provenance::{Provenance, RetrievedTechnique, sha256_hex};
use super::rules::RULESET_VERSION;
use super::verdict::Verdict;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kb(#[from] crate::search::kb::KbError),
    #[error("triage {triage_id} failed: {error}")]
    Llm {
        triage_id: String,
        error: crate::llm::LlmError,
    },
    #[error("triage {triage_id} failed: {message}")]
    InvalidVerdict { triage_id: String, message: String },
}

#[derive(Debug, Clone)]
pub struct TriageOutcome {
    pub triage_id: String,
    pub alert_row: i64,
    pub verdict: Verdict,
    pub provenance: Provenance,
}

/// Retrieval depth given to engines, and how many similar reviewed cases they see.
#[derive(Debug, Clone, Copy)]
pub struct TriageParams {
    pub top_k: usize,
    pub similar_k: usize,
    pub search: SearchParams,
}

impl Default for TriageParams {
    fn default() -> Self {
        TriageParams {
            top_k: 8,
            similar_k: 3,
            search: SearchParams::default(),
        }
    }
}

/// Stores the alert (with its embedding, for similarity) and gathers the context every
/// engine needs: retrieved techniques, similar reviewed cases, injection flags.
pub struct Prepared {
    pub alert_row: i64,
    pub hits: Vec<crate::search::Hit>,
    pub similar: Vec<SimilarCase>,
    pub injection_flags: Vec<String>,
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
            similar_cases: self.similar.iter().map(|c| c.alert_key.clone()).collect(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        }
    }
}

pub fn prepare(
    kb: &KnowledgeBase,
    store: &mut Store,
    loaded: &LoadedAlert,
    params: &TriageParams,
) -> Result<Prepared, EngineError> {
    let alert = &loaded.alert;
    let q = build_query(alert);
    let embedding = match kb.embedder() {
        Some(e) => e.embed_one(&q.dense_text).ok(),
        None => None,
    };
    let alert_row = store.upsert_alert(alert, &loaded.raw, embedding.as_deref())?;
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
    let injection_flags = injection::detect(&alert.full_text());
    Ok(Prepared {
        alert_row,
        hits,
        similar,
        injection_flags,
    })
}

/// Triage with the offline engine, recorded in the store.
pub fn triage_offline(
    kb: &KnowledgeBase,
    store: &mut Store,
    loaded: &LoadedAlert,
    params: &TriageParams,
) -> Result<TriageOutcome, EngineError> {
    let started = Instant::now();
    let prepared = prepare(kb, store, loaded, params)?;
    let triage_id = new_id();
    store.start_triage(&triage_id, prepared.alert_row, offline::ENGINE, None)?;
    let mut verdict = offline::triage(&OfflineInput {
        alert: &loaded.alert,
        hits: &prepared.hits,
        similar: &prepared.similar,
        catalog: &kb.catalog,
        injection_flags: &prepared.injection_flags,
    });
    verdict.triage_id = triage_id.clone();
    let provenance = Provenance {
        latency_ms: started.elapsed().as_millis() as u64,
        ..prepared.provenance(offline::ENGINE, None, sha256_hex(&[RULESET_VERSION]), kb)
    };
    record(
        store,
        &triage_id,
        prepared.alert_row,
        &verdict,
        &provenance,
        None,
    )?;
    Ok(TriageOutcome {
        triage_id,
        alert_row: prepared.alert_row,
        verdict,
        provenance,
    })
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

/// Writes a finished triage; `raw_output` is the model text when there was one.
pub fn record(
    store: &mut Store,
    triage_id: &str,
    alert_row: i64,
    verdict: &Verdict,
    provenance: &Provenance,
    raw_output: Option<&str>,
) -> Result<(), EngineError> {
    let row = triage_row(
        triage_id,
        alert_row,
        provenance,
        Some(verdict),
        raw_output,
        None,
    );
    store.finish_triage(&row, TriageStatus::Complete)?;
    Ok(())
}
