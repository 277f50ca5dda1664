//! Triage and chat runs through the engine's pipeline. A run's events go through an outbox
//! (text deltas merge while the console is behind) and become Actions on the bounded
//! channel. Aborting a run's task drops the pipeline's future, which closes its store row
//! as cancelled; a result that comes late is dropped by `update` (stale `RunId`).

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::alert::load::LoadedAlert;
use crate::alert::sanitize::sanitize;
use crate::llm::Role;
use crate::search::Hit;
use crate::triage::events::{Event, outbox};
use crate::triage::{Request, Verdict};

use super::super::action::{Action, ClaimNews, ItemId, RunId};
use super::super::effect::SentPrompt;
use super::super::state::{PreviewDoc, TechniqueRow};
use super::Shared;

fn rows(hits: &[Hit]) -> Vec<TechniqueRow> {
    hits.iter().map(TechniqueRow::from).collect()
}

/// One triage run as the console asked for it.
pub(super) struct TriageRun {
    pub item: ItemId,
    pub run: RunId,
    pub alert: Arc<LoadedAlert>,
    pub delimiter: String,
    pub offline: bool,
    /// Claim the alert first (team mode); a colleague's alert is not triaged.
    pub claim: bool,
}

pub(super) async fn triage(shared: Arc<Shared>, tx: mpsc::Sender<Action>, r: TriageRun) {
    let TriageRun {
        item,
        run,
        alert,
        delimiter,
        offline,
        claim,
    } = r;
    let gate = Gate {
        shared: &shared,
        tx: &tx,
        item,
        run,
        alert: &alert,
    };
    let team = shared.cfg.database.is_some();
    if claim && !gate.claimed_first().await {
        return;
    }
    let Ok(_permit) = shared.permits.acquire().await else {
        return;
    };
    // A run may wait minutes for a slot (a batch): a colleague may have taken the alert
    // meanwhile, and then it is theirs to triage.
    if team && !gate.still_free().await {
        return;
    }
    let _ = tx.send(Action::TriageStarted { item, run }).await;
    let pipeline = if offline {
        shared
            .pipeline_with(Arc::new(crate::triage::OfflineEngine))
            .await
    } else {
        shared.pipeline().await
    };
    let pipeline = match pipeline {
        Ok(p) => p,
        Err(error) => {
            let _ = tx.send(Action::TriageFailed { item, run, error }).await;
            return;
        }
    };
    let (mut events, mut received) = outbox();
    let request = Request {
        alert,
        top_k: None,
        delimiter: Some(delimiter),
        mode: None,
    };
    let running = async move {
        // `events` is dropped when the run ends, which ends the forwarding below.
        let _ = pipeline.run(request, &mut events).await;
    };
    let forward = async {
        while let Some(e) = received.recv().await {
            let action = match e {
                Event::Started { triage_id, .. } => Action::RunOpened {
                    item,
                    run,
                    triage_id,
                },
                Event::RawAnswer(text) => Action::RawAnswer {
                    item,
                    run,
                    text: sanitize(&text),
                },
                Event::Retrieved(hits) => Action::Retrieved {
                    item,
                    run,
                    techniques: rows(&hits),
                },
                Event::Text(text) => Action::ReasoningDelta {
                    item,
                    run,
                    text: sanitize(&text),
                },
                Event::Warning(w) => Action::ReasoningDelta {
                    item,
                    run,
                    text: format!("\n\n[{}]\n", sanitize(&w)),
                },
                Event::ToolCall { name, input, .. } => Action::ReasoningDelta {
                    item,
                    run,
                    text: format!(
                        "\n[tool → {} {}]\n",
                        sanitize(&name),
                        sanitize(&input.chars().take(100).collect::<String>())
                    ),
                },
                Event::ToolResult(r) => Action::ReasoningDelta {
                    item,
                    run,
                    text: format!("[{}]\n", sanitize(&r.result_line())),
                },
                Event::AutoClosed(why) => Action::AutoClosed {
                    item,
                    justification: sanitize(&why),
                },
                Event::Verdict(outcome) => Action::TriageDone { item, run, outcome },
                Event::Error(error) => Action::TriageFailed { item, run, error },
            };
            if tx.send(action).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(running, forward);
}

/// A run about to start, as team mode checks it against the claims in the store.
struct Gate<'a> {
    shared: &'a Arc<Shared>,
    tx: &'a mpsc::Sender<Action>,
    item: ItemId,
    run: RunId,
    alert: &'a Arc<LoadedAlert>,
}

impl Gate<'_> {
    /// Claims the alert before its run; `false` (and the console told why) when a colleague
    /// holds it or the team store cannot say.
    async fn claimed_first(&self) -> bool {
        let (s, a) = (self.shared.clone(), self.alert.clone());
        let claimed = tokio::task::spawn_blocking(move || super::team::claim_now(&s, &a, false))
            .await
            .unwrap_or_else(|e| Err(format!("the claim did not finish: {e}")));
        match claimed {
            Ok(ClaimNews::HeldBy(holder)) => {
                self.refuse(Some(holder), String::new()).await;
                false
            }
            Ok(news) => {
                let _ = self
                    .tx
                    .send(Action::ClaimDone {
                        item: self.item,
                        result: Ok(news),
                    })
                    .await;
                true
            }
            Err(e) => {
                let why = format!("the team store could not record your claim ({e})");
                self.refuse(None, why).await;
                false
            }
        }
    }

    /// As the run gets its slot: `false` (and the console told) when a colleague holds the
    /// alert now. When the store cannot say, the run goes on (it claimed nothing).
    async fn still_free(&self) -> bool {
        let (s, a) = (self.shared.clone(), self.alert.clone());
        let held = tokio::task::spawn_blocking(move || super::team::held_by_other(&s, &a))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        match held {
            Ok(Some(holder)) => {
                self.refuse(Some(holder), String::new()).await;
                false
            }
            Ok(None) => true,
            Err(e) => {
                tracing::warn!(
                    alert = self.alert.alert.id,
                    "could not check who holds it: {e}"
                );
                true
            }
        }
    }

    /// Tells the console the run did not start, then shows the alert as the store holds it.
    async fn refuse(&self, holder: Option<crate::store::team::Claim>, why: String) {
        let _ = self
            .tx
            .send(Action::TriageRefused {
                item: self.item,
                run: self.run,
                holder,
                why,
            })
            .await;
        let (s, t, a) = (self.shared.clone(), self.tx.clone(), self.alert.clone());
        let _ = tokio::task::spawn_blocking(move || super::team::reload(&s, &t, &a, true)).await;
    }
}

/// A follow-up question as the console asked it.
pub(super) struct Question {
    pub item: ItemId,
    pub run: RunId,
    pub alert: Arc<LoadedAlert>,
    pub verdict: Option<Box<Verdict>>,
    pub history: Vec<(Role, String)>,
    pub question: String,
}

pub(super) async fn ask(shared: Arc<Shared>, tx: mpsc::Sender<Action>, q: Question) {
    let Question {
        item,
        run,
        alert,
        verdict,
        history,
        question,
    } = q;
    let failed = |error: String| Action::ChatFailed { item, run, error };
    let pipeline = match shared.pipeline().await {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(failed(e)).await;
            return;
        }
    };
    let hits = match pipeline.chat_context(alert.clone(), question.clone()).await {
        Ok(h) => h,
        Err(e) => {
            let _ = tx.send(failed(e.to_string())).await;
            return;
        }
    };
    // The question is on record before the answer starts.
    let (s2, a2, q2) = (shared.clone(), alert.clone(), question.clone());
    let row = tokio::task::spawn_blocking(move || {
        let mut store = s2.store()?;
        let row = super::save::alert_row(&mut store, &a2)?;
        store
            .add_chat_message(row, "user", &q2, None, None, (0, 0))
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(row)
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    let row = match row {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(failed(e)).await;
            return;
        }
    };
    let _ = tx
        .send(Action::ChatRetrieved {
            item,
            run,
            techniques: rows(&hits),
        })
        .await;

    let engine = pipeline.engine.clone();
    let (mut events, mut received) = outbox();
    let answering = async move {
        let mut on_text =
            |t: &str| crate::triage::Observer::event(&mut events, Event::Text(sanitize(t)));
        let answer = pipeline
            .answer(
                &alert,
                verdict.as_deref(),
                &hits,
                &history,
                &question,
                &mut on_text,
            )
            .await;
        drop(events);
        answer
    };
    let forward = async {
        while let Some(e) = received.recv().await {
            if let Event::Text(text) = e
                && tx
                    .send(Action::ChatDelta { item, run, text })
                    .await
                    .is_err()
            {
                return;
            }
        }
    };
    let (answer, ()) = tokio::join!(answering, forward);
    let stored_text = match &answer.error {
        Some(err) if !answer.text.is_empty() => {
            Some(format!("{}\n\n[answer cut off: {err}]", answer.text))
        }
        Some(_) => None,
        None => Some(sanitize(&answer.text)),
    };
    let s2 = shared.clone();
    let usage = answer.usage;
    let saved = tokio::task::spawn_blocking(move || {
        let Some(text) = stored_text else {
            return Ok(());
        };
        let mut store = s2.store()?;
        store
            .add_chat_message(
                row,
                "assistant",
                &text,
                Some(engine.name()),
                engine.model(),
                (usage.input_tokens, usage.output_tokens),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    if let Err(e) = saved {
        let _ = tx
            .send(Action::Notice(format!(
                "the answer could not be stored: {e}"
            )))
            .await;
    }
    let _ = tx
        .send(match answer.error {
            Some(error) => failed(error),
            None => Action::ChatDone { item, run },
        })
        .await;
}

/// The preview for `p`: what a model triage already sent, or what one would send now —
/// built by the pipeline's own function, with the alert's own fence delimiter.
pub(super) async fn preview(
    shared: Arc<Shared>,
    tx: mpsc::Sender<Action>,
    item: ItemId,
    alert: Arc<LoadedAlert>,
    sent: Option<SentPrompt>,
    delimiter: String,
) {
    let private = &shared.cfg.config.privacy.pseudonymise;
    let note = (!private.is_empty()).then(|| {
        format!(
            " — pseudonymised ({}): tokens such as HOST_1 stand for values kept on this machine",
            private.join(", ")
        )
    });
    let doc = match sent {
        Some(s) => Ok(sent_preview(s)),
        None => match shared.pipeline().await {
            Ok(p) => p
                .preview(alert, Some(delimiter))
                .await
                .map(would_send)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        },
    };
    let doc = doc.map(|mut d| {
        if let Some(n) = &note
            && !d.heading.starts_with("Offline engine")
        {
            d.heading.push_str(n);
        }
        d
    });
    let _ = tx
        .send(match doc {
            Ok(d) => Action::PreviewLoaded {
                item,
                preview: Box::new(d),
            },
            Err(e) => Action::Notice(format!("preview failed: {e}")),
        })
        .await;
}

fn sent_preview(s: SentPrompt) -> PreviewDoc {
    let delimiter = s
        .user
        .find("<<ALERT-")
        .and_then(|i| {
            let rest = &s.user[i + 2..];
            rest.find(">>").map(|j| rest[..j].to_string())
        })
        .unwrap_or_default();
    PreviewDoc {
        heading: format!("Was sent to {} when the alert was triaged", s.engine),
        system: crate::triage::prompt::SYSTEM.to_string(),
        user: s.user,
        delimiter,
        hash: s.hash,
    }
}

fn would_send(p: crate::triage::pipeline::Preview) -> PreviewDoc {
    let heading = if p.sends {
        format!("Would be sent to {}", p.engine)
    } else {
        "Offline engine: nothing leaves this machine. With a model configured, this is what it would receive.".to_string()
    };
    PreviewDoc {
        heading,
        system: p.prompt.system,
        user: p.prompt.user,
        delimiter: p.prompt.delimiter,
        hash: p.prompt.hash,
    }
}
