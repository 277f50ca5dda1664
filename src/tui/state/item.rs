//! One alert in the queue and everything the console knows about it: the run in progress,
//! streamed reasoning, techniques, verdict, the analyst's judgement, notes and chat.

use std::sync::Arc;

use crate::alert::load::LoadedAlert;
use crate::search::Hit;
use crate::store::chats::ChatMessage;
use crate::store::feedback::{DownReason, Thumbs};
use crate::triage::provenance::{Provenance, RetrievedTechnique};
use crate::triage::salvage::{Salvaged, salvage};
use crate::triage::{Level, Verdict};

use super::super::action::RunId;
use super::markdown::{MdLine, parse};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    New,
    /// Waiting for a worker slot (triage all).
    Queued,
    Triaging,
    Triaged,
    Failed,
    Reviewed,
}

impl ItemStatus {
    pub fn label(self) -> &'static str {
        match self {
            ItemStatus::New => "new",
            ItemStatus::Queued => "queued",
            ItemStatus::Triaging => "triaging",
            ItemStatus::Triaged => "triaged",
            ItemStatus::Failed => "failed",
            ItemStatus::Reviewed => "reviewed",
        }
    }
}

/// A technique as the techniques pane lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct TechniqueRow {
    pub id: String,
    pub name: String,
    pub tactics: Vec<String>,
    pub score: f32,
    pub why: Vec<String>,
    /// The verdict cites it.
    pub matched: bool,
    /// Came in through a follow-up question rather than the triage.
    pub from_chat: bool,
}

impl From<&Hit> for TechniqueRow {
    fn from(h: &Hit) -> Self {
        TechniqueRow {
            id: h.id.clone(),
            name: h.name.clone(),
            tactics: h.tactics.clone(),
            score: h.score,
            why: h.why.iter().map(ToString::to_string).collect(),
            matched: false,
            from_chat: false,
        }
    }
}

impl From<&RetrievedTechnique> for TechniqueRow {
    fn from(h: &RetrievedTechnique) -> Self {
        TechniqueRow {
            id: h.id.clone(),
            name: h.name.clone(),
            tactics: h.tactics.clone(),
            score: h.score,
            why: h.why.clone(),
            matched: false,
            from_chat: false,
        }
    }
}

/// Text that grows while a stream runs and is laid out as Markdown once it settles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamText {
    pub text: String,
    /// `Some` once settled: the laid-out Markdown, computed once.
    pub settled: Option<Vec<MdLine>>,
}

impl StreamText {
    pub fn settled(text: String) -> StreamText {
        let md = parse(&text);
        StreamText {
            text,
            settled: Some(md),
        }
    }

    pub fn push(&mut self, t: &str) {
        self.text.push_str(t);
        self.settled = None;
    }

    pub fn settle(&mut self) {
        if self.settled.is_none() {
            self.settled = Some(parse(&self.text));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    Analyst,
    Assistant,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatEntry {
    pub role: ChatRole,
    pub text: StreamText,
}

/// The analyst's latest judgement of the current verdict.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judgement {
    pub thumbs: Option<Thumbs>,
    pub reason: Option<DownReason>,
    pub analyst_verdict: Option<Level>,
}

/// A triage that ended without a verdict: why, what the model said (when it said
/// anything), and the level and techniques read from that answer — all unvalidated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Failure {
    pub error: String,
    pub raw: Option<String>,
    pub salvaged: Salvaged,
}

impl Failure {
    pub fn new(error: String, raw: Option<String>) -> Failure {
        let salvaged = raw.as_deref().map(salvage).unwrap_or_default();
        Failure {
            error,
            raw,
            salvaged,
        }
    }
}

/// What the store already holds for an alert when the queue loads.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub triage_id: Option<String>,
    pub verdict: Option<Verdict>,
    pub provenance: Option<Provenance>,
    pub judgement: Judgement,
    pub notes: Vec<String>,
    pub chat: Vec<ChatMessage>,
    /// The latest run failed (its id is `triage_id`; `verdict` is then empty).
    pub failure: Option<Failure>,
    /// Where the alert's indicators were seen before.
    pub seen_before: Vec<crate::intel::enrich::History>,
    /// A standing autonomous closure: its id and justification.
    pub closed: Option<(i64, String)>,
    /// Team mode: the analyst who holds the alert.
    pub holder: Option<crate::store::team::Claim>,
}

/// An alert as a worker hands it to the console.
#[derive(Debug, Clone)]
pub struct LoadedItem {
    pub alert: LoadedAlert,
    pub history: History,
}

impl LoadedItem {
    /// Alerts with nothing on record yet (a fresh store; tests and benchmarks).
    pub fn fresh(alerts: Vec<LoadedAlert>) -> Vec<LoadedItem> {
        alerts
            .into_iter()
            .map(|alert| LoadedItem {
                alert,
                history: History::default(),
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    pub alert: Arc<LoadedAlert>,
    pub status: ItemStatus,
    /// The triage run whose results are accepted; anything else is stale.
    pub run: Option<RunId>,
    pub reasoning: StreamText,
    pub techniques: Vec<TechniqueRow>,
    pub verdict: Option<Verdict>,
    pub provenance: Option<Provenance>,
    pub triage_id: Option<String>,
    /// The latest run's store id, known from its start (a failed run is judged by it).
    pub open_triage: Option<String>,
    /// Set when the latest run ended without a verdict.
    pub failure: Option<Failure>,
    /// The current run uses the offline engine whatever the session's engine is.
    pub offline_run: bool,
    pub judgement: Judgement,
    pub notes: Vec<String>,
    pub chat: Vec<ChatEntry>,
    pub chat_run: Option<RunId>,
    /// Lower-cased text the filter matches against, built once.
    pub haystack: String,
    /// The random delimiter that fences this alert in prompts, picked once when the alert
    /// enters the queue: the preview (`p`) and the request sent show the same text.
    pub fence: String,
    /// Where the alert's indicators were seen before (the queue's badge, `h`'s popup).
    pub seen_before: Vec<crate::intel::enrich::History>,
    /// Closed by `[autoclose]` (id when known, justification); reversible with `u`.
    pub closed: Option<(Option<i64>, String)>,
    /// Team mode: the analyst who holds the alert (this one included), as last known.
    pub holder: Option<crate::store::team::Claim>,
}

impl Item {
    pub fn new(loaded: LoadedItem) -> Item {
        let a = &loaded.alert.alert;
        let haystack = format!(
            "{} {} {} {} {} {}",
            a.title,
            a.host.as_deref().unwrap_or(""),
            a.user.as_deref().unwrap_or(""),
            a.source,
            a.id,
            a.severity.map_or("", |s| s.as_str())
        )
        .to_lowercase();
        let h = loaded.history;
        let mut item = Item {
            alert: Arc::new(loaded.alert),
            status: ItemStatus::New,
            run: None,
            fence: crate::triage::prompt::new_delimiter(),
            reasoning: StreamText::default(),
            techniques: Vec::new(),
            verdict: None,
            provenance: None,
            triage_id: h.triage_id,
            open_triage: None,
            failure: None,
            offline_run: false,
            judgement: h.judgement,
            notes: h.notes,
            chat: h
                .chat
                .into_iter()
                .map(|m| ChatEntry {
                    role: if m.role == "user" {
                        ChatRole::Analyst
                    } else {
                        ChatRole::Assistant
                    },
                    text: StreamText::settled(m.content),
                })
                .collect(),
            chat_run: None,
            haystack,
            seen_before: h.seen_before,
            closed: h.closed.map(|(id, why)| (Some(id), why)),
            holder: h.holder,
        };
        if let (Some(v), Some(p)) = (h.verdict, h.provenance) {
            item.set_result(v, p);
        } else if let Some(f) = h.failure {
            item.reasoning = StreamText::settled(f.raw.clone().unwrap_or_default());
            item.failure = Some(f);
            item.status = if item.judgement.thumbs.is_some() {
                ItemStatus::Reviewed
            } else {
                ItemStatus::Failed
            };
        }
        item
    }

    /// Shows a finished triage: reasoning, verdict, techniques marked as cited.
    pub fn set_result(&mut self, verdict: Verdict, provenance: Provenance) {
        self.reasoning = StreamText::settled(verdict.reasoning.clone());
        let mut rows: Vec<TechniqueRow> = provenance
            .retrieval
            .iter()
            .map(TechniqueRow::from)
            .collect();
        for m in &verdict.matched_techniques {
            match rows.iter_mut().find(|r| r.id == m.id) {
                Some(r) => r.matched = true,
                None => rows.push(TechniqueRow {
                    id: m.id.clone(),
                    name: m.name.clone(),
                    tactics: Vec::new(),
                    score: 0.0,
                    why: vec![format!("cited by the verdict: {}", m.rationale)],
                    matched: true,
                    from_chat: false,
                }),
            }
        }
        // Cited techniques first, each group in retrieval order.
        rows.sort_by_key(|r| !r.matched);
        self.techniques = rows;
        self.triage_id = Some(verdict.triage_id.clone());
        self.verdict = Some(verdict);
        self.provenance = Some(provenance);
        self.failure = None;
        self.status = if self.judgement.thumbs.is_some() {
            ItemStatus::Reviewed
        } else {
            ItemStatus::Triaged
        };
    }

    /// The status when no run is going: what the alert's latest result makes it.
    pub fn settled_status(&self) -> ItemStatus {
        if self.verdict.is_some() {
            ItemStatus::Triaged
        } else if self.failure.is_some() {
            ItemStatus::Failed
        } else {
            ItemStatus::New
        }
    }

    pub fn is_running(&self) -> bool {
        self.run.is_some() || self.chat_run.is_some()
    }

    /// Adds techniques a follow-up question retrieved, keeping the ones already listed.
    pub fn merge_chat_techniques(&mut self, rows: Vec<TechniqueRow>) {
        for mut r in rows {
            if !self.techniques.iter().any(|t| t.id == r.id) {
                r.from_chat = true;
                self.techniques.push(r);
            }
        }
    }
}

/// The severity badge the queue shows; the filter matches it too.
pub fn severity_label(s: Option<crate::alert::Severity>) -> &'static str {
    use crate::alert::Severity;
    match s {
        Some(Severity::Critical) => "CRIT",
        Some(Severity::High) => "HIGH",
        Some(Severity::Medium) => "MED ",
        Some(Severity::Low) => "LOW ",
        Some(Severity::Informational) => "INFO",
        None => " ?  ",
    }
}

/// The verdict badge the queue shows; the filter matches it too.
pub fn verdict_label(l: Level) -> &'static str {
    match l {
        Level::Critical => "CRIT",
        Level::High => "HIGH",
        Level::Medium => "MED",
        Level::Low => "LOW",
        Level::Benign => "BEN",
    }
}

impl Item {
    /// Whether every word of a lower-cased filter is in what the row shows (badges,
    /// status, verdicts, title, host, user) or in the alert's id, source and full severity.
    pub fn matches(&self, words: &[&str]) -> bool {
        if words.is_empty() {
            return true;
        }
        let mut shown = format!(
            "{} {} ",
            severity_label(self.alert.alert.severity),
            self.status.label()
        );
        for l in [
            self.verdict.as_ref().map(|v| v.verdict),
            self.judgement.analyst_verdict,
            self.failure.as_ref().and_then(|f| f.salvaged.level),
        ]
        .into_iter()
        .flatten()
        {
            shown.push_str(verdict_label(l));
            shown.push(' ');
            shown.push_str(l.as_str());
            shown.push(' ');
        }
        let shown = shown.to_lowercase();
        words
            .iter()
            .all(|w| self.haystack.contains(w) || shown.contains(w))
    }
}
