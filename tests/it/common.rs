//! Paths and shared set-up for the integration tests.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use soc_copilot::search::KnowledgeBase;
use soc_copilot::search::document::ChunkPlan;
use soc_copilot::search::embed::Embedder;
use soc_copilot::search::ingest::{IngestOptions, IngestReport, Quiet, ingest, locate};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_bundle() -> PathBuf {
    repo().join("data/fixtures/mini-attack.json")
}

/// An asset from ../shared, named by the variable .cargo/config.toml sets. These tests
/// must run in CI, so a missing asset fails loudly instead of skipping.
pub fn shared_asset(var: &str) -> PathBuf {
    let value = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests through cargo so .cargo/config.toml points it at ../shared")
    });
    let path = PathBuf::from(value);
    assert!(
        path.exists(),
        "{var} points at {} which does not exist; is ../shared beside the repo?",
        path.display()
    );
    path
}

pub fn embedder() -> Arc<Embedder> {
    static EMBEDDER: OnceLock<Arc<Embedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let model = shared_asset("SOC_COPILOT_MODEL_DIR");
            let ort = shared_asset("ORT_DYLIB_PATH");
            Arc::new(Embedder::load(&model, &ort, 2).expect("embedding model loads"))
        })
        .clone()
}

/// Ingests `bundle` into `data_dir` with the given embedder (or none).
pub fn ingest_into(
    bundle: &Path,
    data_dir: &Path,
    embedder: Result<Arc<Embedder>, String>,
) -> IngestReport {
    ingest(
        IngestOptions {
            bundle: bundle.to_path_buf(),
            source: bundle.display().to_string(),
            data_dir: data_dir.to_path_buf(),
            embedder,
            plan: ChunkPlan::default(),
            attack_version: None,
            batch: 32,
        },
        &Quiet,
    )
    .expect("ingest succeeds")
}

/// The knowledge base built from the real ATT&CK bundle and model, once per test run.
pub struct Built {
    pub dir: PathBuf,
    pub first: IngestReport,
    pub kb: KnowledgeBase,
}

pub fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let bundle = shared_asset("SOC_COPILOT_ATTACK_BUNDLE");
        let first = ingest_into(&bundle, &dir, Ok(embedder()));
        let kb = KnowledgeBase::open(&locate(&dir), Some(embedder())).expect("opens");
        Built { dir, first, kb }
    })
}

/// A knowledge base from the small fixture bundle (BM25 only), once per test run.
pub fn built_fixture() -> &'static KnowledgeBase {
    static KB: OnceLock<KnowledgeBase> = OnceLock::new();
    KB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        ingest_into(&fixture_bundle(), &dir, Err("BM25 only".into()));
        KnowledgeBase::open(&locate(&dir), None).expect("opens")
    })
}
