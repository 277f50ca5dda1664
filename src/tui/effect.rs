//! The side effects `update` asks for. Workers perform them and report back as Actions;
//! `update` itself never does I/O, so the console can be driven without a terminal.

use std::sync::Arc;

use crate::alert::load::LoadedAlert;
use crate::llm::Role;
use crate::store::feedback::NewFeedback;
use crate::triage::Verdict;

use super::action::{ItemId, RunId};

#[derive(Debug)]
pub enum Effect {
    Triage {
        item: ItemId,
        run: RunId,
        alert: Arc<LoadedAlert>,
        /// The alert's fence delimiter, as the preview showed it.
        delimiter: String,
        /// Use the offline engine for this run, whatever the session's engine is.
        offline: bool,
        /// Team mode: claim the alert first, and do not start when another analyst holds it.
        claim: bool,
    },
    /// Stop a run; `alert_key` names the alert whose open store rows get closed.
    Cancel {
        run: RunId,
        alert_key: String,
    },
    Chat {
        item: ItemId,
        run: RunId,
        alert: Arc<LoadedAlert>,
        verdict: Option<Box<Verdict>>,
        history: Vec<(Role, String)>,
        question: String,
    },
    SaveFeedback {
        item: ItemId,
        feedback: NewFeedback,
        what: String,
        /// Team mode: the alert to claim before the judgement is written (refused when
        /// another analyst holds it).
        claim: Option<Arc<LoadedAlert>>,
    },
    SaveNote {
        item: ItemId,
        alert: Arc<LoadedAlert>,
        triage_id: Option<String>,
        text: String,
    },
    /// Accuracy as one analyst judged (`Some`), or the whole team (`None`).
    LoadStats {
        analyst: Option<String>,
    },
    LoadDetail {
        id: String,
    },
    LoadIocHistory {
        item: ItemId,
        alert: Arc<LoadedAlert>,
    },
    Preview {
        item: ItemId,
        alert: Arc<LoadedAlert>,
        /// The prompt a model triage of this alert already sent, if any.
        sent: Option<SentPrompt>,
        /// The alert's fence delimiter: a preview of a request not yet sent uses it too.
        delimiter: String,
    },
    Export {
        item: ItemId,
        name: String,
        markdown: String,
    },
    /// Store these queue alerts (those not stored yet), regroup, read the incidents.
    LoadIncidents {
        alerts: Vec<Arc<LoadedAlert>>,
    },
    TriageIncident {
        id: String,
    },
    /// Record the analyst's merge or split of these alert-row pairs, then regroup.
    IncidentDecision {
        pairs: Vec<(i64, i64)>,
        merge: bool,
        what: String,
    },
    /// Export an alert (stored first when it is not) or an incident.
    Handoff {
        reference: String,
        target: crate::handoff::Target,
        alert: Option<Arc<LoadedAlert>>,
    },
    DraftDetection {
        reference: String,
        alert: Option<Arc<LoadedAlert>>,
    },
    SaveDetection {
        reference: String,
        yaml: String,
    },
    LoadClosures,
    UndoClosure {
        key: String,
    },
    /// Claim an alert for the analyst (team mode); `takeover` takes it from whoever holds it.
    Claim {
        item: ItemId,
        alert: Arc<LoadedAlert>,
        takeover: bool,
    },
    /// Let go of an alert the analyst holds.
    Release {
        item: ItemId,
        alert: Arc<LoadedAlert>,
    },
    /// Follow the team store's change feed from the queue's load on.
    Follow,
    /// Leave: cancel every run (closing their store rows) and stop.
    Quit {
        running: Vec<(RunId, String)>,
        /// Team mode: let go of every alert this analyst holds.
        release: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SentPrompt {
    pub user: String,
    pub hash: String,
    pub engine: String,
}
