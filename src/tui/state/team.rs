//! Team mode (the store is a shared PostgreSQL): who holds which alert, taking one over,
//! letting go, and what colleagues and API replicas record, arriving through the change
//! feed. Opening an alert (Enter) or judging it claims it; an alert another analyst holds
//! is neither triaged nor judged here until it is taken over (`T`, recorded). Batches and
//! automatic triage never claim, and skip what others hold.

use std::collections::HashMap;

use crate::store::team::Claim;

use super::super::action::{ClaimNews, ItemId, RunId};
use super::super::effect::Effect;
use super::{History, Item, LoadedItem, Overlay, State};

/// Something other analysts or replicas recorded about one alert, with the alert as the
/// team store now holds it.
#[derive(Debug, Clone)]
pub struct TeamChange {
    pub item: LoadedItem,
    /// What happened, oldest first: the event's kind (`alert`, `triage`, `feedback`,
    /// `note`, `claim`, `takeover`, `release`) and who did it, when an analyst did.
    pub events: Vec<(String, Option<String>)>,
    /// Show the stored state even when it names the run already shown (a refused action
    /// put back as it was).
    pub force: bool,
}

/// `HH:MM` of an RFC 3339 time (UTC), or the time as given when it is not one.
pub fn clock(at: &str) -> &str {
    at.get(11..16).unwrap_or(at)
}

/// Who holds an alert and since when.
pub fn holder_text(c: &Claim) -> String {
    format!("held by {} since {} UTC", c.analyst, clock(&c.at))
}

/// Who holds an alert, and how to take it over: the facts first, so a narrow status line
/// still shows them.
pub fn held_line(c: &Claim) -> String {
    format!(
        "{} holds it since {} UTC — T takes it over (recorded)",
        c.analyst,
        clock(&c.at)
    )
}

impl State {
    /// The claim of another analyst on an alert, in team mode.
    pub fn held_by_other(&self, id: ItemId) -> Option<&Claim> {
        if !self.team {
            return None;
        }
        self.items
            .get(id)?
            .holder
            .as_ref()
            .filter(|c| c.analyst != self.analyst)
    }

    /// Refuses an action on an alert another analyst holds, saying who and how to take it
    /// over; `true` when refused.
    pub(super) fn refuse_if_held(&mut self, id: ItemId, doing: &str) -> bool {
        let Some(c) = self.held_by_other(id).cloned() else {
            return false;
        };
        let title = self.title_of(id);
        self.error(format!("cannot {doing}: {} — “{title}”", held_line(&c)));
        true
    }

    /// The claim effect for opening an alert, unless this analyst already holds it.
    pub(super) fn open_claim(&self, id: ItemId) -> Option<Effect> {
        let it = self.items.get(id)?;
        let mine = it
            .holder
            .as_ref()
            .is_some_and(|c| c.analyst == self.analyst);
        (self.team && !mine).then(|| Effect::Claim {
            item: id,
            alert: it.alert.clone(),
            takeover: false,
        })
    }

    pub(super) fn take_over(&mut self) -> Vec<Effect> {
        if !self.team {
            self.notice("claims need a team store: run with --database postgres://…");
            return Vec::new();
        }
        let Some(id) = self.selected_id() else {
            return Vec::new();
        };
        let title = self.title_of(id);
        match self.held_by_other(id).cloned() {
            Some(c) => {
                self.notice(format!("taking “{title}” over from {}…", c.analyst));
                vec![Effect::Claim {
                    item: id,
                    alert: self.items[id].alert.clone(),
                    takeover: true,
                }]
            }
            None => match self.open_claim(id) {
                Some(e) => vec![e],
                None => {
                    self.notice(format!("you hold “{title}” already"));
                    Vec::new()
                }
            },
        }
    }

    pub(super) fn release(&mut self) -> Vec<Effect> {
        if !self.team {
            self.notice("claims need a team store: run with --database postgres://…");
            return Vec::new();
        }
        let Some(id) = self.selected_id() else {
            return Vec::new();
        };
        if let Some(c) = self.held_by_other(id).cloned() {
            let title = self.title_of(id);
            self.error(format!("{}, not by you: “{title}”", holder_text(&c)));
            return Vec::new();
        }
        vec![Effect::Release {
            item: id,
            alert: self.items[id].alert.clone(),
        }]
    }

    pub(super) fn claim_done(
        &mut self,
        item: ItemId,
        result: Result<ClaimNews, String>,
    ) -> Vec<Effect> {
        if item >= self.items.len() {
            return Vec::new();
        }
        let title = self.title_of(item);
        let mine = Claim {
            analyst: self.analyst.clone(),
            at: crate::store::now(),
        };
        match result {
            Ok(ClaimNews::Held) => {
                let it = &mut self.items[item];
                if it.holder.as_ref().is_none_or(|c| c.analyst != mine.analyst) {
                    it.holder = Some(mine);
                }
            }
            Ok(ClaimNews::HeldBy(c)) => {
                self.error(format!("{} — “{title}”", held_line(&c)));
                self.items[item].holder = Some(c);
            }
            Ok(ClaimNews::TookOver(c)) => {
                self.notice(format!(
                    "taken over from {} (recorded): “{title}”",
                    c.analyst
                ));
                self.items[item].holder = Some(mine);
            }
            Ok(ClaimNews::Released) => {
                self.notice(format!("let go: a colleague can take “{title}”"));
                self.items[item].holder = None;
            }
            Ok(ClaimNews::NotHeld) => {
                self.notice(format!("you did not hold “{title}”"));
                self.items[item].holder = None;
            }
            Err(e) => self.error(format!("could not claim “{title}”: {e}")),
        }
        Vec::new()
    }

    /// A triage the worker did not start: a colleague held the alert first (or took it
    /// while the run waited for a slot), or the team store could not say who holds it. The
    /// alert is shown as the store holds it (the worker reloads it); a batch no longer
    /// counts it.
    pub(super) fn triage_refused(
        &mut self,
        item: ItemId,
        run: RunId,
        holder: Option<Claim>,
        why: String,
    ) -> Vec<Effect> {
        let Some(it) = self.end_triage_run(item, run) else {
            return Vec::new();
        };
        let queued = it.status == super::ItemStatus::Queued;
        it.status = it.settled_status();
        let title = self.title_of(item);
        match holder {
            Some(h) => {
                self.error(format!("not triaged: {} — “{title}”", held_line(&h)));
                self.items[item].holder = Some(h);
            }
            None => self.error(format!("not triaged: {why} — “{title}”")),
        }
        if queued {
            self.batch_step_or_drop(None);
        }
        Vec::new()
    }

    /// Applies what the team recorded: alerts already in the queue show the stored state
    /// (except what a run of this console is still deciding), alerts new to this console
    /// join the queue. The notice says what changed, naming who changed it.
    pub(super) fn team_update(&mut self, changes: Vec<TeamChange>) -> Vec<Effect> {
        let placed: Vec<(Option<ItemId>, TeamChange)> = {
            let index: HashMap<&str, ItemId> = self
                .items
                .iter()
                .enumerate()
                .map(|(i, it)| (it.alert.alert.id.as_str(), i))
                .collect();
            changes
                .into_iter()
                .map(|c| (index.get(c.item.alert.alert.id.as_str()).copied(), c))
                .collect()
        };
        let mut news: Vec<(String, bool)> = Vec::new();
        let mut fresh = Vec::new();
        for (at, change) in placed {
            // Only what others did can change the verdict or judgement shown: a snapshot read
            // for this console's own claim may be older than the run it just finished.
            let others = change.force
                || change
                    .events
                    .iter()
                    .any(|(_, a)| a.as_deref() != Some(self.analyst.as_str()));
            match at {
                Some(id) => {
                    let what = self.refresh(id, change.item.history, change.force, others);
                    // This console's own doings coming back through the feed are no news.
                    if let Some(what) = what.filter(|w| {
                        !change.events.is_empty() && (others || w.about_others(&self.analyst))
                    }) {
                        // Who did it: the analyst on the latest event of that kind.
                        let by = change
                            .events
                            .iter()
                            .rev()
                            .find(|(k, _)| k == what.kind())
                            .and_then(|(_, a)| a.clone());
                        let title = self.title_of(id);
                        news.push(what.say(by.as_deref(), &title, &self.analyst));
                    }
                }
                None => {
                    let title =
                        crate::attack::markup::truncate_words(&change.item.alert.alert.title, 60);
                    news.push((format!("new from the team: “{title}”"), false));
                    fresh.push(change.item);
                }
            }
        }
        if !fresh.is_empty() {
            self.add_items(fresh);
        }
        if let Some((last, error)) = news.pop() {
            let text = match news.len() {
                0 => last,
                n => format!("{last} (and {n} more team updates)"),
            };
            // A takeover of one's own alert is the one to notice above the rest.
            match news.into_iter().find(|(_, e)| *e) {
                Some((warning, _)) => self.error(warning),
                None if error => self.error(text),
                None => self.notice(text),
            }
        }
        Vec::new()
    }

    /// Shows the stored state of an alert in the queue; what changed, when anything did.
    fn refresh(&mut self, id: ItemId, h: History, force: bool, others: bool) -> Option<Changed> {
        let me = self.analyst.clone();
        let it = &mut self.items[id];
        let before_holder = it.holder.as_ref().map(|c| c.analyst.clone());
        let stored = Item::new(LoadedItem {
            alert: (*it.alert).clone(),
            history: h,
        });
        let mut changed = None;
        let after_holder = stored.holder.as_ref().map(|c| c.analyst.clone());
        if before_holder != after_holder {
            changed = Some(match (&before_holder, &after_holder) {
                (Some(b), Some(a)) if *b == me => Changed::TakenFromYou(a.clone()),
                (_, Some(a)) => Changed::HeldBy(a.clone()),
                (b, None) => Changed::Released(b.clone().unwrap_or_default()),
            });
        }
        it.holder = stored.holder.clone();
        if stored.notes.len() > it.notes.len() {
            it.notes = stored.notes.clone();
            // Losing one's alert is the news that must not be crowded out.
            if !matches!(changed, Some(Changed::TakenFromYou(_))) {
                changed = Some(Changed::Note);
            }
        }
        if stored.closed.is_some() != it.closed.is_some() {
            it.closed = stored.closed.clone();
        }
        // A triage run of this console decides what its alert shows.
        if it.run.is_some() || !others {
            return changed;
        }
        let taken = match &changed {
            Some(Changed::TakenFromYou(a)) => Some(a.clone()),
            _ => None,
        };
        if force || (stored.triage_id.is_some() && stored.triage_id != it.triage_id) {
            let level = stored.verdict.as_ref().map(|v| v.verdict);
            it.reasoning = stored.reasoning;
            it.techniques = stored.techniques;
            it.verdict = stored.verdict;
            it.provenance = stored.provenance;
            it.triage_id = stored.triage_id;
            it.failure = stored.failure;
            it.judgement = stored.judgement;
            it.status = stored.status;
            self.session.remove(&id);
            return Some(match level {
                _ if taken.is_some() => Changed::TakenFromYou(taken.unwrap_or_default()),
                Some(l) if !force => Changed::Verdict(l),
                _ => changed.unwrap_or(Changed::Judged),
            });
        }
        if stored.triage_id == it.triage_id && stored.judgement != it.judgement {
            it.judgement = stored.judgement;
            it.status = stored.status;
            self.session.remove(&id);
            return Some(match taken {
                Some(a) => Changed::TakenFromYou(a),
                None => Changed::Judged,
            });
        }
        changed
    }

    pub(super) fn stats_scope(&mut self) -> Vec<Effect> {
        if self.overlay != Overlay::Stats {
            return Vec::new();
        }
        self.stats_mine = !self.stats_mine;
        self.stats = None;
        self.stats_error = None;
        vec![self.load_stats()]
    }

    pub(super) fn load_stats(&self) -> Effect {
        Effect::LoadStats {
            analyst: self.stats_mine.then(|| self.analyst.clone()),
        }
    }
}

/// What a team update changed in an alert already in the queue.
enum Changed {
    Verdict(crate::triage::Level),
    Judged,
    Note,
    /// Now held by this analyst (this console's, or a colleague's).
    HeldBy(String),
    /// A colleague (named) took over this analyst's alert.
    TakenFromYou(String),
    /// Let go by this analyst (empty when unknown).
    Released(String),
}

impl Changed {
    /// The kind of event behind this change.
    /// Whether it is news of another analyst, whatever events brought it: a snapshot read
    /// for one's own event may already show a colleague's takeover.
    fn about_others(&self, me: &str) -> bool {
        match self {
            Changed::TakenFromYou(_) => true,
            Changed::HeldBy(a) | Changed::Released(a) => a != me,
            _ => false,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Changed::Verdict(_) => "triage",
            Changed::Judged => "feedback",
            Changed::Note => "note",
            Changed::HeldBy(_) => "claim",
            Changed::TakenFromYou(_) => "takeover",
            Changed::Released(_) => "release",
        }
    }

    /// The notice, and whether it is a warning.
    fn say(&self, by: Option<&str>, title: &str, me: &str) -> (String, bool) {
        let who = by.unwrap_or("the team");
        match self {
            Changed::Verdict(l) => (format!("{l} from {who} for “{title}”"), false),
            Changed::Judged => (format!("{who} judged “{title}”"), false),
            Changed::Note => (format!("{who} added a note to “{title}”"), false),
            Changed::HeldBy(a) if a == me => (format!("you hold “{title}”"), false),
            Changed::HeldBy(a) => (format!("{a} took “{title}”"), false),
            // Who holds or held it is known from the store, whichever event brought the news.
            Changed::TakenFromYou(a) => (format!("{a} took over your alert “{title}”"), true),
            Changed::Released(a) if a.is_empty() => (format!("{who} let go of “{title}”"), false),
            Changed::Released(a) => (format!("{a} let go of “{title}”"), false),
        }
    }
}
