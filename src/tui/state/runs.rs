//! Triage and chat runs: starting them, accepting results only from the current run of an
//! alert, cancelling them.

use crate::llm::Role;
use crate::triage::TriageOutcome;

use super::super::action::{ItemId, RunId};
use super::super::effect::Effect;
use super::{
    Batch, ChatEntry, ChatRole, Failure, Item, ItemStatus, Judgement, KbState, RunKind, State,
    StreamText,
};

impl State {
    fn new_run(&mut self, item: ItemId, kind: RunKind) -> RunId {
        let run = RunId(self.next_run);
        self.next_run += 1;
        self.runs.insert(run, (item, kind));
        run
    }

    /// The item if `run` is still its current run of that kind; `None` drops a stale result.
    pub(super) fn current(&mut self, item: ItemId, run: RunId, kind: RunKind) -> Option<&mut Item> {
        let it = self.items.get_mut(item)?;
        let live = match kind {
            RunKind::Triage => it.run == Some(run),
            RunKind::Chat => it.chat_run == Some(run),
        };
        live.then_some(it)
    }

    /// `claim`: the analyst opened this alert (team mode claims it before the run starts).
    fn start_triage(
        &mut self,
        id: ItemId,
        status: ItemStatus,
        offline: bool,
        claim: bool,
    ) -> Vec<Effect> {
        let run = self.new_run(id, RunKind::Triage);
        let it = &mut self.items[id];
        it.run = Some(run);
        it.status = status;
        it.reasoning = StreamText::default();
        it.techniques.clear();
        it.open_triage = None;
        it.failure = None;
        it.offline_run = offline;
        vec![Effect::Triage {
            item: id,
            run,
            alert: it.alert.clone(),
            delimiter: it.fence.clone(),
            offline,
            claim: claim && self.team,
        }]
    }

    /// Whether triage can start; says why not. While the knowledge base is still building,
    /// runs wait for it, and the notice says so with its progress.
    fn can_triage(&mut self) -> bool {
        match &self.kb {
            KbState::Failed(e) => {
                let e = e.clone();
                self.error(format!("cannot triage: {e}"));
                false
            }
            KbState::Loading(m) => {
                let m = m.clone();
                self.notice(format!(
                    "waiting for the knowledge base ({m}); the run starts when it is ready"
                ));
                true
            }
            KbState::Ready(_) => true,
        }
    }

    pub(super) fn triage_selected(&mut self, again: bool, offline: bool) -> Vec<Effect> {
        let Some(id) = self.selected_id() else {
            return Vec::new();
        };
        if self.refuse_if_held(id, "triage") {
            return Vec::new();
        }
        let it = &self.items[id];
        if it.run.is_some() {
            self.notice("already triaging this alert (Esc cancels)");
            return Vec::new();
        }
        if it.verdict.is_some() && !again && !offline {
            self.notice("already triaged: r re-triages it");
            // Opening it still claims it (team mode).
            return self.open_claim(id).into_iter().collect();
        }
        if !self.can_triage() {
            return Vec::new();
        }
        self.reasoning_scroll = None;
        self.start_triage(id, ItemStatus::Triaging, offline, true)
    }

    /// Ends `run` of `item` when it is still the alert's current triage run (the item, to
    /// show how it ended); `None` drops a stale result.
    pub(super) fn end_triage_run(&mut self, item: ItemId, run: RunId) -> Option<&mut Item> {
        self.current(item, run, RunKind::Triage)?;
        self.runs.remove(&run);
        let it = &mut self.items[item];
        it.run = None;
        Some(it)
    }

    /// Starts a batch over `ids` (queued behind the worker slots).
    fn start_batch(&mut self, mut ids: Vec<ItemId>, offline: bool, what: &str) -> Vec<Effect> {
        // What colleagues hold is theirs to triage.
        let before = ids.len();
        ids.retain(|id| self.held_by_other(*id).is_none());
        let held = before - ids.len();
        if ids.is_empty() {
            self.notice(if held > 0 {
                format!("no {what} alerts to triage ({held} held by colleagues)")
            } else {
                format!("no {what} alerts to triage")
            });
            return Vec::new();
        }
        if !self.can_triage() {
            return Vec::new();
        }
        let batch = self.batch.get_or_insert(Batch::default());
        batch.total += ids.len();
        let n = ids.len();
        let effects = ids
            .into_iter()
            .flat_map(|id| self.start_triage(id, ItemStatus::Queued, offline, false))
            .collect();
        if !matches!(self.kb, KbState::Loading(_)) {
            self.notice(format!(
                "triaging {n} {what} alerts{}{}",
                if offline {
                    " with the offline engine"
                } else {
                    ""
                },
                if held > 0 {
                    format!(" ({held} held by colleagues skipped)")
                } else {
                    String::new()
                }
            ));
        }
        effects
    }

    pub(super) fn triage_all_new(&mut self) -> Vec<Effect> {
        let new: Vec<ItemId> = self
            .visible
            .iter()
            .copied()
            .filter(|i| self.items[*i].status == ItemStatus::New && self.items[*i].run.is_none())
            .collect();
        self.start_batch(new, false, "new")
    }

    /// Re-runs every failed alert in the queue (filtered or not: a failure hidden by the
    /// filter is still a failure).
    pub(super) fn retriage_failed(&mut self, offline: bool) -> Vec<Effect> {
        let failed: Vec<ItemId> = (0..self.items.len())
            .filter(|i| self.items[*i].status == ItemStatus::Failed && self.items[*i].run.is_none())
            .collect();
        self.start_batch(failed, offline, "failed")
    }

    /// Starts triage of those of `ids` whose severity reaches `auto_triage`.
    pub(super) fn auto_triage(&mut self, ids: Vec<ItemId>) -> Vec<Effect> {
        let Some(min) = self.auto_triage else {
            return Vec::new();
        };
        if matches!(self.kb, KbState::Failed(_)) {
            return Vec::new();
        }
        let due: Vec<ItemId> = ids
            .into_iter()
            .filter(|i| {
                self.items[*i]
                    .alert
                    .alert
                    .severity
                    .is_some_and(|s| s >= min)
                    && self.held_by_other(*i).is_none()
            })
            .collect();
        if due.is_empty() {
            return Vec::new();
        }
        self.batch.get_or_insert(Batch::default()).total += due.len();
        due.into_iter()
            .flat_map(|id| self.start_triage(id, ItemStatus::Queued, false, false))
            .collect()
    }

    /// A batch's run ended (`Some(failed)`), or was dropped before it started (`None`: it
    /// no longer counts).
    pub(super) fn batch_step_or_drop(&mut self, ended: Option<bool>) {
        if let Some(b) = &mut self.batch {
            match ended {
                Some(failed) => {
                    b.done += 1;
                    b.failed += usize::from(failed);
                }
                None => b.total = b.total.saturating_sub(1),
            }
            if b.done >= b.total {
                let (total, failed) = (b.total, b.failed);
                self.batch = None;
                let ok = total - failed;
                if failed == 0 {
                    self.notice(format!("batch finished: {ok} alerts triaged"));
                } else {
                    self.error(format!(
                        "batch finished: {ok} triaged, {failed} failed (R re-runs the failed, O with the offline engine)"
                    ));
                }
            }
        }
    }

    pub(super) fn triage_done(
        &mut self,
        item: ItemId,
        run: RunId,
        outcome: TriageOutcome,
    ) -> Vec<Effect> {
        let Some(it) = self.end_triage_run(item, run) else {
            return Vec::new();
        };
        // A new triage has not been judged yet.
        it.judgement = Judgement::default();
        let streamed = std::mem::take(&mut it.reasoning.text);
        it.set_result(outcome.verdict, outcome.provenance);
        // Keep what streamed (the model's prose) when it says more than the verdict field.
        if streamed.len() > it.reasoning.text.len() {
            it.reasoning = StreamText::settled(streamed);
        }
        self.batch_step_or_drop(Some(false));
        Vec::new()
    }

    pub(super) fn triage_failed(&mut self, item: ItemId, run: RunId, error: String) -> Vec<Effect> {
        let Some(it) = self.end_triage_run(item, run) else {
            return Vec::new();
        };
        it.status = ItemStatus::Failed;
        it.reasoning.settle();
        // The latest run failed: the verdict on screen would be an older run's, and a
        // judgement now applies to this run.
        it.verdict = None;
        it.judgement = Judgement::default();
        it.triage_id = it.open_triage.take();
        let raw = it.failure.take().and_then(|f| f.raw);
        it.failure = Some(Failure::new(error.clone(), raw));
        let title = self.title_of(item);
        self.error(format!("triage of “{title}” failed: {error}"));
        self.batch_step_or_drop(Some(true));
        Vec::new()
    }

    /// The model's unusable answer arrives just before the failure.
    pub(super) fn raw_answer(&mut self, item: ItemId, run: RunId, text: String) -> Vec<Effect> {
        if let Some(it) = self.current(item, run, RunKind::Triage) {
            it.failure = Some(Failure {
                raw: Some(text),
                ..Failure::default()
            });
        }
        Vec::new()
    }

    pub(super) fn cancel_selected(&mut self) -> Vec<Effect> {
        let Some(id) = self.selected_id() else {
            // Nothing matches the filter (or the queue is empty): Esc still clears it.
            if !self.filter.is_empty() {
                self.filter.clear();
                self.refilter();
                self.notice("filter cleared");
            }
            return Vec::new();
        };
        let mut effects = Vec::new();
        let key = self.items[id].alert.alert.id.clone();
        if let Some(run) = self.items[id].run.take() {
            self.runs.remove(&run);
            let it = &mut self.items[id];
            if it.status == ItemStatus::Queued
                && let Some(b) = &mut self.batch
            {
                b.total = b.total.saturating_sub(1);
            }
            it.status = it.settled_status();
            it.reasoning.push("\n\n*[cancelled by the analyst]*");
            it.reasoning.settle();
            effects.push(Effect::Cancel {
                run,
                alert_key: key.clone(),
            });
        }
        if let Some(run) = self.items[id].chat_run.take() {
            self.runs.remove(&run);
            if let Some(last) = self.items[id].chat.last_mut() {
                last.text.push("\n\n*[cancelled]*");
                last.text.settle();
            }
            effects.push(Effect::Cancel {
                run,
                alert_key: key,
            });
        }
        if effects.is_empty() && !self.filter.is_empty() {
            self.filter.clear();
            self.refilter();
        } else if effects.is_empty() {
            self.notice("nothing running for this alert");
        } else {
            self.notice("cancelled");
        }
        effects
    }

    pub(super) fn ask(&mut self, question: String) -> Vec<Effect> {
        let question = question.trim().to_string();
        let Some(id) = self.selected_id() else {
            return Vec::new();
        };
        if question.is_empty() {
            return Vec::new();
        }
        if self.items[id].chat_run.is_some() {
            self.notice("an answer is still streaming (Esc, then Esc again cancels it)");
            return Vec::new();
        }
        let history: Vec<(Role, String)> = self.items[id]
            .chat
            .iter()
            .filter_map(|e| match e.role {
                ChatRole::Analyst => Some((Role::User, e.text.text.clone())),
                ChatRole::Assistant => Some((Role::Assistant, e.text.text.clone())),
                ChatRole::Error => None,
            })
            .collect();
        let run = self.new_run(id, RunKind::Chat);
        self.chat_scroll = None;
        let it = &mut self.items[id];
        it.chat_run = Some(run);
        it.chat.push(ChatEntry {
            role: ChatRole::Analyst,
            text: StreamText::settled(question.clone()),
        });
        it.chat.push(ChatEntry {
            role: ChatRole::Assistant,
            text: StreamText::default(),
        });
        vec![Effect::Chat {
            item: id,
            run,
            alert: it.alert.clone(),
            verdict: it.verdict.clone().map(Box::new),
            history,
            question,
        }]
    }

    pub(super) fn chat_done(
        &mut self,
        item: ItemId,
        run: RunId,
        error: Option<String>,
    ) -> Vec<Effect> {
        let Some(it) = self.current(item, run, RunKind::Chat) else {
            return Vec::new();
        };
        it.chat_run = None;
        if let Some(last) = it.chat.last_mut() {
            last.text.settle();
        }
        if let Some(e) = error {
            if it.chat.last().is_some_and(|l| l.text.text.is_empty()) {
                it.chat.pop();
            }
            it.chat.push(ChatEntry {
                role: ChatRole::Error,
                text: StreamText::settled(format!("The answer failed: {e}")),
            });
        }
        self.runs.remove(&run);
        Vec::new()
    }
}
