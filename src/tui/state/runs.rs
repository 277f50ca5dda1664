//! Triage and chat runs: starting them, accepting results only from the current run of an
//! alert, cancelling them.

use crate::llm::Role;
use crate::triage::TriageOutcome;

use super::super::action::{ItemId, RunId};
use super::super::effect::Effect;
use super::{
    Batch, ChatEntry, ChatRole, Item, ItemStatus, Judgement, KbState, RunKind, State, StreamText,
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

    fn start_triage(&mut self, id: ItemId, status: ItemStatus) -> Vec<Effect> {
        let run = self.new_run(id, RunKind::Triage);
        let it = &mut self.items[id];
        it.run = Some(run);
        it.status = status;
        it.reasoning = StreamText::default();
        it.techniques.clear();
        it.error = None;
        vec![Effect::Triage {
            item: id,
            run,
            alert: it.alert.clone(),
            delimiter: it.fence.clone(),
        }]
    }

    pub(super) fn triage_selected(&mut self, again: bool) -> Vec<Effect> {
        if let KbState::Failed(e) = &self.kb {
            let e = e.clone();
            self.error(format!("cannot triage: {e}"));
            return Vec::new();
        }
        let Some(id) = self.selected_id() else {
            return Vec::new();
        };
        let it = &self.items[id];
        if it.run.is_some() {
            self.notice("already triaging this alert (Esc cancels)");
            return Vec::new();
        }
        if it.verdict.is_some() && !again {
            self.notice("already triaged: r re-triages it");
            return Vec::new();
        }
        self.reasoning_scroll = None;
        self.start_triage(id, ItemStatus::Triaging)
    }

    pub(super) fn triage_all_new(&mut self) -> Vec<Effect> {
        if let KbState::Failed(e) = &self.kb {
            let e = e.clone();
            self.error(format!("cannot triage: {e}"));
            return Vec::new();
        }
        let new: Vec<ItemId> = self
            .visible
            .iter()
            .copied()
            .filter(|i| self.items[*i].status == ItemStatus::New && self.items[*i].run.is_none())
            .collect();
        if new.is_empty() {
            self.notice("no new alerts to triage");
            return Vec::new();
        }
        let batch = self.batch.get_or_insert(Batch::default());
        batch.total += new.len();
        let n = new.len();
        let effects = new
            .into_iter()
            .flat_map(|id| self.start_triage(id, ItemStatus::Queued))
            .collect();
        self.notice(format!("triaging {n} new alerts"));
        effects
    }

    /// Starts triage of the alerts from `first` on whose severity reaches `auto_triage`.
    pub(super) fn auto_triage_from(&mut self, first: ItemId) -> Vec<Effect> {
        let Some(min) = self.auto_triage else {
            return Vec::new();
        };
        if matches!(self.kb, KbState::Failed(_)) {
            return Vec::new();
        }
        let due: Vec<ItemId> = (first..self.items.len())
            .filter(|i| {
                self.items[*i]
                    .alert
                    .alert
                    .severity
                    .is_some_and(|s| s >= min)
            })
            .collect();
        if due.is_empty() {
            return Vec::new();
        }
        self.batch.get_or_insert(Batch::default()).total += due.len();
        due.into_iter()
            .flat_map(|id| self.start_triage(id, ItemStatus::Queued))
            .collect()
    }

    fn batch_step(&mut self) {
        if let Some(b) = &mut self.batch {
            b.done += 1;
            if b.done >= b.total {
                let total = b.total;
                self.batch = None;
                self.notice(format!("batch finished: {total} alerts triaged"));
            }
        }
    }

    pub(super) fn triage_done(
        &mut self,
        item: ItemId,
        run: RunId,
        outcome: TriageOutcome,
    ) -> Vec<Effect> {
        if self.current(item, run, RunKind::Triage).is_none() {
            return Vec::new();
        }
        self.runs.remove(&run);
        let it = &mut self.items[item];
        it.run = None;
        // A new triage has not been judged yet.
        it.judgement = Judgement::default();
        let streamed = std::mem::take(&mut it.reasoning.text);
        it.set_result(outcome.verdict, outcome.provenance);
        // Keep what streamed (the model's prose) when it says more than the verdict field.
        if streamed.len() > it.reasoning.text.len() {
            it.reasoning = StreamText::settled(streamed);
        }
        self.batch_step();
        Vec::new()
    }

    pub(super) fn triage_failed(&mut self, item: ItemId, run: RunId, error: String) -> Vec<Effect> {
        if self.current(item, run, RunKind::Triage).is_none() {
            return Vec::new();
        }
        self.runs.remove(&run);
        let it = &mut self.items[item];
        it.run = None;
        it.status = ItemStatus::Failed;
        it.reasoning.settle();
        it.error = Some(error.clone());
        let title = self.title_of(item);
        self.error(format!("triage of “{title}” failed: {error}"));
        self.batch_step();
        Vec::new()
    }

    pub(super) fn cancel_selected(&mut self) -> Vec<Effect> {
        let Some(id) = self.selected_id() else {
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
            it.status = if it.verdict.is_some() {
                ItemStatus::Triaged
            } else {
                ItemStatus::New
            };
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
