//! The console beyond one alert: the incident view, hand-off, Sigma drafts and autonomous
//! closures — through the real workers, and as pure state with the screens they draw.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use soc_copilot::incident::{ChainEntry, IncidentDetail};
use soc_copilot::store::closures::Closure;
use soc_copilot::store::incidents::{IncidentMember, IncidentSummary};
use soc_copilot::tui::state::{Overlay, SigmaDoc};
use soc_copilot::tui::workers::{ACTION_QUEUE, Source, Workers};
use soc_copilot::tui::{Action, Effect};
use tokio::sync::mpsc;

use crate::common::{fixture_bundle, ingest_into};
use crate::console::{key, perform, pump, screen, w_config, worked};
use crate::support::handoff::{HandoffServer, THEHIVE_KEY};

fn special(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn member(row: i64, key: &str, host: &str, why: &str) -> IncidentMember {
    IncidentMember {
        row,
        key: key.into(),
        title: "sshd: brute force trying to get access".into(),
        host: Some(host.into()),
        user: None,
        at: format!("2026-11-20T10:{:02}:00Z", row * 10),
        why: why.into(),
        verdict: Some("HIGH".into()),
    }
}

fn detail(id: &str, rows: &[(i64, &str, &str)]) -> IncidentDetail {
    IncidentDetail {
        incident: IncidentSummary {
            id: id.into(),
            title: format!("brute force (+{} more)", rows.len() - 1),
            first_at: "2026-11-20T10:10:00Z".into(),
            last_at: "2026-11-20T10:30:00Z".into(),
            alert_count: rows.len() as i64,
            triage_id: None,
            verdict: None,
            confidence: None,
            worst_alert_verdict: Some("HIGH".into()),
        },
        alerts: rows
            .iter()
            .enumerate()
            .map(|(i, (row, key, host))| {
                member(
                    *row,
                    key,
                    host,
                    if i == 0 {
                        ""
                    } else {
                        "shares 185.220.101.47 within 20 min"
                    },
                )
            })
            .collect(),
        chain: vec![ChainEntry {
            tactic: "Credential Access".into(),
            technique: Some("T1110".into()),
            name: "Brute Force".into(),
            alerts: rows.iter().map(|r| r.0).collect(),
        }],
        verdict: None,
    }
}

#[test]
fn incident_view_keys_select_split_merge_hand_off_and_draft() {
    let mut c = worked();
    let fx = c.key(key('I'));
    assert!(matches!(fx.as_slice(), [Effect::LoadIncidents { alerts }] if !alerts.is_empty()));
    assert_eq!(c.state.overlay, Overlay::Incidents);
    c.dispatch(Action::IncidentsLoaded(vec![
        detail(
            "INC-1",
            &[
                (1, "bf-1", "web-1"),
                (2, "bf-2", "web-2"),
                (3, "bf-3", "web-3"),
            ],
        ),
        detail("INC-7", &[(7, "ps-1", "ws-9"), (8, "ps-2", "ws-9")]),
    ]));
    for (w, h) in [(80, 24), (160, 45)] {
        let shown = screen(&c, w, h);
        assert!(
            shown.contains("INC-1") && shown.contains("INC-7"),
            "{shown}"
        );
        assert!(
            shown.contains("Timeline") && shown.contains("shares 185.220.101.47"),
            "{shown}"
        );
        assert!(shown.contains("Credential Access"), "{w}×{h}:\n{shown}");
    }
    insta::assert_snapshot!("incidents_80x24", screen(&c, 80, 24));
    insta::assert_snapshot!("incidents_160x45", screen(&c, 160, 45));
    // PgDn pages the detail when it does not fit (a short terminal), PgUp back, never past
    // the end; where it fits, paging moves nothing.
    c.key(special(KeyCode::PageDown));
    assert_eq!(c.state.overlay_scroll, 0, "the detail fits at 80×24");
    let top = screen(&c, 80, 16);
    c.key(special(KeyCode::PageDown));
    let paged = screen(&c, 80, 16);
    assert_ne!(top, paged, "PgDn moved nothing");
    assert!(paged.contains("Credential Access"), "{paged}");
    for _ in 0..20 {
        c.key(special(KeyCode::PageDown));
    }
    screen(&c, 80, 16);
    assert!(c.state.overlay_scroll <= c.state.extents.overlay.get());
    for _ in 0..20 {
        c.key(special(KeyCode::PageUp));
    }
    assert_eq!(screen(&c, 80, 16), top);

    // Enter triages the selected incident as one.
    let fx = c.key(special(KeyCode::Enter));
    assert!(matches!(fx.as_slice(), [Effect::TriageIncident { id }] if id == "INC-1"));
    // d needs the alert cursor; Tab moves it onto the alerts.
    assert!(c.key(key('d')).is_empty());
    c.key(special(KeyCode::Tab));
    c.key(key('j'));
    let fx = c.key(key('d'));
    let [Effect::IncidentDecision { pairs, merge, .. }] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert!(!merge);
    assert_eq!(pairs, &[(1, 2), (3, 2)], "bf-2 taken away from the others");
    // Esc leaves the alerts first, then the view.
    c.key(special(KeyCode::Esc));
    assert_eq!(c.state.overlay, Overlay::Incidents);
    // m marks, m on another merges every pair across the two.
    assert!(c.key(key('m')).is_empty());
    c.key(key('j'));
    let fx = c.key(key('m'));
    let [Effect::IncidentDecision { pairs, merge, .. }] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert!(merge);
    assert_eq!(pairs.len(), 6);
    // x opens the hand-off menu for the incident; 1 sends it to TheHive; back in the view.
    c.key(key('x'));
    assert_eq!(c.state.overlay, Overlay::ExportMenu);
    let menu = screen(&c, 80, 24);
    assert!(
        menu.contains("Hand off incident INC-7") && menu.contains("not configured"),
        "{menu}"
    );
    let fx = c.key(key('1'));
    assert!(
        matches!(fx.as_slice(), [Effect::Handoff { reference, target: soc_copilot::handoff::Target::TheHive, alert: None }] if reference == "INC-7")
    );
    assert_eq!(c.state.overlay, Overlay::Incidents);
    // D drafts a rule; the draft shows with its problems and history before any save.
    let fx = c.key(key('D'));
    assert!(
        matches!(fx.as_slice(), [Effect::DraftDetection { reference, .. }] if reference == "INC-7")
    );
    c.dispatch(Action::DetectionDrafted(Box::new(SigmaDoc {
        reference: "INC-7".into(),
        source: "offline from the alert's fields".into(),
        yaml: "title: x\nstatus: experimental\n".into(),
        problems: vec!["logsource: missing".into()],
        history: Some((4, 50, 3, 1)),
        error: None,
    })));
    let shown = screen(&c, 80, 24);
    assert!(
        shown.contains("logsource: missing") && shown.contains("3 judged false"),
        "{shown}"
    );
    assert!(c.key(key('w')).is_empty(), "an invalid rule is not saved");
    c.dispatch(Action::DetectionDrafted(Box::new(SigmaDoc {
        reference: "INC-7".into(),
        yaml: "title: ok\n".into(),
        ..SigmaDoc::default()
    })));
    assert!(matches!(
        c.key(key('w')).as_slice(),
        [Effect::SaveDetection { .. }]
    ));
    c.key(special(KeyCode::Esc));
    assert_eq!(c.state.overlay, Overlay::Incidents);
    // ? shows help over the view and returns to it.
    c.key(key('?'));
    assert_eq!(c.state.overlay, Overlay::Help);
    c.key(special(KeyCode::Esc));
    assert_eq!(c.state.overlay, Overlay::Incidents);
    c.key(key('I'));
    assert_eq!(c.state.overlay, Overlay::None);
}

#[test]
fn closures_are_listed_marked_in_the_queue_and_reversed_with_one_key() {
    let mut c = worked();
    assert!(c.key(key('u')).is_empty(), "nothing to reopen");
    c.dispatch(Action::AutoClosed {
        item: 0,
        justification: "BENIGN at confidence 0.95".into(),
    });
    assert!(screen(&c, 80, 24).contains("closed"));
    let key0 = c.state.items[0].alert.alert.id.clone();
    let fx = c.key(key('u'));
    assert!(matches!(fx.as_slice(), [Effect::UndoClosure { key }] if *key == key0));
    c.dispatch(Action::ClosureUndone { key: key0.clone() });
    assert!(c.state.items[0].closed.is_none());

    assert!(matches!(c.key(key('C')).as_slice(), [Effect::LoadClosures]));
    let closure = |id: i64, reversed: bool| Closure {
        id,
        alert_key: format!("k-{id}"),
        title: "Nightly backup".into(),
        triage_id: "t".into(),
        justification: "BENIGN at confidence 0.95 ≥ 0.90; 3 analyst(s)".into(),
        at: "2026-11-20T10:00:00Z".into(),
        reversed_at: reversed.then(|| "2026-11-20T11:00:00Z".into()),
        reversed_by: reversed.then(|| "ana".into()),
    };
    c.dispatch(Action::ClosuresLoaded(vec![
        closure(2, false),
        closure(1, true),
    ]));
    let shown = screen(&c, 80, 24);
    assert!(
        shown.contains("k-2") && shown.contains("reversed"),
        "{shown}"
    );
    let fx = c.key(key('u'));
    assert!(matches!(fx.as_slice(), [Effect::UndoClosure { key }] if key == "k-2"));
    c.key(key('j'));
    assert!(c.key(key('u')).is_empty(), "already reversed");
    c.key(key('C'));
    assert_eq!(c.state.overlay, Overlay::None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_groups_its_queue_triages_an_incident_and_hands_it_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    ingest_into(&fixture_bundle(), dir.path(), Err("BM25 only".into()));
    let queue = dir.path().join("queue.ndjson");
    let bf = |id: &str, host: &str, min: u32| {
        json!({"alert_id": id, "source": "wazuh", "severity": "high", "host": host,
               "title": "sshd: brute force trying to get access to the system",
               "timestamp": format!("2026-11-20T10:{min:02}:00Z"),
               "description": "failed SSH logins from 185.220.101.47"})
        .to_string()
    };
    std::fs::write(
        &queue,
        [
            bf("bf-1", "web-1", 0),
            bf("bf-2", "web-2", 20),
            bf("bf-3", "web-3", 40),
        ]
        .join("\n"),
    )
    .expect("queue");
    let hive = HandoffServer::start();
    let mut cfg = w_config(dir.path());
    cfg.config.paths.model_dir = Some(std::path::PathBuf::from("/nonexistent"));
    cfg.config.handoff.thehive.base_url = hive.base();
    cfg.config.handoff.thehive.key = Some(soc_copilot::config::Secret(THEHIVE_KEY.into()));
    let (tx, mut rx) = mpsc::channel(ACTION_QUEUE);
    let mut w = Workers::new(cfg, tx, tokio::runtime::Handle::current());
    let mut c = soc_copilot::tui::Console::new(
        soc_copilot::tui::state::State::new("offline", "tester"),
        soc_copilot::tui::keymap::Keymap::default(),
        soc_copilot::tui::ui::Theme { color: false },
    );
    w.load(Source::Paths(vec![queue]));
    w.open_kb();
    pump(&mut c, &mut w, &mut rx, "ready", |s| {
        !s.loading && matches!(s.kb, soc_copilot::tui::state::KbState::Ready(_))
    })
    .await;
    // Grouping runs on the loaded queue, triaged or not.
    perform(&mut c, &mut w, key('I'));
    pump(&mut c, &mut w, &mut rx, "incidents", |s| {
        !s.incidents.loading
    })
    .await;
    assert_eq!(c.state.incidents.list.len(), 1, "{:?}", c.state.notice);
    assert_eq!(c.state.incidents.list[0].alerts.len(), 3);
    let shown = screen(&c, 160, 45);
    assert!(
        shown.contains("shares 185.220.101.47 within 20 min"),
        "{shown}"
    );
    // One triage for the incident, recorded with it.
    perform(&mut c, &mut w, special(KeyCode::Enter));
    pump(&mut c, &mut w, &mut rx, "incident triage", |s| {
        s.incidents.triaging.is_empty() && !s.incidents.loading
    })
    .await;
    let inc = &c.state.incidents.list[0];
    assert!(inc.incident.verdict.is_some(), "{:?}", c.state.notice);
    assert!(inc.verdict.is_some());
    // Hand it to TheHive.
    perform(&mut c, &mut w, key('x'));
    perform(&mut c, &mut w, key('t'));
    pump(&mut c, &mut w, &mut rx, "hand-off", |s| {
        s.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("TheHive created") || n.error)
    })
    .await;
    let n = c.state.notice.clone().expect("notice");
    assert!(n.text.contains("TheHive created") && !n.error, "{n:?}");
    assert_eq!(hive.thehive_alerts().len(), 1);
    // A Sigma draft from an alert nobody confirmed says why there is none.
    perform(&mut c, &mut w, key('I'));
    perform(&mut c, &mut w, key('D'));
    pump(&mut c, &mut w, &mut rx, "draft", |s| {
        s.sigma
            .as_ref()
            .is_some_and(|d| d.error.is_some() || !d.yaml.is_empty())
    })
    .await;
    let d = c.state.sigma.clone().expect("draft");
    assert!(d.error.unwrap_or_default().contains("not confirmed"));
}
