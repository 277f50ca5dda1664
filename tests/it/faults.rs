//! Faults and hostile input (issue 11): runs never stuck in `running`, failures never
//! reported as success, no field silently dropped, nothing printed unsanitised, bounds that
//! hold. Each test reproduces a case a tester found, as a class.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use soc_copilot::alert::parse::from_json;
use soc_copilot::search::query;
use soc_copilot::store::feedback::{NewFeedback, Thumbs};
use soc_copilot::store::{Store, StoreError, TriageStatus};
use soc_copilot::triage::Level;
use soc_copilot::triage::offline::{OfflineInput, triage as offline};

use crate::cli::text;
use crate::common::{fixture_bundle, ingest_into};
use crate::support::llm::{LlmServer, Reply, anthropic_stream};

fn soc(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_soc-copilot"));
    c.arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .env_remove("SOC_COPILOT_CONFIG")
        .env_remove("SOC_COPILOT_API_TOKEN")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("binary runs")
}

fn indexed() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    ingest_into(&fixture_bundle(), dir.path(), Err("BM25 only".into()));
    dir
}

/// An owner string for a process that has exited: a real pid, reaped.
fn dead_owner() -> String {
    let mut child = Command::new("true").spawn().expect("true runs");
    let pid = child.id();
    child.wait().expect("reaped");
    let me = soc_copilot::store::owner::this_process();
    let host = me.rsplitn(3, ':').nth(2).expect("host part");
    format!("{host}:{pid}:1")
}

fn set_owner(dir: &Path, id: &str, owner: Option<&str>) {
    let conn = rusqlite::Connection::open(dir.join("soc-copilot.db")).expect("db");
    conn.execute(
        "UPDATE triages SET owner = ?2 WHERE id = ?1",
        rusqlite::params![id, owner],
    )
    .expect("owner set");
}

/// Each run's id and status; empty while the database is still being created.
fn statuses(dir: &Path) -> Vec<(String, String)> {
    let Ok(conn) = rusqlite::Connection::open(dir.join("soc-copilot.db")) else {
        return Vec::new();
    };
    let Ok(mut stmt) = conn.prepare("SELECT id, status FROM triages ORDER BY created_at") else {
        return Vec::new();
    };
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

#[test]
fn runs_of_a_dead_process_close_as_abandoned_and_feedback_needs_a_complete_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_in(dir.path()).expect("store");
    let mut row = |key: &str| {
        let v = json!({"alert_id": key, "title": "Shadow copies deleted", "description": "vssadmin delete shadows"});
        let a = from_json(&v);
        match store
            .accept_intake(&[(&a, &v.to_string(), true)])
            .expect("accept")[0]
        {
            soc_copilot::store::intake::Accepted::New { row } => row,
            other => panic!("{other:?}"),
        }
    };
    let (dead_row, live_row) = (row("dead-alert"), row("live-alert"));
    store
        .start_triage("dead-run", dead_row, "anthropic", None)
        .expect("start");
    store
        .start_triage("live-run", live_row, "anthropic", None)
        .expect("start");
    set_owner(dir.path(), "dead-run", Some(&dead_owner()));

    // Feedback on a run still running is refused, naming its state.
    let fb = |id: &str| NewFeedback {
        triage_id: id.into(),
        thumbs: Some(Thumbs::Up),
        analyst: "tester".into(),
        ..NewFeedback::default()
    };
    let err = store.add_feedback(&fb("live-run")).expect_err("running");
    assert!(
        matches!(&err, StoreError::NotComplete { status, .. } if status == "running"),
        "{err}"
    );
    drop(store);

    // Any later open closes the dead process's run, and only that one.
    let mut store = Store::open_in(dir.path()).expect("reopen");
    let dead = store.triage("dead-run").expect("q").expect("row");
    assert_eq!(dead.status, TriageStatus::Abandoned);
    assert!(
        dead.error
            .as_deref()
            .is_some_and(|e| e.contains("abandoned"))
    );
    assert!(dead.finished_at.is_some());
    let live = store.triage("live-run").expect("q").expect("row");
    assert_eq!(
        live.status,
        TriageStatus::Running,
        "a live owner's run is left alone"
    );
    let err = store.add_feedback(&fb("dead-run")).expect_err("abandoned");
    assert!(err.to_string().contains("abandoned"), "{err}");

    // Intake re-queues the abandoned alert, not the one a live process is triaging.
    let back: Vec<String> = store
        .recover_intake()
        .expect("recover")
        .into_iter()
        .map(|a| a.alert.id)
        .collect();
    assert_eq!(back, ["dead-alert"]);

    // Rows from before owners were recorded count as left by a dead process.
    set_owner(dir.path(), "live-run", None);
    drop(store);
    let store = Store::open_in(dir.path()).expect("reopen");
    assert_eq!(
        store.triage("live-run").expect("q").expect("row").status,
        TriageStatus::Abandoned
    );
}

/// `kill -9` of `triage` while the model streams: the next command that opens the store
/// (here `history`) shows the run abandoned, never running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_killed_mid_stream_is_abandoned_not_running() {
    let dir = indexed();
    let llm = LlmServer::start(vec![Reply::Pinging]).await;
    let alert = dir.path().join("a.json");
    std::fs::write(
        &alert,
        r#"{"title": "LSASS read by rundll32", "description": "rundll32.exe comsvcs.dll MiniDump"}"#,
    )
    .expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_soc-copilot"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["triage", "--engine", "anthropic"])
        .arg(&alert)
        .env("ANTHROPIC_API_KEY", "sk-ant-kill")
        .env("ANTHROPIC_BASE_URL", llm.base_url())
        .env("ORT_DYLIB_PATH", "/nonexistent")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("triage starts");
    let mut running = false;
    for _ in 0..400 {
        if dir.path().join("soc-copilot.db").exists()
            && statuses(dir.path()).iter().any(|(_, s)| s == "running")
        {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(running, "the run opened its row");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let o = soc(dir.path(), &["history"], &[]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("abandoned") && !out.contains("running"),
        "{out}"
    );
    let after = statuses(dir.path());
    assert!(
        !after.is_empty() && after.iter().all(|(_, s)| s == "abandoned"),
        "{after:?}"
    );
}

#[test]
fn batch_against_a_damaged_store_counts_every_failure_and_exits_non_zero() {
    let dir = indexed();
    std::fs::write(dir.path().join("soc-copilot.db"), vec![0x5a; 8192]).expect("garbage");
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"title\": \"one\", \"description\": \"vssadmin delete shadows\"}\n{\"title\": \"two\", \"description\": \"whoami /all\"}\n{\"title\": \"three\", \"description\": \"net user /domain\"}\n",
    )
    .expect("write");
    let o = soc(
        dir.path(),
        &[
            "triage",
            "--engine",
            "offline",
            "--batch",
            input.to_str().expect("utf-8"),
        ],
        &[],
    );
    let (out, err) = text(&o);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("failed 3"), "{err}");
    assert_eq!(
        out.lines().filter(|l| l.contains("\"error\"")).count(),
        3,
        "{out}"
    );
    assert!(
        !err.contains(&dir.path().display().to_string()) || err.contains("database"),
        "{err}"
    );
}

#[test]
fn doctor_checks_the_database_and_the_index_and_fails_when_damaged() {
    let dir = indexed();
    let healthy = soc(dir.path(), &["history"], &[]);
    assert!(healthy.status.success());
    let o = soc(dir.path(), &["doctor"], &[]);
    let (out, _) = text(&o);
    assert!(out.contains("quick_check passed"), "{out}");
    assert!(out.contains("index verified"), "{out}");
    assert!(!out.contains("DAMAGED"), "{out}");

    // A database that is not one.
    let db = dir.path().join("soc-copilot.db");
    let good = std::fs::read(&db).expect("read db");
    for f in ["soc-copilot.db-wal", "soc-copilot.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    std::fs::write(&db, vec![0x41; good.len()]).expect("damage");
    let o = soc(dir.path(), &["doctor"], &[]);
    let (out, _) = text(&o);
    assert_ne!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("database: DAMAGED"), "{out}");
    std::fs::write(&db, &good).expect("restore");

    // A tantivy segment file with flipped bytes.
    let tantivy = dir.path().join("index").join("tantivy");
    let seg = std::fs::read_dir(&tantivy)
        .expect("tantivy dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "idx" || x == "term" || x == "store")
        })
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a segment file");
    let mut bytes = std::fs::read(&seg).expect("segment");
    let (mid, len) = (bytes.len() / 2, bytes.len());
    for b in &mut bytes[mid..mid + 16.min(len - mid)] {
        *b ^= 0xff;
    }
    std::fs::write(&seg, bytes).expect("damage segment");
    let o = soc(dir.path(), &["doctor"], &[]);
    let (out, _) = text(&o);
    assert_ne!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("DAMAGED") && out.contains("ingest"), "{out}");
}

#[test]
fn an_unwritable_log_directory_falls_back_to_stderr_and_doctor_says_so() {
    let dir = indexed();
    // `logs` is a file: the log directory cannot be created (root ignores permissions).
    let logs = dir.path().join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::write(&logs, "not a directory").expect("write");
    let o = soc(dir.path(), &["history"], &[]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "no panic: {err}");
    assert!(err.contains("cannot write the log"), "{err}");
    let o = soc(dir.path(), &["doctor"], &[]);
    let (out, _) = text(&o);
    assert_ne!(o.status.code(), Some(0));
    assert!(out.contains("log: cannot write the log"), "{out}");
}

#[test]
fn tokens_and_config_values_are_checked_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = soc(dir.path(), &["serve", "--listen", "0.0.0.0:0"], &[]);
    let (_, err) = text(&o);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        err.contains("SOC_COPILOT_API_TOKEN") && err.contains("refusing"),
        "{err}"
    );
    let o = soc(
        dir.path(),
        &["history"],
        &[("SOC_COPILOT_API_TOKEN", "   ")],
    );
    let (_, err) = text(&o);
    assert_ne!(o.status.code(), Some(0));
    assert!(err.contains("blank"), "{err}");
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[retrieval]\ntop_k = 0\ndepth = 0\n").expect("write");
    let o = soc(
        dir.path(),
        &[
            "--config",
            cfg.to_str().expect("utf-8"),
            "search",
            "powershell",
        ],
        &[],
    );
    let (_, err) = text(&o);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        err.contains("top_k") && err.contains("1–200") && !err.contains("panicked"),
        "{err}"
    );
}

/// A file name and a model's streamed text both carry terminal escapes (OSC title, CSI):
/// neither reaches stderr or stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_text_never_carries_escape_sequences() {
    let dir = indexed();
    let bad = dir.path().join("evil\u{1b}]0;pwned\u{7}.json");
    std::fs::write(&bad, "{ not json").expect("write");
    let o = soc(
        dir.path(),
        &[
            "triage",
            "--engine",
            "offline",
            bad.to_str().expect("utf-8"),
        ],
        &[],
    );
    let (out, err) = text(&o);
    assert!(
        !out.contains('\u{1b}') && !err.contains('\u{1b}'),
        "{err:?}"
    );
    assert!(err.contains("evil"), "the file is still named: {err}");

    let answer =
        json!({"verdict": "LOW", "confidence": 0.6, "reasoning": "r \u{1b}[2J done"}).to_string();
    let llm = LlmServer::start(vec![Reply::sse(&anthropic_stream(
        &[
            "Looking \u{1b}]0;owned by model\u{7} at it\n\u{9b}31m red ",
            &format!("```json\n{answer}\n```"),
        ],
        100,
        50,
    ))])
    .await;
    let good = dir.path().join("a.json");
    std::fs::write(
        &good,
        r#"{"title": "odd login", "description": "user logged in at 3am"}"#,
    )
    .expect("write");
    let o = soc(
        dir.path(),
        &[
            "triage",
            "--engine",
            "anthropic",
            good.to_str().expect("utf-8"),
        ],
        &[
            ("ANTHROPIC_API_KEY", "sk-ant-x"),
            ("ANTHROPIC_BASE_URL", &llm.base_url()),
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("Looking") && err.contains("at it"), "{err}");
    for s in [&out, &err] {
        assert!(
            !s.contains('\u{1b}') && !s.contains('\u{7}') && !s.contains('\u{9b}'),
            "{s:?}"
        );
    }
}

/// Every parser keeps what it does not map: an unknown nested field reaches the alert's
/// text, the retrieval query and the offline engine.
#[test]
fn unmapped_fields_of_every_shape_reach_retrieval_and_the_engine() {
    let extra =
        json!({"forensics": {"proc": {"command_line": "vssadmin.exe delete shadows /all /quiet"}}});
    let with = |mut v: Value| {
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                o.insert(k.clone(), x.clone());
            }
        }
        v
    };
    let shapes = [
        (
            "soc-json",
            json!({"alert_id": "s1", "title": "Backup job", "description": "nightly run", "raw_log": {"a": 1}}),
        ),
        (
            "soc-json",
            json!({"title": "Backup job", "description": "nightly run", "host": "FS01"}),
        ),
        (
            "elastic",
            json!({"_id": "e1", "_source": {"kibana.alert.rule.name": "Backup job", "kibana.alert.uuid": "u1"}}),
        ),
        (
            "splunk",
            json!({"sid": "x1", "search_name": "Backup job", "result": {"host": "FS01"}}),
        ),
        (
            "splunk",
            json!({"search_name": "Backup job", "urgency": "low", "event_id": "n1"}),
        ),
        (
            "wazuh",
            json!({"rule": {"level": 3, "description": "Backup job"}, "agent": {"name": "FS01"}}),
        ),
        (
            "generic-json",
            json!({"name": "Backup job", "level": "low"}),
        ),
    ];
    let kb = crate::common::built_fixture();
    for (format, shape) in shapes {
        let v = match format {
            // The Elastic hit carries the extra beside `_source`; the others at the top.
            "elastic" => {
                let mut v = shape.clone();
                v["_source"]["forensics"] = extra["forensics"].clone();
                v
            }
            _ => with(shape.clone()),
        };
        let a = from_json(&v);
        assert_eq!(a.format, format, "{v}");
        assert!(
            a.full_text().contains("vssadmin.exe delete shadows"),
            "{format}: {:?}",
            a.fields
        );
        let q = query::build(&a);
        assert!(
            q.segments.iter().any(|s| s.text.contains("vssadmin")),
            "{format}: not in the query {:?}",
            q.segments
        );
        let hits = kb
            .search_alert(&a, 5, soc_copilot::search::Mode::Bm25, &Default::default())
            .expect("search");
        let v = offline(&OfflineInput {
            alert: &a,
            hits: &hits,
            similar: &[],
            catalog: &kb.catalog,
            injection_flags: &[],
            enrichment: &soc_copilot::intel::enrich::Enrichment::default(),
        });
        assert!(
            v.reasoning.contains("shadow copy or backup deletion"),
            "{format}: the engine did not see it: {}",
            v.reasoning
        );
    }
}

#[test]
fn the_seed_field_names_do_not_hide_the_rest_of_the_alert() {
    let kb = crate::common::built_fixture();
    let verdict = |v: Value| {
        let a = from_json(&v);
        let hits = kb
            .search_alert(&a, 5, soc_copilot::search::Mode::Bm25, &Default::default())
            .expect("search");
        offline(&OfflineInput {
            alert: &a,
            hits: &hits,
            similar: &[],
            catalog: &kb.catalog,
            injection_flags: &[],
            enrichment: &soc_copilot::intel::enrich::Enrichment::default(),
        })
        .verdict
    };
    let with_description = verdict(
        json!({"title": "Shadow copy activity", "description": "seen on file server",
        "host": "FS01", "command_line": "vssadmin.exe delete shadows /all /quiet"}),
    );
    let without = verdict(json!({"title": "Shadow copy activity", "host": "FS01",
        "command_line": "vssadmin.exe delete shadows /all /quiet"}));
    assert_eq!(with_description, without);
    assert!(with_description >= Level::High, "{with_description}");
    let a = from_json(&json!({"title": "t", "description": "d", "host": "FS01"}));
    assert_eq!(a.host.as_deref(), Some("FS01"));
}

#[test]
fn an_alert_with_nothing_in_it_is_an_error_not_a_verdict() {
    let mut loaded = soc_copilot::alert::Loaded::default();
    soc_copilot::alert::load_reader(
        &b"{\"alert\": {}}\n{}\n{\"title\": \"real\"}\n"[..],
        "in.jsonl",
        &mut loaded,
    );
    assert_eq!(loaded.alerts.len(), 1);
    assert_eq!(loaded.errors.len(), 2, "{:?}", loaded.errors);
    assert!(
        loaded
            .errors
            .iter()
            .all(|e| e.message.contains("nothing to triage"))
    );
}

#[test]
fn very_deep_or_wide_alerts_are_bounded_and_say_so() {
    let mut deep = json!("vssadmin delete shadows");
    for i in 0..40 {
        deep = json!({ format!("k{i}"): deep });
    }
    let a = from_json(&json!({"title": "deep", "x": deep}));
    assert!(
        a.full_text().contains("vssadmin"),
        "deep content kept as text"
    );
    let wide: serde_json::Map<String, Value> =
        (0..1000).map(|i| (format!("f{i}"), json!(i))).collect();
    let a = from_json(&Value::Object(wide));
    assert!(a.fields.len() <= soc_copilot::alert::parse::MAX_FIELDS);
    assert!(
        a.fields
            .iter()
            .any(|f| f.path == soc_copilot::alert::parse::TRUNCATED),
        "the cut is said"
    );
}
