//! Triage with a language model: the prompt goes out, reasoning streams back (handed to
//! the caller as it arrives), the verdict JSON at the end is validated against the
//! knowledge base, a malformed verdict gets one repair round trip, and everything — a
//! failure included, with the raw text — is recorded.

use std::time::Instant;

use crate::alert::load::LoadedAlert;
use crate::llm::{ChatRequest, LlmError, Message, Provider, Role, StreamEvent, Usage};
use crate::search::KnowledgeBase;
use crate::store::{Store, TriageStatus, new_id};

use super::engine::{EngineError, TriageOutcome, TriageParams, prepare, record, triage_row};
use super::prompt;
use super::provenance::Provenance;
use super::verdict::{Verdict, VerdictError, extract_json, validate};

/// Generation settings and the price of the model, per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelSettings {
    pub max_tokens: u32,
    pub temperature: f32,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl ModelSettings {
    pub fn cost(&self, u: Usage) -> f64 {
        (u.input_tokens as f64 * self.input_per_mtok
            + u.output_tokens as f64 * self.output_per_mtok)
            / 1e6
    }
}

const REPAIR: &str = "Your verdict JSON could not be used: {error}. Reply with only the corrected JSON object in a \
                      ```json fence, with every field the instructions list.";

/// What a caller sees of a model triage while it runs: the retrieved techniques as soon as
/// retrieval is done, then the reasoning text as it streams. A closure taking `&str` is an
/// observer that only wants the text.
pub trait TriageObserver: Send {
    fn retrieved(&mut self, _hits: &[crate::search::Hit]) {}
    fn text(&mut self, text: &str);
}

impl<F: FnMut(&str) + Send> TriageObserver for F {
    fn text(&mut self, text: &str) {
        self(text)
    }
}

struct Streamed {
    text: String,
    usage: Usage,
    ttft_ms: Option<u64>,
    error: Option<LlmError>,
}

async fn stream_once(
    provider: &dyn Provider,
    req: ChatRequest,
    started: Instant,
    on_text: &mut dyn TriageObserver,
) -> Streamed {
    let mut rx = provider.stream(req);
    let mut s = Streamed {
        text: String::new(),
        usage: Usage::default(),
        ttft_ms: None,
        error: None,
    };
    while let Some(ev) = rx.recv().await {
        match ev {
            StreamEvent::Text(t) => {
                if s.ttft_ms.is_none() {
                    s.ttft_ms = Some(started.elapsed().as_millis() as u64);
                }
                on_text.text(&t);
                s.text.push_str(&t);
            }
            StreamEvent::Usage(u) => {
                s.usage.input_tokens = s.usage.input_tokens.max(u.input_tokens);
                s.usage.output_tokens = s.usage.output_tokens.max(u.output_tokens);
            }
            StreamEvent::ToolUse { .. } => {}
            StreamEvent::Done { .. } => break,
            StreamEvent::Error(e) => {
                s.error = Some(e);
                break;
            }
        }
    }
    s
}

fn parse(text: &str, kb: &KnowledgeBase, context: &[String]) -> Result<Verdict, VerdictError> {
    let json = extract_json(text).ok_or(VerdictError::NoJson)?;
    validate(json, &kb.catalog, context)
}

/// Triages one alert with `provider`. `on_text` receives the retrieved techniques, then the
/// reasoning as it streams.
pub async fn triage_with_model(
    provider: &dyn Provider,
    settings: &ModelSettings,
    kb: &KnowledgeBase,
    store: &mut Store,
    loaded: &LoadedAlert,
    params: &TriageParams,
    on_text: &mut dyn TriageObserver,
) -> Result<TriageOutcome, EngineError> {
    let started = Instant::now();
    let prepared = prepare(kb, store, loaded, params)?;
    on_text.retrieved(&prepared.hits);
    let triage_id = new_id();
    store.start_triage(
        &triage_id,
        prepared.alert_row,
        provider.engine(),
        Some(provider.model()),
    )?;
    let p = prompt::build(
        &loaded.alert,
        &prepared.hits,
        &kb.catalog,
        &prepared.similar,
        &prepared.injection_flags,
    );
    let context: Vec<String> = prepared.hits.iter().map(|h| h.id.clone()).collect();

    let mut messages = vec![Message {
        role: Role::User,
        content: p.user.clone(),
    }];
    let request = |messages: &[Message]| ChatRequest {
        system: p.system.clone(),
        messages: messages.to_vec(),
        max_tokens: settings.max_tokens,
        temperature: settings.temperature,
    };
    let first = stream_once(provider, request(&messages), started, on_text).await;
    let mut usage = first.usage;
    let mut raw = first.text.clone();
    let ttft_ms = first.ttft_ms;

    let mut provenance = Provenance {
        ttft_ms,
        prompt: Some(p.user.clone()),
        ..prepared.provenance(
            provider.engine(),
            Some(provider.model()),
            p.hash.clone(),
            kb,
        )
    };
    let fail = |store: &mut Store,
                provenance: &mut Provenance,
                usage: Usage,
                raw: &str,
                error: String|
     -> Result<(), EngineError> {
        provenance.input_tokens = usage.input_tokens;
        provenance.output_tokens = usage.output_tokens;
        provenance.cost_usd = settings.cost(usage);
        provenance.latency_ms = started.elapsed().as_millis() as u64;
        let row = triage_row(
            &triage_id,
            prepared.alert_row,
            provenance,
            None,
            Some(raw),
            Some(error),
        );
        store.finish_triage(&row, TriageStatus::Failed)?;
        Ok(())
    };

    if let Some(e) = first.error {
        fail(store, &mut provenance, usage, &raw, e.to_string())?;
        return Err(EngineError::Llm {
            triage_id,
            error: e,
        });
    }

    let verdict = match parse(&first.text, kb, &context) {
        Ok(v) => v,
        Err(first_error) => {
            tracing::warn!(
                triage_id,
                "verdict unusable ({first_error}); asking the model to repair it"
            );
            messages.push(Message {
                role: Role::Assistant,
                content: first.text.clone(),
            });
            messages.push(Message {
                role: Role::User,
                content: REPAIR.replace("{error}", &first_error.to_string()),
            });
            on_text.text("\n\n[verdict malformed; asking the model to repair it]\n");
            let second = stream_once(provider, request(&messages), started, on_text).await;
            usage.input_tokens += second.usage.input_tokens;
            usage.output_tokens += second.usage.output_tokens;
            raw.push_str("\n\n--- repair ---\n");
            raw.push_str(&second.text);
            if let Some(e) = second.error {
                fail(store, &mut provenance, usage, &raw, e.to_string())?;
                return Err(EngineError::Llm {
                    triage_id,
                    error: e,
                });
            }
            match parse(&second.text, kb, &context) {
                Ok(v) => v,
                Err(e) => {
                    let message = format!("verdict still invalid after one repair: {e}");
                    fail(store, &mut provenance, usage, &raw, message.clone())?;
                    return Err(EngineError::InvalidVerdict { triage_id, message });
                }
            }
        }
    };

    let mut verdict = verdict;
    verdict.triage_id = triage_id.clone();
    verdict.engine = provider.engine().into();
    verdict.injection_flags = prepared.injection_flags.clone();
    provenance.input_tokens = usage.input_tokens;
    provenance.output_tokens = usage.output_tokens;
    provenance.cost_usd = settings.cost(usage);
    provenance.latency_ms = started.elapsed().as_millis() as u64;
    record(
        store,
        &triage_id,
        prepared.alert_row,
        &verdict,
        &provenance,
        Some(&raw),
    )?;
    Ok(TriageOutcome {
        triage_id,
        alert_row: prepared.alert_row,
        verdict,
        provenance,
    })
}
