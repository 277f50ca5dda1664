//! The console's model: pure data and `update`, no I/O and no terminal types. Every change
//! goes through `State::update(Action) -> Vec<Effect>`, so the whole console can be driven and
//! checked without a terminal or a runtime.

mod cases;
mod docs;
mod feedback;
mod item;
pub mod markdown;
mod queue;
mod runs;
mod team;

use std::collections::BTreeMap;

pub use cases::{ExportSubject, IncidentsView, SigmaDoc};
pub use docs::{PreviewDoc, TechniqueDetail};
pub use item::{
    ChatEntry, ChatRole, Failure, History, Item, ItemStatus, Judgement, LoadedItem, StreamText,
    TechniqueRow, severity_label, verdict_label,
};
pub use team::{TeamChange, clock, held_line, holder_text};

use crate::store::accuracy::Accuracy;

use super::action::{Action, ItemId, RunId};
use super::effect::Effect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Queue,
    Reasoning,
    Evidence,
    Chat,
}

impl Focus {
    /// What Tab cycles through. The chat box is entered only with its own key (`c`/`i`), so
    /// Tab never drops the analyst into a text input where the next keys would type.
    const ORDER: [Focus; 3] = [Focus::Queue, Focus::Reasoning, Focus::Evidence];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Stats,
    Detail,
    Preview,
    /// Where the selected alert's indicators were seen before.
    History,
    ConfirmQuit,
    PickReason,
    PickVerdict,
    Note,
    /// Alerts grouped into incidents.
    Incidents,
    /// Where to hand the selected alert or incident.
    ExportMenu,
    /// A drafted Sigma rule, validated and tested, before it is saved.
    Sigma,
    /// Autonomous closures, for review.
    Closures,
}

/// The largest scroll offset of each scrollable view, written by the frame that laid it out
/// (only drawing knows how text wraps). Scrolling clamps to these, so `G` or paging past
/// the end never leaves an offset that the next `k` has to climb back from.
#[derive(Debug, Clone, Default)]
pub struct Extents {
    pub reasoning: std::cell::Cell<u16>,
    pub evidence: std::cell::Cell<u16>,
    pub chat: std::cell::Cell<u16>,
    pub overlay: std::cell::Cell<u16>,
}

/// Which keys mean what right now; the keymap is looked up per mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Normal,
    Chat,
    Popup,
    Text,
    PickReason,
    PickVerdict,
    Confirm,
    Incidents,
    Export,
    Sigma,
    Closures,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Techniques,
    Alert,
    Evidence,
    Actions,
    Queries,
    FalsePositives,
    Escalation,
    Intel,
}

impl Tab {
    pub const ALL: [Tab; 8] = [
        Tab::Techniques,
        Tab::Alert,
        Tab::Intel,
        Tab::Evidence,
        Tab::Actions,
        Tab::Queries,
        Tab::FalsePositives,
        Tab::Escalation,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Techniques => "Techniques",
            Tab::Alert => "Alert",
            Tab::Evidence => "Evidence",
            Tab::Actions => "Actions",
            Tab::Queries => "Queries",
            Tab::FalsePositives => "FP",
            Tab::Escalation => "Escalation",
            Tab::Intel => "Intel",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum KbState {
    Loading(String),
    Ready(String),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Triage,
    Chat,
}

/// Progress of `a` (triage every new alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Batch {
    pub total: usize,
    pub done: usize,
    pub failed: usize,
}

#[derive(Debug, Clone)]
pub struct State {
    pub items: Vec<Item>,
    /// Queue positions that pass the filter, in queue order.
    pub visible: Vec<ItemId>,
    /// Index into `visible`.
    pub selected: usize,
    pub filter: String,
    pub filter_editing: bool,
    pub focus: Focus,
    pub overlay: Overlay,
    pub tab: Tab,
    pub tech_selected: usize,
    /// `None` follows the end of the text as it streams.
    pub reasoning_scroll: Option<u16>,
    pub evidence_scroll: u16,
    pub chat_scroll: Option<u16>,
    pub overlay_scroll: u16,
    /// How far each scrollable view can scroll, as the last frame laid it out.
    pub extents: Extents,
    /// `offline` or `anthropic · claude-…`.
    pub engine: String,
    pub kb: KbState,
    pub loading: bool,
    pub load_errors: Vec<String>,
    pub notice: Option<Notice>,
    pub next_run: u64,
    pub runs: BTreeMap<RunId, (ItemId, RunKind)>,
    pub batch: Option<Batch>,
    /// Per alert judged this session: whether the verdict was right.
    pub session: BTreeMap<ItemId, bool>,
    pub analyst: String,
    pub stats: Option<Box<Accuracy>>,
    pub stats_error: Option<String>,
    /// The evaluation lab's latest results for the stats screen.
    pub lab: Vec<String>,
    pub lab_compact: Option<String>,
    pub detail: Option<Box<TechniqueDetail>>,
    pub preview: Option<Box<PreviewDoc>>,
    pub note_input: String,
    /// The verdict picker was opened by "wrong verdict": the pick is a correction.
    pub judging_wrong_verdict: bool,
    /// Alerts pushed in at or above this severity are triaged as they arrive.
    pub auto_triage: Option<crate::alert::Severity>,
    /// Where the API listens, when the console runs it.
    pub api: Option<String>,
    pub incidents: IncidentsView,
    /// The export menu's subject.
    pub export: Option<ExportSubject>,
    /// The overlay under a menu or draft opened from it (the incident view).
    pub under: Overlay,
    pub sigma: Option<Box<SigmaDoc>>,
    pub closures: Option<Vec<crate::store::closures::Closure>>,
    pub closure_selected: usize,
    /// Case systems with a base URL and key configured.
    pub handoff_ready: Vec<crate::handoff::Target>,
    /// The store is a team database: alerts are claimed, and colleagues' work arrives live.
    pub team: bool,
    /// The change feed is followed (asked once, when the queue has loaded).
    pub following: bool,
    /// The statistics screen shows this analyst's judgements rather than the team's.
    pub stats_mine: bool,
    pub quit: bool,
    /// Something visible changed since the last frame.
    pub dirty: bool,
}

impl State {
    pub fn new(engine: &str, analyst: &str) -> State {
        State {
            items: Vec::new(),
            visible: Vec::new(),
            selected: 0,
            filter: String::new(),
            filter_editing: false,
            focus: Focus::Queue,
            overlay: Overlay::None,
            tab: Tab::Techniques,
            tech_selected: 0,
            reasoning_scroll: None,
            evidence_scroll: 0,
            chat_scroll: None,
            overlay_scroll: 0,
            extents: Extents::default(),
            engine: engine.to_string(),
            kb: KbState::Loading("opening the knowledge base".into()),
            loading: true,
            load_errors: Vec::new(),
            notice: None,
            next_run: 1,
            runs: BTreeMap::new(),
            batch: None,
            session: BTreeMap::new(),
            analyst: analyst.to_string(),
            stats: None,
            stats_error: None,
            lab: Vec::new(),
            lab_compact: None,
            detail: None,
            preview: None,
            note_input: String::new(),
            judging_wrong_verdict: false,
            auto_triage: None,
            api: None,
            incidents: IncidentsView::default(),
            export: None,
            under: Overlay::None,
            sigma: None,
            closures: None,
            closure_selected: 0,
            handoff_ready: Vec::new(),
            team: false,
            following: false,
            stats_mine: false,
            quit: false,
            dirty: true,
        }
    }

    pub fn mode(&self) -> Mode {
        match self.overlay {
            Overlay::PickReason => Mode::PickReason,
            Overlay::PickVerdict => Mode::PickVerdict,
            Overlay::ConfirmQuit => Mode::Confirm,
            Overlay::Note => Mode::Text,
            Overlay::Incidents => Mode::Incidents,
            Overlay::ExportMenu => Mode::Export,
            Overlay::Sigma => Mode::Sigma,
            Overlay::Closures => Mode::Closures,
            Overlay::Help
            | Overlay::Stats
            | Overlay::Detail
            | Overlay::Preview
            | Overlay::History => Mode::Popup,
            Overlay::None if self.filter_editing => Mode::Text,
            Overlay::None if self.focus == Focus::Chat => Mode::Chat,
            Overlay::None => Mode::Normal,
        }
    }

    pub fn selected_id(&self) -> Option<ItemId> {
        self.visible.get(self.selected).copied()
    }

    pub fn selected_item(&self) -> Option<&Item> {
        self.selected_id().and_then(|i| self.items.get(i))
    }

    pub fn running(&self) -> usize {
        self.runs.len()
    }

    /// Session accuracy: `(right, judged)`.
    pub fn session_accuracy(&self) -> (usize, usize) {
        (
            self.session.values().filter(|c| **c).count(),
            self.session.len(),
        )
    }

    fn notice(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            error: false,
        });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            error: true,
        });
    }

    /// Applies one action and returns the side effects it needs.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        // Tokens for an alert that is not on screen change nothing visible but its row,
        // which already says "triaging": no redraw for them.
        let quiet = match &action {
            Action::ReasoningDelta { item, .. } | Action::ChatDelta { item, .. } => {
                self.selected_id() != Some(*item)
            }
            _ => false,
        };
        if !quiet {
            self.dirty = true;
        }
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            // In the incident view, paging scrolls the selected incident's detail.
            Action::PageUp | Action::PageDown if self.overlay == Overlay::Incidents => {
                let max = self.extents.overlay.get();
                let delta = if matches!(action, Action::PageUp) {
                    -10
                } else {
                    10
                };
                self.overlay_scroll = queue::scroll(self.overlay_scroll.min(max), delta).min(max);
                Vec::new()
            }
            Action::PageUp => self.move_by(-10),
            Action::PageDown => self.move_by(10),
            Action::Top => self.move_to_end(false),
            Action::Bottom => self.move_to_end(true),
            Action::FocusNext | Action::FocusPrev => {
                let next = matches!(action, Action::FocusNext);
                let n = Focus::ORDER.len();
                self.focus = match Focus::ORDER.iter().position(|f| *f == self.focus) {
                    Some(i) => Focus::ORDER[(i + if next { 1 } else { n - 1 }) % n],
                    // From the chat box, Tab leaves it as if it came after Evidence.
                    None if next => Focus::ORDER[0],
                    None => Focus::ORDER[n - 1],
                };
                Vec::new()
            }
            Action::FocusChat => {
                self.focus = Focus::Chat;
                Vec::new()
            }
            Action::NextTab | Action::PrevTab => {
                let i = Tab::ALL.iter().position(|t| *t == self.tab).unwrap_or(0);
                let n = Tab::ALL.len();
                let step = if matches!(action, Action::NextTab) {
                    1
                } else {
                    n - 1
                };
                self.tab = Tab::ALL[(i + step) % n];
                self.evidence_scroll = 0;
                Vec::new()
            }
            Action::Triage => self.triage_selected(false, false),
            Action::Retriage => self.triage_selected(true, false),
            Action::TriageOffline => self.triage_selected(true, true),
            Action::RetriageFailed { offline } => self.retriage_failed(offline),
            Action::TriageAllNew => self.triage_all_new(),
            Action::Cancel => self.cancel_selected(),
            Action::ThumbsUp => self.thumbs_up(),
            Action::ThumbsDown => self.open_judgement(Overlay::PickReason),
            Action::PickReason(r) => self.thumbs_down(r),
            Action::SetVerdict => self.open_judgement(Overlay::PickVerdict),
            Action::PickVerdict(l) => self.analyst_verdict(l),
            Action::AddNote => self.open_note(),
            Action::Help => {
                match self.overlay {
                    // Help over the incident view goes back to it.
                    Overlay::Incidents => {
                        self.under = Overlay::Incidents;
                        self.overlay = Overlay::Help;
                        self.overlay_scroll = 0;
                    }
                    Overlay::Help => {
                        self.overlay = std::mem::replace(&mut self.under, Overlay::None);
                    }
                    _ => {
                        self.under = Overlay::None;
                        self.toggle_overlay(Overlay::Help, Vec::new());
                    }
                }
                Vec::new()
            }
            Action::Stats => {
                let load = self.load_stats();
                self.toggle_overlay(Overlay::Stats, vec![load])
            }
            Action::StatsScope => self.stats_scope(),
            Action::TakeOver => self.take_over(),
            Action::Release => self.release(),
            Action::ClaimDone { item, result } => self.claim_done(item, result),
            Action::TriageRefused {
                item,
                run,
                holder,
                why,
            } => self.triage_refused(item, run, holder, why),
            Action::TeamUpdate(changes) => self.team_update(changes),
            Action::TechniqueDetail => self.open_detail(),
            Action::IndicatorHistory => {
                let Some((item, alert)) = self
                    .selected_id()
                    .and_then(|id| Some((id, self.items.get(id)?.alert.clone())))
                else {
                    return Vec::new();
                };
                self.toggle_overlay(
                    Overlay::History,
                    vec![Effect::LoadIocHistory { item, alert }],
                )
            }
            Action::Preview => self.open_preview(),
            Action::Export => self.export(),
            Action::Filter => {
                // A new `/` starts a fresh filter.
                self.filter_editing = true;
                self.filter.clear();
                self.refilter();
                Vec::new()
            }
            Action::Back => self.back(),
            Action::Quit => self.quit(false),
            Action::ConfirmQuit => self.quit(true),
            Action::InputChar(c) => self.input(Some(c)),
            Action::InputBackspace => self.input(None),
            Action::InputSubmit => self.submit_input(),
            Action::ChatSend | Action::ChatNewline => Vec::new(),
            Action::ChatScroll(delta) => {
                let max = self.extents.chat.get();
                let from = self.chat_scroll.unwrap_or(max).min(max);
                let to = queue::scroll(from, delta).min(max);
                // Scrolling back to the end follows the conversation again.
                self.chat_scroll = (to < max).then_some(to);
                Vec::new()
            }
            Action::ChatSubmit(text) => self.ask(text),
            Action::Resize => Vec::new(),
            Action::Incidents => self.toggle_incidents(),
            Action::IncidentAlerts => self.incident_alerts(),
            Action::IncidentTriage => self.incident_triage(),
            Action::IncidentSplit => self.incident_split(),
            Action::IncidentMark => self.incident_mark(),
            Action::OpenExport => self.open_export(),
            Action::ExportTo(t) => self.export_to(t),
            Action::DraftDetection => self.draft_detection(),
            Action::SaveDetection => self.save_detection(),
            Action::Closures => self.open_closures(),
            Action::UndoClosure => self.undo_closure(),
            Action::IncidentsLoaded(list) => self.incidents_loaded(list),
            Action::IncidentTriaged { id, result } => self.incident_triaged(id, result),
            Action::IncidentsChanged(what) => self.incidents_changed(what),
            Action::DetectionDrafted(doc) => self.detection_drafted(doc),
            Action::ClosuresLoaded(list) => self.closures_loaded(list),
            Action::ClosureUndone { key } => self.closure_undone(key),
            Action::Problem(e) => {
                self.incidents.loading = false;
                self.error(e);
                Vec::new()
            }
            Action::KbProgress(s) => {
                self.kb = KbState::Loading(s);
                Vec::new()
            }
            Action::KbReady { description } => {
                self.kb = KbState::Ready(description);
                Vec::new()
            }
            Action::KbFailed(e) => {
                self.error(format!("knowledge base unavailable: {e}"));
                self.kb = KbState::Failed(e);
                Vec::new()
            }
            Action::QueueLoaded { items, errors } => {
                let n = items.len();
                self.add_items(items);
                self.loading = false;
                if errors.is_empty() {
                    self.notice(format!("{n} alerts loaded"));
                } else {
                    self.error(format!(
                        "{n} alerts loaded; {} inputs skipped — first: {}",
                        errors.len(),
                        errors[0]
                    ));
                }
                self.load_errors = errors;
                if self.team && !self.following {
                    self.following = true;
                    return vec![Effect::Follow];
                }
                Vec::new()
            }
            Action::AlertsArrived { mut items, source } => {
                let n = items.len();
                // The team feed may have brought some already: those are not added twice,
                // but they are triaged on arrival like the rest when nothing has yet.
                let mut due = Vec::new();
                if self.team {
                    let known: std::collections::HashMap<&str, ItemId> = self
                        .items
                        .iter()
                        .enumerate()
                        .map(|(i, it)| (it.alert.alert.id.as_str(), i))
                        .collect();
                    items.retain(|i| match known.get(i.alert.alert.id.as_str()) {
                        Some(id) => {
                            due.push(*id);
                            false
                        }
                        None => true,
                    });
                    due.retain(|id| {
                        self.items[*id].status == ItemStatus::New && !self.items[*id].is_running()
                    });
                }
                let first = self.items.len();
                self.add_items(items);
                self.notice(format!("{n} new alert(s) from {source}"));
                due.extend(first..self.items.len());
                self.auto_triage(due)
            }
            Action::TriageStarted { item, run } => {
                if let Some(it) = self.current(item, run, RunKind::Triage) {
                    it.status = ItemStatus::Triaging;
                }
                Vec::new()
            }
            Action::Retrieved {
                item,
                run,
                techniques,
            } => {
                if let Some(it) = self.current(item, run, RunKind::Triage) {
                    it.techniques = techniques;
                }
                Vec::new()
            }
            Action::ReasoningDelta { item, run, text } => {
                if let Some(it) = self.current(item, run, RunKind::Triage) {
                    it.reasoning.push(&text);
                }
                Vec::new()
            }
            Action::RunOpened {
                item,
                run,
                triage_id,
            } => {
                if let Some(it) = self.current(item, run, RunKind::Triage) {
                    it.open_triage = Some(triage_id);
                }
                Vec::new()
            }
            Action::RawAnswer { item, run, text } => self.raw_answer(item, run, text),
            Action::AutoClosed {
                item,
                justification,
            } => {
                if let Some(it) = self.items.get_mut(item) {
                    it.closed = Some((None, justification));
                    let title = it.alert.alert.title.clone();
                    self.notice(format!("closed automatically: {title} (u undoes it)"));
                }
                Vec::new()
            }
            Action::TriageDone { item, run, outcome } => self.triage_done(item, run, *outcome),
            Action::TriageFailed { item, run, error } => self.triage_failed(item, run, error),
            Action::ChatRetrieved {
                item,
                run,
                techniques,
            } => {
                if let Some(it) = self.current(item, run, RunKind::Chat) {
                    it.merge_chat_techniques(techniques);
                }
                Vec::new()
            }
            Action::ChatDelta { item, run, text } => {
                if let Some(it) = self.current(item, run, RunKind::Chat)
                    && let Some(last) = it.chat.last_mut()
                {
                    last.text.push(&text);
                }
                Vec::new()
            }
            Action::ChatDone { item, run } => self.chat_done(item, run, None),
            Action::ChatFailed { item, run, error } => self.chat_done(item, run, Some(error)),
            Action::Saved { item, what } => {
                let title = self.title_of(item);
                self.notice(format!("{what} recorded for “{title}”"));
                Vec::new()
            }
            Action::SaveFailed { item, what, error } => {
                let title = self.title_of(item);
                self.error(format!("could not record {what} for “{title}”: {error}"));
                Vec::new()
            }
            Action::StatsLoaded(a) => {
                self.stats = Some(a);
                self.stats_error = None;
                Vec::new()
            }
            Action::ScopedStats { analyst, stats } => {
                if analyst.is_some() == self.stats_mine {
                    self.stats = Some(stats);
                    self.stats_error = None;
                }
                Vec::new()
            }
            Action::StatsFailed(e) => {
                self.stats_error = Some(e);
                Vec::new()
            }
            Action::LabLoaded { lines, compact } => {
                self.lab = lines;
                self.lab_compact = compact;
                Vec::new()
            }
            Action::IocHistoryLoaded { item, history } => {
                if let Some(it) = self.items.get_mut(item) {
                    it.seen_before = history;
                }
                Vec::new()
            }
            Action::DetailLoaded(d) => {
                self.detail = Some(d);
                Vec::new()
            }
            Action::PreviewLoaded { item, preview } => {
                if self.selected_id() == Some(item) {
                    self.preview = Some(preview);
                }
                Vec::new()
            }
            Action::Exported { item, path } => {
                let title = self.title_of(item);
                self.notice(format!("exported “{title}” to {}", path.display()));
                Vec::new()
            }
            Action::Notice(n) => {
                self.notice(n);
                Vec::new()
            }
        }
    }

    fn title_of(&self, item: ItemId) -> String {
        self.items
            .get(item)
            .map(|i| crate::attack::markup::truncate_words(&i.alert.alert.title, 60))
            .unwrap_or_default()
    }

    fn toggle_overlay(&mut self, o: Overlay, effects: Vec<Effect>) -> Vec<Effect> {
        if self.overlay == o {
            self.overlay = Overlay::None;
            return Vec::new();
        }
        self.overlay = o;
        self.overlay_scroll = 0;
        effects
    }

    fn open_detail(&mut self) -> Vec<Effect> {
        let Some(id) = self
            .selected_item()
            .and_then(|i| i.techniques.get(self.tech_selected))
            .map(|t| t.id.clone())
        else {
            self.notice("no technique to show: triage the alert first (Enter)");
            return Vec::new();
        };
        self.detail = None;
        self.overlay = Overlay::Detail;
        self.overlay_scroll = 0;
        vec![Effect::LoadDetail { id }]
    }

    fn open_preview(&mut self) -> Vec<Effect> {
        let Some(id) = self.selected_id() else {
            return Vec::new();
        };
        let item = &self.items[id];
        let sent = item.provenance.as_ref().and_then(|p| {
            p.prompt.as_ref().map(|u| super::effect::SentPrompt {
                user: u.clone(),
                hash: p.prompt_hash.clone(),
                engine: format!("{} · {}", p.engine, p.model.as_deref().unwrap_or("")),
            })
        });
        let (alert, delimiter) = (item.alert.clone(), item.fence.clone());
        self.preview = None;
        self.overlay = Overlay::Preview;
        self.overlay_scroll = 0;
        vec![Effect::Preview {
            item: id,
            alert,
            sent,
            delimiter,
        }]
    }

    fn export(&mut self) -> Vec<Effect> {
        let Some(id) = self.selected_id() else {
            return Vec::new();
        };
        let item = &self.items[id];
        let markdown = super::export::markdown(item);
        let name = item.alert.alert.id.clone();
        vec![Effect::Export {
            item: id,
            name,
            markdown,
        }]
    }

    fn back(&mut self) -> Vec<Effect> {
        match self.overlay {
            Overlay::None if self.filter_editing => {
                self.filter_editing = false;
                self.filter.clear();
                self.refilter();
            }
            Overlay::None => self.focus = Focus::Queue,
            // A menu or draft opened from the incident view goes back to it.
            Overlay::ExportMenu | Overlay::Sigma | Overlay::Help => {
                self.overlay = std::mem::replace(&mut self.under, Overlay::None);
                self.export = None;
            }
            // In the incident view, Esc first leaves the alert cursor.
            Overlay::Incidents if self.incidents.alert.is_some() => self.incidents.alert = None,
            _ => {
                self.overlay = Overlay::None;
                self.note_input.clear();
                self.judging_wrong_verdict = false;
            }
        }
        Vec::new()
    }

    fn quit(&mut self, confirmed: bool) -> Vec<Effect> {
        if !self.runs.is_empty() && !confirmed {
            self.overlay = Overlay::ConfirmQuit;
            return Vec::new();
        }
        self.quit = true;
        let running = self
            .runs
            .iter()
            .map(|(run, (item, _))| (*run, self.items[*item].alert.alert.id.clone()))
            .collect();
        vec![Effect::Quit {
            running,
            release: self.team,
        }]
    }

    fn input(&mut self, c: Option<char>) -> Vec<Effect> {
        let target = if self.overlay == Overlay::Note {
            &mut self.note_input
        } else {
            &mut self.filter
        };
        match c {
            Some(c) if !c.is_control() => target.push(c),
            Some(_) => {}
            None => {
                target.pop();
            }
        }
        if self.overlay != Overlay::Note {
            self.refilter();
        }
        Vec::new()
    }

    fn submit_input(&mut self) -> Vec<Effect> {
        if self.overlay == Overlay::Note {
            return self.save_note();
        }
        self.filter_editing = false;
        Vec::new()
    }
}

#[cfg(test)]
mod tests;
