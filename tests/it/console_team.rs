//! Two analysts' consoles on one PostgreSQL team store, through the real workers: opening
//! an alert claims it, the other console shows who holds it and refuses to triage or judge
//! it, an explicit takeover is recorded, and verdicts, judgements, notes, releases and new
//! alerts arrive live through LISTEN/NOTIFY.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use soc_copilot::store::Store;
use soc_copilot::store::feedback::Thumbs;
use soc_copilot::tui::keymap::Keymap;
use soc_copilot::tui::state::{KbState, State};
use soc_copilot::tui::ui::Theme;
use soc_copilot::tui::workers::{ACTION_QUEUE, Source, Workers};
use soc_copilot::tui::{Action, Console};
use tokio::sync::mpsc;

use crate::common::{fixture_bundle, ingest_into, repo};
use crate::console::{key, pump, w_config};

struct Seat {
    c: Console,
    w: Workers,
    rx: mpsc::Receiver<Action>,
}

impl Seat {
    async fn open(dir: &std::path::Path, url: &str, analyst: &str) -> Seat {
        let mut cfg = w_config(dir);
        cfg.config.paths.model_dir = Some(PathBuf::from("/nonexistent"));
        cfg.config.analyst.name = Some(analyst.into());
        cfg.database = Some(url.to_string());
        let (tx, rx) = mpsc::channel(ACTION_QUEUE);
        let w = Workers::new(cfg, tx, tokio::runtime::Handle::current());
        let mut state = State::new("offline", analyst);
        state.team = true;
        let c = Console::new(state, Keymap::default(), Theme { color: false });
        w.load(Source::Paths(vec![repo().join("data/queue")]));
        w.open_kb();
        let mut seat = Seat { c, w, rx };
        seat.until("the queue and the knowledge base", |s| {
            !s.loading && matches!(s.kb, KbState::Ready(_)) && s.following
        })
        .await;
        seat
    }

    async fn until(&mut self, what: &str, done: impl Fn(&State) -> bool) {
        pump(&mut self.c, &mut self.w, &mut self.rx, what, done).await;
    }

    /// Presses a key and returns how many effects it asked for.
    fn press(&mut self, k: KeyEvent) -> usize {
        let fx = self.c.key(k);
        let n = fx.len();
        for e in fx {
            self.w.perform(e);
        }
        n
    }

    fn holder(&self, item: usize) -> Option<String> {
        self.c.state.items[item]
            .holder
            .as_ref()
            .map(|c| c.analyst.clone())
    }

    fn notice(&self) -> String {
        self.c
            .state
            .notice
            .as_ref()
            .map(|n| n.text.clone())
            .unwrap_or_default()
    }
}

fn held_by(s: &State, item: usize, who: &str) -> bool {
    s.items[item]
        .holder
        .as_ref()
        .is_some_and(|c| c.analyst == who)
}

fn enter() -> KeyEvent {
    KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)
}

#[test]
fn two_analysts_share_one_postgres_queue_live() {
    // The test cluster is set up before the runtime starts (its client blocks).
    let url = crate::support::pg::database();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(shift(url));
}

async fn shift(url: String) {
    let dir = tempfile::tempdir().expect("tempdir");
    ingest_into(&fixture_bundle(), dir.path(), Err("BM25 only".into()));
    let mut alice = Seat::open(dir.path(), &url, "alice").await;
    let mut bob = Seat::open(dir.path(), &url, "bob").await;
    let n = alice.c.state.items.len();
    let key0 = alice.c.state.items[0].alert.alert.id.clone();

    // Alice opens the first alert: it is hers, and triaged.
    assert_eq!(alice.press(enter()), 1);
    let verdict_held_by_alice = |s: &State| s.items[0].verdict.is_some() && held_by(s, 0, "alice");
    alice.until("alice's verdict", verdict_held_by_alice).await;
    // Bob's console shows both without him doing anything.
    let t = Instant::now();
    bob.until(
        "alice's verdict and claim in bob's console",
        verdict_held_by_alice,
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(10));
    // He can neither triage nor judge it.
    assert_eq!(bob.press(key('r')), 0);
    assert!(
        bob.notice().contains("alice holds it since"),
        "{}",
        bob.notice()
    );
    assert_eq!(bob.press(key('+')), 0);
    assert!(bob.notice().starts_with("cannot judge"), "{}", bob.notice());
    // Even when his console has not heard of the claim yet, the store refuses the run.
    bob.c.state.items[0].holder = None;
    assert_eq!(bob.press(key('r')), 1);
    bob.until("the refused triage", |s| {
        s.notice
            .as_ref()
            .is_some_and(|n| n.text.starts_with("not triaged"))
            && s.items[0].run.is_none()
    })
    .await;
    bob.until("the stored verdict put back", |s| {
        s.items[0].verdict.is_some()
    })
    .await;
    assert_eq!(bob.holder(0).as_deref(), Some("alice"));

    // Bob takes it over explicitly; the store records whom from.
    assert_eq!(bob.press(key('T')), 1);
    // Its confirmation and its echo through the feed come in either order.
    bob.until("the takeover", |s| {
        held_by(s, 0, "bob")
            && s.notice
                .as_ref()
                .is_some_and(|n| n.text.starts_with("taken over from alice (recorded)"))
    })
    .await;
    let store = Store::connect(&url).expect("connect");
    let row = store
        .alert_by_key(&key0)
        .expect("read")
        .expect("stored")
        .row;
    let log = store.claim_history(row).expect("log");
    let last = log.last().expect("entries");
    assert_eq!(
        (
            last.analyst.as_str(),
            last.action.as_str(),
            last.previous.as_deref()
        ),
        ("bob", "takeover", Some("alice"))
    );
    alice
        .until("the takeover in alice's console", |s| {
            s.items[0]
                .holder
                .as_ref()
                .is_some_and(|c| c.analyst == "bob")
                && s.notice
                    .as_ref()
                    .is_some_and(|n| n.error && n.text.starts_with("bob took over your alert"))
        })
        .await;
    assert_eq!(alice.press(key('+')), 0, "now alice cannot judge it");

    // Bob judges it and adds a note: alice sees both.
    bob.press(key('+'));
    bob.until("bob's judgement saved", |s| {
        s.notice
            .as_ref()
            .is_some_and(|n| n.text.starts_with("thumbs up recorded"))
    })
    .await;
    bob.press(key('N'));
    for ch in "escalated to IR".chars() {
        bob.press(key(ch));
    }
    bob.press(enter());
    alice
        .until("bob's judgement and note in alice's console", |s| {
            s.items[0].judgement.thumbs == Some(Thumbs::Up)
                && s.items[0].notes.iter().any(|n| n == "escalated to IR")
        })
        .await;

    // Statistics: the team's, and each analyst's own.
    bob.press(key('s'));
    bob.until("team statistics", |s| s.stats.is_some()).await;
    bob.press(key('a'));
    bob.until("bob's statistics", |s| s.stats.is_some()).await;
    assert!(bob.c.state.stats_mine);
    assert_eq!(bob.c.state.stats.as_ref().map(|a| a.overall.total), Some(1));
    assert_eq!(
        store
            .accuracy_of(Some("alice"))
            .expect("accuracy")
            .overall
            .total,
        0
    );
    bob.press(key('s'));

    // An alert another replica's intake accepts joins both queues.
    let mut w = Store::connect(&url).expect("connect");
    let fresh = soc_copilot::alert::parse::from_text(
        "rundll32 spawned by excel on HR-WS-7",
        Some("team-intake-1"),
    );
    w.accept_intake(&[(&fresh, "raw", true)]).expect("intake");
    for seat in [&mut alice, &mut bob] {
        seat.until("the new alert", |s| {
            s.items.len() == n + 1 && s.items[n].alert.alert.id == "team-intake-1"
        })
        .await;
    }

    // A batch never triages what a colleague holds, even when the console's view is stale:
    // each run asks the store again when it gets its slot.
    let theirs = 5;
    let theirs_key = alice.c.state.items[theirs].alert.alert.id.clone();
    bob.c.state.items[theirs].holder = None;
    bob.c.state.selected = theirs;
    assert_eq!(bob.press(key('T')), 1);
    bob.until("bob holds the sixth alert", |s| held_by(s, theirs, "bob"))
        .await;
    alice
        .until("bob's claim in alice's console", |s| {
            held_by(s, theirs, "bob")
        })
        .await;
    alice.c.state.items[theirs].holder = None;
    assert!(alice.press(key('a')) > 1);
    alice
        .until("the batch", |s| s.batch.is_none() && s.runs.is_empty())
        .await;
    assert_eq!(alice.holder(theirs).as_deref(), Some("bob"));
    assert!(alice.c.state.items[theirs].verdict.is_none());
    let stored = store
        .alert_by_key(&theirs_key)
        .expect("read")
        .map(|a| store.latest_triage_for(a.row).expect("triage"));
    assert!(
        matches!(stored, None | Some(None)),
        "bob's alert was triaged by alice's batch: {stored:?}"
    );

    // Bob leaves: what he held is free again, in alice's console too.
    bob.press(key('q'));
    bob.w.finish().await;
    assert_eq!(store.claim_of(row).expect("claim"), None);
    alice
        .until("bob's release", |s| s.items[0].holder.is_none())
        .await;

    // A name is text others wrote: whatever it carries reaches no terminal.
    let mut raw = Store::connect(&url).expect("connect");
    raw.claim_alert(row, "eve\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J", false)
        .expect("claim");
    alice
        .until("the hostile holder", |s| s.items[0].holder.is_some())
        .await;
    let shown = alice.holder(0).expect("holder");
    assert!(
        shown.starts_with("eve") && !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown:?}"
    );
    assert!(!crate::console::screen(&alice.c, 160, 45).contains('\u{1b}'));
}

#[test]
fn the_console_shows_its_analyst_who_holds_what_and_the_teams_figures() {
    use soc_copilot::store::accuracy::{Accuracy, Rate};
    use soc_copilot::store::team::Claim;
    let mut c = crate::console::worked();
    c.state.team = true;
    c.state.items[0].holder = Some(Claim {
        analyst: "bob".into(),
        at: "2026-12-01T14:02:11.000Z".into(),
    });
    c.state.items[1].holder = Some(Claim {
        analyst: "tester".into(),
        at: "2026-12-01T14:05:00.000Z".into(),
    });
    for (w, h) in [(80, 24), (160, 45)] {
        let s = crate::console::screen(&c, w, h);
        assert!(s.contains("tester @ team"), "{s}");
        assert!(s.contains("@bob") && s.contains("@me"), "{s}");
        assert!(s.contains("Reasoning · held by bob · anthropic"), "{s}");
    }
    let wide = crate::console::screen(&c, 160, 45);
    assert!(wide.contains("held by bob since 14:02 UTC"), "{wide}");
    // Statistics: the team's per analyst, and the scope in the title.
    let rate = |correct: u64, total: u64| Rate {
        total,
        correct,
        accuracy: Some(correct as f64 / total as f64),
    };
    let mut a = Accuracy {
        overall: rate(3, 4),
        ..Accuracy::default()
    };
    a.per_analyst.insert("bob".into(), rate(1, 2));
    a.per_analyst
        .insert("eve\u{1b}[2J\u{1b}]0;pwned\u{7}".into(), rate(0, 1));
    a.per_analyst.insert("tester".into(), rate(2, 2));
    c.dispatch(Action::Stats);
    c.dispatch(Action::StatsLoaded(Box::new(a)));
    let s = crate::console::screen(&c, 160, 45);
    assert!(s.contains("Statistics · the team (a yours"), "{s}");
    assert!(
        s.contains("By analyst: bob 50% (2) · eve 0% (1) · tester 100% (2)"),
        "{s}"
    );
    assert!(!s.contains('\u{1b}') && !s.contains('\u{7}'), "{s}");
    c.dispatch(Action::StatsScope);
    let s = crate::console::screen(&c, 160, 45);
    assert!(s.contains("your judgements, tester"), "{s}");
}
