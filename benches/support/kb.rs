//! The knowledge base the benches search: built once into target/bench-data from the
//! shared ATT&CK bundle and model (later runs reuse its vectors).

use std::path::PathBuf;
use std::sync::Arc;

use soc_copilot::search::KnowledgeBase;
use soc_copilot::search::document::ChunkPlan;
use soc_copilot::search::embed::Embedder;
use soc_copilot::search::ingest::{IngestOptions, Quiet, ingest, locate};

fn env_path(var: &str) -> PathBuf {
    let v = std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} unset: run through cargo (see .cargo/config.toml)"));
    PathBuf::from(v)
}

pub fn knowledge_base() -> KnowledgeBase {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let embedder = Arc::new(
        Embedder::load(
            &env_path("SOC_COPILOT_MODEL_DIR"),
            &env_path("ORT_DYLIB_PATH"),
            2,
        )
        .expect("model loads"),
    );
    ingest(
        IngestOptions {
            bundle: env_path("SOC_COPILOT_ATTACK_BUNDLE"),
            source: "bench".into(),
            data_dir: data.clone(),
            embedder: Ok(embedder.clone()),
            plan: ChunkPlan::default(),
            attack_version: None,
            batch: 32,
        },
        &Quiet,
    )
    .expect("ingest");
    KnowledgeBase::open(&locate(&data), Some(embedder)).expect("open")
}
