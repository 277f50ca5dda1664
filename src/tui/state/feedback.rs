//! The analyst's judgement: thumbs, a reason for thumbs down, their own verdict, notes. Each
//! is written to the store the moment it is given.

use crate::store::feedback::{DownReason, NewFeedback, Thumbs};
use crate::triage::Level;

use super::super::effect::Effect;
use super::{ItemStatus, Overlay, State};

impl State {
    /// The run a judgement applies to — its triage id and the tool's verdict, `None` when
    /// the run failed (the analyst's judgement then stands on its own) — or a notice saying
    /// why there is none.
    fn judgeable(&mut self) -> Option<(usize, String, Option<Level>)> {
        let id = self.selected_id()?;
        if self.refuse_if_held(id, "judge") {
            return None;
        }
        let it = &self.items[id];
        if it.run.is_some() {
            self.notice("wait for the verdict before judging it");
            return None;
        }
        match (&it.triage_id, &it.verdict, &it.failure) {
            (Some(t), Some(v), _) => Some((id, t.clone(), Some(v.verdict))),
            (Some(t), None, Some(_)) => Some((id, t.clone(), None)),
            _ => {
                self.notice("nothing to judge yet: triage the alert first (Enter)");
                None
            }
        }
    }

    /// The level the tool (or, after a failure, the model's unvalidated answer) gave.
    fn claimed_level(&self, id: usize) -> Option<Level> {
        let it = &self.items[id];
        it.verdict
            .as_ref()
            .map(|v| v.verdict)
            .or_else(|| it.failure.as_ref().and_then(|f| f.salvaged.level))
    }

    pub(super) fn open_judgement(&mut self, overlay: Overlay) -> Vec<Effect> {
        if self.judgeable().is_some() {
            self.overlay = overlay;
        }
        Vec::new()
    }

    fn record(
        &mut self,
        thumbs: Thumbs,
        reason: Option<DownReason>,
        analyst_verdict: Option<Level>,
        what: String,
    ) -> Vec<Effect> {
        self.overlay = Overlay::None;
        let Some((id, triage_id, verdict)) = self.judgeable() else {
            return Vec::new();
        };
        // Session accuracy scores the tool's verdicts; a failed run has none to score.
        if let Some(verdict) = verdict {
            let correct = match analyst_verdict {
                Some(l) => l == verdict,
                None => thumbs == Thumbs::Up,
            };
            self.session.insert(id, correct);
        }
        let it = &mut self.items[id];
        it.judgement.thumbs = Some(thumbs);
        it.judgement.reason = reason;
        it.judgement.analyst_verdict = analyst_verdict;
        it.status = ItemStatus::Reviewed;
        self.notice(format!("{what} — saving…"));
        vec![Effect::SaveFeedback {
            item: id,
            feedback: NewFeedback {
                triage_id,
                thumbs: Some(thumbs),
                reason,
                analyst_verdict: analyst_verdict.map(|l| l.as_str().to_string()),
                notes: None,
                analyst: self.analyst.clone(),
            },
            what,
            claim: self.team.then(|| self.items[id].alert.clone()),
        }]
    }

    pub(super) fn thumbs_up(&mut self) -> Vec<Effect> {
        let Some((id, _, verdict)) = self.judgeable() else {
            return Vec::new();
        };
        if verdict.is_none() {
            // Agreeing with a failed run means agreeing with what the model said; without
            // a level in its answer there is nothing to agree with, so ask for one.
            return match self.claimed_level(id) {
                Some(l) => self.record(
                    Thumbs::Up,
                    None,
                    Some(l),
                    format!("thumbs up: the model's unvalidated {l} stands"),
                ),
                None => {
                    self.notice("the failed run named no level: pick your verdict");
                    self.overlay = Overlay::PickVerdict;
                    Vec::new()
                }
            };
        }
        self.record(Thumbs::Up, None, None, "thumbs up".into())
    }

    pub(super) fn thumbs_down(&mut self, reason: DownReason) -> Vec<Effect> {
        if reason == DownReason::WrongVerdict {
            // A wrong verdict has a right one: ask for it, then record both together.
            self.judging_wrong_verdict = true;
            self.overlay = Overlay::PickVerdict;
            return Vec::new();
        }
        self.record(
            Thumbs::Down,
            Some(reason),
            None,
            format!("thumbs down ({})", reason.as_str().replace('_', " ")),
        )
    }

    pub(super) fn analyst_verdict(&mut self, level: Level) -> Vec<Effect> {
        // Picking the tool's own level after "wrong verdict" is agreement after all.
        self.judging_wrong_verdict = false;
        let Some((id, _, _)) = self.judgeable() else {
            self.overlay = Overlay::None;
            return Vec::new();
        };
        match self.claimed_level(id) {
            Some(claimed) if claimed == level => self.record(
                Thumbs::Up,
                None,
                Some(level),
                format!("your verdict {level} (agrees)"),
            ),
            Some(claimed) => self.record(
                Thumbs::Down,
                Some(DownReason::WrongVerdict),
                Some(level),
                format!("your verdict {level} (tool said {claimed})"),
            ),
            None => self.record(
                Thumbs::Down,
                Some(DownReason::WrongVerdict),
                Some(level),
                format!("your verdict {level} (the run gave none)"),
            ),
        }
    }

    pub(super) fn open_note(&mut self) -> Vec<Effect> {
        if self.selected_id().is_some() {
            self.overlay = Overlay::Note;
            self.note_input.clear();
        }
        Vec::new()
    }

    pub(super) fn save_note(&mut self) -> Vec<Effect> {
        self.overlay = Overlay::None;
        let text = std::mem::take(&mut self.note_input).trim().to_string();
        let Some(id) = self.selected_id() else {
            return Vec::new();
        };
        if text.is_empty() {
            return Vec::new();
        }
        let it = &mut self.items[id];
        it.notes.push(text.clone());
        self.notice("note — saving…");
        vec![Effect::SaveNote {
            item: id,
            alert: self.items[id].alert.clone(),
            triage_id: self.items[id].triage_id.clone(),
            text,
        }]
    }
}
