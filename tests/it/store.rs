//! The store's behaviour, the same on both backends: every test here runs once on SQLite
//! and once on PostgreSQL (`sqlite` and `postgres` in its module): schema migrations,
//! concurrent writers, accuracy and similar cases.

use std::path::PathBuf;

use soc_copilot::alert::parse::from_text;
use soc_copilot::store::feedback::{DownReason, NewFeedback};
use soc_copilot::store::{NewTriage, Store, StoreError, Thumbs, TriageStatus, new_id};

/// Where one test's store lives: a fresh SQLite data directory or a fresh PostgreSQL
/// database on the test cluster.
pub enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Place {
    pub fn sqlite() -> Place {
        Place::Sqlite(tempfile::tempdir().expect("tempdir"))
    }

    pub fn postgres() -> Place {
        Place::Postgres(crate::support::pg::database())
    }

    /// A new connection to it (each call is another connection, as another process's).
    pub fn open(&self) -> Store {
        match self {
            Place::Sqlite(dir) => Store::open_in(dir.path()).expect("open"),
            Place::Postgres(url) => Store::connect(url).expect("connect"),
        }
    }

    /// A fresh, empty place of the same kind.
    pub fn another(&self) -> Place {
        match self {
            Place::Sqlite(_) => Place::sqlite(),
            Place::Postgres(_) => Place::postgres(),
        }
    }

    pub fn pool(&self) -> soc_copilot::store::StorePool {
        match self {
            Place::Sqlite(dir) => soc_copilot::store::StorePool::new(dir.path().to_path_buf()),
            Place::Postgres(url) => {
                soc_copilot::store::StorePool::team(PathBuf::from("/nonexistent"), url)
            }
        }
    }

    /// Sets the stored schema version behind the store's back.
    fn force_schema(&self, version: i64) {
        match self {
            Place::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(dir.path().join("soc-copilot.db"))
                    .expect("raw open");
                conn.pragma_update(None, "user_version", version)
                    .expect("bump");
            }
            Place::Postgres(url) => {
                let mut c = postgres::Client::connect(url, postgres::NoTls).expect("raw connect");
                c.execute("UPDATE soc_copilot_schema SET version = $1", &[&version])
                    .expect("bump");
            }
        }
    }
}

/// Runs a test function once per backend: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::store::Place::sqlite())
            }
            #[test]
            fn postgres() {
                super::$name($crate::store::Place::postgres())
            }
        }
    )+};
}

on_both_backends!(
    connections_opening_at_once_on_a_new_database_all_succeed,
    migrations_run_from_empty_and_are_idempotent,
    triage_lifecycle_and_unknown_ids,
    two_writers_at_once_lose_nothing,
    accuracy_figures_on_known_data,
    similar_reviewed_cases_come_back_most_similar_first,
    feedback_on_a_failed_run_stands_without_a_machine_verdict,
);

pub fn triage(
    store: &mut Store,
    title: &str,
    verdict: &str,
    confidence: f64,
    embedding: Option<&[f32]>,
) -> String {
    triage_alert(
        store,
        &from_text(title, None),
        verdict,
        confidence,
        embedding,
    )
}

/// Stores `alert` and a complete triage of it; the triage id.
pub fn triage_alert(
    store: &mut Store,
    alert: &soc_copilot::alert::Alert,
    verdict: &str,
    confidence: f64,
    embedding: Option<&[f32]>,
) -> String {
    let row = store
        .upsert_alert(alert, &alert.title, embedding)
        .expect("alert stored");
    let id = new_id();
    store
        .start_triage(&id, row, "offline", None)
        .expect("start");
    let t = NewTriage {
        id: id.clone(),
        alert_row: row,
        engine: "offline".into(),
        verdict: Some(verdict.into()),
        confidence: Some(confidence),
        verdict_json: Some("{}".into()),
        ..Default::default()
    };
    store
        .finish_triage(&t, TriageStatus::Complete)
        .expect("finish");
    id
}

pub fn feedback(
    store: &mut Store,
    id: &str,
    thumbs: Thumbs,
    analyst_verdict: Option<&str>,
    reason: Option<DownReason>,
) {
    store
        .add_feedback(&NewFeedback {
            triage_id: id.into(),
            thumbs: Some(thumbs),
            reason,
            analyst_verdict: analyst_verdict.map(str::to_string),
            notes: None,
            analyst: "tester".into(),
        })
        .expect("feedback stored");
}

fn migrations_run_from_empty_and_are_idempotent(place: Place) {
    let store = place.open();
    assert_eq!(
        store.schema_version().expect("version"),
        Store::known_schema()
    );
    assert_eq!(Store::known_schema(), 7);
    drop(store);
    let store = place.open();
    assert_eq!(
        store.schema_version().expect("version"),
        Store::known_schema()
    );
    assert_eq!(Store::known_schema(), 7);
    drop(store);

    place.force_schema(99);
    let err = match &place {
        Place::Sqlite(dir) => Store::open_in(dir.path()).err(),
        Place::Postgres(url) => Store::connect(url).err(),
    }
    .expect("too new");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
}

fn triage_lifecycle_and_unknown_ids(place: Place) {
    let mut store = place.open();
    let id = triage(&mut store, "Mimikatz on HR-LT-19", "CRITICAL", 0.9, None);
    let t = store.triage(&id).expect("query").expect("exists");
    assert_eq!(t.status, TriageStatus::Complete);
    assert_eq!(t.verdict.as_deref(), Some("CRITICAL"));
    assert_eq!(t.alert_title, "Mimikatz on HR-LT-19");
    assert!(store.has_completed_triage(&t.alert_key).expect("query"));

    let err = store
        .add_feedback(&NewFeedback {
            triage_id: "nope".into(),
            thumbs: Some(Thumbs::Up),
            analyst: "x".into(),
            ..Default::default()
        })
        .expect_err("unknown triage");
    assert!(err.to_string().contains("no triage with id nope"), "{err}");

    let row = t.alert_row;
    store
        .add_chat_message(row, "user", "Is this lateral movement?", None, None, (0, 0))
        .expect("chat");
    store
        .add_chat_message(
            row,
            "assistant",
            "Not from this alert alone.",
            Some("offline"),
            None,
            (0, 0),
        )
        .expect("chat");
    let chat = store.chat_for(row).expect("chat");
    assert_eq!(
        chat.iter().map(|m| m.role.as_str()).collect::<Vec<_>>(),
        ["user", "assistant"]
    );
}

fn two_writers_at_once_lose_nothing(place: Place) {
    drop(place.open());
    let place = std::sync::Arc::new(place);
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let place = place.clone();
            std::thread::spawn(move || {
                // Each thread has its own connection, as two processes would.
                let mut store = place.open();
                for i in 0..100 {
                    let id = triage(
                        &mut store,
                        &format!("writer {w} alert {i}"),
                        "LOW",
                        0.5,
                        None,
                    );
                    feedback(&mut store, &id, Thumbs::Up, None, None);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer finished");
    }
    let store = place.open();
    assert_eq!(store.recent_triages(1000).expect("list").len(), 200);
    assert_eq!(store.accuracy().expect("accuracy").overall.total, 200);
}

fn accuracy_figures_on_known_data(place: Place) {
    let mut s = place.open();
    let a = triage(&mut s, "a", "HIGH", 0.9, None);
    feedback(&mut s, &a, Thumbs::Up, None, None); // correct
    let b = triage(&mut s, "b", "HIGH", 0.85, None);
    feedback(
        &mut s,
        &b,
        Thumbs::Down,
        Some("BENIGN"),
        Some(DownReason::WrongVerdict),
    ); // wrong
    let c = triage(&mut s, "c", "LOW", 0.3, None);
    feedback(
        &mut s,
        &c,
        Thumbs::Down,
        None,
        Some(DownReason::MissedEvidence),
    );
    feedback(&mut s, &c, Thumbs::Up, None, None); // the latest feedback wins: correct
    let d = triage(&mut s, "d", "BENIGN", 0.1, None);
    feedback(&mut s, &d, Thumbs::Down, Some("benign"), None); // analyst verdict equal: correct
    triage(&mut s, "e", "MEDIUM", 0.5, None); // no feedback: not counted

    let acc = s.accuracy().expect("accuracy");
    assert_eq!((acc.overall.total, acc.overall.correct), (4, 3));
    assert_eq!(acc.overall.accuracy, Some(0.75));
    assert_eq!(acc.per_verdict["HIGH"].accuracy, Some(0.5));
    assert_eq!(acc.per_verdict["LOW"].correct, 1);
    assert_eq!(acc.confusion["HIGH"]["HIGH"], 1);
    assert_eq!(acc.confusion["HIGH"]["BENIGN"], 1);
    assert_eq!(acc.confusion["BENIGN"]["BENIGN"], 1);
    assert_eq!(acc.down_reasons["wrong_verdict"], 1);
    assert_eq!(
        acc.down_reasons.get("missed_evidence"),
        None,
        "superseded feedback is not counted"
    );
    // 0.9 and 0.85 fall in the top bucket, half right.
    assert_eq!(acc.calibration[4].rate.total, 2);
    assert_eq!(acc.calibration[4].rate.accuracy, Some(0.5));
    assert_eq!(acc.calibration[0].rate.total, 1);
    assert_eq!(acc.by_day.values().map(|r| r.total).sum::<u64>(), 4);
    assert_eq!(acc.per_engine["offline"].total, 4);
}

fn similar_reviewed_cases_come_back_most_similar_first(place: Place) {
    let mut s = place.open();
    let near = [1.0f32, 0.0, 0.0];
    let mid = [0.8f32, 0.6, 0.0];
    let far = [0.0f32, 0.0, 1.0];
    let a = triage(&mut s, "backup job ran vssadmin", "HIGH", 0.8, Some(&near));
    feedback(
        &mut s,
        &a,
        Thumbs::Down,
        Some("BENIGN"),
        Some(DownReason::WrongVerdict),
    );
    let b = triage(&mut s, "admin script", "LOW", 0.6, Some(&mid));
    feedback(&mut s, &b, Thumbs::Up, None, None);
    let c = triage(&mut s, "unrelated", "HIGH", 0.6, Some(&far));
    feedback(&mut s, &c, Thumbs::Up, None, None);
    triage(&mut s, "not reviewed", "HIGH", 0.6, Some(&near));

    let cases = s
        .similar_reviewed(&near, "some-other-key", 5, 0.5)
        .expect("similar");
    assert_eq!(cases.len(), 2, "{cases:?}");
    assert_eq!(cases[0].title, "backup job ran vssadmin");
    assert_eq!(cases[0].analyst_verdict, "BENIGN");
    assert!(!cases[0].agreed);
    assert_eq!(cases[1].analyst_verdict, "LOW");
    assert!(cases[1].agreed);
}

/// Replicas starting together on a new database: every connection opens (the schema is
/// created once, under the migration lock), none fails.
fn connections_opening_at_once_on_a_new_database_all_succeed(first: Place) {
    // Switching a new database to WAL answers "locked" without waiting for a busy handler
    // when another connection does the same: opening must wait and retry, not fail. On
    // PostgreSQL, creating the schema's version table races unless it is under the lock.
    let mut places: Vec<Place> = (0..9).map(|_| first.another()).collect();
    places.push(first);
    for place in places {
        let pool = std::sync::Arc::new(place.pool());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    // Each thread holds its connection, so the pool must open twelve.
                    let store = pool.get().map_err(|e| e.to_string())?;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    store.ping().map_err(|e| e.to_string())
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread").expect("opened");
        }
    }
}

/// A failed run can be judged: the analyst's verdict is kept, accuracy (which scores tool
/// verdicts) skips it, and it serves as precedent for similar alerts with no tool verdict.
fn feedback_on_a_failed_run_stands_without_a_machine_verdict(place: Place) {
    let mut s = place.open();
    let emb = [1.0f32, 0.0, 0.0];
    let alert = from_text("encoded powershell from word", None);
    let row = s
        .upsert_alert(&alert, "encoded powershell from word", Some(&emb))
        .expect("alert");
    let id = new_id();
    s.start_triage(&id, row, "anthropic", Some("claude"))
        .expect("start");
    s.finish_triage(
        &NewTriage {
            id: id.clone(),
            alert_row: row,
            engine: "anthropic".into(),
            raw_output: Some("verdict: HIGH {broken".into()),
            error: Some("verdict still invalid after one repair".into()),
            ..Default::default()
        },
        TriageStatus::Failed,
    )
    .expect("finish");
    feedback(&mut s, &id, Thumbs::Down, Some("CRITICAL"), None);
    assert_eq!(s.feedback_for(&id).expect("read").len(), 1);
    assert_eq!(s.accuracy().expect("accuracy").overall.total, 0);
    let cases = s
        .similar_reviewed(&emb, "another-alert", 3, 0.5)
        .expect("similar");
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!(cases[0].analyst_verdict, "CRITICAL");
    assert_eq!(cases[0].verdict, soc_copilot::store::similar::NO_VERDICT);
    assert!(!cases[0].agreed);

    // A run still running (or cancelled) is still refused.
    let other = new_id();
    s.start_triage(&other, row, "anthropic", None)
        .expect("start");
    let err = s
        .add_feedback(&NewFeedback {
            triage_id: other.clone(),
            thumbs: Some(Thumbs::Up),
            analyst: "t".into(),
            ..NewFeedback::default()
        })
        .expect_err("running");
    assert!(matches!(err, StoreError::NotComplete { .. }), "{err}");
}
