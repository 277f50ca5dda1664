//! The real binary: ingest (from a file and from a local HTTP server), search, eval and
//! doctor, with their errors.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::fixture_bundle;
use crate::support::http::{Route, Server};

pub(crate) fn soc(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_soc-copilot"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        // No embeddings here: these tests are about the command line, not the model.
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .env_remove("SOC_COPILOT_CONFIG")
        .output()
        .expect("binary runs")
}

pub(crate) fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub(crate) fn ingested() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = fixture_bundle();
    let o = soc(
        dir.path(),
        &["ingest", "--from", bundle.to_str().expect("utf-8 path")],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "ingest failed: {out}\n{err}");
    assert!(out.contains("3 techniques + 3 sub-techniques"), "{out}");
    assert!(
        err.contains("BM25 alone"),
        "the missing model is said out loud: {err}"
    );
    dir
}

#[test]
fn search_prints_table_json_and_batch() {
    let dir = ingested();
    let o = soc(
        dir.path(),
        &["search", "schtasks /create /sc onlogon", "-k", "2"],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with(" 1. T1053.005"), "{out}");
    assert!(out.contains("why: "), "{out}");
    assert!(err.contains("semantic search is off"), "{err}");

    let o = soc(
        dir.path(),
        &["search", "--json", "lsass memory dump with procdump"],
    );
    let hits: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json output");
    assert_eq!(hits[0]["id"], "T1003.001");
    assert!(hits[0]["why"].as_array().is_some_and(|w| !w.is_empty()));

    let alerts = dir.path().join("alerts.jsonl");
    std::fs::write(
        &alerts,
        concat!(
            r#"{"id": "a", "alert": {"title": "LSASS dump", "description": "procdump -ma lsass.exe", "raw_log": {}}}"#, "\n",
            "this line is not json\n",
            r#"{"id": "b", "alert": {"alert_text": "powershell -EncodedCommand ZQBjAGgAbwA="}}"#, "\n",
        ),
    )
    .expect("write");
    let preds = dir.path().join("preds.jsonl");
    let o = soc(
        dir.path(),
        &[
            "search",
            "--alerts",
            alerts.to_str().expect("path"),
            "--out",
            preds.to_str().expect("path"),
        ],
    );
    let (_, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a skipped line makes the exit code non-zero"
    );
    assert!(
        err.contains("alerts.jsonl:2"),
        "the bad line is named: {err}"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&preds)
        .expect("preds")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[0]["techniques"][0], "T1003.001");
    assert_eq!(lines[1]["techniques"][0], "T1059.001");

    // eval scores a predictions file the same way it scores its own searches.
    let dataset = dir.path().join("dataset.jsonl");
    std::fs::write(
        &dataset,
        concat!(
            r#"{"id": "a", "source": "x", "techniques": ["T1003.001"], "alert": {"alert_text": "procdump lsass"}}"#, "\n",
            r#"{"id": "b", "source": "y", "techniques": ["T1059"], "alert": {"alert_text": "encoded powershell"}}"#, "\n",
        ),
    )
    .expect("write");
    let o = soc(
        dir.path(),
        &[
            "eval",
            "retrieval",
            "--dataset",
            dataset.to_str().expect("p"),
            "--preds",
            preds.to_str().expect("p"),
            "--json",
        ],
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json report");
    assert_eq!(r["overall"]["exact"]["recall_at_1"], 0.5);
    assert_eq!(r["overall"]["family"]["recall_at_1"], 1.0);
    assert_eq!(r["y"]["exact"]["recall_at_1"], 0.0);

    let o = soc(
        dir.path(),
        &[
            "eval",
            "retrieval",
            "--dataset",
            dataset.to_str().expect("p"),
            "--mode",
            "bm25",
        ],
    );
    let (out, _) = text(&o);
    assert!(o.status.success());
    assert!(out.contains("overall") && out.contains("fam@5"), "{out}");
}

#[test]
fn ingest_errors_name_the_file_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = soc(
        dir.path(),
        &["ingest", "--from", "/nonexistent/enterprise-attack.json"],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("/nonexistent/enterprise-attack.json") && err.contains("does not exist"),
        "{err}"
    );

    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, "{\"type\": \"bundle\",\n \"objects\": [ {\"type\": }").expect("write");
    let o = soc(dir.path(), &["ingest", "--from", bad.to_str().expect("p")]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("broken.json") && err.contains("line 2"),
        "{err}"
    );

    let o = soc(dir.path(), &["search", "anything"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("soc-copilot ingest"), "{err}");
}

#[test]
fn ingest_downloads_from_a_url() {
    let body = std::fs::read(fixture_bundle()).expect("fixture");
    let server = Server::start(vec![
        Route::ok("/enterprise-attack.json", body.clone()),
        Route {
            path: "/cut.json".into(),
            status: 200,
            body: body.clone(),
            cut_after: Some(1000),
        },
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let o = soc(
        dir.path(),
        &["ingest", "--from", &server.url("/enterprise-attack.json")],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("3 techniques + 3 sub-techniques"));
    assert!(
        dir.path().join("attack/enterprise-attack.json").is_file(),
        "kept for the next ingest"
    );

    let o = soc(
        dir.path(),
        &["ingest", "--from", &server.url("/missing.json")],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("404") && err.contains("/missing.json") && err.contains("--from FILE"),
        "{err}"
    );

    let fresh = tempfile::tempdir().expect("tempdir");
    let o = soc(
        fresh.path(),
        &["ingest", "--from", &server.url("/cut.json")],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success(), "a truncated download must fail");
    assert!(
        !fresh.path().join("attack/enterprise-attack.json").exists(),
        "no partial file left as the bundle"
    );
    assert!(err.contains("cut.json"), "{err}");
}

#[test]
fn doctor_says_where_it_looked_and_how_to_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = soc(dir.path(), &["doctor"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "no index yet: doctor fails");
    assert!(out.contains("ONNX Runtime: MISSING"), "{out}");
    assert!(
        out.contains("env ORT_DYLIB_PATH") && out.contains("/nonexistent/libonnxruntime.so"),
        "{out}"
    );
    assert!(out.contains("how to fix: set ORT_DYLIB_PATH"), "{out}");
    assert!(out.contains("knowledge base: no knowledge base"), "{out}");
}

#[test]
fn triage_feedback_history_accuracy() {
    let dir = ingested();
    let alert = dir.path().join("alert.json");
    std::fs::write(
        &alert,
        r#"{"alert_id": "c-1", "title": "LSASS dump", "severity": "high", "description": "procdump -ma lsass.exe on HOST9", "raw_log": {"Computer": "HOST9"}}"#,
    )
    .expect("write");
    let o = soc(
        dir.path(),
        &["triage", "--json", alert.to_str().expect("p")],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("Offline engine"),
        "reasoning goes to stderr: {err}"
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("verdict JSON on stdout");
    assert_eq!(v["engine"], "offline");
    assert!(v["verdict"] == "HIGH" || v["verdict"] == "CRITICAL", "{v}");
    let id = v["triage_id"].as_str().expect("triage id").to_string();

    // `--mode agentic` needs a model: the offline engine says so and runs the pipeline.
    let o = soc(
        dir.path(),
        &[
            "triage",
            "--mode",
            "agentic",
            "--engine",
            "offline",
            alert.to_str().expect("p"),
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("agentic mode needs a model"), "{err}");
    assert!(out.contains("feedback: soc-copilot feedback"), "{out}");
    let bad = dir.path().join("bad-mode.toml");
    std::fs::write(&bad, "[triage]\nmode = \"smart\"\n").expect("write");
    let o = soc(
        dir.path(),
        &[
            "--config",
            bad.to_str().expect("p"),
            "triage",
            alert.to_str().expect("p"),
        ],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("[triage] mode") && err.contains("bad-mode.toml"),
        "{err}"
    );

    let o = soc(
        dir.path(),
        &[
            "feedback",
            &id,
            "down",
            "--verdict",
            "MEDIUM",
            "--reason",
            "wrong-verdict",
            "--notes",
            "test box",
        ],
    );
    assert!(o.status.success(), "{}", text(&o).1);

    let o = soc(dir.path(), &["feedback", "no-such-triage", "up"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("no triage with id no-such-triage") && err.contains("history"),
        "{err}"
    );

    let o = soc(dir.path(), &["history"]);
    let (out, _) = text(&o);
    assert!(
        out.contains("LSASS dump") && out.contains(&id) && out.contains("down by"),
        "{out}"
    );

    let o = soc(dir.path(), &["accuracy", "--json"]);
    let acc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("accuracy JSON");
    assert_eq!(acc["overall"]["total"], 1);
    assert_eq!(acc["overall"]["correct"], 0);
    assert_eq!(acc["down_reasons"]["wrong_verdict"], 1);
    let verdict = v["verdict"].as_str().expect("verdict");
    assert_eq!(acc["confusion"][verdict]["MEDIUM"], 1);

    // Stdin works too, and a bad input line is named but does not stop the rest.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_soc-copilot"))
        .args([
            "--data-dir",
            dir.path().to_str().expect("p"),
            "triage",
            "--json",
            "-",
        ])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"{\"alert_text\": \"schtasks /create /tn x /tr evil.exe\"}\n{broken\n")
            .expect("write stdin");
    }
    let o = child.wait_with_output().expect("wait");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("<stdin>:2"), "{err}");
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn batch_triage_keeps_order_reports_bad_lines_and_resumes() {
    let dir = ingested();
    let input = dir.path().join("batch.jsonl");
    let mut lines: Vec<String> = (0..12)
        .map(|i| {
            serde_json::json!({"alert_id": format!("b-{i:02}"), "severity": "medium",
                "title": format!("Scheduled task created for persistence #{i}"),
                "description": "schtasks /create /sc onlogon /tr C:\\Users\\Public\\u.exe"})
            .to_string()
        })
        .collect();
    lines.insert(5, "{broken json".into());
    std::fs::write(&input, lines.join("\n") + "\n").expect("write");
    let out = dir.path().join("verdicts.jsonl");
    let o = soc(
        dir.path(),
        &[
            "triage",
            "--engine",
            "offline",
            "--batch",
            input.to_str().expect("utf-8"),
            "--concurrency",
            "3",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    let (_, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a bad line makes the exit code non-zero: {err}"
    );
    assert!(
        err.contains("batch.jsonl:6"),
        "the bad line is named: {err}"
    );
    assert!(
        err.contains("12 alerts in")
            && err.contains("failed 0")
            && err.contains("bad input lines 1"),
        "{err}"
    );
    let written = std::fs::read_to_string(&out).expect("out");
    let ids: Vec<String> = written
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["alert_id"]
                .as_str()
                .expect("id")
                .to_string()
        })
        .collect();
    let expected: Vec<String> = (0..12).map(|i| format!("b-{i:02}")).collect();
    assert_eq!(ids, expected, "input order");

    // Resume: nothing is triaged again, the stored verdicts are written.
    let good = dir.path().join("good.jsonl");
    let kept: Vec<&String> = lines.iter().filter(|l| !l.starts_with("{broken")).collect();
    std::fs::write(
        &good,
        kept.iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .expect("write");
    let o = soc(
        dir.path(),
        &[
            "triage",
            "--engine",
            "offline",
            "--batch",
            good.to_str().expect("utf-8"),
            "--resume",
        ],
    );
    let (stdout, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("resumed 12"), "{err}");
    assert_eq!(stdout.lines().count(), 12);
    assert!(stdout.lines().all(|l| l.contains("\"resumed\":true")));
    let o = soc(dir.path(), &["history", "-n", "100", "--json"]);
    let (h, _) = text(&o);
    let history: serde_json::Value = serde_json::from_str(&h).expect("history json");
    assert_eq!(
        history.as_array().map(Vec::len),
        Some(12),
        "each alert triaged once"
    );
}
