//! `update` for every Action: what it changes and which effects it asks for.

use std::path::PathBuf;

use crate::alert::load_paths;
use crate::store::feedback::{DownReason, Thumbs};
use crate::triage::provenance::{Provenance, RetrievedTechnique};
use crate::triage::verdict::{Escalation, MatchedTechnique};
use crate::triage::{Level, TriageOutcome, Verdict};

use super::super::action::{Action, RunId};
use super::super::effect::Effect;
use super::*;

fn sample() -> Vec<LoadedItem> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/queue");
    LoadedItem::fresh(load_paths(&[dir]).alerts)
}

fn loaded() -> State {
    let mut s = State::new("offline", "tester");
    s.update(Action::KbReady {
        description: "ATT&CK 18.1".into(),
    });
    s.update(Action::QueueLoaded {
        items: sample(),
        errors: Vec::new(),
    });
    s
}

pub fn outcome(triage_id: &str, level: Level) -> TriageOutcome {
    TriageOutcome {
        triage_id: triage_id.into(),
        alert_row: 1,
        verdict: Verdict {
            triage_id: triage_id.into(),
            verdict: level,
            confidence: 0.8,
            matched_techniques: vec![MatchedTechnique {
                id: "T1059.001".into(),
                name: "PowerShell".into(),
                rationale: "encoded command".into(),
                in_context: true,
            }],
            attack_chain: Vec::new(),
            reasoning: "Word spawned **PowerShell**.".into(),
            recommended_actions: vec!["Isolate the host".into()],
            false_positive_indicators: Vec::new(),
            investigation_queries: Vec::new(),
            evidence: Vec::new(),
            escalation: Escalation::default(),
            injection_flags: Vec::new(),
            warnings: Vec::new(),
            engine: "offline".into(),
            claims: None,
        },
        provenance: Provenance {
            engine: "offline".into(),
            retrieval: vec![RetrievedTechnique {
                id: "T1059.001".into(),
                name: "PowerShell".into(),
                score: 0.9,
                why: vec!["title: powershell".into()],
                tactics: vec!["Execution".into()],
            }],
            ..Provenance::default()
        },
    }
}

/// Triages the selected alert to completion and returns its run.
fn triaged(s: &mut State, level: Level) -> RunId {
    let fx = s.update(Action::Triage);
    let Some(Effect::Triage { item, run, .. }) = fx.into_iter().next() else {
        panic!("no triage effect");
    };
    s.update(Action::TriageDone {
        item,
        run,
        outcome: Box::new(outcome("t-1", level)),
    });
    run
}

#[test]
fn queue_loads_with_counts_and_errors() {
    let mut s = State::new("offline", "tester");
    assert!(s.loading);
    s.update(Action::QueueLoaded {
        items: sample(),
        errors: vec!["bad.ndjson:3: not JSON".into()],
    });
    assert!(!s.loading);
    assert_eq!(s.visible.len(), s.items.len());
    assert!(s.items.len() >= 20);
    assert!(
        s.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("bad.ndjson:3"))
    );
}

#[test]
fn moving_clamps_and_top_bottom_jump() {
    let mut s = loaded();
    s.update(Action::Up);
    assert_eq!(s.selected, 0);
    s.update(Action::Down);
    s.update(Action::Down);
    assert_eq!(s.selected, 2);
    s.update(Action::PageDown);
    assert_eq!(s.selected, 12);
    s.update(Action::PageUp);
    assert_eq!(s.selected, 2);
    s.update(Action::Bottom);
    assert_eq!(s.selected, s.items.len() - 1);
    s.update(Action::Down);
    assert_eq!(s.selected, s.items.len() - 1);
    s.update(Action::Top);
    assert_eq!(s.selected, 0);
}

#[test]
fn focus_and_tabs_cycle() {
    let mut s = loaded();
    s.update(Action::FocusNext);
    assert_eq!(s.focus, Focus::Reasoning);
    s.update(Action::FocusPrev);
    s.update(Action::FocusPrev);
    assert_eq!(
        s.focus,
        Focus::Evidence,
        "Tab cycles the panes, never the chat box"
    );
    for _ in 0..7 {
        s.update(Action::FocusNext);
        assert_ne!(s.mode(), Mode::Chat);
        s.update(Action::FocusPrev);
        assert_ne!(s.mode(), Mode::Chat);
    }
    s.update(Action::FocusChat);
    assert_eq!(s.mode(), Mode::Chat);
    s.update(Action::FocusNext);
    assert_eq!(s.focus, Focus::Queue, "Tab leaves the chat box");
    s.update(Action::FocusChat);
    s.update(Action::Back);
    assert_eq!(s.focus, Focus::Queue);
    s.update(Action::FocusChat);
    assert_eq!(s.focus, Focus::Chat);
    s.update(Action::NextTab);
    assert_eq!(s.tab, Tab::Alert);
    s.update(Action::PrevTab);
    s.update(Action::PrevTab);
    assert_eq!(s.tab, Tab::Escalation);
}

#[test]
fn scrolling_follows_the_focused_pane() {
    let mut s = loaded();
    triaged(&mut s, Level::High);
    s.update(Action::FocusNext);
    s.extents.reasoning.set(20);
    s.update(Action::Up);
    assert_eq!(
        s.reasoning_scroll,
        Some(19),
        "scrolling up leaves follow mode one line above the end"
    );
    s.update(Action::PageDown);
    assert_eq!(s.reasoning_scroll, None, "reaching the end follows again");
    s.update(Action::Bottom);
    assert_eq!(s.reasoning_scroll, None);
    s.update(Action::FocusNext);
    s.update(Action::Down);
    assert_eq!(s.tech_selected, 0, "only one technique to select");
    assert_eq!(
        s.selected, 0,
        "the queue does not move while another pane has focus"
    );
}

#[test]
fn filter_narrows_the_queue_and_esc_clears_it() {
    let mut s = loaded();
    s.update(Action::Filter);
    assert_eq!(s.mode(), Mode::Text);
    for c in "lsass".chars() {
        s.update(Action::InputChar(c));
    }
    assert!(!s.visible.is_empty() && s.visible.len() < s.items.len());
    assert!(
        s.visible
            .iter()
            .all(|i| s.items[*i].haystack.contains("lsass"))
    );
    s.update(Action::InputBackspace);
    assert_eq!(s.filter, "lsas");
    s.update(Action::InputSubmit);
    assert_eq!(s.mode(), Mode::Normal);
    assert_eq!(s.filter, "lsas");
    s.update(Action::Cancel);
    assert!(s.filter.is_empty());
    assert_eq!(s.visible.len(), s.items.len());
    s.update(Action::Filter);
    s.update(Action::InputChar('x'));
    s.update(Action::Back);
    assert!(s.filter.is_empty() && !s.filter_editing);
}

#[test]
fn triage_streams_then_settles_and_stale_runs_are_dropped() {
    let mut s = loaded();
    let fx = s.update(Action::Triage);
    let Some(Effect::Triage { item, run, .. }) = fx.into_iter().next() else {
        panic!("no triage effect");
    };
    assert_eq!(s.items[item].status, ItemStatus::Triaging);
    s.update(Action::TriageStarted { item, run });
    s.update(Action::Retrieved {
        item,
        run,
        techniques: vec![],
    });
    s.update(Action::ReasoningDelta {
        item,
        run,
        text: "## Assess".into(),
    });
    s.update(Action::ReasoningDelta {
        item,
        run,
        text: "ment\n".into(),
    });
    assert_eq!(s.items[item].reasoning.text, "## Assessment\n");
    assert!(
        s.items[item].reasoning.settled.is_none(),
        "not laid out while growing"
    );
    // A second Enter does not start a second run.
    assert!(s.update(Action::Triage).is_empty());
    // Results from another run are ignored.
    s.update(Action::ReasoningDelta {
        item,
        run: RunId(999),
        text: "stale".into(),
    });
    s.update(Action::TriageDone {
        item,
        run: RunId(999),
        outcome: Box::new(outcome("t-x", Level::Low)),
    });
    assert!(s.items[item].verdict.is_none());
    s.update(Action::TriageDone {
        item,
        run,
        outcome: Box::new(outcome("t-1", Level::High)),
    });
    let it = &s.items[item];
    assert_eq!(it.status, ItemStatus::Triaged);
    assert_eq!(it.verdict.as_ref().map(|v| v.verdict), Some(Level::High));
    assert!(it.reasoning.settled.is_some());
    assert!(it.techniques[0].matched);
    assert!(s.runs.is_empty());
    assert!(
        s.update(Action::Triage).is_empty(),
        "already triaged: Enter does nothing"
    );
    assert_eq!(s.update(Action::Retriage).len(), 1);
}

#[test]
fn a_failed_triage_is_shown_with_its_error() {
    let mut s = loaded();
    let fx = s.update(Action::Triage);
    let Some(Effect::Triage { item, run, .. }) = fx.into_iter().next() else {
        panic!();
    };
    s.update(Action::TriageFailed {
        item,
        run,
        error: "anthropic returned 401".into(),
    });
    assert_eq!(s.items[item].status, ItemStatus::Failed);
    assert!(
        s.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("401"))
    );
}

#[test]
fn triage_all_new_is_bounded_by_the_filter_and_tracks_progress() {
    let mut s = loaded();
    triaged(&mut s, Level::High);
    let fx = s.update(Action::TriageAllNew);
    assert_eq!(fx.len(), s.items.len() - 1);
    assert_eq!(s.batch.map(|b| b.total), Some(s.items.len() - 1));
    let runs: Vec<(usize, RunId)> = fx
        .into_iter()
        .filter_map(|e| match e {
            Effect::Triage { item, run, .. } => Some((item, run)),
            _ => None,
        })
        .collect();
    for (item, run) in &runs {
        s.update(Action::TriageFailed {
            item: *item,
            run: *run,
            error: "x".into(),
        });
    }
    assert!(s.batch.is_none(), "batch finishes when every run reported");
    assert!(s.update(Action::TriageAllNew).is_empty());
}

#[test]
fn esc_cancels_the_running_stream_and_its_store_rows() {
    let mut s = loaded();
    s.update(Action::Triage);
    let fx = s.update(Action::Cancel);
    assert!(
        matches!(fx.as_slice(), [Effect::Cancel { alert_key, .. }] if alert_key == &s.items[0].alert.alert.id)
    );
    assert_eq!(s.items[0].status, ItemStatus::New);
    assert!(s.runs.is_empty());
    assert!(s.update(Action::Cancel).is_empty());
}

#[test]
fn thumbs_up_is_saved_at_once_and_counts_for_the_session() {
    let mut s = loaded();
    assert!(
        s.update(Action::ThumbsUp).is_empty(),
        "nothing to judge before a verdict"
    );
    triaged(&mut s, Level::High);
    let fx = s.update(Action::ThumbsUp);
    let [Effect::SaveFeedback { feedback, .. }] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(feedback.triage_id, "t-1");
    assert_eq!(feedback.thumbs, Some(Thumbs::Up));
    assert_eq!(feedback.analyst, "tester");
    assert_eq!(s.items[0].status, ItemStatus::Reviewed);
    assert_eq!(s.session_accuracy(), (1, 1));
    s.update(Action::Saved {
        item: 0,
        what: "thumbs up".into(),
    });
    assert!(
        s.notice
            .as_ref()
            .is_some_and(|n| n.text.starts_with("thumbs up recorded"))
    );
}

#[test]
fn thumbs_down_asks_for_a_reason() {
    let mut s = loaded();
    triaged(&mut s, Level::High);
    assert!(s.update(Action::ThumbsDown).is_empty());
    assert_eq!(s.mode(), Mode::PickReason);
    let fx = s.update(Action::PickReason(DownReason::InventedFacts));
    let [Effect::SaveFeedback { feedback, .. }] = fx.as_slice() else {
        panic!();
    };
    assert_eq!(feedback.thumbs, Some(Thumbs::Down));
    assert_eq!(feedback.reason, Some(DownReason::InventedFacts));
    assert_eq!(s.overlay, Overlay::None);
    assert_eq!(s.session_accuracy(), (0, 1));
    s.update(Action::SaveFailed {
        item: 0,
        what: "thumbs down".into(),
        error: "disk full".into(),
    });
    assert!(
        s.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("disk full"))
    );
}

#[test]
fn analyst_verdict_agreeing_or_not() {
    let mut s = loaded();
    triaged(&mut s, Level::High);
    s.update(Action::SetVerdict);
    assert_eq!(s.mode(), Mode::PickVerdict);
    let fx = s.update(Action::PickVerdict(Level::Benign));
    let [Effect::SaveFeedback { feedback, .. }] = fx.as_slice() else {
        panic!();
    };
    assert_eq!(feedback.analyst_verdict.as_deref(), Some("BENIGN"));
    assert_eq!(feedback.thumbs, Some(Thumbs::Down));
    assert_eq!(feedback.reason, Some(DownReason::WrongVerdict));
    s.update(Action::SetVerdict);
    let fx = s.update(Action::PickVerdict(Level::High));
    let [Effect::SaveFeedback { feedback, .. }] = fx.as_slice() else {
        panic!();
    };
    assert_eq!(feedback.thumbs, Some(Thumbs::Up));
    assert_eq!(
        s.session_accuracy(),
        (1, 1),
        "the latest judgement of an alert counts"
    );
}

#[test]
fn notes_are_saved_without_judging_the_verdict() {
    let mut s = loaded();
    s.update(Action::AddNote);
    assert_eq!(s.mode(), Mode::Text);
    for c in "call the user".chars() {
        s.update(Action::InputChar(c));
    }
    let fx = s.update(Action::InputSubmit);
    assert!(
        matches!(fx.as_slice(), [Effect::SaveNote { text, triage_id: None, .. }] if text == "call the user")
    );
    assert_eq!(s.items[0].notes, vec!["call the user".to_string()]);
    assert!(s.session.is_empty());
    s.update(Action::AddNote);
    s.update(Action::InputChar('x'));
    s.update(Action::Back);
    assert_eq!(s.overlay, Overlay::None);
    assert!(s.note_input.is_empty());
}

#[test]
fn chat_streams_an_answer_and_keeps_history() {
    let mut s = loaded();
    triaged(&mut s, Level::High);
    assert!(s.update(Action::ChatSubmit("   ".into())).is_empty());
    let fx = s.update(Action::ChatSubmit("who uses this?".into()));
    let [
        Effect::Chat {
            item,
            run,
            history,
            question,
            verdict,
            ..
        },
    ] = fx.as_slice()
    else {
        panic!();
    };
    let (item, run) = (*item, *run);
    assert!(history.is_empty());
    assert_eq!(question, "who uses this?");
    assert!(verdict.is_some());
    assert!(
        s.update(Action::ChatSubmit("again".into())).is_empty(),
        "one answer at a time"
    );
    s.update(Action::ChatRetrieved {
        item,
        run,
        techniques: vec![TechniqueRow {
            id: "T1105".into(),
            name: "Ingress Tool Transfer".into(),
            tactics: vec![],
            score: 0.5,
            why: vec![],
            matched: false,
            from_chat: false,
        }],
    });
    assert!(
        s.items[item]
            .techniques
            .iter()
            .any(|t| t.id == "T1105" && t.from_chat)
    );
    s.update(Action::ChatDelta {
        item,
        run,
        text: "APT29 ".into(),
    });
    s.update(Action::ChatDelta {
        item,
        run,
        text: "and others".into(),
    });
    s.update(Action::ChatDone { item, run });
    let last = s.items[item].chat.last().map(|e| e.text.text.clone());
    assert_eq!(last.as_deref(), Some("APT29 and others"));
    let fx = s.update(Action::ChatSubmit("and then?".into()));
    let [Effect::Chat { history, run, .. }] = fx.as_slice() else {
        panic!();
    };
    assert_eq!(history.len(), 2);
    s.update(Action::ChatFailed {
        item,
        run: *run,
        error: "529 overloaded".into(),
    });
    assert_eq!(
        s.items[item].chat.last().map(|e| e.role),
        Some(ChatRole::Error)
    );
}

#[test]
fn popups_open_close_and_ask_for_their_data() {
    let mut s = loaded();
    assert!(s.update(Action::Help).is_empty());
    assert_eq!(s.overlay, Overlay::Help);
    assert_eq!(s.mode(), Mode::Popup);
    s.update(Action::Down);
    assert_eq!(s.overlay_scroll, 0, "nothing drawn yet: nothing to scroll");
    s.extents.overlay.set(40);
    s.update(Action::Down);
    assert_eq!(s.overlay_scroll, 1);
    s.update(Action::Help);
    assert_eq!(s.overlay, Overlay::None);

    assert!(matches!(
        s.update(Action::Stats).as_slice(),
        [Effect::LoadStats { analyst: None }]
    ));
    s.update(Action::StatsLoaded(Box::default()));
    assert!(s.stats.is_some());
    s.update(Action::StatsFailed("locked".into()));
    assert_eq!(s.stats_error.as_deref(), Some("locked"));
    s.update(Action::Back);

    assert!(
        s.update(Action::TechniqueDetail).is_empty(),
        "no technique before triage"
    );
    triaged(&mut s, Level::High);
    assert!(
        matches!(s.update(Action::TechniqueDetail).as_slice(), [Effect::LoadDetail { id }] if id == "T1059.001")
    );
    s.update(Action::DetailLoaded(Box::default()));
    assert!(s.detail.is_some());
    s.update(Action::Back);

    assert!(matches!(
        s.update(Action::Preview).as_slice(),
        [Effect::Preview {
            item: 0,
            sent: None,
            ..
        }]
    ));
    s.update(Action::PreviewLoaded {
        item: 0,
        preview: Box::default(),
    });
    assert!(s.preview.is_some());
    s.update(Action::PreviewLoaded {
        item: 5,
        preview: Box::default(),
    });
    s.update(Action::Back);

    let fx = s.update(Action::Export);
    assert!(
        matches!(fx.as_slice(), [Effect::Export { markdown, .. }] if markdown.contains("## Verdict: HIGH"))
    );
    s.update(Action::Exported {
        item: 0,
        path: "/tmp/x.md".into(),
    });
    assert!(
        s.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("/tmp/x.md"))
    );
}

#[test]
fn quit_asks_while_streams_run() {
    let mut s = loaded();
    s.update(Action::Triage);
    assert!(s.update(Action::Quit).is_empty());
    assert_eq!(s.mode(), Mode::Confirm);
    s.update(Action::Back);
    assert!(!s.quit);
    let fx = s.update(Action::ConfirmQuit);
    assert!(s.quit);
    assert!(matches!(fx.as_slice(), [Effect::Quit { running, .. }] if running.len() == 1));

    let mut idle = loaded();
    assert!(
        matches!(idle.update(Action::Quit).as_slice(), [Effect::Quit { running, .. }] if running.is_empty())
    );
    assert!(idle.quit);
}

#[test]
fn worker_notices_and_knowledge_base_state() {
    let mut s = State::new("offline", "tester");
    s.update(Action::KbProgress("first run: embedding 40%".into()));
    assert!(matches!(&s.kb, KbState::Loading(m) if m.contains("40%")));
    s.update(Action::KbFailed("no index".into()));
    assert!(matches!(s.kb, KbState::Failed(_)));
    s.update(Action::QueueLoaded {
        items: sample(),
        errors: vec![],
    });
    assert!(
        s.update(Action::Triage).is_empty(),
        "no triage without a knowledge base"
    );
    assert!(s.update(Action::TriageAllNew).is_empty());
    s.update(Action::Notice("hello".into()));
    assert_eq!(s.notice.as_ref().map(|n| n.text.as_str()), Some("hello"));
    let n = s.items.len();
    s.update(Action::AlertsArrived {
        items: sample().into_iter().take(2).collect(),
        source: "webhook".into(),
    });
    assert_eq!(s.items.len(), n + 2);
    s.dirty = false;
    s.update(Action::Resize);
    assert!(s.dirty);
    s.update(Action::ChatSend);
    s.update(Action::ConfirmQuit);
    assert!(s.quit);
}

#[test]
fn tokens_for_alerts_off_screen_do_not_force_a_redraw() {
    let mut s = loaded();
    s.update(Action::Bottom);
    s.update(Action::Top);
    let fx = s.update(Action::TriageAllNew);
    let Some(Effect::Triage { item, run, .. }) = fx.into_iter().last() else {
        panic!();
    };
    assert_ne!(s.selected_id(), Some(item));
    s.dirty = false;
    s.update(Action::ReasoningDelta {
        item,
        run,
        text: "x".into(),
    });
    assert!(!s.dirty);
    assert_eq!(s.items[item].reasoning.text, "x");
}

#[test]
fn history_from_the_store_comes_back() {
    let mut items = sample();
    let o = outcome("t-old", Level::Low);
    items[0].history = History {
        triage_id: Some("t-old".into()),
        verdict: Some(o.verdict),
        provenance: Some(o.provenance),
        judgement: Judgement {
            thumbs: Some(Thumbs::Up),
            reason: None,
            analyst_verdict: None,
        },
        notes: vec!["seen before".into()],
        chat: vec![],
        failure: None,
        seen_before: vec![],
        closed: None,
        holder: None,
    };
    let mut s = State::new("offline", "t");
    s.update(Action::QueueLoaded {
        items,
        errors: vec![],
    });
    assert_eq!(s.items[0].status, ItemStatus::Reviewed);
    assert_eq!(s.items[0].triage_id.as_deref(), Some("t-old"));
}

/// A model triage of the selected alert that fails after the model said `raw`.
fn failed(s: &mut State, raw: &str) -> usize {
    let fx = s.update(Action::Triage);
    let Some(Effect::Triage {
        item, run, offline, ..
    }) = fx.into_iter().next()
    else {
        panic!("no triage");
    };
    assert!(!offline);
    s.update(Action::RunOpened {
        item,
        run,
        triage_id: "t-fail".into(),
    });
    s.update(Action::RawAnswer {
        item,
        run,
        text: raw.into(),
    });
    s.update(Action::TriageFailed {
        item,
        run,
        error: "verdict still invalid after one repair".into(),
    });
    item
}

#[test]
fn a_failed_model_triage_shows_what_the_model_said_and_can_be_judged() {
    let mut s = loaded();
    let item = failed(
        &mut s,
        r#"Encoded PowerShell from Word. {"verdict": "HIGH", "matched_techniques": [{"id": "T1059.001""#,
    );
    let it = &s.items[item];
    assert_eq!(it.status, ItemStatus::Failed);
    assert_eq!(it.triage_id.as_deref(), Some("t-fail"));
    let f = it.failure.as_ref().expect("failure kept");
    assert_eq!(f.salvaged.level, Some(Level::High));
    assert_eq!(f.salvaged.techniques, vec!["T1059.001".to_string()]);
    assert!(it.matches(&["high?"]) || it.matches(&["high"]));

    // `+` agrees with the model's unvalidated level, against the failed run.
    let fx = s.update(Action::ThumbsUp);
    let [Effect::SaveFeedback { feedback, .. }] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(feedback.triage_id, "t-fail");
    assert_eq!(feedback.thumbs, Some(Thumbs::Up));
    assert_eq!(feedback.analyst_verdict.as_deref(), Some("HIGH"));
    assert_eq!(s.session_accuracy(), (0, 0), "no tool verdict to score");
    // `-` and `v` work too.
    s.update(Action::ThumbsDown);
    assert_eq!(s.mode(), Mode::PickReason);
    s.update(Action::Back);
    s.update(Action::SetVerdict);
    let fx = s.update(Action::PickVerdict(Level::Low));
    let [Effect::SaveFeedback { feedback, .. }] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(
        (feedback.thumbs, feedback.analyst_verdict.as_deref()),
        (Some(Thumbs::Down), Some("LOW"))
    );

    // One key re-runs it offline.
    let fx = s.update(Action::TriageOffline);
    assert!(matches!(
        fx.as_slice(),
        [Effect::Triage { offline: true, .. }]
    ));
    assert!(s.items[item].failure.is_none());
}

#[test]
fn a_failed_run_that_named_no_level_asks_for_one_on_thumbs_up() {
    let mut s = loaded();
    failed(&mut s, "I am not sure what this is.");
    assert!(s.update(Action::ThumbsUp).is_empty());
    assert_eq!(s.mode(), Mode::PickVerdict);
    let fx = s.update(Action::PickVerdict(Level::Medium));
    assert!(
        matches!(fx.as_slice(), [Effect::SaveFeedback { feedback, .. }]
        if feedback.analyst_verdict.as_deref() == Some("MEDIUM"))
    );
}

#[test]
fn wrong_verdict_asks_for_the_right_one() {
    let mut s = loaded();
    triaged(&mut s, Level::High);
    s.update(Action::ThumbsDown);
    assert!(
        s.update(Action::PickReason(DownReason::WrongVerdict))
            .is_empty()
    );
    assert_eq!(s.mode(), Mode::PickVerdict);
    let fx = s.update(Action::PickVerdict(Level::Low));
    let [Effect::SaveFeedback { feedback, .. }] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(feedback.thumbs, Some(Thumbs::Down));
    assert_eq!(feedback.reason, Some(DownReason::WrongVerdict));
    assert_eq!(feedback.analyst_verdict.as_deref(), Some("LOW"));
    assert_eq!(s.items[0].judgement.analyst_verdict, Some(Level::Low));
}

#[test]
fn batches_count_failures_apart_and_failed_alerts_rerun_with_one_key() {
    let mut s = loaded();
    let fx = s.update(Action::TriageAllNew);
    let runs: Vec<(usize, RunId)> = fx
        .into_iter()
        .filter_map(|e| match e {
            Effect::Triage { item, run, .. } => Some((item, run)),
            _ => None,
        })
        .collect();
    let n = runs.len();
    for (i, (item, run)) in runs.into_iter().enumerate() {
        if i < 3 {
            s.update(Action::TriageFailed {
                item,
                run,
                error: "529 overloaded".into(),
            });
        } else {
            s.update(Action::TriageDone {
                item,
                run,
                outcome: Box::new(outcome(&format!("t{i}"), Level::Low)),
            });
        }
        if i == 3 {
            let b = s.batch.expect("running");
            assert_eq!((b.done, b.failed), (4, 3));
        }
    }
    let notice = s.notice.clone().expect("notice");
    assert!(
        notice.error
            && notice
                .text
                .contains(&format!("{} triaged, 3 failed", n - 3)),
        "{notice:?}"
    );
    let fx = s.update(Action::RetriageFailed { offline: true });
    assert_eq!(fx.len(), 3);
    assert!(
        fx.iter()
            .all(|e| matches!(e, Effect::Triage { offline: true, .. }))
    );
    assert!(
        s.update(Action::RetriageFailed { offline: false })
            .is_empty()
    );
}

#[test]
fn enter_while_the_knowledge_base_builds_says_so() {
    let mut s = State::new("offline", "t");
    s.update(Action::QueueLoaded {
        items: sample(),
        errors: Vec::new(),
    });
    s.update(Action::KbProgress("embedding 1200/2000 techniques".into()));
    assert_eq!(s.update(Action::Triage).len(), 1, "the run waits for it");
    let n = s.notice.clone().expect("notice").text;
    assert!(
        n.contains("waiting for the knowledge base") && n.contains("1200/2000"),
        "{n}"
    );
}

#[test]
fn the_filter_matches_what_rows_show_and_esc_always_clears_it() {
    let mut s = loaded();
    triaged(&mut s, Level::Benign);
    s.update(Action::Filter);
    for c in "ben".chars() {
        s.update(Action::InputChar(c));
    }
    assert_eq!(s.visible, vec![0], "BEN badge of the tool's verdict");
    s.update(Action::InputSubmit);
    s.update(Action::Filter);
    assert!(s.filter.is_empty(), "a new / starts a fresh filter");
    for c in "crit".chars() {
        s.update(Action::InputChar(c));
    }
    assert!(!s.visible.is_empty());
    assert!(s.visible.iter().all(|i| {
        s.items[*i].alert.alert.severity == Some(crate::alert::Severity::Critical)
            || s.items[*i].haystack.contains("crit")
    }));
    for c in "zzzz".chars() {
        s.update(Action::InputChar(c));
    }
    s.update(Action::InputSubmit);
    assert!(s.visible.is_empty());
    s.update(Action::Cancel);
    assert!(
        s.filter.is_empty(),
        "Esc clears a filter that matches nothing"
    );
    assert_eq!(s.visible.len(), s.items.len());
}

#[test]
fn popup_and_pane_scrolling_clamps_to_what_is_there() {
    let mut s = loaded();
    s.update(Action::Help);
    s.extents.overlay.set(30);
    s.update(Action::Bottom);
    assert_eq!(s.overlay_scroll, 30);
    for _ in 0..5 {
        s.update(Action::PageDown);
    }
    assert_eq!(s.overlay_scroll, 30, "paging past the end stays at the end");
    s.update(Action::Up);
    assert_eq!(s.overlay_scroll, 29, "one key scrolls back at once");
    s.update(Action::Back);
    s.update(Action::FocusChat);
    s.extents.chat.set(12);
    s.update(Action::ChatScroll(-5));
    assert_eq!(s.chat_scroll, Some(7));
    s.update(Action::ChatScroll(50));
    assert_eq!(s.chat_scroll, None, "back at the end: follows");
}

#[path = "team_tests.rs"]
mod team_tests;
