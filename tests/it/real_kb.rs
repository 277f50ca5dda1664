//! Ingest and retrieval against the real ATT&CK v18.1 bundle and embedding model in
//! ../shared. Built once per test run and shared.

use soc_copilot::alert::parse::{from_json, from_text};
use soc_copilot::eval::retrieval::{read_cases, score};
use soc_copilot::search::ingest::locate;
use soc_copilot::search::{KnowledgeBase, Mode, SearchParams, Why};

use crate::common::{built, embedder, ingest_into, shared_asset};

#[test]
fn v18_catalog_has_every_active_technique_and_its_relations() {
    let b = built();
    let counts = b.first.manifest.counts;
    assert_eq!(counts.techniques + counts.subtechniques, 691);
    assert_eq!(counts.subtechniques, 475);
    assert_eq!(counts.tactics, 14);
    let c = &b.kb.catalog;
    for (old, new) in [
        ("T1086", "T1059.001"),
        ("T1085", "T1218.011"),
        ("T1089", "T1562.001"),
    ] {
        assert_eq!(
            c.resolve(old).technique().map(|t| t.id.as_str()),
            Some(new),
            "{old}"
        );
    }
    let ps = c.get("T1059.001").expect("PowerShell");
    assert_eq!(ps.parent.as_deref(), Some("T1059"));
    assert!(!ps.mitigations.is_empty());
    assert!(ps.detections.iter().any(|d| !d.analytics.is_empty()));
    assert!(
        ps.procedures.len() > 50,
        "{} procedures",
        ps.procedures.len()
    );
    assert!(!c.groups_using("T1059.001").is_empty());
    assert!(
        c.techniques
            .iter()
            .all(|t| !t.description.contains("(Citation:"))
    );
}

#[test]
fn dense_side_is_built_and_reused_on_reingest() {
    let b = built();
    let dense = b.first.manifest.dense.as_ref().expect("embeddings built");
    assert_eq!(dense.dim, 384);
    assert!(dense.passages > 691, "several passages per technique");
    assert!(b.kb.has_dense());

    // Same bundle, same model: every vector is reused, none recomputed.
    let again = ingest_into(
        &shared_asset("SOC_COPILOT_ATTACK_BUNDLE"),
        &b.dir,
        Ok(embedder()),
    );
    assert_eq!(again.embedded_vectors, 0);
    assert_eq!(again.reused_vectors, dense.passages);
}

fn top_ids(
    kb: &KnowledgeBase,
    alert: &soc_copilot::alert::Alert,
    k: usize,
    mode: Mode,
) -> Vec<String> {
    kb.search_alert(alert, k, mode, &SearchParams::default())
        .expect("search")
        .into_iter()
        .map(|h| h.id)
        .collect()
}

#[test]
fn typical_alerts_find_their_techniques() {
    let kb = &built().kb;
    let office_ps = from_json(&serde_json::json!({
        "title": "Encoded PowerShell launched by Microsoft Word",
        "description": "WINWORD.EXE spawned powershell.exe with an encoded command",
        "raw_log": {"event": {"ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
            "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "CommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgAKABOAGUAdwAtAE8AYgBqAGUAYwB0ACAATgBlAHQALgBXAGUAYgBDAGwAaQBlAG4AdAApAA=="}}
    }));
    assert!(top_ids(kb, &office_ps, 3, Mode::Hybrid).contains(&"T1059.001".to_string()));
    let shadow = from_text(
        "vssadmin.exe delete shadows /all /quiet executed on FILESRV01",
        None,
    );
    assert!(top_ids(kb, &shadow, 3, Mode::Hybrid).contains(&"T1490".to_string()));
    let lsass = from_text(
        "procdump64.exe -accepteula -ma lsass.exe C:\\temp\\l.dmp",
        None,
    );
    assert!(top_ids(kb, &lsass, 3, Mode::Hybrid).contains(&"T1003.001".to_string()));
}

#[test]
fn hybrid_hits_explain_both_sides() {
    let kb = &built().kb;
    let alert = from_text(
        "Kerberos service ticket requests for many SPNs with RC4 encryption (kerberoasting)",
        None,
    );
    let hits = kb
        .search_alert(&alert, 5, Mode::Hybrid, &SearchParams::default())
        .expect("search");
    assert_eq!(hits[0].id, "T1558.003");
    assert!(hits[0].why.iter().any(|w| matches!(w, Why::Terms { .. })));
    assert!(
        hits[0]
            .why
            .iter()
            .any(|w| matches!(w, Why::Semantic { .. }))
    );
    assert!(
        hits.windows(2).all(|p| p[0].score >= p[1].score),
        "ranked by score"
    );
}

#[test]
fn without_the_model_search_falls_back_to_bm25_visibly() {
    let b = built();
    let kb = KnowledgeBase::open(&locate(&b.dir), None).expect("opens");
    assert!(!kb.has_dense());
    assert!(kb.dense_off.is_some());
    let alert = from_text("rundll32.exe comsvcs.dll MiniDump lsass", None);
    assert!(!top_ids(&kb, &alert, 5, Mode::Hybrid).is_empty());
}

/// A regression guard on a slice of the dev set: hybrid must beat both single retrievers.
/// (The full-set figures are measured with `soc-copilot eval retrieval`, see README.)
#[test]
fn hybrid_beats_each_retriever_on_a_dev_slice() {
    let kb = &built().kb;
    let dataset = shared_asset("SOC_COPILOT_ATTACK_BUNDLE")
        .parent()
        .and_then(|p| p.parent())
        .expect("shared dir")
        .join("eval/dev-alerts.jsonl");
    let (cases, errors) = read_cases(&dataset).expect("dev set reads");
    assert!(errors.is_empty());
    // Every 8th case: a fixed, spread-out slice of both sources.
    let slice: Vec<_> = cases.into_iter().step_by(8).collect();
    let alerts: Vec<_> = slice.iter().map(|c| c.alert.clone()).collect();
    let mut family_at_5 = std::collections::BTreeMap::new();
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        let results = kb
            .search_alerts(&alerts, 10, mode, &SearchParams::default())
            .expect("search");
        let preds = slice
            .iter()
            .zip(results)
            .map(|(c, hits)| (c.id.clone(), hits.into_iter().map(|h| h.id).collect()))
            .collect();
        family_at_5.insert(
            format!("{mode:?}"),
            score(&slice, &preds)["overall"].family.recall_at_5,
        );
    }
    let (h, b, d) = (
        family_at_5["Hybrid"],
        family_at_5["Bm25"],
        family_at_5["Dense"],
    );
    assert!(h > b && h > d, "hybrid {h:.3} vs bm25 {b:.3}, dense {d:.3}");
    assert!(h >= 0.75, "hybrid family recall@5 {h:.3}");
}
