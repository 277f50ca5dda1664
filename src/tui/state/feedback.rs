//! The analyst's judgement: thumbs, a reason for thumbs down, their own verdict, notes. Each
//! is written to the store the moment it is given.

use crate::store::feedback::{DownReason, NewFeedback, Thumbs};
use crate::triage::Level;

use super::super::effect::Effect;
use super::{ItemStatus, Overlay, State};

impl State {
    /// The triage a judgement applies to, or a notice saying why there is none.
    fn judgeable(&mut self) -> Option<(usize, String, Level)> {
        let id = self.selected_id()?;
        let it = &self.items[id];
        match (&it.triage_id, &it.verdict) {
            (Some(t), Some(v)) if it.run.is_none() => Some((id, t.clone(), v.verdict)),
            _ if it.run.is_some() => {
                self.notice("wait for the verdict before judging it");
                None
            }
            _ => {
                self.notice("nothing to judge yet: triage the alert first (Enter)");
                None
            }
        }
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
        let correct = match analyst_verdict {
            Some(l) => l == verdict,
            None => thumbs == Thumbs::Up,
        };
        self.session.insert(id, correct);
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
        }]
    }

    pub(super) fn thumbs_up(&mut self) -> Vec<Effect> {
        self.record(Thumbs::Up, None, None, "thumbs up".into())
    }

    pub(super) fn thumbs_down(&mut self, reason: DownReason) -> Vec<Effect> {
        self.record(
            Thumbs::Down,
            Some(reason),
            None,
            format!("thumbs down ({})", reason.as_str().replace('_', " ")),
        )
    }

    pub(super) fn analyst_verdict(&mut self, level: Level) -> Vec<Effect> {
        let Some((_, _, verdict)) = self.judgeable() else {
            self.overlay = Overlay::None;
            return Vec::new();
        };
        if level == verdict {
            self.record(
                Thumbs::Up,
                None,
                Some(level),
                format!("your verdict {level} (agrees)"),
            )
        } else {
            self.record(
                Thumbs::Down,
                Some(DownReason::WrongVerdict),
                Some(level),
                format!("your verdict {level} (tool said {verdict})"),
            )
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
