//! Every way the console's state can change: what the analyst asks for (decoded from keys by
//! the keymap) and what workers report back. Worker results carry the `RunId` of the run
//! that produced them, so `update` can drop results of runs that were cancelled or replaced.

use std::path::PathBuf;

use crate::store::accuracy::Accuracy;
use crate::store::feedback::DownReason;
use crate::store::team::Claim;
use crate::triage::{Level, TriageOutcome};

use super::state::{LoadedItem, PreviewDoc, TechniqueDetail, TechniqueRow};

/// One triage or chat run; numbers only grow, so a newer run is never confused with an older.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub u64);

/// Position of an alert in the queue. The queue only grows, so positions are stable.
pub type ItemId = usize;

#[derive(Debug, Clone)]
pub enum Action {
    // Moving around.
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    FocusNext,
    FocusPrev,
    FocusChat,
    NextTab,
    PrevTab,
    // Triage.
    Triage,
    TriageAllNew,
    Retriage,
    /// Triage the selected alert with the offline engine, whatever the session's engine.
    TriageOffline,
    /// Re-run every failed alert (`offline`: with the offline engine).
    RetriageFailed {
        offline: bool,
    },
    /// Esc in the panes: cancel the selected alert's stream (or clear the filter).
    Cancel,
    // Judgement, written to the store at once.
    ThumbsUp,
    ThumbsDown,
    PickReason(DownReason),
    SetVerdict,
    PickVerdict(Level),
    AddNote,
    // Screens and popups.
    Help,
    Stats,
    TechniqueDetail,
    /// Where the selected alert's indicators were seen before.
    IndicatorHistory,
    Preview,
    Export,
    Filter,
    /// Esc in a popup or an input: close it, keep everything else.
    Back,
    Quit,
    ConfirmQuit,
    // Text typed into the filter or a note.
    InputChar(char),
    InputBackspace,
    InputSubmit,
    /// Scroll the conversation while typing in the chat box.
    ChatScroll(isize),
    /// Alt-Enter in the chat box: a new line in the question (handled by the console).
    ChatNewline,
    /// Enter in the chat box; the console turns it into `ChatSubmit` with the text.
    ChatSend,
    ChatSubmit(String),
    /// The terminal changed size; layout follows on the next frame.
    Resize,
    // Incidents, hand-off, detections, autonomous closures.
    /// Open (or close) the incident view.
    Incidents,
    /// In the incident view: move the cursor between the incidents and the selected
    /// incident's alerts.
    IncidentAlerts,
    /// One triage over the selected incident.
    IncidentTriage,
    /// Take the alert under the cursor out of its incident.
    IncidentSplit,
    /// Mark the selected incident; marking a second one merges the two.
    IncidentMark,
    /// The export menu for the selected alert (or incident, in the incident view).
    OpenExport,
    ExportTo(crate::handoff::Target),
    /// Draft a Sigma rule from the selected (confirmed) alert or incident.
    DraftDetection,
    /// Save the drafted rule shown.
    SaveDetection,
    /// The list of autonomous closures.
    Closures,
    /// Reverse the selected alert's autonomous closure.
    UndoClosure,
    // Team mode.
    /// Take the selected alert over from the analyst who holds it (recorded).
    TakeOver,
    /// Let go of the selected alert, so a colleague can take it.
    Release,
    /// On the statistics screen: switch between the whole team's figures and yours.
    StatsScope,

    // Worker results.
    KbProgress(String),
    KbReady {
        description: String,
    },
    KbFailed(String),
    QueueLoaded {
        items: Vec<LoadedItem>,
        errors: Vec<String>,
    },
    /// Alerts pushed in while the console runs (webhook intake).
    AlertsArrived {
        items: Vec<LoadedItem>,
        source: String,
    },
    TriageStarted {
        item: ItemId,
        run: RunId,
    },
    /// The run has its store row.
    RunOpened {
        item: ItemId,
        run: RunId,
        triage_id: String,
    },
    /// The model's answer that could not be made into a verdict (before `TriageFailed`).
    RawAnswer {
        item: ItemId,
        run: RunId,
        text: String,
    },
    Retrieved {
        item: ItemId,
        run: RunId,
        techniques: Vec<TechniqueRow>,
    },
    ReasoningDelta {
        item: ItemId,
        run: RunId,
        text: String,
    },
    /// `[autoclose]` closed the alert after its verdict.
    AutoClosed {
        item: ItemId,
        justification: String,
    },
    TriageDone {
        item: ItemId,
        run: RunId,
        outcome: Box<TriageOutcome>,
    },
    TriageFailed {
        item: ItemId,
        run: RunId,
        error: String,
    },
    ChatRetrieved {
        item: ItemId,
        run: RunId,
        techniques: Vec<TechniqueRow>,
    },
    ChatDelta {
        item: ItemId,
        run: RunId,
        text: String,
    },
    ChatDone {
        item: ItemId,
        run: RunId,
    },
    ChatFailed {
        item: ItemId,
        run: RunId,
        error: String,
    },
    Saved {
        item: ItemId,
        what: String,
    },
    SaveFailed {
        item: ItemId,
        what: String,
        error: String,
    },
    StatsLoaded(Box<Accuracy>),
    /// Figures read for one scope: one analyst's judgements (`Some`) or the team's. Kept
    /// only when that is still the scope shown (a slower read of the other is dropped).
    ScopedStats {
        analyst: Option<String>,
        stats: Box<Accuracy>,
    },
    StatsFailed(String),
    /// The latest evaluation-lab results (`eval triage`, `eval feedback`, `backtest`), one line each.
    LabLoaded {
        lines: Vec<String>,
        /// All of it in one line, for small terminals.
        compact: Option<String>,
    },
    DetailLoaded(Box<TechniqueDetail>),
    /// The indicator history of an alert, read fresh from the store.
    IocHistoryLoaded {
        item: ItemId,
        history: Vec<crate::intel::enrich::History>,
    },
    PreviewLoaded {
        item: ItemId,
        preview: Box<PreviewDoc>,
    },
    Exported {
        item: ItemId,
        path: PathBuf,
    },
    Notice(String),
    /// Something failed; shown as an error.
    Problem(String),
    IncidentsLoaded(Vec<crate::incident::IncidentDetail>),
    IncidentTriaged {
        id: String,
        result: Result<String, String>,
    },
    /// The incidents changed (a merge, a split): read them again.
    IncidentsChanged(String),
    DetectionDrafted(Box<super::state::SigmaDoc>),
    ClosuresLoaded(Vec<crate::store::closures::Closure>),
    ClosureUndone {
        key: String,
    },
    /// What asking the store for an alert did (team mode).
    ClaimDone {
        item: ItemId,
        result: Result<ClaimNews, String>,
    },
    /// A triage did not start: another analyst holds the alert (`holder`), or the team
    /// store could not say who does (`why`).
    TriageRefused {
        item: ItemId,
        run: RunId,
        holder: Option<Claim>,
        why: String,
    },
    /// What other analysts and replicas recorded, read back from the team store.
    TeamUpdate(Vec<super::state::TeamChange>),
}

/// The answer to a claim, a takeover or a release.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimNews {
    /// The analyst holds it now (it was free, or theirs already).
    Held,
    /// Someone else holds it; nothing changed.
    HeldBy(Claim),
    /// Taken over from this holder (recorded in the claim log).
    TookOver(Claim),
    /// Let go.
    Released,
    /// The analyst did not hold it; nothing changed.
    NotHeld,
}
