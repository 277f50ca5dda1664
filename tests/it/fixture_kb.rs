//! Ingest and search on the fixture bundle, BM25 only (fast): the index lifecycle.

use soc_copilot::alert::parse::{from_json, from_text};
use soc_copilot::search::ingest::{INDEX_DIR, locate};
use soc_copilot::search::kb::{KbError, MANIFEST};
use soc_copilot::search::{KnowledgeBase, Mode, SearchParams, Why};

use crate::common::{fixture_bundle, ingest_into};

fn fixture_kb(dir: &std::path::Path) -> KnowledgeBase {
    ingest_into(&fixture_bundle(), dir, Err("test: no model".into()));
    KnowledgeBase::open(&locate(dir), None).expect("opens")
}

#[test]
fn bm25_only_ingest_says_why_and_still_searches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kb = fixture_kb(dir.path());
    assert_eq!(kb.manifest.dense, None);
    assert_eq!(kb.manifest.dense_missing.as_deref(), Some("test: no model"));
    assert!(
        kb.dense_off
            .as_deref()
            .is_some_and(|w| w.contains("test: no model"))
    );

    let alert = from_text("procdump -ma lsass.exe ran on HOST7", None);
    let hits = kb
        .search_alert(&alert, 3, Mode::Hybrid, &SearchParams::default())
        .expect("search");
    assert_eq!(hits[0].id, "T1003.001");
    let terms: Vec<String> = hits[0].why.iter().map(ToString::to_string).collect();
    assert!(
        terms
            .iter()
            .any(|w| w.starts_with("artifacts:") && w.contains("procdump")),
        "{terms:?}"
    );
    assert!(hits[0].bm25_rank.is_some() && hits[0].dense_rank.is_none());
}

#[test]
fn explicit_and_revoked_ids_come_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kb = fixture_kb(dir.path());
    let alert = from_json(&serde_json::json!({
        "title": "Scheduled task created", "description": "Rule maps to T1086",
        "raw_log": {"CommandLine": "schtasks /create /tn x"}
    }));
    let hits = kb
        .search_alert(&alert, 3, Mode::Bm25, &SearchParams::default())
        .expect("search");
    assert_eq!(
        hits[0].id, "T1059.001",
        "revoked T1086 resolves to its replacement"
    );
    assert_eq!(
        hits[0].why[0],
        Why::ExplicitId {
            source: "description".into(),
            written: "T1086".into()
        }
    );
    assert!(hits.iter().any(|h| h.id == "T1053.005"));
}

#[test]
fn interrupted_builds_never_replace_the_live_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture_kb(dir.path());
    // A build that died half-way leaves its directory behind; the next ingest clears it.
    let stale = dir.path().join("index.building-424242");
    std::fs::create_dir_all(stale.join("tantivy")).expect("mkdir");
    ingest_into(&fixture_bundle(), dir.path(), Err("no model".into()));
    assert!(!stale.exists());

    // A crash between the two renames of a swap leaves only the retired copy: it is restored.
    let live = dir.path().join(INDEX_DIR);
    std::fs::rename(&live, dir.path().join("index.retired-31337")).expect("rename");
    let found = locate(dir.path());
    assert!(found.join(MANIFEST).exists());
    KnowledgeBase::open(&found, None).expect("restored index opens");
}

#[test]
fn damaged_or_missing_index_errors_say_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = KnowledgeBase::open(&locate(dir.path()), None)
        .err()
        .expect("missing");
    assert!(matches!(err, KbError::Missing { .. }));
    assert!(err.to_string().contains("soc-copilot ingest"));

    fixture_kb(dir.path());
    let catalog = dir.path().join(INDEX_DIR).join("catalog.json");
    std::fs::write(&catalog, b"{not json").expect("corrupt");
    let err = KnowledgeBase::open(&locate(dir.path()), None)
        .err()
        .expect("corrupt");
    assert!(
        err.to_string().contains("catalog.json") && err.to_string().contains("ingest"),
        "{err}"
    );

    let manifest = dir.path().join(INDEX_DIR).join(MANIFEST);
    std::fs::write(&manifest, br#"{"format": 0}"#).expect("old");
    let err = KnowledgeBase::open(&locate(dir.path()), None)
        .err()
        .expect("old format");
    assert!(
        matches!(err, KbError::OldFormat { found: 0, .. }),
        "{err:?}"
    );
}
