//! Team mode: the rest of the store's interface on both backends (intake, the investigation's
//! memory, incidents, hand-off records, pseudonyms, closures), and the SQLite history copied
//! into a PostgreSQL team store.

use soc_copilot::alert::parse::from_text;
use soc_copilot::intel::{Indicator, IntelRecord, Verdict};
use soc_copilot::store::exports::ExportRecord;
use soc_copilot::store::feedback::NewFeedback;
use soc_copilot::store::intake::Accepted;
use soc_copilot::store::{Store, Thumbs, redact};

use crate::store::{Place, feedback, triage, triage_alert};

crate::on_both_backends!(
    intake_is_idempotent_by_key_and_recovers,
    investigation_memory_finds_history_related_and_intel,
    incidents_group_keep_decisions_and_list_members,
    records_of_hand_off_closures_notes_and_pseudonyms,
);

fn alert(text: &str, key: &str) -> soc_copilot::alert::Alert {
    from_text(text, Some(key))
}

fn intake_is_idempotent_by_key_and_recovers(place: Place) {
    let mut s = place.open();
    let a = alert("powershell -enc from winword on FIN-WS-042", "k-1");
    let b = alert("new service installed on DC01", "k-2");
    let got = s
        .accept_intake(&[
            (&a, "raw a", true),
            (&b, "raw b", false),
            (&a, "raw a", true),
        ])
        .expect("intake");
    assert!(matches!(got[0], Accepted::New { .. }), "{got:?}");
    assert!(matches!(got[1], Accepted::New { .. }), "{got:?}");
    assert_eq!(
        got[2],
        Accepted::Duplicate,
        "the same key twice in one batch"
    );
    // Another connection (another replica) sees the key too.
    let pool = place.pool();
    let mut other = pool.get().expect("pooled");
    let again = other.accept_intake(&[(&a, "raw a", true)]).expect("intake");
    assert_eq!(again, vec![Accepted::Duplicate]);
    let queued = other.recover_intake().expect("recover");
    assert_eq!(
        queued
            .iter()
            .map(|q| q.alert.id.as_str())
            .collect::<Vec<_>>(),
        ["k-1"],
        "only the queued one"
    );
    other.intake_done("k-1").expect("done");
    assert!(other.recover_intake().expect("recover").is_empty());
    let list = s.alert_statuses(10, None, true).expect("statuses");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].alert_key, "k-2");
    assert_eq!(list[0].status, "received");
    assert_eq!(list[0].raw.as_deref(), Some("raw b"));
    let older = s
        .alert_statuses(10, Some(list[0].row), false)
        .expect("page");
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].raw, None);
}

fn investigation_memory_finds_history_related_and_intel(place: Place) {
    let mut s = place.open();
    let first = triage(
        &mut s,
        "beacon from FIN-WS-042 to 185.220.101.47 user j.doe",
        "HIGH",
        0.8,
        None,
    );
    feedback(&mut s, &first, Thumbs::Up, None, None);
    triage(
        &mut s,
        "second beacon from FIN-WS-042 to 185.220.101.47",
        "HIGH",
        0.7,
        None,
    );
    let ip = Indicator::detect("185.220.101.47").expect("an ip");
    let seen = s.ioc_history(&ip, "none", 10).expect("history");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().any(|x| x.thumbs.as_deref() == Some("up")));
    let key = seen[0].alert_key.clone();
    let related = s.related_alerts(&key, 1.0, 10).expect("related");
    assert_eq!(related.len(), 1, "{related:?}");
    assert!(
        related[0].why.iter().any(|w| w.contains("185.220.101.47")),
        "{:?}",
        related[0].why
    );
    let n = s
        .import_intel(&[IntelRecord {
            indicator: ip.clone(),
            source: "feed".into(),
            verdict: Verdict::Malicious,
            threat: Some("tor exit".into()),
            first_seen: None,
            reference: None,
        }])
        .expect("import");
    assert_eq!(n, 1);
    assert_eq!(
        s.intel_for(&ip).expect("intel")[0].verdict,
        Verdict::Malicious
    );
    assert_eq!(
        s.intel_sources().expect("sources"),
        vec![("feed".into(), 1)]
    );
    s.intel_cache_put("vt", &ip, "{\"hits\":3}", Some("raw"))
        .expect("cache");
    let cached = s.intel_cached("vt", &ip, 60.0).expect("cached");
    assert_eq!(cached.as_ref().map(|c| c.0.as_str()), Some("{\"hits\":3}"));
    assert!(cached.is_some_and(|c| (0.0..60.0).contains(&c.2)));
    assert!(s.intel_cached("vt", &ip, -1.0).expect("cached").is_none());
    assert!(s.cost_today().expect("cost") >= 0.0);
}

fn incidents_group_keep_decisions_and_list_members(place: Place) {
    let mut s = place.open();
    let on = |title: &str, host: &str| {
        let mut a = from_text(title, None);
        a.host = Some(host.into());
        a.user = Some("j.doe".into());
        a
    };
    let a = triage_alert(&mut s, &on("mimikatz", "HR-LT-19"), "CRITICAL", 0.9, None);
    let b = triage_alert(&mut s, &on("lsass access", "HR-LT-19"), "HIGH", 0.8, None);
    let mut other = from_text("port scan", None);
    other.host = Some("WEB-01".into());
    triage_alert(&mut s, &other, "LOW", 0.5, None);
    let rows = s.correlation_rows().expect("rows");
    assert_eq!(rows.len(), 3);
    soc_copilot::incident::refresh(&mut s, Default::default()).expect("refresh");
    let list = s.incidents(10).expect("incidents");
    let joined = list
        .iter()
        .find(|i| i.alert_count == 2)
        .unwrap_or_else(|| panic!("the two HR-LT-19 alerts form one incident: {list:?}"));
    assert_eq!(joined.worst_alert_verdict.as_deref(), Some("CRITICAL"));
    let members = s.incident_members(&joined.id).expect("members");
    assert_eq!(members.len(), 2);
    assert!(
        members[1].why.to_lowercase().contains("hr-lt-19"),
        "{members:?}"
    );
    let (ra, rb) = (
        s.triage(&a).expect("t").expect("a").alert_row,
        s.triage(&b).expect("t").expect("b").alert_row,
    );
    assert_eq!(s.incident_of(ra).expect("of"), Some(joined.id.clone()));
    s.record_incident_pairs(&[(ra, rb)], false, "j.doe")
        .expect("split");
    assert!(
        s.incident_decisions()
            .expect("decisions")
            .split
            .contains(&(ra.min(rb), ra.max(rb)))
    );
    let before = s.correlation_generation().expect("generation");
    soc_copilot::incident::refresh(&mut s, Default::default()).expect("refresh");
    assert!(
        s.incidents(10)
            .expect("incidents")
            .iter()
            .all(|i| i.alert_count == 1),
        "the analyst's split holds"
    );
    assert_eq!(s.correlation_generation().expect("generation"), before);
}

fn records_of_hand_off_closures_notes_and_pseudonyms(place: Place) {
    let mut s = place.open();
    let id = triage(&mut s, "benign backup job on FS-01", "BENIGN", 0.9, None);
    let row = s.triage(&id).expect("t").expect("exists").alert_row;
    let key = s.triage(&id).expect("t").expect("exists").alert_key;
    s.record_export(&ExportRecord {
        target: "thehive".into(),
        object_kind: "alert".into(),
        reference: key.clone(),
        triage_id: Some(id.clone()),
        remote_id: Some("~4109".into()),
        destination: "http://hive".into(),
        analyst: "j.doe".into(),
        at: String::new(),
    })
    .expect("export");
    assert_eq!(
        s.exports_of(&key).expect("exports")[0].remote_id.as_deref(),
        Some("~4109")
    );
    let c = s.record_closure(row, &id, "3 precedents").expect("closure");
    assert_eq!(s.open_closure(&key).expect("open").map(|x| x.0), Some(c));
    assert!(s.reverse_closure(c, "j.doe").expect("reverse"));
    assert!(!s.reverse_closure(c, "j.doe").expect("again"), "once only");
    assert_eq!(
        s.closures(5).expect("list")[0].reversed_by.as_deref(),
        Some("j.doe")
    );
    let n1 = s
        .add_note(row, Some(&id), "called the owner", "j.doe")
        .expect("note");
    let n2 = s.add_note(row, None, "closed", "a.smith").expect("note");
    assert!(n2 > n1);
    assert_eq!(s.notes_for(row).expect("notes").len(), 2);
    let fresh = vec![
        (
            "hosts".to_string(),
            "FS-01".to_string(),
            "HOST_1".to_string(),
        ),
        (
            "users".to_string(),
            "j.doe".to_string(),
            "USER_1".to_string(),
        ),
    ];
    assert_eq!(
        s.save_pseudonyms(&fresh).expect("save"),
        ["HOST_1", "USER_1"]
    );
    // Another value proposing a taken token gets the next number; a known value keeps its own.
    let clash = vec![
        (
            "hosts".to_string(),
            "FS-02".to_string(),
            "HOST_1".to_string(),
        ),
        (
            "hosts".to_string(),
            "fs-01".to_string(),
            "HOST_9".to_string(),
        ),
    ];
    assert_eq!(
        s.save_pseudonyms(&clash).expect("save"),
        ["HOST_2", "HOST_1"]
    );
    assert_eq!(s.pseudonyms().expect("map").len(), 3);
    let f = s
        .add_feedback(&NewFeedback {
            triage_id: id.clone(),
            thumbs: Some(Thumbs::Down),
            analyst_verdict: Some("LOW".into()),
            analyst: "a.smith".into(),
            ..Default::default()
        })
        .expect("feedback");
    assert!(f > 0);
    assert_eq!(
        s.analyst_label(row).expect("label"),
        Some(("LOW".into(), "a.smith".into()))
    );
    assert_eq!(s.reviewed(None).expect("reviewed").len(), 1);
    assert_eq!(s.training_rows().expect("rows").len(), 1);
}

#[test]
fn sqlite_history_moves_to_the_team_store_once() {
    let local = Place::sqlite();
    let mut s = local.open();
    let up = triage(
        &mut s,
        "mimikatz on HR-LT-19",
        "CRITICAL",
        0.9,
        Some(&[1.0, 0.0]),
    );
    feedback(&mut s, &up, Thumbs::Up, None, None);
    let down = triage(
        &mut s,
        "vssadmin by backup agent",
        "HIGH",
        0.7,
        Some(&[0.0, 1.0]),
    );
    feedback(&mut s, &down, Thumbs::Down, Some("BENIGN"), None);
    let row = s.triage(&up).expect("t").expect("exists").alert_row;
    s.add_note(row, Some(&up), "isolated", "j.doe")
        .expect("note");
    s.add_chat_message(row, "user", "lateral?", None, None, (1, 2))
        .expect("chat");
    soc_copilot::incident::refresh(&mut s, Default::default()).expect("incidents");

    let url = crate::support::pg::database();
    let mut team = Store::connect(&url).expect("team");
    // The team already holds another analyst's alert: its rows keep their ids.
    let theirs = triage(&mut team, "their own alert", "LOW", 0.4, None);
    let first = s.copy_into(&team).expect("copy");
    let copied = |r: &soc_copilot::store::copy::CopyReport, t: &str| {
        r.tables.iter().find(|x| x.table == t).map(|x| x.copied)
    };
    assert_eq!(copied(&first, "alerts"), Some(2));
    assert_eq!(copied(&first, "triages"), Some(2));
    assert_eq!(copied(&first, "feedback"), Some(2));
    assert_eq!(copied(&first, "notes"), Some(1));
    assert_eq!(copied(&first, "chat_messages"), Some(1));
    let again = s.copy_into(&team).expect("copy again");
    assert_eq!(again.copied(), 0, "idempotent: {again:?}");

    assert!(team.triage(&theirs).expect("t").is_some());
    assert_eq!(team.recent_triages(10).expect("list").len(), 3);
    let acc = team.accuracy().expect("accuracy");
    assert_eq!((acc.overall.total, acc.overall.correct), (2, 1));
    let t = team.triage(&up).expect("t").expect("copied");
    assert_eq!(
        team.notes_for(t.alert_row).expect("notes")[0].text,
        "isolated"
    );
    assert_eq!(team.chat_for(t.alert_row).expect("chat").len(), 1);
    let similar = team
        .similar_reviewed(&[1.0, 0.0], "x", 3, 0.5)
        .expect("similar");
    assert_eq!(similar.len(), 1);
    assert_eq!(similar[0].analyst_verdict, "CRITICAL");
    // New history recorded since is brought over by the next run, and only it.
    let later = triage(&mut s, "rdp brute force on VPN-01", "MEDIUM", 0.6, None);
    let third = s.copy_into(&team).expect("copy later");
    assert_eq!(copied(&third, "triages"), Some(1));
    assert!(team.triage(&later).expect("t").is_some());
}

#[test]
fn database_urls_are_checked_and_never_shown_with_their_password() {
    assert_eq!(
        redact("postgres://soc:s3cret@db:5432/soc?sslmode=disable&password=x"),
        "postgres://soc:***@db:5432/soc?sslmode=disable&password=***"
    );
    assert_eq!(redact("postgres://soc@db/soc"), "postgres://soc@db/soc");
    let err =
        soc_copilot::store::use_database("mysql://root:hunter2@db/x").expect_err("not postgres");
    let msg = err.to_string();
    assert!(msg.contains("not a PostgreSQL URL"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    // A server that is not there: a clear error, without the password.
    let err = Store::connect("postgres://soc:hunter2@127.0.0.1:9/soc?connect_timeout=2")
        .err()
        .expect("nothing listens on port 9");
    let msg = err.to_string();
    assert!(msg.contains("cannot connect to the team database"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

crate::on_both_backends!(
    a_follower_sees_what_another_connection_records,
    intake_leases_hand_each_alert_to_one_worker_and_expire,
    an_analyst_holds_an_alert_until_it_is_taken_over,
);

fn queue(s: &mut Store, n: usize, prefix: &str) {
    let alerts: Vec<_> = (0..n)
        .map(|i| alert(&format!("alert {i} on WS-{i}"), &format!("{prefix}-{i}")))
        .collect();
    let rows: Vec<_> = alerts.iter().map(|a| (a, "raw", true)).collect();
    s.accept_intake(&rows).expect("intake");
}

fn intake_leases_hand_each_alert_to_one_worker_and_expire(place: Place) {
    let mut s = place.open();
    queue(&mut s, 40, "q");
    // Two workers (as two replicas) take alerts three at a time until none is left.
    let place = std::sync::Arc::new(place);
    let workers: Vec<_> = ["w1", "w2"]
        .into_iter()
        .map(|w| {
            let place = place.clone();
            std::thread::spawn(move || {
                let mut store = place.open();
                let mut got = Vec::new();
                loop {
                    let rows = store.lease_intake(w, None, 3).expect("lease");
                    if rows.is_empty() {
                        break got;
                    }
                    got.extend(rows);
                }
            })
        })
        .collect();
    let mut all: Vec<i64> = Vec::new();
    let mut per_worker = Vec::new();
    for w in workers {
        let got = w.join().expect("worker");
        per_worker.push(got.len());
        all.extend(got);
    }
    all.sort_unstable();
    let before = all.len();
    all.dedup();
    assert_eq!(before, 40, "every alert leased: {per_worker:?}");
    assert_eq!(all.len(), 40, "no alert leased twice");
    assert_eq!(s.intake_waiting().expect("waiting"), 0);

    // A worker that stops renewing loses its alert to another; its run is closed, and its
    // late verdict is not recorded: the alert ends with one complete triage.
    queue(&mut s, 1, "late");
    let row = s
        .lease_intake_for("dying", Some("late-0"), 1, -1)
        .expect("lease")[0];
    s.start_triage("run-dying", row, "offline", None)
        .expect("start");
    let taken = s.lease_intake("alive", None, 5).expect("lease");
    assert_eq!(taken, vec![row], "the expired lease is taken");
    let t = s.triage("run-dying").expect("t").expect("exists");
    assert_eq!(t.status, soc_copilot::store::TriageStatus::Abandoned);
    let late = soc_copilot::store::NewTriage {
        id: "run-dying".into(),
        alert_row: row,
        engine: "offline".into(),
        verdict: Some("LOW".into()),
        ..Default::default()
    };
    assert!(
        !s.finish_triage(&late, soc_copilot::store::TriageStatus::Complete)
            .expect("finish"),
        "the dead worker's late verdict is not recorded"
    );
    assert!(
        s.lease_intake("third", None, 5).expect("lease").is_empty(),
        "held by alive"
    );
    s.renew_leases("alive").expect("renew");
    // Once a verdict is recorded, a later pick closes the intake instead of re-running it.
    let done = soc_copilot::store::NewTriage {
        id: "run-alive".into(),
        ..late
    };
    s.finish_triage(&done, soc_copilot::store::TriageStatus::Complete)
        .expect("finish");
    s.release_leases("alive").expect("release");
    assert!(s.lease_intake("third", None, 5).expect("lease").is_empty());
    assert!(
        s.recover_intake()
            .expect("recover")
            .iter()
            .all(|a| a.alert.id != "late-0"),
        "closed as done"
    );
}

fn an_analyst_holds_an_alert_until_it_is_taken_over(place: Place) {
    use soc_copilot::store::team::ClaimOutcome;
    let mut s = place.open();
    let start = s.last_event().expect("events");
    let id = triage(
        &mut s,
        "rundll32 from a document on FIN-WS-042",
        "HIGH",
        0.8,
        None,
    );
    let row = s.triage(&id).expect("t").expect("exists").alert_row;
    assert_eq!(
        s.claim_alert(row, "ana", false).expect("claim"),
        ClaimOutcome::Held
    );
    assert_eq!(
        s.claim_alert(row, "ana", false).expect("again"),
        ClaimOutcome::Held
    );
    let mut other = place.open();
    let held = other.claim_alert(row, "bo", false).expect("claim");
    assert!(
        matches!(&held, ClaimOutcome::HeldBy(c) if c.analyst == "ana"),
        "{held:?}"
    );
    let refused = other
        .add_feedback(&NewFeedback {
            triage_id: id.clone(),
            thumbs: Some(Thumbs::Up),
            analyst: "bo".into(),
            ..Default::default()
        })
        .expect_err("held by ana");
    assert!(
        refused.to_string().contains("ana holds this alert"),
        "{refused}"
    );
    let took = other.claim_alert(row, "bo", true).expect("takeover");
    assert!(
        matches!(&took, ClaimOutcome::TookOver(c) if c.analyst == "ana"),
        "{took:?}"
    );
    other
        .add_feedback(&NewFeedback {
            triage_id: id.clone(),
            thumbs: Some(Thumbs::Up),
            analyst: "bo".into(),
            ..Default::default()
        })
        .expect("bo judges it now");
    assert_eq!(s.accuracy_of(Some("bo")).expect("bo's").overall.total, 1);
    assert_eq!(s.accuracy_of(Some("ana")).expect("ana's").overall.total, 0);
    assert_eq!(s.accuracy().expect("team").per_analyst["bo"].correct, 1);
    assert!(
        !s.release_claim(row, "ana").expect("release"),
        "ana no longer holds it"
    );
    let history = s.claim_history(row).expect("history");
    assert_eq!(
        history
            .iter()
            .map(|e| (e.analyst.as_str(), e.action.as_str(), e.previous.as_deref()))
            .collect::<Vec<_>>(),
        [("ana", "claim", None), ("bo", "takeover", Some("ana"))]
    );
    assert_eq!(s.claims().expect("claims")[0].1.analyst, "bo");
    assert_eq!(other.release_all_claims("bo").expect("release"), 1);
    assert!(s.claim_of(row).expect("claim").is_none());
    let kinds: Vec<String> = s
        .events_since(start, 100)
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        ["triage", "claim", "takeover", "feedback", "release"],
        "every change is in the feed, in order"
    );
}

#[test]
fn postgres_announces_every_event() {
    let url = crate::support::pg::database();
    let s = Store::connect(&url).expect("team");
    let mut listener = postgres::Client::connect(&url, postgres::NoTls).expect("listener");
    listener.batch_execute("LISTEN soc_events").expect("listen");
    let id = s
        .record_event("note", None, None, Some("ana"))
        .expect("event");
    use postgres::fallible_iterator::FallibleIterator;
    let mut notes = listener.notifications();
    let got = notes
        .timeout_iter(std::time::Duration::from_secs(5))
        .next()
        .expect("listening works")
        .map(|n| n.payload().to_string());
    assert_eq!(got, Some(id.to_string()));
}

crate::on_both_backends!(similar_cases_come_from_the_index_once_history_is_large);

/// Unit vectors in clusters, like embeddings of alerts from a few dozen rules.
pub fn clustered(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let unit = |v: Vec<f32>| {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
        v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
    };
    let centers: Vec<Vec<f32>> = (0..40)
        .map(|_| unit((0..dim).map(|_| rng.random_range(-1.0..1.0)).collect()))
        .collect();
    (0..n)
        .map(|i| {
            let c = &centers[i % centers.len()];
            unit(
                c.iter()
                    .map(|x| x + rng.random_range(-0.35..0.35))
                    .collect(),
            )
        })
        .collect()
}

fn similar_cases_come_from_the_index_once_history_is_large(place: Place) {
    let mut s = place.open();
    let n = soc_copilot::store::precedent::ANN_FROM + 500;
    let vectors = clustered(n + 60, 32, 7);
    for (i, v) in vectors[..n].iter().enumerate() {
        let a = alert(&format!("reviewed {i}"), &format!("r-{i}"));
        let id = crate::store::triage_alert(&mut s, &a, "LOW", 0.5, Some(v));
        feedback(&mut s, &id, Thumbs::Up, None, None);
    }
    assert!(
        soc_copilot::store::precedent::warm(&s, std::time::Duration::from_secs(120)).expect("warm"),
        "the index is built once the history is large"
    );
    let (mut hits, mut wanted) = (0usize, 0usize);
    for q in &vectors[n..] {
        let exact = s.similar_reviewed_exact(q, "none", 5, 0.0).expect("exact");
        let ann = s.similar_reviewed(q, "none", 5, 0.0).expect("ann");
        assert_eq!(ann.len(), 5);
        wanted += exact.len();
        hits += exact
            .iter()
            .filter(|e| ann.iter().any(|a| a.alert_key == e.alert_key))
            .count();
    }
    let recall = hits as f64 / wanted as f64;
    assert!(
        recall >= 0.95,
        "index recall@5 {recall:.3} against the exact scan"
    );
    // Kept current: an alert reviewed now is found at once.
    let q = &vectors[n];
    let id = crate::store::triage_alert(&mut s, &alert("just now", "fresh"), "HIGH", 0.9, Some(q));
    feedback(&mut s, &id, Thumbs::Down, Some("BENIGN"), None);
    let got = s.similar_reviewed(q, "none", 3, 0.0).expect("ann");
    assert_eq!(got[0].alert_key, "fresh", "{got:?}");
    assert_eq!(got[0].analyst_verdict, "BENIGN");
}

fn a_follower_sees_what_another_connection_records(place: Place) {
    use soc_copilot::store::follow::Follower;
    let mut s = place.open();
    let id = triage(&mut s, "certutil download on HR-LT-19", "HIGH", 0.8, None);
    let row = s.triage(&id).expect("t").expect("exists").alert_row;
    let mut follower = match &place {
        Place::Postgres(url) => Follower::team(url, None).expect("follow"),
        Place::Sqlite(_) => Follower::new(place.open(), None).expect("follow"),
    };
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let at = std::time::Instant::now();
        s.add_note(row, None, "owner says it is a test", "bo")
            .expect("note");
        at
    });
    let got = follower
        .next(std::time::Duration::from_secs(10))
        .expect("events");
    let seen = std::time::Instant::now();
    let written = writer.join().expect("writer");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, "note");
    assert_eq!(got[0].analyst.as_deref(), Some("bo"));
    assert_eq!(got[0].alert_row, Some(row));
    // PostgreSQL wakes the follower at once; SQLite is polled every 500 ms.
    assert!(
        seen.duration_since(written) < std::time::Duration::from_secs(2),
        "seen {:?} after it was written",
        seen.duration_since(written)
    );
    assert!(
        follower
            .next(std::time::Duration::ZERO)
            .expect("none")
            .is_empty()
    );
}

/// A follower outlives its server connection: after the server drops it (a restart, a
/// failover) the next read fails, and the one after reads on a new connection from the
/// same watermark, so nothing recorded meanwhile is missed.
#[test]
fn a_follower_reconnects_after_the_server_drops_it() {
    use soc_copilot::store::follow::Follower;
    let url = crate::support::pg::database();
    let place = Place::Postgres(url.clone());
    let mut s = place.open();
    let id = triage(&mut s, "psexec to FIN-SRV-2", "HIGH", 0.8, None);
    let row = s.triage(&id).expect("t").expect("exists").alert_row;
    let mut follower = Follower::team(&url, None).expect("follow");
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("admin");
    let killed = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .expect("terminate");
    assert!(
        killed >= 2,
        "the follower's connections were dropped ({killed})"
    );
    let mut s = place.open();
    s.add_note(row, None, "written while the follower was cut off", "bo")
        .expect("note");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut errors = 0;
    let got = loop {
        assert!(std::time::Instant::now() < deadline, "never caught up");
        match follower.next(std::time::Duration::from_millis(200)) {
            Ok(events) if !events.is_empty() => break events,
            Ok(_) => {}
            Err(_) => errors += 1,
        }
    };
    assert!(errors >= 1, "the dropped connection was noticed");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, "note");
    // And it is listening again: the next event wakes it at once.
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        s.add_note(row, None, "and another", "bo").expect("note");
    });
    let next = follower
        .next(std::time::Duration::from_secs(10))
        .expect("events");
    writer.join().expect("writer");
    assert_eq!(next.len(), 1);
}

/// The `postgres` client blocks on a runtime of its own: a store used, and dropped, on a
/// tokio runtime's thread (the console's event loop, the server, a current-thread runtime)
/// must step out of that runtime first instead of panicking.
#[test]
fn a_team_store_is_used_and_dropped_inside_async_runtimes() {
    let url = crate::support::pg::database();
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let u = url.clone();
    multi.block_on(async move {
        let s = Store::connect(&u).expect("connect on a worker");
        s.ping().expect("ping on a worker");
        let pool =
            soc_copilot::store::StorePool::team(std::path::PathBuf::from("/nonexistent"), &u);
        pool.get().expect("pooled").ping().expect("ping");
        drop(pool);
        drop(s);
    });
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    current.block_on(async move {
        let s = Store::connect(&url).expect("connect on a current-thread runtime");
        assert!(s.recent_alerts(5).expect("query").is_empty());
        drop(s);
    });
}
