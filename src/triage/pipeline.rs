//! The one way a triage runs, whatever the front end: prepare (retrieval, similar cases,
//! injection flags, the alert stored, a run row opened) → the engine decides (streaming) →
//! the outcome is recorded. Progress goes to an `Observer` as `Event`s. Blocking work —
//! embedding, tantivy, SQLite — runs on the blocking pool, never on an async worker.
//! A run whose future is dropped (cancelled, its client gone) is closed as cancelled, and a
//! result arriving after that never overwrites the row.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::alert::load::LoadedAlert;
use crate::llm::Role;
use crate::search::{Hit, KnowledgeBase};
use crate::store::{StorePool, new_id};

use super::chat::{self, ChatTurn};
use super::engine::{
    ChatAnswer, DecideInput, Engine, EngineError, EngineFailure, Prepared, TriageMode,
    TriageOutcome, TriageParams, prepare, prompt_hash, record,
};
use super::events::{Event, Observer};
use super::injection;
use super::prompt::Prompt;
use super::provenance::Provenance;
use super::tools::Toolbox;
use super::verdict::Verdict;

/// Everything a run needs, shared by all runs of a front end.
#[derive(Clone)]
pub struct Pipeline {
    pub kb: Arc<KnowledgeBase>,
    pub stores: Arc<StorePool>,
    pub engine: Arc<dyn Engine>,
    pub params: TriageParams,
    /// Remote threat-intel providers, when any is configured.
    pub intel: Option<Arc<crate::intel::remote::Investigator>>,
}

/// One alert to triage.
#[derive(Debug, Clone)]
pub struct Request {
    pub alert: Arc<LoadedAlert>,
    /// Retrieval depth for this run (default: the pipeline's).
    pub top_k: Option<usize>,
    /// The fence delimiter picked when the alert was prepared for the analyst (so a preview
    /// shows the very text that is sent); a fresh random one when `None`.
    pub delimiter: Option<String>,
    /// Pipeline or agentic for this run (default: the pipeline's).
    pub mode: Option<TriageMode>,
}

impl Request {
    pub fn new(alert: Arc<LoadedAlert>) -> Request {
        Request {
            alert,
            top_k: None,
            delimiter: None,
            mode: None,
        }
    }
}

/// What a preview shows: the engine's label, whether anything leaves the machine, and the
/// triage prompt — what the engine sends, or what a model would receive.
pub struct Preview {
    pub engine: String,
    pub sends: bool,
    pub prompt: Prompt,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?
}

/// Closes the run's row as cancelled if the run is dropped before it recorded its end.
/// It exists before the row does: the blocking step that opens the row may still be running
/// when the run is dropped, so it checks `dropped` after opening the row and closes the row
/// itself if the guard went first (the guard's own close then finds nothing to do).
struct RunGuard {
    stores: Arc<StorePool>,
    triage_id: String,
    armed: bool,
    dropped: Arc<AtomicBool>,
}

const CANCELLED: &str = "cancelled: the run was stopped before it finished";

impl Drop for RunGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.dropped.store(true, Ordering::SeqCst);
        let (stores, id) = (self.stores.clone(), std::mem::take(&mut self.triage_id));
        let close = move || match stores
            .get()
            .and_then(|mut s| s.cancel_triage(&id, CANCELLED))
        {
            Ok(_) => tracing::info!(triage_id = id, "run closed as cancelled"),
            Err(e) => tracing::warn!(triage_id = id, "could not close a cancelled run: {e}"),
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn_blocking(close);
            }
            Err(_) => close(),
        }
    }
}

impl Pipeline {
    fn params_for(&self, req: &Request) -> TriageParams {
        TriageParams {
            top_k: req.top_k.unwrap_or(self.params.top_k),
            mode: req.mode.unwrap_or(self.params.mode),
            ..self.params
        }
    }

    /// Triages one alert from start to recorded end, reporting progress to `obs`: `Started`,
    /// `Retrieved`, `Text`/`Warning`…, then `Verdict` or `Error`.
    pub async fn run(
        &self,
        req: Request,
        obs: &mut dyn Observer,
    ) -> Result<TriageOutcome, EngineError> {
        let alert = req.alert.alert.id.clone();
        let result = self.run_inner(req, obs).await;
        match &result {
            Ok(o) => {
                tracing::info!(
                    alert,
                    triage_id = o.triage_id,
                    engine = o.provenance.engine,
                    model = o.provenance.model.as_deref().unwrap_or("-"),
                    verdict = o.verdict.verdict.as_str(),
                    latency_ms = o.provenance.latency_ms,
                    "triage finished"
                );
                obs.event(Event::Verdict(Box::new(o.clone())));
            }
            Err(e) => {
                tracing::warn!(alert, "triage failed: {e}");
                obs.event(Event::Error(e.to_string()));
            }
        }
        result
    }

    async fn run_inner(
        &self,
        req: Request,
        obs: &mut dyn Observer,
    ) -> Result<TriageOutcome, EngineError> {
        let started = Instant::now();
        let params = self.params_for(&req);
        let triage_id = new_id();
        let (engine_name, model) = (self.engine.name(), self.engine.model().map(str::to_string));
        let mut guard = RunGuard {
            stores: self.stores.clone(),
            triage_id: triage_id.clone(),
            armed: true,
            dropped: Arc::new(AtomicBool::new(false)),
        };
        let prepared = {
            let (kb, stores, alert, id, model, dropped) = (
                self.kb.clone(),
                self.stores.clone(),
                req.alert.clone(),
                triage_id.clone(),
                model.clone(),
                guard.dropped.clone(),
            );
            let uses_model = model.is_some();
            blocking(move || {
                let mut store = stores.get()?;
                let cap = params.budget.daily_cost_usd;
                if uses_model && cap > 0.0 {
                    let spent = store.cost_today()?;
                    if spent >= cap {
                        return Err(EngineError::BudgetSpent(format!(
                            "the daily cost cap of ${cap:.2} is reached (${spent:.2} spent today, UTC); \
                             model triage resumes tomorrow or with a higher [triage] daily_cost_usd — \
                             the offline engine still works"
                        )));
                    }
                }
                let p = prepare(&kb, &mut store, &alert, &params, req.delimiter)?;
                store.start_triage(&id, p.alert_row, engine_name, model.as_deref())?;
                if dropped.load(Ordering::SeqCst) {
                    store.cancel_triage(&id, CANCELLED)?;
                }
                Ok(p)
            })
            .await
        };
        let mut prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                guard.armed = false; // no row was opened
                return Err(e);
            }
        };
        obs.event(Event::Started {
            triage_id: triage_id.clone(),
            engine: engine_name.into(),
            model: model.clone(),
        });
        obs.event(Event::Retrieved(prepared.hits.clone()));
        // Pipeline mode: remote intel on the alert's indicators, all providers at once; the
        // engine sees the answers with the local findings. In agentic mode the model asks.
        let agentic = params.mode == TriageMode::Agentic && model.is_some();
        if !agentic && let Some(intel) = &self.intel {
            let lookups = intel.investigate(&prepared.enrichment.indicators).await;
            for l in &lookups {
                obs.event(Event::Warning(format!("intel lookup {}", l.line())));
            }
            prepared.enrichment.remote = lookups;
        }

        let toolbox = Toolbox {
            kb: self.kb.clone(),
            stores: self.stores.clone(),
            intel: self.intel.clone(),
            alert: req.alert.clone(),
            similar: prepared.similar.clone(),
            search: params.search,
            seen: Default::default(),
        };
        let decision = self
            .engine
            .decide(
                DecideInput {
                    kb: &self.kb,
                    alert: &req.alert,
                    prepared: &prepared,
                    started,
                    mode: params.mode,
                    tools: Some(&toolbox),
                    budget: params.budget,
                },
                obs,
            )
            .await;

        let mut provenance = Provenance {
            ttft_ms: decision.ttft_ms,
            prompt: decision.prompt.as_ref().map(|p| p.user.clone()),
            input_tokens: decision.usage.input_tokens,
            output_tokens: decision.usage.output_tokens,
            cost_usd: decision.cost_usd,
            ..prepared.provenance(
                engine_name,
                model.as_deref(),
                prompt_hash(&decision),
                &self.kb,
            )
        };
        provenance.latency_ms = started.elapsed().as_millis() as u64;
        provenance.investigation = prepared.enrichment.findings();
        provenance.mode = decision.mode.as_str().into();
        provenance.turns = decision.turns;
        match decision.model.as_deref().map(|m| (m, m.split_once(" → "))) {
            Some((_, Some((from, to)))) => {
                provenance.escalated_from = Some(from.to_string());
                provenance.model = Some(to.to_string());
            }
            Some((m, None)) => provenance.model = Some(m.to_string()),
            None => {}
        }
        // The evidence check ran in the engine (a tiered run escalates on its result).
        let verdict_checked = decision.verdict;
        if let Ok(v) = &verdict_checked
            && let Some(c) = v.claims
        {
            provenance.claims = Some(c);
            if c.total > 0 {
                obs.event(Event::Warning(format!("evidence check: {}", c.line())));
            }
        }
        // Pipeline lookups are recorded like tool calls, with the provider's raw answer.
        let mut records = super::tools::lookup_records(&prepared.enrichment);
        records.extend(decision.tool_calls);
        provenance.tool_calls = records;
        for d in &provenance.degraded {
            obs.event(Event::Warning(d.clone()));
        }
        let verdict = verdict_checked.map(|mut v| {
            v.triage_id = triage_id.clone();
            v.engine = engine_name.into();
            v.injection_flags = prepared.injection_flags.clone();
            for d in &provenance.degraded {
                if !v.warnings.contains(d) {
                    v.warnings.push(d.clone());
                }
            }
            v
        });
        let (stores, id, row, prov, raw) = (
            self.stores.clone(),
            triage_id.clone(),
            prepared.alert_row,
            provenance.clone(),
            decision.raw,
        );
        if verdict.is_err()
            && let Some(raw) = raw.as_ref().filter(|r| !r.trim().is_empty())
        {
            obs.event(Event::RawAnswer(raw.clone()));
        }
        let stored = verdict.clone();
        let closure = match (&verdict, &params.autoclose) {
            (Ok(v), Some(policy)) => super::autoclose::decide(v, &prepared.similar, policy),
            _ => None,
        };
        let close = closure.clone();
        let recorded = blocking(move || {
            let mut store = stores.get()?;
            let outcome: Result<&Verdict, String> = match &stored {
                Ok(v) => Ok(v),
                Err(EngineFailure::Llm(e)) => Err(e.to_string()),
                Err(EngineFailure::Invalid(m)) => Err(m.clone()),
            };
            record(
                &mut store,
                &id,
                row,
                &prov,
                outcome.as_ref().map_err(String::as_str).copied(),
                raw.as_deref(),
            )?;
            if let Some(why) = &close {
                store.record_closure(row, &id, why)?;
            }
            Ok(())
        })
        .await;
        // Recorded (or found cancelled): the guard has nothing left to close.
        guard.armed = recorded.is_err() && !matches!(recorded, Err(EngineError::Cancelled { .. }));
        recorded?;
        if let Some(why) = closure
            && verdict.is_ok()
        {
            obs.event(Event::AutoClosed(why));
        }
        match verdict {
            Ok(verdict) => Ok(TriageOutcome {
                triage_id,
                alert_row: prepared.alert_row,
                verdict,
                provenance,
            }),
            Err(EngineFailure::Llm(error)) => Err(EngineError::Llm { triage_id, error }),
            Err(EngineFailure::Invalid(message)) => {
                Err(EngineError::InvalidVerdict { triage_id, message })
            }
        }
    }

    /// What a triage of this alert would send now, built by the same function as the run:
    /// same retrieval, same similar cases, and — given the same delimiter — the same text.
    pub async fn preview(
        &self,
        alert: Arc<LoadedAlert>,
        delimiter: Option<String>,
    ) -> Result<Preview, EngineError> {
        let (kb, stores, a, params) = (
            self.kb.clone(),
            self.stores.clone(),
            alert.clone(),
            self.params,
        );
        let prepared: Prepared = blocking(move || {
            let store = stores.get()?;
            super::engine::gather(&kb, &store, &a, &params, delimiter)
        })
        .await?;
        let sent = self
            .engine
            .outbound(&self.kb, &alert, &prepared, self.params.mode);
        Ok(Preview {
            engine: self.engine.label(),
            sends: sent.is_some(),
            prompt: sent.unwrap_or_else(|| super::model::build_prompt(&self.kb, &alert, &prepared)),
        })
    }

    /// Techniques for a follow-up question (blocking work on the blocking pool).
    pub async fn chat_context(
        &self,
        alert: Arc<LoadedAlert>,
        question: String,
    ) -> Result<Vec<Hit>, EngineError> {
        let (kb, search) = (self.kb.clone(), self.params.search);
        blocking(move || Ok(chat::retrieve(&kb, &alert.alert, &question, 5, &search)?)).await
    }

    /// One follow-up answer from the engine, streamed to `on_text`.
    pub async fn answer(
        &self,
        alert: &LoadedAlert,
        verdict: Option<&Verdict>,
        hits: &[Hit],
        history: &[(Role, String)],
        question: &str,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> ChatAnswer {
        let flags = injection::detect(&alert.alert.full_text());
        let turn = ChatTurn {
            alert: &alert.alert,
            verdict,
            hits,
            catalog: &self.kb.catalog,
            injection_flags: &flags,
            history,
            question,
        };
        self.engine.answer(turn, on_text).await
    }
}
