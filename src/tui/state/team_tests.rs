//! Team mode in `update`: claims on opening and judging, refusals naming the holder,
//! takeovers, batches that leave colleagues' alerts alone, and colleagues' work arriving
//! through the feed.

use crate::store::team::Claim;
use crate::triage::Level;

use super::super::super::action::{Action, ClaimNews};
use super::super::super::effect::Effect;
use super::super::*;
use super::{loaded, outcome, sample, triaged};

fn team() -> State {
    let mut s = loaded();
    s.team = true;
    s
}

fn bob() -> Claim {
    Claim {
        analyst: "bob".into(),
        at: "2026-12-01T14:02:11.000Z".into(),
    }
}

fn notice_has(s: &State, text: &str) -> bool {
    s.notice.as_ref().is_some_and(|n| n.text.contains(text))
}

fn notice_starts(s: &State, text: &str) -> bool {
    s.notice.as_ref().is_some_and(|n| n.text.starts_with(text))
}

fn stored(s: &State, id: usize, history: History) -> TeamChange {
    TeamChange {
        item: LoadedItem {
            alert: (*s.items[id].alert).clone(),
            history,
        },
        events: vec![("feedback".into(), Some("bob".into()))],
        force: false,
    }
}

#[test]
fn opening_an_alert_claims_it_and_a_colleagues_alert_is_refused_until_taken_over() {
    let mut s = team();
    // A free alert: the triage asks the worker to claim it first.
    let fx = s.update(Action::Triage);
    assert!(
        matches!(fx.as_slice(), [Effect::Triage { claim: true, .. }]),
        "{fx:?}"
    );
    s.update(Action::Down);
    s.items[1].holder = Some(bob());
    for (action, doing) in [
        (Action::Triage, "triage"),
        (Action::Retriage, "triage"),
        (Action::TriageOffline, "triage"),
    ] {
        assert!(s.update(action).is_empty());
        let n = s.notice.clone().expect("notice");
        assert!(n.error, "{n:?}");
        assert!(
            n.text
                .starts_with(&format!("cannot {doing}: bob holds it since 14:02 UTC"))
                && n.text.contains("T takes it over (recorded)"),
            "{}",
            n.text
        );
    }
    assert_eq!(s.items[1].run, None, "nothing started");
    // Taking it over is explicit and goes to the store.
    let fx = s.update(Action::TakeOver);
    assert!(
        matches!(
            fx.as_slice(),
            [Effect::Claim {
                item: 1,
                takeover: true,
                ..
            }]
        ),
        "{fx:?}"
    );
    s.update(Action::ClaimDone {
        item: 1,
        result: Ok(ClaimNews::TookOver(bob())),
    });
    assert_eq!(
        s.items[1].holder.as_ref().map(|c| c.analyst.as_str()),
        Some("tester")
    );
    assert!(
        notice_starts(&s, "taken over from bob (recorded)"),
        "{:?}",
        s.notice
    );
    // Now it is this analyst's: it triages, and judging works.
    triaged(&mut s, Level::High);
    let fx = s.update(Action::ThumbsUp);
    let [Effect::SaveFeedback { claim: Some(a), .. }] = fx.as_slice() else {
        panic!("judging claims in team mode: {fx:?}");
    };
    assert_eq!(a.alert.id, s.items[1].alert.alert.id);
    // Enter on an alert already triaged still opens it: a claim when not held yet.
    s.items[1].holder = None;
    let fx = s.update(Action::Triage);
    assert!(
        matches!(
            fx.as_slice(),
            [Effect::Claim {
                item: 1,
                takeover: false,
                ..
            }]
        ),
        "{fx:?}"
    );
    // Letting go.
    s.items[1].holder = Some(Claim {
        analyst: "tester".into(),
        at: crate::store::now(),
    });
    assert!(matches!(
        s.update(Action::Release).as_slice(),
        [Effect::Release { item: 1, .. }]
    ));
    s.update(Action::ClaimDone {
        item: 1,
        result: Ok(ClaimNews::Released),
    });
    assert_eq!(s.items[1].holder, None);
}

#[test]
fn a_colleagues_alert_cannot_be_judged_or_released_here() {
    let mut s = team();
    triaged(&mut s, Level::Medium);
    s.items[0].holder = Some(bob());
    for a in [
        Action::ThumbsUp,
        Action::ThumbsDown,
        Action::SetVerdict,
        Action::PickVerdict(Level::Benign),
    ] {
        assert!(s.update(a).is_empty());
        assert_eq!(s.overlay, Overlay::None, "no picker opens");
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|n| n.error && n.text.starts_with("cannot judge"))
        );
    }
    assert_eq!(s.items[0].judgement, Judgement::default());
    assert!(s.update(Action::Release).is_empty());
    assert!(notice_has(&s, "not by you"), "{:?}", s.notice);
    // A refusal the store gave (the claim raced) puts the holder on screen.
    s.items[0].holder = None;
    s.update(Action::ClaimDone {
        item: 0,
        result: Ok(ClaimNews::HeldBy(bob())),
    });
    assert_eq!(s.held_by_other(0), Some(&bob()));
}

#[test]
fn a_triage_the_worker_refused_ends_without_a_failure() {
    let mut s = team();
    let fx = s.update(Action::Triage);
    let Some(Effect::Triage { item, run, .. }) = fx.into_iter().next() else {
        panic!("no triage");
    };
    s.update(Action::TriageRefused {
        item,
        run,
        holder: Some(bob()),
        why: String::new(),
    });
    let it = &s.items[item];
    assert_eq!(
        (it.run, it.status, it.failure.is_none()),
        (None, ItemStatus::New, true)
    );
    assert!(s.runs.is_empty());
    assert!(
        s.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("not triaged") && n.text.contains("bob"))
    );
}

#[test]
fn batches_skip_what_colleagues_hold_and_never_claim() {
    let mut s = team();
    let n = s.items.len();
    s.items[2].holder = Some(bob());
    s.items[3].holder = Some(Claim {
        analyst: "tester".into(),
        at: crate::store::now(),
    });
    let fx = s.update(Action::TriageAllNew);
    assert_eq!(fx.len(), n - 1);
    assert!(
        fx.iter()
            .all(|e| matches!(e, Effect::Triage { claim: false, item, .. } if *item != 2))
    );
    assert!(
        notice_has(&s, "1 held by colleagues skipped"),
        "{:?}",
        s.notice
    );
}

#[test]
fn outside_team_mode_nothing_is_claimed() {
    let mut s = loaded();
    s.items[0].holder = Some(bob());
    let fx = s.update(Action::Triage);
    assert!(
        matches!(fx.as_slice(), [Effect::Triage { claim: false, .. }]),
        "{fx:?}"
    );
    assert!(s.update(Action::TakeOver).is_empty());
    assert!(notice_has(&s, "team store"), "{:?}", s.notice);
    // The queue load does not follow a feed either.
    let mut solo = State::new("offline", "tester");
    let fx = solo.update(Action::QueueLoaded {
        items: sample(),
        errors: Vec::new(),
    });
    assert!(fx.is_empty());
}

#[test]
fn the_feed_is_followed_once_the_queue_is_loaded() {
    let mut s = State::new("offline", "tester");
    s.team = true;
    let fx = s.update(Action::QueueLoaded {
        items: sample(),
        errors: Vec::new(),
    });
    assert!(matches!(fx.as_slice(), [Effect::Follow]));
    assert!(s.following);
    let again = s.update(Action::QueueLoaded {
        items: Vec::new(),
        errors: Vec::new(),
    });
    assert!(again.is_empty(), "one follower per console");
}

#[test]
fn colleagues_verdicts_judgements_notes_and_takeovers_arrive_live() {
    let mut s = team();
    let n = s.items.len();
    // A replica's verdict on an alert this console has not triaged.
    let o = outcome("t-replica", Level::High);
    let mut h = History {
        triage_id: Some("t-replica".into()),
        verdict: Some(o.verdict.clone()),
        provenance: Some(o.provenance.clone()),
        ..History::default()
    };
    let mut change = stored(&s, 4, h.clone());
    change.events = vec![("triage".into(), None)];
    s.update(Action::TeamUpdate(vec![change]));
    let it = &s.items[4];
    assert_eq!(it.verdict.as_ref().map(|v| v.verdict), Some(Level::High));
    assert_eq!(it.status, ItemStatus::Triaged);
    assert!(
        s.notice
            .as_ref()
            .is_some_and(|x| x.text.starts_with("HIGH from the team")),
        "{:?}",
        s.notice
    );
    // Bob judges it and holds it.
    h.judgement.thumbs = Some(crate::store::feedback::Thumbs::Down);
    h.judgement.analyst_verdict = Some(Level::Low);
    h.holder = Some(bob());
    h.notes = vec!["benign backup job".into()];
    s.update(Action::TeamUpdate(vec![stored(&s, 4, h.clone())]));
    let it = &s.items[4];
    assert_eq!(it.judgement.analyst_verdict, Some(Level::Low));
    assert_eq!(it.status, ItemStatus::Reviewed);
    assert_eq!(it.notes, vec!["benign backup job".to_string()]);
    assert_eq!(s.held_by_other(4), Some(&bob()));
    // Bob takes over an alert this analyst holds: a warning.
    s.items[5].holder = Some(Claim {
        analyst: "tester".into(),
        at: crate::store::now(),
    });
    let mut taken = stored(
        &s,
        5,
        History {
            holder: Some(bob()),
            ..History::default()
        },
    );
    taken.events = vec![("takeover".into(), Some("bob".into()))];
    s.update(Action::TeamUpdate(vec![taken]));
    let notice = s.notice.clone().expect("notice");
    assert!(
        notice.error && notice.text.starts_with("bob took over your alert"),
        "{notice:?}"
    );
    // An alert new to this console joins the queue once, however often it is reported.
    let mut other = sample().remove(0);
    other.alert.alert.id = "from-the-team-1".into();
    let change = TeamChange {
        item: other,
        events: vec![("alert".into(), None)],
        force: false,
    };
    s.update(Action::TeamUpdate(vec![change.clone()]));
    s.update(Action::TeamUpdate(vec![change]));
    assert_eq!(s.items.len(), n + 1);
    assert_eq!(s.visible.len(), n + 1);
}

#[test]
fn a_run_of_this_console_is_not_overwritten_by_the_feed() {
    let mut s = team();
    let fx = s.update(Action::Triage);
    let Some(Effect::Triage { item, .. }) = fx.into_iter().next() else {
        panic!("no triage");
    };
    let o = outcome("t-other", Level::Critical);
    let h = History {
        triage_id: Some("t-other".into()),
        verdict: Some(o.verdict),
        provenance: Some(o.provenance),
        ..History::default()
    };
    s.update(Action::TeamUpdate(vec![stored(&s, item, h)]));
    assert!(
        s.items[item].verdict.is_none(),
        "the run in progress decides"
    );
    assert_eq!(s.items[item].status, ItemStatus::Triaging);
}

#[test]
fn statistics_switch_between_the_team_and_this_analyst() {
    let mut s = team();
    assert!(matches!(
        s.update(Action::Stats).as_slice(),
        [Effect::LoadStats { analyst: None }]
    ));
    let fx = s.update(Action::StatsScope);
    assert!(
        matches!(fx.as_slice(), [Effect::LoadStats { analyst: Some(a) }] if a == "tester"),
        "{fx:?}"
    );
    assert!(
        s.stats.is_none(),
        "the other scope's figures are not shown meanwhile"
    );
    s.update(Action::Stats);
    // Reopened, it keeps the scope chosen.
    assert!(matches!(
        s.update(Action::Stats).as_slice(),
        [Effect::LoadStats { analyst: Some(_) }]
    ));
    s.update(Action::Back);
    assert!(
        s.update(Action::StatsScope).is_empty(),
        "only on the statistics screen"
    );
}

#[test]
fn losing_ones_alert_is_the_notice_even_when_a_note_came_with_it() {
    let mut s = team();
    s.items[0].holder = Some(Claim {
        analyst: "tester".into(),
        at: crate::store::now(),
    });
    let mut change = stored(
        &s,
        0,
        History {
            holder: Some(bob()),
            notes: vec!["mine now".into()],
            ..History::default()
        },
    );
    change.events = vec![
        ("takeover".into(), Some("bob".into())),
        ("note".into(), Some("bob".into())),
    ];
    s.update(Action::TeamUpdate(vec![change]));
    let n = s.notice.clone().expect("notice");
    assert!(
        n.error && n.text.starts_with("bob took over your alert"),
        "{n:?}"
    );
    // Who is named comes from the event behind the change, not the latest event.
    let o = outcome("t-replica", Level::Low);
    let mut verdict = stored(
        &s,
        3,
        History {
            triage_id: Some("t-replica".into()),
            verdict: Some(o.verdict),
            provenance: Some(o.provenance),
            notes: vec!["carol's note".into()],
            ..History::default()
        },
    );
    verdict.events = vec![
        ("triage".into(), None),
        ("note".into(), Some("carol".into())),
    ];
    s.update(Action::TeamUpdate(vec![verdict]));
    let n = s.notice.clone().expect("notice");
    assert!(n.text.starts_with("LOW from the team"), "{n:?}");
}

#[test]
fn a_snapshot_of_ones_own_claim_never_takes_back_a_newer_verdict() {
    let mut s = team();
    triaged(&mut s, Level::High);
    // Read for this analyst's claim before the run stored its verdict, delivered after.
    let o = outcome("t-old", Level::Low);
    let mut late = stored(
        &s,
        0,
        History {
            triage_id: Some("t-old".into()),
            verdict: Some(o.verdict),
            provenance: Some(o.provenance),
            holder: Some(Claim {
                analyst: "tester".into(),
                at: crate::store::now(),
            }),
            ..History::default()
        },
    );
    late.events = vec![("claim".into(), Some("tester".into()))];
    s.update(Action::TeamUpdate(vec![late]));
    let it = &s.items[0];
    assert_eq!(it.verdict.as_ref().map(|v| v.verdict), Some(Level::High));
    assert_eq!(
        it.holder.as_ref().map(|c| c.analyst.as_str()),
        Some("tester")
    );
}

#[test]
fn a_refused_judgement_is_put_back_even_while_a_chat_answer_streams() {
    let mut s = team();
    triaged(&mut s, Level::High);
    let stored_before = s.items[0].clone();
    s.update(Action::ChatSubmit("who uses this?".into()));
    assert!(s.items[0].chat_run.is_some());
    s.update(Action::ThumbsUp);
    assert_eq!(s.items[0].status, ItemStatus::Reviewed);
    // The store refused it (a colleague took the alert): the worker reloads it, forced.
    let h = History {
        triage_id: stored_before.triage_id.clone(),
        verdict: stored_before.verdict.clone(),
        provenance: stored_before.provenance.clone(),
        holder: Some(bob()),
        ..History::default()
    };
    let mut change = stored(&s, 0, h);
    change.events.clear();
    change.force = true;
    s.update(Action::TeamUpdate(vec![change]));
    let it = &s.items[0];
    assert_eq!(it.judgement, Judgement::default());
    assert_eq!(it.status, ItemStatus::Triaged);
    assert_eq!(s.session_accuracy(), (0, 0), "nothing was recorded");
}

#[test]
fn a_batch_run_refused_at_its_slot_leaves_the_batch() {
    let mut s = team();
    let fx = s.update(Action::TriageAllNew);
    let n = fx.len();
    let Some(Effect::Triage { item, run, .. }) = fx.into_iter().next() else {
        panic!("no run");
    };
    s.update(Action::TriageRefused {
        item,
        run,
        holder: Some(bob()),
        why: String::new(),
    });
    assert_eq!(s.batch.map(|b| b.total), Some(n - 1));
    assert_eq!(s.items[item].status, ItemStatus::New);
    assert_eq!(s.held_by_other(item), Some(&bob()));
    // Without a holder, the reason is said.
    let mut s = team();
    let fx = s.update(Action::Triage);
    let Some(Effect::Triage { item, run, .. }) = fx.into_iter().next() else {
        panic!("no run");
    };
    s.update(Action::TriageRefused {
        item,
        run,
        holder: None,
        why: "the team store could not record your claim (connection refused)".into(),
    });
    assert!(notice_has(&s, "connection refused"), "{:?}", s.notice);
}

#[test]
fn this_consoles_own_doings_coming_back_through_the_feed_are_no_news() {
    let mut s = team();
    s.update(Action::ClaimDone {
        item: 0,
        result: Ok(ClaimNews::TookOver(bob())),
    });
    let before = s.notice.clone();
    let mut echo = stored(
        &s,
        0,
        History {
            holder: Some(Claim {
                analyst: "tester".into(),
                at: crate::store::now(),
            }),
            notes: vec!["my own note".into()],
            ..History::default()
        },
    );
    echo.events = vec![
        ("takeover".into(), Some("tester".into())),
        ("note".into(), Some("tester".into())),
    ];
    s.update(Action::TeamUpdate(vec![echo]));
    assert_eq!(s.notice, before, "the confirmation stays");
    assert_eq!(s.items[0].notes, vec!["my own note".to_string()]);
}

#[test]
fn a_takeover_seen_through_another_event_still_names_who_took_it() {
    // The snapshot read for an earlier event (this analyst's own claim, a replica's
    // verdict) may already show the takeover; the takeover's own event then changes nothing.
    for events in [
        vec![("claim".to_string(), Some("tester".to_string()))],
        vec![("triage".to_string(), None)],
    ] {
        let mut s = team();
        s.items[0].holder = Some(Claim {
            analyst: "tester".into(),
            at: crate::store::now(),
        });
        let mut change = stored(
            &s,
            0,
            History {
                holder: Some(bob()),
                ..History::default()
            },
        );
        change.events = events;
        s.update(Action::TeamUpdate(vec![change]));
        let n = s.notice.clone().expect("notice");
        assert!(
            n.error && n.text.starts_with("bob took over your alert"),
            "{n:?}"
        );
    }
}
