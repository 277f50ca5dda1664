//! The console without a terminal: `TestBackend` snapshots of every pane, popup and the
//! stats screen at 80×24 and wide; hostile alert text drawn inert; and a headless flow
//! through the action channel with the real workers, the store and the mock Anthropic server.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use soc_copilot::alert::load_paths;
use soc_copilot::config::Config;
use soc_copilot::llm::anthropic::Anthropic;
use soc_copilot::llm::client::DriveOptions;
use soc_copilot::store::Store;
use soc_copilot::store::accuracy::{Accuracy, CalibrationBucket, Rate};
use soc_copilot::store::feedback::Thumbs;
use soc_copilot::triage::model::ModelEngine;
use soc_copilot::triage::provenance::{Provenance, RetrievedTechnique};
use soc_copilot::triage::verdict::{
    ChainStep, Escalation, Evidence, InvestigationQuery, MatchedTechnique,
};
use soc_copilot::triage::{Engine, OfflineEngine};
use soc_copilot::triage::{Level, TriageOutcome, TriageParams, Verdict};
use soc_copilot::tui::keymap::Keymap;
use soc_copilot::tui::state::{KbState, LoadedItem, PreviewDoc, State, TechniqueDetail};
use soc_copilot::tui::ui::Theme;
use soc_copilot::tui::workers::{Source, WorkerConfig, Workers};
use soc_copilot::tui::{Action, Console, Effect};
use tokio::sync::mpsc;

use crate::agent::settings;
use crate::common::{fixture_bundle, ingest_into, repo};
use crate::support::llm::{LlmServer, Reply, anthropic_stream, anthropic_tool_calls};

fn queue() -> Vec<LoadedItem> {
    LoadedItem::fresh(load_paths(&[repo().join("data/queue")]).alerts)
}

fn outcome() -> TriageOutcome {
    let verdict = Verdict {
        triage_id: "3f1c".into(),
        verdict: Level::High,
        confidence: 0.82,
        matched_techniques: vec![MatchedTechnique {
            id: "T1059.001".into(),
            name: "PowerShell".into(),
            rationale: "encoded command from Word".into(),
            in_context: true,
        }],
        attack_chain: vec![ChainStep {
            tactic: "Execution".into(),
            technique: Some("T1059.001".into()),
            description: "Word launched PowerShell".into(),
        }],
        reasoning: "## Assessment\n- Word spawned `powershell.exe -enc`\n- **hidden window**"
            .into(),
        recommended_actions: vec!["Isolate FIN-WS-042".into(), "Reset j.doe's password".into()],
        false_positive_indicators: vec!["A signed admin macro".into()],
        investigation_queries: vec![InvestigationQuery {
            language: "SPL".into(),
            query: "index=edr host=FIN-WS-042 parent=WINWORD.EXE".into(),
            purpose: "process lineage".into(),
        }],
        evidence: vec![Evidence {
            quote: "WINWORD.EXE".into(),
            verified: Some(true),
            ..Evidence::new(
                "Parent process is WINWORD.EXE".into(),
                "alert:raw_log.event.ParentImage",
                String::new(),
            )
        }],
        escalation: Escalation {
            recommended: true,
            draft: "Likely macro dropper on FIN-WS-042.".into(),
        },
        injection_flags: vec![],
        warnings: vec!["T1086 is revoked; mapped to T1059.001".into()],
        engine: "anthropic".into(),
        claims: Some(soc_copilot::triage::verdict::ClaimCheck {
            verified: 1,
            total: 1,
        }),
    };
    TriageOutcome {
        triage_id: "3f1c".into(),
        alert_row: 1,
        verdict,
        provenance: Provenance {
            engine: "anthropic".into(),
            model: Some("claude-sonnet-4-5".into()),
            prompt_hash: "ab12cd34ef56".into(),
            attack_version: "18.1".into(),
            retrieval: vec![
                RetrievedTechnique {
                    id: "T1059.001".into(),
                    name: "PowerShell".into(),
                    score: 0.91,
                    why: vec![
                        "title: powershell".into(),
                        "command line: enc hidden".into(),
                    ],
                    tactics: vec!["Execution".into()],
                },
                RetrievedTechnique {
                    id: "T1204.002".into(),
                    name: "Malicious File".into(),
                    score: 0.62,
                    why: vec!["description: docm".into()],
                    tactics: vec!["Execution".into()],
                },
            ],
            input_tokens: 2400,
            output_tokens: 610,
            cost_usd: 0.0164,
            latency_ms: 5210,
            ttft_ms: Some(640),
            ..Provenance::default()
        },
    }
}

/// An offline console with the sample queue loaded (the knowledge base still loading).
fn offline_with_queue() -> Console {
    let mut c = Console::new(
        State::new("offline", "t"),
        Keymap::default(),
        Theme { color: false },
    );
    c.dispatch(Action::QueueLoaded {
        items: queue(),
        errors: vec![],
    });
    c
}

/// The sample queue with the first alert triaged, judged, and asked about.
pub(crate) fn worked() -> Console {
    let mut c = Console::new(
        State::new("anthropic · claude-sonnet-4-5", "tester"),
        Keymap::default(),
        Theme { color: false },
    );
    c.dispatch(Action::KbReady {
        description: "ATT&CK 18.1".into(),
    });
    c.dispatch(Action::QueueLoaded {
        items: queue(),
        errors: vec![],
    });
    let fx = c.dispatch(Action::Triage);
    let Some(Effect::Triage { item, run, .. }) = fx.into_iter().next() else {
        panic!("no triage effect");
    };
    c.dispatch(Action::TriageDone {
        item,
        run,
        outcome: Box::new(outcome()),
    });
    c.dispatch(Action::ThumbsUp);
    let fx = c.dispatch(Action::ChatSubmit("Which groups use this?".into()));
    let Some(Effect::Chat { item, run, .. }) = fx.into_iter().next() else {
        panic!("no chat effect");
    };
    c.dispatch(Action::ChatDelta {
        item,
        run,
        text: "**APT29** and FIN7 use `T1059.001`.".into(),
    });
    c.dispatch(Action::ChatDone { item, run });
    c.dispatch(Action::Saved {
        item: 0,
        what: "thumbs up".into(),
    });
    c
}

pub(crate) fn screen(c: &Console, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| c.draw(f)).expect("draw");
    t.backend().to_string()
}

pub(crate) fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

#[test]
fn snapshot_narrow_and_wide() {
    let c = worked();
    insta::assert_snapshot!("narrow_80x24", screen(&c, 80, 24));
    insta::assert_snapshot!("wide_160x45", screen(&c, 160, 45));
}

#[test]
fn snapshot_loading_and_empty() {
    let c = Console::new(
        State::new("offline", "t"),
        Keymap::default(),
        Theme { color: false },
    );
    insta::assert_snapshot!("loading_80x24", screen(&c, 80, 24));
}

#[test]
fn snapshot_every_evidence_tab() {
    let mut c = worked();
    let mut tabs = Vec::new();
    for _ in 0..soc_copilot::tui::state::Tab::ALL.len() {
        tabs.push(screen(&c, 160, 45));
        c.dispatch(Action::NextTab);
    }
    insta::assert_snapshot!("tabs_wide", tabs.join("\n=====\n"));
}

#[test]
fn snapshot_focus_and_streaming() {
    let mut c = offline_with_queue();
    let fx = c.dispatch(Action::Triage);
    let Some(Effect::Triage { item, run, .. }) = fx.into_iter().next() else {
        panic!();
    };
    c.dispatch(Action::ReasoningDelta {
        item,
        run,
        text: "## Thinking\nWord spawned **Power".into(),
    });
    c.key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    insta::assert_snapshot!("streaming_80x24", screen(&c, 80, 24));
}

#[test]
fn snapshot_popups() {
    let mut c = worked();
    let mut shots = Vec::new();
    c.key(key('?'));
    shots.push(("help", screen(&c, 120, 40)));
    c.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    c.key(key('t'));
    c.dispatch(Action::DetailLoaded(Box::new(TechniqueDetail {
        id: "T1059.001".into(),
        name: "PowerShell".into(),
        tactics: vec!["Execution".into()],
        platforms: vec!["Windows".into()],
        description: "Adversaries may abuse PowerShell commands and scripts for execution.".into(),
        detection: vec!["Process creation: powershell.exe with -enc from an Office parent".into()],
        mitigations: vec![
            "M1042 Disable or Remove Feature or Program: remove PowerShell where not needed".into(),
        ],
        groups: vec!["APT29".into(), "FIN7".into()],
        url: "https://attack.mitre.org/techniques/T1059/001".into(),
    })));
    shots.push(("detail", screen(&c, 100, 30)));
    c.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    c.key(key('p'));
    c.dispatch(Action::PreviewLoaded {
        item: 0,
        preview: Box::new(PreviewDoc {
            heading: "Would be sent to anthropic · claude-sonnet-4-5".into(),
            system: "You are a senior SOC analyst.".into(),
            user: "## ATT&CK context\n\n## The alert\n<<ALERT-00ff>>\ntitle: Encoded PowerShell\n<<END-ALERT-00ff>>\n\nTriage this alert.".into(),
            delimiter: "ALERT-00ff".into(),
            hash: "0123456789abcdef0123".into(),
        }),
    });
    shots.push(("preview", screen(&c, 100, 30)));
    c.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    c.key(key('-'));
    shots.push(("thumbs_down", screen(&c, 80, 24)));
    c.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    c.key(key('v'));
    shots.push(("verdict", screen(&c, 80, 24)));
    c.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    c.key(key('N'));
    for ch in "called the user".chars() {
        c.key(key(ch));
    }
    shots.push(("note", screen(&c, 80, 24)));
    c.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    c.key(key('j'));
    c.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    c.key(key('q'));
    shots.push(("confirm_quit", screen(&c, 80, 24)));
    for (name, s) in shots {
        insta::assert_snapshot!(name, s);
    }
}

#[test]
fn snapshot_stats_screen() {
    let mut c = worked();
    c.key(key('s'));
    let rate = |correct: u64, total: u64| Rate {
        total,
        correct,
        accuracy: Some(correct as f64 / total as f64),
    };
    let mut a = Accuracy {
        overall: rate(31, 40),
        thumbs_up: 30,
        thumbs_down: 10,
        ..Accuracy::default()
    };
    for (v, r) in [
        ("CRITICAL", rate(5, 6)),
        ("HIGH", rate(10, 12)),
        ("MEDIUM", rate(7, 10)),
        ("LOW", rate(4, 6)),
        ("BENIGN", rate(5, 6)),
    ] {
        a.per_verdict.insert(v.into(), r);
    }
    a.per_engine.insert("offline".into(), rate(20, 26));
    a.per_engine.insert("anthropic".into(), rate(11, 14));
    a.confusion
        .entry("HIGH".into())
        .or_default()
        .insert("HIGH".into(), 10);
    a.confusion
        .entry("HIGH".into())
        .or_default()
        .insert("BENIGN".into(), 2);
    a.confusion
        .entry("MEDIUM".into())
        .or_default()
        .insert("LOW".into(), 3);
    for (i, d) in [
        "2026-11-18",
        "2026-11-19",
        "2026-11-20",
        "2026-11-21",
        "2026-11-22",
    ]
    .iter()
    .enumerate()
    {
        a.by_day.insert((*d).into(), rate(5 + i as u64, 10));
    }
    a.calibration = (0..5)
        .map(|i| CalibrationBucket {
            from: i as f64 * 0.2,
            to: (i + 1) as f64 * 0.2,
            mean_confidence: Some(i as f64 * 0.2 + 0.1),
            rate: rate(i + 1, 6),
        })
        .collect();
    a.down_reasons.insert("wrong_verdict".into(), 6);
    a.down_reasons.insert("invented_facts".into(), 3);
    a.down_reasons.insert("other".into(), 1);
    c.dispatch(Action::StatsLoaded(Box::new(a)));
    assert!(screen(&c, 120, 40).contains("No evaluation yet: soc-copilot eval triage"));
    c.dispatch(Action::LabLoaded {
        lines: vec![
            "Eval 2026-12-01 · triage-cases.jsonl · offline: passed pipeline 52% (44/85)".into(),
            "Feedback replay 2026-12-01 · offline: later alerts 35% (24/68) with feedback, 37% (25/68) without (-1.5 pts)".into(),
            "Backtest 2026-12-01 · 85 reviewed alerts: recorded verdicts 39% (33/85) ECE 0.17 vs offline pipeline 39% (33/85) ECE 0.17".into(),
        ],
        compact: Some("Lab: eval offline pipeline 52% · feedback -1.5 pts · backtest 39% vs 39%".into()),
    });
    insta::assert_snapshot!("stats_120x40", screen(&c, 120, 40));
    insta::assert_snapshot!("stats_80x24", screen(&c, 80, 24));
}

#[test]
fn hostile_alert_text_is_drawn_inert() {
    let mut c = worked();
    // q-24 (next to last) tries to set the window title with OSC 0 and carries a prompt injection.
    c.dispatch(Action::Bottom);
    c.dispatch(Action::Up);
    assert_eq!(
        c.state.selected_item().map(|i| i.alert.alert.id.as_str()),
        Some("q-24")
    );
    let shown = screen(&c, 160, 45);
    assert!(shown.contains("Suspicious User-Agent"));
    assert!(!shown.contains("owned"), "the OSC payload must not survive");
    // Model text that slips past the worker's sanitising is still neutralised when drawn.
    let fx = c.dispatch(Action::Triage);
    let Some(Effect::Triage { item, run, .. }) = fx.into_iter().next() else {
        panic!();
    };
    c.dispatch(Action::ReasoningDelta {
        item,
        run,
        text: "before\u{1b}[2J\u{1b}]0;pwned\u{7}\u{1b}[10;10Hafter".into(),
    });
    let mut t = Terminal::new(TestBackend::new(160, 45)).expect("terminal");
    t.draw(|f| c.draw(f)).expect("draw");
    for cell in t.backend().buffer().content() {
        assert!(
            !cell.symbol().chars().any(char::is_control),
            "control character drawn: {:?}",
            cell.symbol()
        );
    }
}

#[test]
fn keys_reach_the_chat_box_only_while_it_has_focus() {
    let mut c = worked();
    c.key(key('c'));
    for ch in "q j k +".chars() {
        c.key(key(ch));
    }
    assert!(!c.state.quit, "q typed into the chat box does not quit");
    assert_eq!(c.input.lines().join(""), "q j k +");
    c.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
    c.key(key('x'));
    assert_eq!(c.input.lines().len(), 2, "Alt-Enter is a newline");
    let fx = c.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(matches!(fx.as_slice(), [Effect::Chat { question, .. }] if question == "q j k +\nx"));
    assert!(c.input.lines().join("").is_empty());
    c.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    c.key(key('q'));
    assert_eq!(
        c.state.mode(),
        soc_copilot::tui::state::Mode::Confirm,
        "a chat stream is running"
    );
}

fn verdict_json() -> String {
    serde_json::json!({
        "verdict": "HIGH", "confidence": 0.8,
        "matched_techniques": [{"id": "T1059.001", "name": "PowerShell", "rationale": "encoded command"}],
        "attack_chain": [], "reasoning": "Office spawning encoded PowerShell.",
        "recommended_actions": ["Isolate the host"], "false_positive_indicators": [],
        "investigation_queries": [], "evidence": [], "escalation": {"recommended": true, "draft": "x"}
    })
    .to_string()
}

/// Feeds worker actions into the console (and its effects back to the workers) until `done`.
pub(crate) async fn pump(
    c: &mut Console,
    w: &mut Workers,
    rx: &mut mpsc::Receiver<Action>,
    what: &str,
    done: impl Fn(&State) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done(&c.state) {
        let a = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("timed out waiting for {what}; notice: {:?}", c.state.notice)
            })
            .expect("workers alive");
        for e in c.dispatch(a) {
            w.perform(e);
        }
    }
}

pub(crate) fn perform(c: &mut Console, w: &mut Workers, k: KeyEvent) {
    for e in c.key(k) {
        w.perform(e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_flow_triage_feedback_chat_with_mock_anthropic() {
    let dir = tempfile::tempdir().expect("tempdir");
    ingest_into(
        &fixture_bundle(),
        dir.path(),
        Err("BM25 only in this test".into()),
    );
    let server = LlmServer::start(vec![
        Reply::sse(&anthropic_stream(
            &[
                "## Assessment\n",
                "Word spawned PowerShell.\n\n```json\n",
                &verdict_json(),
                "\n```",
            ],
            900,
            200,
        )),
        Reply::sse(&anthropic_stream(&["APT29 ", "uses PowerShell."], 300, 20)),
    ])
    .await;
    let provider = Anthropic::new(
        &server.base_url(),
        "sk-ant-secret",
        "claude-sonnet-4-5",
        reqwest::Client::new(),
        DriveOptions::default(),
    );
    let engine: Arc<dyn Engine> = Arc::new(ModelEngine::new(Arc::new(provider), settings()));
    let mut config = Config::defaults();
    config.paths.model_dir = Some(PathBuf::from("/nonexistent"));
    let cfg = WorkerConfig {
        config,
        data_dir: dir.path().to_path_buf(),
        engine: engine.clone(),
        params: TriageParams::default(),
        concurrency: 2,
        export_dir: dir.path().join("exports"),
        database: None,
    };
    let (tx, mut rx) = mpsc::channel(soc_copilot::tui::workers::ACTION_QUEUE);
    let mut w = Workers::new(cfg, tx, tokio::runtime::Handle::current());
    let mut c = Console::new(
        State::new(&engine.label(), "tester"),
        Keymap::default(),
        Theme { color: false },
    );
    w.load(Source::Paths(vec![repo().join("data/queue")]));
    w.open_kb();
    pump(&mut c, &mut w, &mut rx, "queue and KB", |s| {
        !s.loading && matches!(s.kb, KbState::Ready(_))
    })
    .await;
    assert!(c.state.items.len() >= 20);

    perform(
        &mut c,
        &mut w,
        KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
    );
    pump(&mut c, &mut w, &mut rx, "the verdict", |s| {
        s.items[0].verdict.is_some() || s.items[0].failure.is_some()
    })
    .await;
    let it = &c.state.items[0];
    assert_eq!(it.failure, None);
    assert!(
        it.reasoning.text.contains("## Assessment"),
        "{}",
        it.reasoning.text
    );
    assert!(
        it.techniques
            .iter()
            .any(|t| t.matched && t.id == "T1059.001")
    );
    let p = it.provenance.clone().expect("provenance");
    assert_eq!((p.input_tokens, p.output_tokens), (900, 200));
    let triage_id = it.triage_id.clone().expect("triage id");

    perform(&mut c, &mut w, key('+'));
    pump(&mut c, &mut w, &mut rx, "feedback saved", |s| {
        s.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("recorded"))
    })
    .await;

    perform(&mut c, &mut w, key('c'));
    for ch in "who uses this?".chars() {
        perform(&mut c, &mut w, key(ch));
    }
    perform(
        &mut c,
        &mut w,
        KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
    );
    pump(&mut c, &mut w, &mut rx, "the answer", |s| {
        s.items[0].chat_run.is_none() && s.items[0].chat.len() == 2
    })
    .await;
    assert_eq!(c.state.items[0].chat[1].text.text, "APT29 uses PowerShell.");

    let store = Store::open_in(dir.path()).expect("store");
    let t = store.triage(&triage_id).expect("read").expect("stored");
    assert_eq!(t.verdict.as_deref(), Some("HIGH"));
    let fb = store.feedback_for(&triage_id).expect("feedback");
    assert_eq!(fb.last().map(|f| f.thumbs), Some(Thumbs::Up));
    let chat = store.chat_for(t.alert_row).expect("chat");
    assert_eq!(
        chat.iter().map(|m| m.role.as_str()).collect::<Vec<_>>(),
        ["user", "assistant"]
    );
    assert_eq!(chat[1].content, "APT29 uses PowerShell.");
    assert!(!format!("{chat:?}{t:?}").contains("sk-ant-secret"));

    let sent = server.recorded();
    assert_eq!(sent.len(), 2);
    assert!(
        sent[1].body.contains("who uses this?"),
        "the question goes to the model"
    );
    assert!(sent[1].body.contains("<<ALERT-"), "with the alert fenced");
    assert!(
        sent[1].body.contains("Office spawning encoded PowerShell"),
        "and the earlier verdict"
    );

    // A new session over the same store shows the verdict, the thumbs and the chat again.
    let (tx2, mut rx2) = mpsc::channel(soc_copilot::tui::workers::ACTION_QUEUE);
    let mut cfg2 = w_config(dir.path());
    cfg2.engine = Arc::new(OfflineEngine);
    let w2 = Workers::new(cfg2, tx2, tokio::runtime::Handle::current());
    w2.load(Source::Paths(vec![repo().join("data/queue")]));
    let Some(Action::QueueLoaded { items, .. }) = rx2.recv().await else {
        panic!("queue");
    };
    let first = &items[0].history;
    assert_eq!(first.triage_id.as_deref(), Some(triage_id.as_str()));
    assert_eq!(first.judgement.thumbs, Some(Thumbs::Up));
    assert_eq!(first.chat.len(), 2);
}

/// The console with its workers, triaging with Claude behind the scripted `server`, once
/// the queue and the knowledge base (BM25 only) are ready.
async fn claude_console(
    dir: &std::path::Path,
    server: &LlmServer,
) -> (Console, Workers, mpsc::Receiver<Action>) {
    claude_console_with(dir, server, TriageParams::default()).await
}

async fn claude_console_with(
    dir: &std::path::Path,
    server: &LlmServer,
    params: TriageParams,
) -> (Console, Workers, mpsc::Receiver<Action>) {
    let provider = Anthropic::new(
        &server.base_url(),
        "sk-ant-secret",
        "claude-sonnet-4-5",
        reqwest::Client::new(),
        DriveOptions::default(),
    );
    let mut cfg = w_config(dir);
    cfg.config.paths.model_dir = Some(PathBuf::from("/nonexistent"));
    cfg.engine = Arc::new(ModelEngine::new(Arc::new(provider), settings()));
    cfg.params = params;
    let (tx, mut rx) = mpsc::channel(soc_copilot::tui::workers::ACTION_QUEUE);
    let mut w = Workers::new(cfg, tx, tokio::runtime::Handle::current());
    let mut c = Console::new(
        State::new("anthropic", "tester"),
        Keymap::default(),
        Theme { color: false },
    );
    w.load(Source::Paths(vec![repo().join("data/queue")]));
    w.open_kb();
    pump(&mut c, &mut w, &mut rx, "ready", |s| {
        !s.loading && matches!(s.kb, KbState::Ready(_))
    })
    .await;
    (c, w, rx)
}

pub(crate) fn w_config(dir: &std::path::Path) -> WorkerConfig {
    WorkerConfig {
        config: Config::defaults(),
        data_dir: dir.to_path_buf(),
        engine: Arc::new(OfflineEngine),
        params: TriageParams::default(),
        concurrency: 2,
        export_dir: dir.join("exports"),
        database: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_chat_cancel_and_export_through_the_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    ingest_into(&fixture_bundle(), dir.path(), Err("BM25 only".into()));
    let mut cfg = w_config(dir.path());
    cfg.config.paths.model_dir = Some(PathBuf::from("/nonexistent"));
    let (tx, mut rx) = mpsc::channel(soc_copilot::tui::workers::ACTION_QUEUE);
    let mut w = Workers::new(cfg, tx, tokio::runtime::Handle::current());
    let mut c = Console::new(
        State::new("offline", "tester"),
        Keymap::default(),
        Theme { color: false },
    );
    w.load(Source::Paths(vec![repo().join("data/queue")]));
    w.open_kb();
    pump(&mut c, &mut w, &mut rx, "ready", |s| {
        !s.loading && matches!(s.kb, KbState::Ready(_))
    })
    .await;
    perform(
        &mut c,
        &mut w,
        KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
    );
    pump(&mut c, &mut w, &mut rx, "offline verdict", |s| {
        s.items[0].verdict.is_some()
    })
    .await;
    c.dispatch(Action::ChatSubmit("how do I mitigate T1059.001?".into()))
        .into_iter()
        .for_each(|e| w.perform(e));
    pump(&mut c, &mut w, &mut rx, "offline answer", |s| {
        s.items[0].chat_run.is_none() && s.items[0].chat.len() == 2
    })
    .await;
    let answer = &c.state.items[0].chat[1].text.text;
    assert!(answer.contains("needs a model"), "{answer}");
    perform(&mut c, &mut w, key('e'));
    pump(&mut c, &mut w, &mut rx, "export", |s| {
        s.notice
            .as_ref()
            .is_some_and(|n| n.text.starts_with("exported"))
    })
    .await;
    let files: Vec<_> = std::fs::read_dir(dir.path().join("exports"))
        .expect("exports")
        .collect();
    assert_eq!(files.len(), 1);
    let md = std::fs::read_to_string(files[0].as_ref().expect("entry").path()).expect("read");
    assert!(md.contains("## Verdict:") && md.contains("how do I mitigate"));
    // Notes go to the store without judging the verdict.
    perform(&mut c, &mut w, key('N'));
    for ch in "escalated to IR".chars() {
        perform(&mut c, &mut w, key(ch));
    }
    perform(
        &mut c,
        &mut w,
        KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
    );
    pump(&mut c, &mut w, &mut rx, "note", |s| {
        s.notice
            .as_ref()
            .is_some_and(|n| n.text.starts_with("note recorded"))
    })
    .await;
    let store = Store::open_in(dir.path()).expect("store");
    let row = store
        .alert_by_key(&c.state.items[0].alert.alert.id)
        .expect("read")
        .expect("alert")
        .row;
    assert_eq!(
        store.notes_for(row).expect("notes")[0].text,
        "escalated to IR"
    );
    assert_eq!(
        store.accuracy().expect("accuracy").overall.total,
        0,
        "a note is not a judgement"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esc_cancels_the_stream_closes_the_connection_and_the_store_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    ingest_into(&fixture_bundle(), dir.path(), Err("BM25 only".into()));
    let server = LlmServer::start(vec![Reply::Pinging]).await;
    let (mut c, mut w, _rx) = claude_console(dir.path(), &server).await;
    perform(
        &mut c,
        &mut w,
        KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while server.recorded().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    perform(
        &mut c,
        &mut w,
        KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
    );
    assert!(c.state.runs.is_empty());
    let key = c.state.items[0].alert.alert.id.clone();
    let store = Store::open_in(dir.path()).expect("store");
    loop {
        let row = store.alert_by_key(&key).expect("read").expect("stored").row;
        let t = store
            .latest_triage_for(row)
            .expect("read")
            .expect("a triage row");
        if t.status == soc_copilot::store::TriageStatus::Cancelled {
            // Closed by the console ("cancelled by the analyst") or by the aborted run's
            // own guard, whichever writes first; either way it is cancelled, never running.
            assert!(
                t.error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("cancelled")),
                "{:?}",
                t.error
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run was not closed: {:?}",
            t.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while !*server.disconnected.lock().expect("lock") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection stayed open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A late result from the cancelled run changes nothing.
    assert_eq!(
        c.state.items[0].status,
        soc_copilot::tui::state::ItemStatus::New
    );
}

#[test]
fn tiny_terminals_do_not_break_the_layout() {
    let mut c = worked();
    for (w, h) in [(20u16, 5u16), (40, 10), (79, 23), (300, 100)] {
        for a in [
            Action::Back,
            Action::Help,
            Action::Back,
            Action::Stats,
            Action::Back,
            Action::Preview,
            Action::Back,
            Action::ThumbsDown,
        ] {
            c.dispatch(a);
            let _ = screen(&c, w, h);
        }
        c.dispatch(Action::Back);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_builds_the_knowledge_base_with_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = w_config(dir.path());
    cfg.config.paths.attack_bundle = Some(fixture_bundle().display().to_string());
    cfg.config.paths.model_dir = Some(PathBuf::from("/nonexistent"));
    let (tx, mut rx) = mpsc::channel(soc_copilot::tui::workers::ACTION_QUEUE);
    let mut w = Workers::new(cfg, tx, tokio::runtime::Handle::current());
    let mut c = Console::new(
        State::new("offline", "tester"),
        Keymap::default(),
        Theme { color: false },
    );
    w.open_kb();
    let mut progress = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let a = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("in time")
            .expect("alive");
        if let Action::KbProgress(m) = &a {
            progress.push(m.clone());
        }
        c.dispatch(a);
        match &c.state.kb {
            KbState::Ready(d) => {
                assert!(d.contains("ATT&CK"), "{d}");
                break;
            }
            KbState::Failed(e) => panic!("{e}"),
            KbState::Loading(_) => {}
        }
    }
    assert!(
        progress.iter().any(|m| m.starts_with("first run")),
        "{progress:?}"
    );
    assert!(dir.path().join("index").is_dir());
    let _ = &mut w;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_pushed_to_the_api_appear_live_and_severe_ones_are_triaged() {
    let dir = tempfile::tempdir().expect("tempdir");
    ingest_into(&fixture_bundle(), dir.path(), Err("BM25 only".into()));
    let mut cfg = w_config(dir.path());
    cfg.config.paths.model_dir = Some(PathBuf::from("/nonexistent"));
    let (tx, mut rx) = mpsc::channel(soc_copilot::tui::workers::ACTION_QUEUE);
    let mut w = Workers::new(cfg.clone(), tx.clone(), tokio::runtime::Handle::current());
    let mut c = Console::new(
        State::new("offline", "tester"),
        Keymap::default(),
        Theme { color: false },
    );
    c.state.auto_triage = Some(soc_copilot::alert::Severity::High);
    w.load(Source::Paths(vec![repo().join("data/queue")]));
    w.open_kb();
    pump(&mut c, &mut w, &mut rx, "ready", |s| {
        !s.loading && matches!(s.kb, KbState::Ready(_))
    })
    .await;
    let before = c.state.items.len();

    let api = soc_copilot::server::Embedded {
        listener: std::net::TcpListener::bind("127.0.0.1:0").expect("bind"),
        limits: soc_copilot::server::Limits {
            concurrency: 2,
            queue_depth: 8,
            body_limit: 1 << 20,
            request_timeout: Duration::from_secs(30),
            max_connections: 64,
            header_read_timeout: Duration::from_secs(10),
        },
        token: None,
        analyst: "tester".into(),
        data_dir: dir.path().to_path_buf(),
        params: TriageParams::default(),
    };
    let (addr, intake) = api.start(w.kb_watch(), cfg.engine.clone()).expect("api");
    soc_copilot::tui::app::forward_intake(intake, tx);
    let body =
        std::fs::read(repo().join("data/webhooks/elastic-webhook-connector.json")).expect("sample");
    let low = br#"{"alert_id": "wh-low", "severity": "low", "title": "Printer driver installed"}"#
        .to_vec();
    let http = reqwest::Client::new();
    for b in [body, low] {
        let r = http
            .post(format!("http://{addr}/alerts"))
            .header("content-type", "application/json")
            .body(b)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 202);
    }
    pump(&mut c, &mut w, &mut rx, "pushed alerts", |s| {
        s.items.len() == before + 3
    })
    .await;
    assert!(
        c.state
            .notice
            .as_ref()
            .is_some_and(|n| n.text.contains("from webhook"))
    );
    pump(
        &mut c,
        &mut w,
        &mut rx,
        "auto-triage of the HIGH ones",
        |s| {
            s.items[before..before + 2]
                .iter()
                .all(|i| i.verdict.is_some())
        },
    )
    .await;
    assert!(
        c.state.items[before + 2].verdict.is_none(),
        "a LOW alert waits for the analyst"
    );
    assert_eq!(c.state.items[before + 2].alert.alert.id, "wh-low");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_is_exactly_the_request_the_triage_sends() {
    let dir = tempfile::tempdir().expect("tempdir");
    ingest_into(&fixture_bundle(), dir.path(), Err("BM25 only".into()));
    let server = LlmServer::start(vec![Reply::sse(&anthropic_stream(
        &["```json\n", &verdict_json(), "\n```"],
        900,
        200,
    ))])
    .await;
    let (mut c, mut w, mut rx) = claude_console(dir.path(), &server).await;
    perform(&mut c, &mut w, key('p'));
    pump(&mut c, &mut w, &mut rx, "the preview", |s| {
        s.preview.is_some()
    })
    .await;
    let preview = c.state.preview.clone().expect("preview");
    assert!(preview.heading.starts_with("Would be sent to anthropic"));
    assert!(preview.user.contains(&format!("<<{}>>", preview.delimiter)));
    perform(
        &mut c,
        &mut w,
        KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
    );
    perform(
        &mut c,
        &mut w,
        KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
    );
    pump(&mut c, &mut w, &mut rx, "the verdict", |s| {
        s.items[0].verdict.is_some() || s.items[0].failure.is_some()
    })
    .await;
    let body: serde_json::Value =
        serde_json::from_str(&server.recorded()[0].body).expect("request json");
    assert_eq!(
        body["messages"][0]["content"].as_str(),
        Some(preview.user.as_str()),
        "same text, same fence delimiter"
    );
    assert_eq!(body["system"].as_str(), Some(preview.system.as_str()));
}

/// A model triage that fails — after a 529 retried with `retry-after` — still leaves the
/// analyst a way forward: the pane said when it would retry, the model's answer is shown
/// with its level and techniques marked unvalidated, `+` records a judgement against the
/// failed run (kept across a restart), the export carries the failure and the raw answer,
/// and `o` re-runs the alert with the offline engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_model_triage_can_be_judged_exported_and_rerun_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    ingest_into(&fixture_bundle(), dir.path(), Err("BM25 only".into()));
    let overloaded = Reply::Status {
        status: 529,
        headers: vec![("retry-after".into(), "0.2".into())],
        body: crate::support::llm::anthropic_error("overloaded_error", "Overloaded"),
    };
    let broken = "Word spawned encoded PowerShell: **verdict: HIGH**, T1059.001 and T1204.002. {\"verdict\": ";
    let server = LlmServer::start(vec![
        overloaded,
        Reply::sse(&anthropic_stream(&[broken], 900, 40)),
        Reply::sse(&anthropic_stream(&["still not JSON, sorry"], 950, 10)),
    ])
    .await;
    let (mut c, mut w, mut rx) = claude_console(dir.path(), &server).await;
    perform(
        &mut c,
        &mut w,
        KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
    );
    pump(&mut c, &mut w, &mut rx, "failure", |s| {
        s.items[0].failure.is_some() && s.items[0].run.is_none()
    })
    .await;
    let it = &c.state.items[0];
    assert!(
        it.reasoning.text.contains("retry 1 of") && it.reasoning.text.contains("UTC)"),
        "the pane said it was retrying and when: {}",
        it.reasoning.text
    );
    let f = it.failure.as_ref().expect("failure");
    assert_eq!(f.salvaged.level, Some(Level::High));
    assert_eq!(f.salvaged.techniques, vec!["T1059.001", "T1204.002"]);
    assert!(
        f.raw
            .as_deref()
            .is_some_and(|r| r.contains("still not JSON"))
    );
    let failed_id = it.triage_id.clone().expect("the failed run's id");
    let shown = screen(&c, 160, 45);
    assert!(
        shown.contains("The model said (unvalidated): HIGH") && shown.contains("failed 1"),
        "{shown}"
    );

    perform(&mut c, &mut w, key('+'));
    pump(&mut c, &mut w, &mut rx, "feedback", |s| {
        s.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("recorded"))
    })
    .await;
    perform(&mut c, &mut w, key('e'));
    pump(&mut c, &mut w, &mut rx, "export", |s| {
        s.notice
            .as_ref()
            .is_some_and(|n| n.text.starts_with("exported"))
    })
    .await;
    let file = std::fs::read_dir(dir.path().join("exports"))
        .expect("exports")
        .next()
        .expect("one file")
        .expect("entry")
        .path();
    let md = std::fs::read_to_string(file).expect("read");
    assert!(
        md.contains("the triage failed")
            && md.contains("verdict still invalid")
            && md.contains("still not JSON")
            && md.contains("named HIGH (unvalidated)"),
        "{md}"
    );
    {
        let store = Store::open_in(dir.path()).expect("store");
        let fb = store.feedback_for(&failed_id).expect("feedback");
        assert_eq!(fb.len(), 1);
        assert_eq!(fb[0].analyst_verdict.as_deref(), Some("HIGH"));
        assert_eq!(
            store.accuracy().expect("accuracy").overall.total,
            0,
            "a failed run has no tool verdict to score"
        );
    }

    // A restart shows the failure and the judgement as they were left.
    let (c2, _w2, _rx2) = claude_console(dir.path(), &server).await;
    let again = &c2.state.items[0];
    assert_eq!(again.triage_id.as_deref(), Some(failed_id.as_str()));
    assert!(
        again
            .failure
            .as_ref()
            .is_some_and(|f| f.salvaged.level == Some(Level::High))
    );
    assert_eq!(again.judgement.thumbs, Some(Thumbs::Up));

    // `o` decides it offline, with no further request to the model.
    let requests = server.recorded().len();
    perform(&mut c, &mut w, key('o'));
    pump(&mut c, &mut w, &mut rx, "offline verdict", |s| {
        s.items[0].verdict.is_some()
    })
    .await;
    assert_eq!(server.recorded().len(), requests);
    let p = c.state.items[0].provenance.as_ref().expect("provenance");
    assert_eq!(p.engine, "offline");
    assert!(c.state.items[0].failure.is_none());
}

#[test]
fn help_lists_every_key_once_with_each_mode_once() {
    let mut c = worked();
    c.dispatch(Action::Help);
    let shown = screen(&c, 160, 200);
    for title in [
        "Queue and panes",
        "Chat box (other keys type)",
        "Popups",
        "Your verdict",
    ] {
        assert_eq!(shown.matches(title).count(), 1, "{title}:\n{shown}");
    }
    // The command name ends its help line.
    let ends: Vec<String> = shown
        .lines()
        .filter_map(|l| l.split('│').max_by_key(|seg| seg.chars().count()))
        .filter_map(|seg| seg.trim_end().rsplit(' ').next())
        .map(str::to_string)
        .collect();
    for b in &c.keymap.bindings {
        let n = ends.iter().filter(|e| *e == b.name).count();
        assert_eq!(n, 1, "{}:\n{shown}", b.name);
    }
    assert!(shown.contains("Alt-Enter"));
}

#[test]
fn wide_terminals_show_whole_titles_with_host_and_user() {
    let c = worked();
    let shown = screen(&c, 160, 45);
    let rows: Vec<&str> = shown.lines().skip(1).take(8).collect();
    for (it, row) in c.state.items.iter().zip(rows) {
        let a = &it.alert.alert;
        assert!(row.contains(a.title.as_str()), "{row}");
        if let Some(h) = &a.host {
            assert!(row.contains(h.as_str()), "{row}");
        }
    }
}

#[test]
fn the_evidence_tab_bar_never_cuts_a_tab_name() {
    let mut c = worked();
    let names = soc_copilot::tui::state::Tab::ALL.map(|t| t.title());
    for (w, h) in [
        (80, 24),
        (100, 30),
        (120, 30),
        (140, 40),
        (160, 45),
        (200, 50),
    ] {
        for sel in 0..names.len() {
            let shown = screen(&c, w, h);
            let bar = shown
                .lines()
                .find(|l| l.contains(names[sel]) && (l.contains(" | ") || l.contains('›')))
                .unwrap_or_else(|| panic!("{w}x{h}: no tab bar with {}:\n{shown}", names[sel]));
            // The evidence pane's part of the line: the segment holding the tab names.
            let seg = bar
                .split('│')
                .find(|s| s.contains(names[sel]))
                .unwrap_or(bar);
            for word in seg
                .split(['|', '‹', '›'])
                .map(str::trim)
                .filter(|w| !w.is_empty())
            {
                assert!(
                    names.contains(&word),
                    "{w}x{h}: cut tab name {word:?} in {seg:?}"
                );
            }
            c.dispatch(Action::NextTab);
        }
    }
}

#[test]
fn popups_scroll_back_at_once_after_the_end() {
    let mut c = worked();
    c.dispatch(Action::Help);
    let top = screen(&c, 80, 24);
    c.key(key('G'));
    let bottom = screen(&c, 80, 24);
    assert_ne!(top, bottom);
    for _ in 0..5 {
        c.key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
    }
    let _ = screen(&c, 80, 24);
    let end = c.state.extents.overlay.get();
    assert!(end > 0);
    assert_eq!(c.state.overlay_scroll, end);
    c.key(key('k'));
    assert_eq!(c.state.overlay_scroll, end - 1);
    assert_ne!(screen(&c, 80, 24), bottom, "one k moves the view");
}

#[test]
fn tab_never_enters_the_chat_box_and_nothing_typed_before_leaks_into_it() {
    let mut c = worked();
    for _ in 0..9 {
        c.key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
        c.key(key('z'));
        c.key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    }
    assert_ne!(c.state.mode(), soc_copilot::tui::state::Mode::Chat);
    c.key(key('c'));
    assert_eq!(c.state.mode(), soc_copilot::tui::state::Mode::Chat);
    assert_eq!(c.input.lines().join(""), "", "neither z nor c was typed");
    c.key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    assert_ne!(
        c.state.mode(),
        soc_copilot::tui::state::Mode::Chat,
        "Tab leaves it"
    );
}

#[test]
fn a_long_filter_stays_visible_and_the_analyst_verdict_shows_in_the_queue() {
    let mut c = worked();
    c.dispatch(Action::SetVerdict);
    c.dispatch(Action::PickVerdict(Level::Low));
    let shown = screen(&c, 80, 24);
    assert!(
        shown
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("HIGH  -→LOW")),
        "{shown}"
    );
    c.key(key('/'));
    let typed = "encoded powershell launched by microsoft word zz-end";
    for ch in typed.chars() {
        c.key(key(ch));
    }
    let shown = screen(&c, 80, 24);
    assert!(
        shown.lines().next().is_some_and(|l| l.contains("zz-end▏")),
        "{shown}"
    );
}

#[test]
fn a_waiting_run_says_what_it_waits_for_and_offline_never_says_token() {
    let mut c = offline_with_queue();
    c.dispatch(Action::KbProgress("embedding techniques 600/1400".into()));
    let fx = c.dispatch(Action::Triage);
    let Some(Effect::Triage { item, run, .. }) = fx.into_iter().next() else {
        panic!("no triage");
    };
    c.dispatch(Action::TriageStarted { item, run });
    let shown = screen(&c, 160, 45);
    assert!(
        shown.contains("Waiting for the knowledge base: embedding techniques")
            && shown.contains("waiting for the knowledge base (embedding techniques 600/1400)"),
        "{shown}"
    );
    c.dispatch(Action::KbReady {
        description: "ATT&CK 18.1".into(),
    });
    let shown = screen(&c, 160, 45);
    assert!(shown.contains("deciding with the offline"), "{shown}");
    assert!(!shown.to_lowercase().contains("token"), "{shown}");
}

#[test]
fn the_intel_tab_lists_each_lookup_of_the_investigation() {
    let mut c = worked();
    let shown = |c: &Console| screen(c, 160, 45);
    while c.state.tab != soc_copilot::tui::state::Tab::Intel {
        c.dispatch(Action::NextTab);
    }
    assert!(shown(&c).contains("Nothing known about the alert's indicators"));
    if let Some(p) = c.state.items[0].provenance.as_mut() {
        p.investigation = vec![
            "offline intel (feodotracker): ip 185.220.101.47 is malicious — QakBot".into(),
            "intel lookup abuseipdb ip 185.220.101.47: abuse confidence 100 % from 1742 reports → malicious (cached 2 h ago)".into(),
        ];
    }
    let s = shown(&c);
    assert!(s.contains("2 finding(s), each naming its lookup"), "{s}");
    assert!(s.contains("offline intel (feodotracker):"), "{s}");
    assert!(
        s.contains("intel lookup abuseipdb ip 185.220.101.47:"),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agentic_tool_calls_appear_live_and_in_the_intel_tab_and_h_shows_indicator_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    ingest_into(&fixture_bundle(), dir.path(), Err("BM25 only".into()));
    let answer = serde_json::json!({"verdict": "HIGH", "confidence": 0.8, "reasoning": "r",
        "evidence": [
            {"claim": "nothing related", "source": "toolu_R", "quote": "no stored alert shares"},
            {"claim": "made up", "source": "toolu_R", "quote": "twelve hosts beaconed"}]});
    let server = LlmServer::start(vec![
        Reply::sse(&anthropic_tool_calls(
            "Checking related alerts.",
            &[("toolu_R", "related_alerts", r#"{"hours": 6}"#)],
            4,
        )),
        Reply::sse(&anthropic_stream(
            &["Done.\n```json\n", &answer.to_string(), "\n```"],
            900,
            100,
        )),
    ])
    .await;
    let params = TriageParams {
        mode: soc_copilot::triage::engine::TriageMode::Agentic,
        ..TriageParams::default()
    };
    let (mut c, mut w, mut rx) = claude_console_with(dir.path(), &server, params).await;
    perform(
        &mut c,
        &mut w,
        KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
    );
    pump(&mut c, &mut w, &mut rx, "the verdict", |s| {
        s.items[0].verdict.is_some() || s.items[0].failure.is_some()
    })
    .await;
    let it = &c.state.items[0];
    assert_eq!(it.failure, None);
    let text = &it.reasoning.text;
    assert!(
        text.contains("[tool → related_alerts {\"hours\": 6}]"),
        "{text}"
    );
    assert!(text.contains("[✓ related_alerts · local ·"), "{text}");
    let s = screen(&c, 160, 45);
    assert!(s.contains("1 of 2 claims verified"), "{s}");
    while c.state.tab != soc_copilot::tui::state::Tab::Intel {
        c.dispatch(Action::NextTab);
    }
    let s = screen(&c, 160, 45);
    assert!(s.contains("Tool calls: 1 by the model in 2 turn(s)"), "{s}");
    assert!(s.contains("no stored alert shares a host"), "{s}");
    while c.state.tab != soc_copilot::tui::state::Tab::Evidence {
        c.dispatch(Action::NextTab);
    }
    let s = screen(&c, 160, 45);
    assert!(s.contains("✗ unverified: made up"), "{s}");

    // `h`: the history of the alert's indicators, read fresh from the store.
    perform(&mut c, &mut w, key('h'));
    pump(&mut c, &mut w, &mut rx, "the indicator history", |s| {
        s.overlay == soc_copilot::tui::state::Overlay::History
    })
    .await;
    let s = screen(&c, 120, 30);
    assert!(s.contains("Indicator history"), "{s}");
}

#[test]
fn seen_before_badges_and_the_history_popup_name_each_earlier_alert() {
    use soc_copilot::intel::enrich::History;
    use soc_copilot::intel::{Indicator, Kind};
    use soc_copilot::store::iocs::Sighting;
    let mut c = worked();
    let sighting = |key: &str, verdict: &str| Sighting {
        alert_key: key.into(),
        title: "Beacon to Tor exit".into(),
        host: Some("FIN-WS-007".into()),
        seen_at: "2026-11-29T08:15:00.000Z".into(),
        verdict: Some(verdict.into()),
        thumbs: Some("up".into()),
        analyst_verdict: None,
    };
    c.dispatch(Action::IocHistoryLoaded {
        item: 0,
        history: vec![History {
            indicator: Indicator::new(Kind::Ip, "185.220.101.47"),
            sightings: vec![sighting("prev-1", "HIGH"), sighting("prev-2", "LOW")],
        }],
    });
    let s = screen(&c, 160, 45);
    assert!(
        s.contains("↺2 "),
        "two earlier alerts share an indicator: {s}"
    );
    c.key(key('h'));
    assert_eq!(c.state.overlay, soc_copilot::tui::state::Overlay::History);
    let s = screen(&c, 160, 45);
    assert!(s.contains("ip 185.220.101.47 — 2 earlier alert(s)"), "{s}");
    assert!(
        s.contains("prev-1") && s.contains("tool HIGH · feedback up"),
        "{s}"
    );
    c.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert_eq!(c.state.overlay, soc_copilot::tui::state::Overlay::None);
}
