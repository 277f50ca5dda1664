//! Incidents, hand-off, detections and private data through the real binary and pipeline:
//! correlation on load with reasons, merge and split, export to files and to a local
//! TheHive, pseudonymised pushes, Sigma from a confirmed alert, fine-tuning data, and
//! autonomous closure with its reversal.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use soc_copilot::alert::load::LoadedAlert;
use soc_copilot::alert::parse::from_json;
use soc_copilot::llm::ModelSettings;
use soc_copilot::llm::anthropic::Anthropic;
use soc_copilot::llm::client::DriveOptions;
use soc_copilot::privacy::{Privacy, PrivateProvider};
use soc_copilot::search::KnowledgeBase;
use soc_copilot::search::ingest::locate;
use soc_copilot::store::feedback::{NewFeedback, Thumbs};
use soc_copilot::store::{Store, StorePool};
use soc_copilot::triage::autoclose::Policy;
use soc_copilot::triage::model::ModelEngine;
use soc_copilot::triage::{Event, OfflineEngine, Pipeline, Request, TriageParams};

use crate::cli::{ingested, soc, text};
use crate::common::built;
use crate::support::handoff::{HandoffServer, THEHIVE_KEY};
use crate::support::llm::{LlmServer, Reply, anthropic_stream};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Brute force from one address against three web servers within 40 minutes, and an
/// unrelated alert on another host five minutes later.
fn interleaved(dir: &Path) -> std::path::PathBuf {
    let bf = |id: &str, host: &str, min: u32, user: Option<&str>| {
        json!({"alert_id": id, "source": "wazuh", "severity": "high",
               "title": "sshd: brute force trying to get access to the system",
               "host": host, "user": user, "timestamp": format!("2026-11-20T10:{min:02}:00Z"),
               "description": "Many failed SSH logins from 185.220.101.47",
               "raw_log": {"srcip": "185.220.101.47", "program_name": "sshd"}})
    };
    let lines = [
        bf("bf-1", "web-1", 0, None),
        bf("bf-2", "web-2", 20, None),
        bf("bf-3", "web-3", 40, Some("jsmith")),
        json!({"alert_id": "hr-1", "source": "edr", "severity": "low", "title": "Printer driver installed",
               "host": "hr-9", "timestamp": "2026-11-20T10:45:00Z",
               "description": "A signed printer driver was installed by the IT agent"}),
    ];
    let p = dir.join("alerts.jsonl");
    let body: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&p, body.join("\n")).expect("write alerts");
    p
}

fn incidents(dir: &Path) -> Vec<Value> {
    let o = soc(dir, &["incidents", "list", "--json"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    serde_json::from_str::<Vec<Value>>(&out).expect("incident list JSON")
}

#[test]
fn alerts_group_into_an_explained_incident_that_can_be_split_merged_and_handed_off() {
    let dir = ingested();
    let alerts = interleaved(dir.path());
    let out = dir.path().join("verdicts.jsonl");
    let o = soc(
        dir.path(),
        &[
            "triage",
            "--batch",
            s(&alerts),
            "--engine",
            "offline",
            "--out",
            s(&out),
        ],
    );
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("1 incident(s) group 3 of 4 stored alerts"),
        "grouping runs when alerts are loaded: {err}"
    );
    let list = incidents(dir.path());
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["alert_count"], 3);
    let id = list[0]["id"].as_str().expect("id").to_string();

    let o = soc(dir.path(), &["incidents", "show", &id]);
    let (shown, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        shown.contains("shares 185.220.101.47 within 20 min") && shown.contains("Timeline"),
        "{shown}"
    );
    assert!(!shown.contains("Printer driver"), "{shown}");

    // Split one alert out: it stays out; merge it back: it is in again, by the analyst.
    let o = soc(dir.path(), &["incidents", "split", &id, "bf-3"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let list = incidents(dir.path());
    assert_eq!(list[0]["alert_count"], 2, "{list:?}");
    let o = soc(dir.path(), &["incidents", "merge", &id, "bf-3"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = soc(dir.path(), &["incidents", "show", &id, "--json"]);
    let detail: Value = serde_json::from_slice(&o.stdout).expect("detail JSON");
    assert_eq!(
        detail["alerts"].as_array().map(Vec::len),
        Some(3),
        "{detail}"
    );

    // Files: Markdown and a STIX bundle that passes the checklist; each export recorded.
    let md = dir.path().join("case.md");
    let o = soc(
        dir.path(),
        &["export", &id, "--to", "markdown", "--out", s(&md)],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let report = std::fs::read_to_string(&md).expect("markdown");
    assert!(
        report.contains("185.220.101.47") && report.contains("web-2"),
        "{report}"
    );
    let stix = dir.path().join("case.stix.json");
    let o = soc(
        dir.path(),
        &["export", &id, "--to", "stix", "--out", s(&stix)],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(&stix).expect("stix")).expect("json");
    assert_eq!(
        soc_copilot::handoff::stix::check(&bundle),
        Vec::<String>::new()
    );
    let o = soc(
        dir.path(),
        &["export", &id, "--to", "iris", "--out", s(&stix)],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("configure [handoff.iris]"),
        "{:?}",
        text(&o)
    );

    // TheHive: created once, found again, the id recorded each time.
    let hive = HandoffServer::start();
    let push = |key: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_soc-copilot"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["export", &id, "--to", "thehive"])
            .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
            .env("SOC_COPILOT_HANDOFF_THEHIVE_URL", hive.base())
            .env("SOC_COPILOT_HANDOFF_THEHIVE_KEY", key)
            .env_remove("SOC_COPILOT_CONFIG")
            .output()
            .expect("binary runs")
    };
    let first = push(THEHIVE_KEY);
    assert!(first.status.success(), "{:?}", text(&first));
    assert!(
        text(&first).1.contains("TheHive created"),
        "{:?}",
        text(&first)
    );
    let again = push(THEHIVE_KEY);
    assert!(
        text(&again).1.contains("TheHive already had"),
        "{:?}",
        text(&again)
    );
    assert_eq!(hive.thehive_alerts().len(), 1);
    let bad = push("wrong-key-123456");
    let (_, err) = text(&bad);
    assert!(!bad.status.success());
    assert!(err.contains("TheHive") && err.contains("401"), "{err}");
    assert!(
        !err.contains("wrong-key-123456"),
        "the key never shows: {err}"
    );
    let store = Store::open_in(dir.path()).expect("store");
    let exports = store.exports_of(&id).expect("exports");
    let targets: Vec<&str> = exports.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, ["markdown", "stix", "thehive", "thehive"]);
    let remote = hive.thehive_alerts()[0]["_id"].as_str().map(str::to_string);
    assert_eq!(exports[2].remote_id, remote);
    assert_eq!(exports[3].remote_id, remote);

    // One triage over the incident; the analyst's verdict on it is the one handed off.
    let o = soc(
        dir.path(),
        &["incidents", "triage", &id, "--engine", "offline"],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let triage_id = out
        .split(" · triage ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("triage id printed")
        .to_string();
    let o = soc(
        dir.path(),
        &["feedback", &triage_id, "down", "--verdict", "CRITICAL"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let o = soc(
        dir.path(),
        &["export", &id, "--to", "markdown", "--out", s(&md)],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let report = std::fs::read_to_string(&md).expect("markdown");
    assert!(
        report.contains("- **Verdict:** CRITICAL (analyst "),
        "{report}"
    );
}

#[test]
fn pushes_leave_pseudonymised_and_training_data_too() {
    let dir = ingested();
    let alerts = interleaved(dir.path());
    let o = soc(dir.path(), &["triage", "--engine", "offline", s(&alerts)]);
    assert!(o.status.success(), "{:?}", text(&o));
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[privacy]\npseudonymise = [\"hosts\", \"users\"]\n",
    )
    .expect("config");
    let hive = HandoffServer::start();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_soc-copilot"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .args(["export", "bf-3", "--to", "thehive"])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .env("SOC_COPILOT_HANDOFF_THEHIVE_URL", hive.base())
        .env("SOC_COPILOT_HANDOFF_THEHIVE_KEY", THEHIVE_KEY)
        .output()
        .expect("binary runs");
    assert!(o.status.success(), "{:?}", text(&o));
    let sent = hive.thehive_alerts()[0].to_string();
    assert!(
        !sent.contains("web-3") && !sent.contains("jsmith"),
        "host and user stay home: {sent}"
    );
    assert!(sent.contains("\"HOST_1\""), "{sent}");
    // The mapping is kept locally, for turning the tokens back.
    let store = Store::open_in(dir.path()).expect("store");
    let map = store.pseudonyms().expect("map");
    assert!(
        map.iter().any(|(k, v, _)| k == "hosts" && v == "web-3"),
        "{map:?}"
    );

    // Training data: only reviewed triages, the analyst's verdict as the answer.
    let triages = store.recent_triages(10).expect("triages");
    let bf1 = triages
        .iter()
        .find(|t| t.alert_key == "bf-1")
        .expect("bf-1 triaged");
    let o = soc(
        dir.path(),
        &[
            "feedback",
            &bf1.id,
            "down",
            "--verdict",
            "CRITICAL",
            "--notes",
            "sprayed our web tier",
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let ft = dir.path().join("ft.jsonl");
    let o = soc(
        dir.path(),
        &["export", "finetune", "--out", s(&ft), "--format", "openai"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let lines: Vec<Value> = std::fs::read_to_string(&ft)
        .expect("finetune")
        .lines()
        .map(|l| serde_json::from_str(l).expect("line JSON"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let m = &lines[0]["messages"];
    assert_eq!(m[0]["role"], "system");
    let answer: Value =
        serde_json::from_str(m[2]["content"].as_str().expect("answer")).expect("answer JSON");
    assert_eq!(answer["verdict"], "CRITICAL");
    assert_eq!(answer["reasoning"], "sprayed our web tier");
    let user = m[1]["content"].as_str().expect("user");
    assert!(!user.contains("web-1") && user.contains("HOST_"), "{user}");
}

#[test]
fn a_sigma_rule_is_drafted_only_from_a_confirmed_alert_and_tested_on_the_history() {
    let dir = ingested();
    let alerts = dir.path().join("ps.jsonl");
    let ps = |id: &str, cmd: &str, parent: &str| {
        json!({"alert_id": id, "source": "edr", "severity": "high", "host": "ws-1",
               "title": "Encoded PowerShell", "description": "powershell with an encoded command",
               "raw_log": {"Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                           "ParentImage": parent, "CommandLine": cmd}})
        .to_string()
    };
    std::fs::write(
        &alerts,
        [
            ps(
                "ps-1",
                "powershell.exe -NoP -W Hidden -Enc SQBFAFgA",
                "C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
            ),
            ps(
                "ps-2",
                "powershell.exe -NoP -W Hidden -Enc SQBFAFgA",
                "C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
            ),
            ps(
                "ps-3",
                "powershell.exe -File C:\\scripts\\inventory.ps1",
                "C:\\Windows\\CCM\\CcmExec.exe",
            ),
        ]
        .join("\n"),
    )
    .expect("write");
    let o = soc(dir.path(), &["triage", "--engine", "offline", s(&alerts)]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = soc(dir.path(), &["sigma", "ps-1", "--engine", "offline"]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("not confirmed"), "{:?}", text(&o));

    let store = Store::open_in(dir.path()).expect("store");
    let triages = store.recent_triages(10).expect("triages");
    let id = |key: &str| {
        triages
            .iter()
            .find(|t| t.alert_key == key)
            .map(|t| t.id.clone())
            .expect("triaged")
    };
    for (key, verdict) in [("ps-1", "HIGH"), ("ps-2", "BENIGN")] {
        let o = soc(
            dir.path(),
            &["feedback", &id(key), "down", "--verdict", verdict],
        );
        assert!(o.status.success(), "{:?}", text(&o));
    }
    let rule = dir.path().join("rule.yml");
    let o = soc(
        dir.path(),
        &["sigma", "ps-1", "--engine", "offline", "--out", s(&rule)],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        err.contains("valid against the Sigma specification"),
        "{err}"
    );
    // The rule matches the two Word-spawned alerts and not the SCCM script; one of the two
    // was judged benign by an analyst, and that shows before the rule is used.
    assert!(
        err.contains(
            "2 of 3 stored alerts match; 1 judged false positive (BENIGN/LOW), 1 confirmed"
        ),
        "{err}"
    );
    let saved = std::fs::read_to_string(&rule).expect("saved");
    assert!(
        soc_copilot::detect::sigma::validate(&saved).is_empty(),
        "{saved}"
    );
    // A broken rule file is checked and refused with its problems named.
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "title: x\ndetection:\n  sel:\n    Image|endswith: a.exe\n  condition: sel and other\n",
    )
    .expect("write");
    let o = soc(dir.path(), &["sigma", "--check", s(&broken)]);
    assert!(!o.status.success());
    let (_, err) = text(&o);
    assert!(err.contains("logsource") && err.contains("other"), "{err}");
    // A hand-off carries the analyst's verdict, not the tool's it replaced, and says whose.
    let tool = triages
        .iter()
        .find(|t| t.alert_key == "ps-2")
        .and_then(|t| t.verdict.clone())
        .expect("tool verdict");
    let md = dir.path().join("ps-2.md");
    let o = soc(
        dir.path(),
        &["export", "ps-2", "--to", "markdown", "--out", s(&md)],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let report = std::fs::read_to_string(&md).expect("markdown");
    let line = report
        .lines()
        .find(|l| l.starts_with("- **Verdict:**"))
        .expect("verdict line");
    assert!(
        line.contains("BENIGN (analyst ") && line.contains(&format!("the tool said {tool}")),
        "{line}"
    );
}

fn loaded(v: Value) -> Arc<LoadedAlert> {
    Arc::new(LoadedAlert {
        alert: from_json(&v),
        raw: v.to_string(),
        origin: "test".into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_sees_tokens_the_analyst_sees_names_and_a_leak_is_blocked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let verdict = r#"{"verdict":"HIGH","confidence":0.8,"matched_techniques":[],"attack_chain":[],"reasoning":"HOST_1 was used by USER_1 to dump LSASS.","recommended_actions":["isolate HOST_1"],"false_positive_indicators":[],"investigation_queries":[],"evidence":[],"escalation":{"recommended":true,"draft":"USER_1 on HOST_1"}}"#;
    let llm = LlmServer::start(vec![Reply::sse(&anthropic_stream(&[verdict], 100, 50))]).await;
    let privacy = Arc::new(
        Privacy::new(
            &["hosts".into(), "users".into(), "internal_ips".into()],
            &[],
            true,
            None,
        )
        .expect("privacy"),
    );
    let provider = PrivateProvider::wrap(
        Arc::new(Anthropic::new(
            &llm.base_url(),
            "sk-ant-x",
            "claude-sonnet-4-5",
            reqwest::Client::new(),
            DriveOptions::default(),
        )),
        privacy.clone(),
    );
    let engine = ModelEngine::new(
        provider,
        ModelSettings {
            max_tokens: 512,
            temperature: 0.0,
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
            json_schema: false,
        },
    )
    .with_privacy(privacy.clone());
    crate::common::ingest_into(
        &crate::common::fixture_bundle(),
        dir.path(),
        Err("no model in this test".into()),
    );
    let pipeline = Pipeline {
        kb: Arc::new(KnowledgeBase::open(&locate(dir.path()), None).expect("kb")),
        stores: Arc::new(StorePool::new(dir.path().to_path_buf())),
        engine: Arc::new(engine),
        params: TriageParams::default(),
        intel: None,
    };
    let alert = loaded(
        json!({"alert_id": "p-1", "source": "edr", "severity": "high",
        "title": "LSASS dumped on FIN-WS-042", "host": "FIN-WS-042", "user": "jdoe",
        "description": "jdoe ran procdump against lsass on FIN-WS-042 (10.20.30.40)",
        "raw_log": {"CommandLine": "procdump64.exe -ma lsass.exe", "SourceIp": "10.20.30.40"}}),
    );
    let outcome = pipeline
        .run(Request::new(alert), &mut |_e: Event| {})
        .await
        .expect("triage");
    let sent = &llm.recorded()[0].body;
    for private in ["FIN-WS-042", "fin-ws-042", "jdoe", "10.20.30.40"] {
        assert!(
            !sent.contains(private),
            "{private} left the machine: {sent}"
        );
    }
    assert!(
        sent.contains("HOST_1") && sent.contains("USER_1") && sent.contains("IP_1"),
        "{sent}"
    );
    let v = &outcome.verdict;
    assert!(
        v.reasoning.contains("FIN-WS-042 was used by jdoe"),
        "{}",
        v.reasoning
    );
    assert_eq!(v.recommended_actions, ["isolate FIN-WS-042"]);

    // A value the replacement cannot reach (lower-casing changes the text's byte length,
    // so replacement falls back to exact case) is caught by the leak check: not sent.
    let before = llm.recorded().len();
    let odd = loaded(
        json!({"alert_id": "p-2", "source": "edr", "severity": "high",
        "title": "İstanbul office: LSASS dumped", "host": "fin-ws-042",
        "description": "Seen on FIN-WS-042 again"}),
    );
    let err = pipeline
        .run(Request::new(odd), &mut |_e: Event| {})
        .await
        .expect_err("blocked");
    let msg = err.to_string();
    assert!(
        msg.contains("blocked before sending") && msg.contains("host name"),
        "{msg}"
    );
    assert!(!msg.contains("FIN-WS-042"), "{msg}");
    assert_eq!(llm.recorded().len(), before, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confident_benign_verdicts_backed_by_analysts_close_and_reopen() {
    let b = built();
    let kb = Arc::new(
        KnowledgeBase::open(&locate(&b.dir), Some(crate::common::embedder())).expect("kb"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = Arc::new(StorePool::new(dir.path().to_path_buf()));
    let pipeline = |autoclose| Pipeline {
        kb: kb.clone(),
        stores: stores.clone(),
        engine: Arc::new(OfflineEngine),
        params: TriageParams {
            autoclose,
            ..TriageParams::default()
        },
        intel: None,
    };
    let backup = |id: &str| {
        loaded(
            json!({"alert_id": id, "source": "veeam", "severity": "informational",
            "title": "Nightly Veeam backup job completed", "host": "bkp-01",
            "description": "The scheduled nightly backup job finished successfully; 0 errors."}),
        )
    };
    let policy = Policy {
        min_confidence: 0.5,
        min_precedents: 2,
    };
    // Two analysts judged two earlier runs of this job BENIGN.
    for (key, analyst) in [("bk-1", "ana"), ("bk-2", "bo")] {
        let o = pipeline(None)
            .run(Request::new(backup(key)), &mut |_e: Event| {})
            .await
            .expect("triage");
        stores
            .get()
            .expect("store")
            .add_feedback(&NewFeedback {
                triage_id: o.triage_id,
                thumbs: Some(Thumbs::Down),
                analyst_verdict: Some("BENIGN".into()),
                analyst: analyst.into(),
                ..NewFeedback::default()
            })
            .expect("feedback");
    }
    let mut closed = Vec::new();
    let o = pipeline(Some(policy))
        .run(Request::new(backup("bk-3")), &mut |e: Event| {
            if let Event::AutoClosed(why) = e {
                closed.push(why);
            }
        })
        .await
        .expect("triage");
    assert_eq!(o.verdict.verdict.to_string(), "BENIGN");
    assert_eq!(closed.len(), 1, "{:?}", o.verdict);
    assert!(
        closed[0].contains("2 analyst(s) (ana, bo)"),
        "{}",
        closed[0]
    );
    let mut store = stores.get().expect("store");
    let list = store.closures(10).expect("closures");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].alert_key, "bk-3");
    assert!(store.open_closure("bk-3").expect("open").is_some());
    assert!(store.reverse_closure(list[0].id, "cy").expect("undo"));
    assert!(!store.reverse_closure(list[0].id, "cy").expect("undo twice"));
    assert!(store.open_closure("bk-3").expect("open").is_none());
    drop(store);
    // With one analyst's precedent only, nothing closes.
    let strict = Policy {
        min_precedents: 3,
        ..policy
    };
    let mut closed = 0;
    pipeline(Some(strict))
        .run(Request::new(backup("bk-4")), &mut |e: Event| {
            if matches!(e, Event::AutoClosed(_)) {
                closed += 1;
            }
        })
        .await
        .expect("triage");
    assert_eq!(closed, 0);
}

/// An incident keeps its id (and its incident-level verdict) while it holds the alert that
/// named it: an earlier alert arriving late, or a merge, does not rename it.
#[test]
fn an_incident_keeps_its_id_and_verdict_when_an_earlier_alert_joins() {
    use soc_copilot::incident::correlate::Settings;
    use soc_copilot::incident::refresh;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_in(dir.path()).expect("store");
    let put = |store: &mut Store, id: &str, min: u32, host: &str| {
        let a = from_json(&json!({"alert_id": id, "title": "t", "host": host,
            "timestamp": format!("2026-11-20T10:{min:02}:00Z")}));
        store.upsert_alert(&a, "{}", None).expect("store alert")
    };
    let r1 = put(&mut store, "a-1", 30, "web-1");
    put(&mut store, "a-2", 40, "web-1");
    refresh(&mut store, Settings::default()).expect("refresh");
    let first = store.incidents(10).expect("incidents");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, format!("INC-{r1}"));
    store
        .start_triage("tri-incident", r1, "offline", None)
        .expect("triage row");
    store
        .set_incident_triage(&first[0].id, "tri-incident")
        .expect("triage");
    // An alert stored later but seen earlier (10:05) joins: the group's oldest alert is now
    // a row that never named an incident.
    put(&mut store, "a-0", 5, "web-1");
    refresh(&mut store, Settings::default()).expect("refresh");
    let after = store.incidents(10).expect("incidents");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].alert_count, 3);
    assert_eq!(after[0].id, first[0].id, "renamed: {after:?}");
    assert_eq!(after[0].triage_id.as_deref(), Some("tri-incident"));
    // A second incident merged into it: the older id stays.
    put(&mut store, "b-1", 50, "db-9");
    put(&mut store, "b-2", 52, "db-9");
    refresh(&mut store, Settings::default()).expect("refresh");
    assert_eq!(store.incidents(10).expect("incidents").len(), 2);
    let wazuh_time = from_json(&json!({"alert_id": "c-1", "title": "t", "host": "web-1",
        "timestamp": "2026-11-20T11:45:00.000+0100"}));
    store.upsert_alert(&wazuh_time, "{}", None).expect("store");
    let joined = from_json(&json!({"alert_id": "c-2", "title": "t", "host": "db-9",
        "user": "x", "timestamp": "2026-11-20T10:46:00Z"}));
    store.upsert_alert(&joined, "{}", None).expect("store");
    let bridge = from_json(&json!({"alert_id": "c-3", "title": "t", "host": "web-1",
        "user": "x", "timestamp": "2026-11-20T10:47:00Z"}));
    store.upsert_alert(&bridge, "{}", None).expect("store");
    refresh(&mut store, Settings::default()).expect("refresh");
    let merged = store.incidents(10).expect("incidents");
    assert_eq!(merged.len(), 1, "{merged:?}");
    assert_eq!(merged[0].id, first[0].id);
    assert_eq!(merged[0].triage_id.as_deref(), Some("tri-incident"));
    // Members' times are shown as correlation read them, whatever the SIEM's shape.
    let members = store.incident_members(&merged[0].id).expect("members");
    let c1 = members.iter().find(|m| m.key == "c-1").expect("c-1");
    assert_eq!(c1.at, "2026-11-20T10:45:00Z");
}

/// The shipped labelled set (`data/eval/incidents.jsonl`, five SIEM shapes) groups well on
/// intake: a floor under the figures in the README, so a regression in parsing event times
/// or in what links shows here.
#[test]
fn the_shipped_incident_set_groups_above_its_floor() {
    let dir = ingested();
    let json = dir.path().join("grouping.json");
    let set = concat!(env!("CARGO_MANIFEST_DIR"), "/data/eval/incidents.jsonl");
    let o = soc(
        dir.path(),
        &[
            "eval",
            "incidents",
            "--dataset",
            set,
            "--intake-only",
            "--json",
            s(&json),
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("parse");
    let intake = &v["intake"];
    assert_eq!(intake["alerts"], 94, "{intake}");
    let p = intake["precision"].as_f64().expect("precision");
    let r = intake["recall"].as_f64().expect("recall");
    assert!(p >= 0.55 && r >= 0.85, "precision {p}, recall {r}: {out}");
    assert!(err.contains("grouping them took"), "{err}");
}
