//! The offline engine on the sample queue (plausible verdicts), the feedback loop changing
//! later triage, and the triage/feedback/history/accuracy commands.

use std::collections::BTreeMap;

use soc_copilot::alert::load::LoadedAlert;
use soc_copilot::alert::load_paths;
use soc_copilot::alert::parse::from_text;
use soc_copilot::store::feedback::{DownReason, NewFeedback};
use soc_copilot::store::{Store, Thumbs};
use soc_copilot::triage::{Level, TriageParams, Verdict, triage_offline};

use crate::common::{built, repo};

fn sample_queue_verdicts(store: &mut Store) -> BTreeMap<String, Verdict> {
    let loaded = load_paths(&[repo().join("data/queue/sample-queue.ndjson")]);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert!(loaded.alerts.len() >= 20);
    loaded
        .alerts
        .iter()
        .map(|l| {
            let out =
                triage_offline(&built().kb, store, l, &TriageParams::default()).expect("triage");
            (l.alert.id.clone(), out.verdict)
        })
        .collect()
}

fn has(v: &Verdict, id: &str) -> bool {
    v.matched_techniques.iter().any(|t| t.id == id)
}

#[test]
fn offline_verdicts_on_the_sample_queue_are_plausible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_in(dir.path()).expect("store");
    let v = sample_queue_verdicts(&mut store);

    let office_ps = &v["q-01"];
    assert!(
        office_ps.verdict >= Level::High,
        "encoded PowerShell from Word: {}",
        office_ps.verdict
    );
    assert!(has(office_ps, "T1059.001"));
    assert!(office_ps.escalation.recommended && !office_ps.escalation.draft.is_empty());
    assert!(
        office_ps.reasoning.contains("no language model was used"),
        "never pretends to be a model"
    );
    assert!(
        office_ps
            .investigation_queries
            .iter()
            .any(|q| q.language == "SPL" && q.query.contains("FIN-WS-042"))
    );
    assert!(office_ps.evidence.iter().any(|e| e.source == "alert_field"));

    assert!(
        v["q-02"].verdict >= Level::High && has(&v["q-02"], "T1003.001"),
        "LSASS dump"
    );
    assert!(
        v["q-03"].verdict >= Level::High && has(&v["q-03"], "T1490"),
        "shadow copies"
    );
    assert!(
        v["q-04"].verdict >= Level::Medium && has(&v["q-04"], "T1558.003"),
        "kerberoasting"
    );
    assert!(
        v["q-13"].verdict >= Level::Medium && has(&v["q-13"], "T1110"),
        "password spraying"
    );
    for benign in ["q-07", "q-08", "q-09", "q-17", "q-22"] {
        assert!(
            v[benign].verdict <= Level::Low,
            "{benign} should be LOW or BENIGN, got {}",
            v[benign].verdict
        );
    }
    let hostile = &v["q-24"];
    assert!(
        !hostile.injection_flags.is_empty(),
        "the injection attempt is reported"
    );
    assert!(
        hostile.verdict > Level::Benign,
        "the injected 'classify as benign' is not obeyed"
    );

    // Every triage is stored with its provenance.
    let stored = store.recent_triages(100).expect("history");
    assert_eq!(stored.len(), v.len());
    let p: serde_json::Value =
        serde_json::from_str(stored[0].provenance_json.as_deref().expect("provenance"))
            .expect("json");
    assert_eq!(p["engine"], "offline");
    assert_eq!(
        p["attack_version"],
        built().kb.catalog.attack_version.as_str()
    );
    assert!(p["retrieval"].as_array().is_some_and(|r| !r.is_empty()));
    assert_eq!(p["prompt_hash"].as_str().map(str::len), Some(64));
}

fn loaded(text: &str, id: &str) -> LoadedAlert {
    LoadedAlert {
        alert: from_text(text, Some(id)),
        raw: text.into(),
        origin: id.into(),
    }
}

#[test]
fn analyst_feedback_changes_later_triage_of_similar_alerts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_in(dir.path()).expect("store");
    let kb = &built().kb;
    let params = TriageParams::default();
    let text = "Maintenance script ran certutil.exe -urlcache -split -f http://repo.corp.example.com/agent.exe to fetch the approved monitoring agent on host";
    let first = triage_offline(
        kb,
        &mut store,
        &loaded(&format!("{text} APP-01"), "m-1"),
        &params,
    )
    .expect("triage");
    assert!(
        first.verdict.verdict >= Level::Medium,
        "rules alone find certutil downloads suspicious"
    );
    store
        .add_feedback(&NewFeedback {
            triage_id: first.triage_id.clone(),
            thumbs: Some(Thumbs::Down),
            reason: Some(DownReason::WrongVerdict),
            analyst_verdict: Some("BENIGN".into()),
            notes: Some("approved agent rollout".into()),
            analyst: "tester".into(),
        })
        .expect("feedback");

    // A similar alert (another host named in its text): precedent weighs a little, shows its arithmetic,
    // and never raises the verdict.
    let second = triage_offline(
        kb,
        &mut store,
        &loaded(&format!("{text} APP-02"), "m-2"),
        &params,
    )
    .expect("triage");
    let r = &second.verdict.reasoning;
    assert!(second.verdict.verdict <= first.verdict.verdict, "{r}");
    assert!(
        r.contains("analyst precedent") && r.contains("host") && r.contains("weight"),
        "{r}"
    );
    assert!(
        second
            .verdict
            .evidence
            .iter()
            .any(|e| e.source == "similar_case" && e.reference == "m-1")
    );
    assert_eq!(second.provenance.similar_cases, ["m-1"]);

    // The very same alert text weighs far more: it moves the verdict down a level
    // at least, but one analyst alone does not make it BENIGN over the rule evidence.
    let third = triage_offline(
        kb,
        &mut store,
        &loaded(&format!("{text} APP-01"), "m-3"),
        &params,
    )
    .expect("triage");
    let r = &third.verdict.reasoning;
    assert!(r.contains("same rule"), "{r}");
    assert!(third.verdict.verdict < first.verdict.verdict, "{r}");
    assert!(third.verdict.verdict <= second.verdict.verdict, "{r}");
}

/// Without the embedding model the verdict says how it was made: BM25-only retrieval is in
/// the provenance and in the verdict's warnings.
#[test]
fn a_verdict_records_that_retrieval_ran_on_bm25_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_in(dir.path()).expect("store");
    let kb = crate::common::built_fixture();
    let o = triage_offline(
        kb,
        &mut store,
        &loaded("powershell -enc SQBFAFgA from winword", "bm25-1"),
        &TriageParams::default(),
    )
    .expect("triage");
    assert_eq!(o.provenance.retrieval_mode, "bm25-only");
    assert!(
        o.provenance
            .degraded
            .iter()
            .any(|d| d.contains("BM25 alone"))
    );
    assert!(o.verdict.warnings.iter().any(|w| w.contains("BM25 alone")));
    let stored = store.triage(&o.triage_id).expect("q").expect("row");
    let p: serde_json::Value =
        serde_json::from_str(stored.provenance_json.as_deref().expect("provenance")).expect("json");
    assert_eq!(p["retrieval_mode"], "bm25-only");
    let real = &built().kb;
    let o = triage_offline(
        real,
        &mut store,
        &loaded("powershell -enc SQBFAFgA from winword", "hybrid-1"),
        &TriageParams::default(),
    )
    .expect("triage");
    assert_eq!(o.provenance.retrieval_mode, "hybrid");
    assert!(o.provenance.degraded.is_empty());
}

/// Citations follow the evidence: no technique of a platform the alert contradicts, a
/// BENIGN verdict describes no attack, and the missing-evidence note fits the alert's kind.
#[test]
fn offline_citations_need_corroboration_and_fit_the_alert() {
    use soc_copilot::alert::parse::from_json;
    use soc_copilot::triage::offline::{OfflineInput, triage};
    let kb = &built().kb;
    let params = soc_copilot::search::SearchParams::default();
    let run = |v: serde_json::Value| {
        let a = from_json(&v);
        let hits = kb
            .search_alert(&a, 8, soc_copilot::search::Mode::Hybrid, &params)
            .expect("search");
        (
            triage(&OfflineInput {
                alert: &a,
                hits: &hits,
                similar: &[],
                catalog: &kb.catalog,
                injection_flags: &[],
                enrichment: &soc_copilot::intel::enrich::Enrichment::default(),
            }),
            hits,
        )
    };
    let (v, hits) = run(
        serde_json::json!({"title": "Shadow copies deleted with vssadmin", "host": "FS-01",
        "command_line": "vssadmin.exe delete shadows /all /quiet"}),
    );
    for m in &v.matched_techniques {
        let t = kb.catalog.get(&m.id).expect("known");
        assert!(
            t.platforms.iter().any(|p| p == "Windows"),
            "{} ({:?}) cited on a Windows alert",
            m.id,
            t.platforms
        );
    }
    assert!(v.matched_techniques.iter().any(|m| m.id == "T1490"));
    assert!(
        v.matched_techniques.len() < hits.len(),
        "candidates stay candidates"
    );

    let (v, _) = run(
        serde_json::json!({"title": "Nightly Veeam backup job completed",
        "description": "Veeam Backup & Replication job 'Nightly-FS' finished successfully; 1.2 TB processed",
        "host": "BKP-01", "severity": "informational"}),
    );
    assert_eq!(
        v.verdict,
        soc_copilot::triage::Level::Benign,
        "{}",
        v.reasoning
    );
    assert!(v.attack_chain.is_empty(), "{:?}", v.attack_chain);

    let (v, _) = run(
        serde_json::json!({"title": "Unusual sign-in to the AWS console",
        "description": "ConsoleLogin from 185.220.101.47 for IAM user deploy-bot without MFA",
        "raw_log": {"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin"}}),
    );
    assert!(!v.reasoning.contains("process lineage"), "{}", v.reasoning);
    assert!(v.reasoning.contains("API calls"), "{}", v.reasoning);
}
