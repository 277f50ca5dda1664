//! Building the knowledge base: bundle → catalog → BM25 index and vectors, written into a
//! fresh directory and swapped in only once complete, so an interrupted ingest never
//! leaves a broken index behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::document::{ChunkPlan, dense_chunks};
use super::embed::{EmbedError, Embedder};
use super::indexer;
use super::kb::{CATALOG, DenseManifest, FORMAT, MANIFEST, Manifest, TANTIVY, VECTORS};
use super::vectors::{Row, VectorStore, passage_key};
use crate::attack::{StixError, build_catalog, read_bundle};

/// The live index directory inside the data dir.
pub const INDEX_DIR: &str = "index";
const BUILDING_PREFIX: &str = "index.building-";
const RETIRED_PREFIX: &str = "index.retired-";

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Stix(#[from] StixError),
    #[error("cannot write the knowledge base under {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("building the search index failed: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// What ingest reports as it goes; the CLI turns these into progress bars.
pub trait IngestObserver {
    fn stage(&self, _name: &str) {}
    fn embedding_started(&self, _total: usize) {}
    fn embedded(&self, _n: usize) {}
    fn embedding_finished(&self) {}
}

/// An observer that ignores everything (tests, library callers).
pub struct Quiet;
impl IngestObserver for Quiet {}

pub struct IngestOptions {
    pub bundle: PathBuf,
    /// How to name the source in the manifest (the URL it was downloaded from, or the path).
    pub source: String,
    pub data_dir: PathBuf,
    /// The embedding model, or why it is unavailable.
    pub embedder: Result<Arc<Embedder>, String>,
    pub plan: ChunkPlan,
    pub attack_version: Option<String>,
    pub batch: usize,
}

#[derive(Debug, Clone)]
pub struct IngestReport {
    pub manifest: Manifest,
    pub index_dir: PathBuf,
    pub reused_vectors: usize,
    pub embedded_vectors: usize,
    pub parse_time: Duration,
    pub index_time: Duration,
    pub embed_time: Duration,
    pub total_time: Duration,
}

pub fn ingest(
    opts: IngestOptions,
    observer: &dyn IngestObserver,
) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IngestError::Io { path, source }
    };
    std::fs::create_dir_all(&opts.data_dir).map_err(io(&opts.data_dir))?;
    remove_leftovers(&opts.data_dir, BUILDING_PREFIX);

    observer.stage("reading the ATT&CK bundle");
    let bundle = read_bundle(&opts.bundle)?;
    let mut catalog = build_catalog(&bundle)?;
    if let Some(v) = &opts.attack_version {
        catalog.attack_version = v.clone();
    }
    let parse_time = started.elapsed();

    let building = opts
        .data_dir
        .join(format!("{BUILDING_PREFIX}{}", std::process::id()));
    if building.exists() {
        std::fs::remove_dir_all(&building).map_err(io(&building))?;
    }
    std::fs::create_dir_all(&building).map_err(io(&building))?;

    observer.stage("writing the BM25 index");
    let t = Instant::now();
    let catalog_path = building.join(CATALOG);
    let json = serde_json::to_vec(&catalog).map_err(|e| IngestError::Io {
        path: catalog_path.clone(),
        source: e.into(),
    })?;
    std::fs::write(&catalog_path, json).map_err(io(&catalog_path))?;
    indexer::build(&building.join(TANTIVY), &catalog)?;
    let index_time = t.elapsed();

    let live = opts.data_dir.join(INDEX_DIR);
    let t = Instant::now();
    let (dense, dense_missing, reused, embedded) = match &opts.embedder {
        Ok(embedder) => {
            let (store, reused, embedded) =
                embed_catalog(&catalog, embedder, opts.plan, &live, opts.batch, observer)?;
            let path = building.join(VECTORS);
            store.save(&path).map_err(io(&path))?;
            let dense = DenseManifest {
                model_id: embedder.id().to_string(),
                dim: store.dim,
                passages: store.len(),
                plan: opts.plan,
            };
            (Some(dense), None, reused, embedded)
        }
        Err(why) => (None, Some(why.clone()), 0, 0),
    };
    let embed_time = t.elapsed();

    let manifest = Manifest {
        format: FORMAT,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        built_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        attack_version: catalog.attack_version.clone(),
        stix_version: catalog.spec_version.clone(),
        bundle: opts.source.clone(),
        bundle_sha256: bundle.sha256.clone(),
        counts: catalog.counts(),
        dense,
        dense_missing,
    };
    // The manifest is written last: a directory without one is never opened.
    let manifest_path = building.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| IngestError::Io {
        path: manifest_path.clone(),
        source: e.into(),
    })?;
    std::fs::write(&manifest_path, text).map_err(io(&manifest_path))?;

    observer.stage("swapping in the new index");
    swap_in(&opts.data_dir, &building)?;
    Ok(IngestReport {
        manifest,
        index_dir: live,
        reused_vectors: reused,
        embedded_vectors: embedded,
        parse_time,
        index_time,
        embed_time,
        total_time: started.elapsed(),
    })
}

/// Embeds every technique passage, reusing vectors the live index already has for the same
/// model and text.
fn embed_catalog(
    catalog: &crate::attack::Catalog,
    embedder: &Embedder,
    plan: ChunkPlan,
    live: &Path,
    batch: usize,
    observer: &dyn IngestObserver,
) -> Result<(VectorStore, usize, usize), IngestError> {
    let previous = VectorStore::load(&live.join(VECTORS)).ok();
    let reusable = previous
        .as_ref()
        .map(VectorStore::by_key)
        .unwrap_or_default();

    let mut rows = Vec::new();
    let mut texts = Vec::new();
    for (pos, t) in catalog.techniques.iter().enumerate() {
        for (kind, text) in dense_chunks(t, catalog, plan) {
            rows.push(Row {
                technique: pos as u32,
                kind,
                key: passage_key(embedder.id(), &text),
            });
            texts.push(text);
        }
    }
    let missing: Vec<usize> = (0..rows.len())
        .filter(|&i| !reusable.contains_key(&rows[i].key))
        .collect();
    let mut fresh: Vec<Option<Vec<f32>>> = vec![None; rows.len()];
    if !missing.is_empty() {
        observer.embedding_started(missing.len());
        for chunk in missing.chunks(batch.max(1) * 4) {
            let batch_texts: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
            let vectors = embedder.embed(&batch_texts, batch)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                fresh[i] = Some(v);
            }
            observer.embedded(chunk.len());
        }
        observer.embedding_finished();
    }
    let mut store = VectorStore::new(embedder.dim());
    for (i, row) in rows.into_iter().enumerate() {
        let vector = match &fresh[i] {
            Some(v) => v.as_slice(),
            None => reusable.get(&row.key).copied().unwrap_or_default(),
        };
        if vector.len() == store.dim {
            store.push(row, vector);
        }
    }
    let reused = store.len().saturating_sub(missing.len());
    Ok((store, reused, missing.len()))
}

/// Replaces the live index with `building` by two renames; a crash between them leaves a
/// retired copy that `locate` restores.
fn swap_in(data_dir: &Path, building: &Path) -> Result<(), IngestError> {
    let live = data_dir.join(INDEX_DIR);
    let retired = data_dir.join(format!("{RETIRED_PREFIX}{}", std::process::id()));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IngestError::Io { path, source }
    };
    if live.exists() {
        std::fs::rename(&live, &retired).map_err(io(&live))?;
    }
    std::fs::rename(building, &live).map_err(io(building))?;
    if retired.exists() {
        let _ = std::fs::remove_dir_all(&retired);
    }
    remove_leftovers(data_dir, RETIRED_PREFIX);
    Ok(())
}

/// The live index directory, restoring a retired one if a swap was interrupted.
pub fn locate(data_dir: &Path) -> PathBuf {
    let live = data_dir.join(INDEX_DIR);
    if !live.join(MANIFEST).exists()
        && let Ok(entries) = std::fs::read_dir(data_dir)
    {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(RETIRED_PREFIX) && e.path().join(MANIFEST).exists() {
                let _ = std::fs::remove_dir_all(&live);
                if std::fs::rename(e.path(), &live).is_ok() {
                    tracing::warn!(
                        "restored the previous index from {name} after an interrupted ingest"
                    );
                    break;
                }
            }
        }
    }
    live
}

/// Removes half-built or retired directories from earlier runs that did not finish.
fn remove_leftovers(data_dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(prefix) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
