//! The knowledge base on disk and in memory: the catalog, the BM25 index and the dense
//! vectors, opened together and searched as one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::document::{ChunkKind, ChunkPlan};
use super::embed::{EmbedError, Embedder};
use super::fuse::{Candidate, FusionParams, fuse};
use super::query::{self, RetrievalQuery};
use super::schema::DocField;
use super::searcher::{Bm25, Bm25Hit};
use super::vectors::VectorStore;
use crate::alert::Alert;
use crate::attack::Catalog;
use crate::attack::catalog::CatalogCounts;

pub const MANIFEST: &str = "manifest.json";
pub const CATALOG: &str = "catalog.json";
pub const VECTORS: &str = "vectors.bin";
pub const TANTIVY: &str = "tantivy";
/// Bumped whenever the on-disk layout or document shape changes; older indexes are rebuilt.
pub const FORMAT: u32 = 1;
/// Queries embedded per model call in batch search: small batches keep the runtime's
/// memory arena small at no measurable cost in speed.
const QUERY_BATCH: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error("no knowledge base in {dir}; build it with `soc-copilot ingest`")]
    Missing { dir: PathBuf },
    #[error(
        "the knowledge base in {dir} was built by an older soc-copilot (format {found}, need {FORMAT}); \
         rebuild it with `soc-copilot ingest`"
    )]
    OldFormat { dir: PathBuf, found: u32 },
    #[error(
        "the knowledge base file {path} is damaged ({message}); rebuild it with `soc-copilot ingest`"
    )]
    Corrupt { path: PathBuf, message: String },
    #[error("search index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DenseManifest {
    pub model_id: String,
    pub dim: usize,
    pub passages: usize,
    pub plan: ChunkPlan,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub tool_version: String,
    pub built_at: String,
    pub attack_version: String,
    pub stix_version: String,
    /// Where the bundle came from (path or URL) and its SHA-256.
    pub bundle: String,
    pub bundle_sha256: String,
    pub counts: CatalogCounts,
    /// The dense side, when the embedding model was available at ingest.
    pub dense: Option<DenseManifest>,
    /// Why there is no dense side, when there is none.
    pub dense_missing: Option<String>,
}

impl Manifest {
    pub fn read(dir: &Path) -> Result<Manifest, KbError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|_| KbError::Missing {
            dir: dir.to_path_buf(),
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| KbError::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let found = value
            .get("format")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0) as u32;
        if found != FORMAT {
            return Err(KbError::OldFormat {
                dir: dir.to_path_buf(),
                found,
            });
        }
        serde_json::from_value(value).map_err(|e| KbError::Corrupt {
            path,
            message: e.to_string(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Hybrid,
    Bm25,
    Dense,
}

/// Retrieval knobs; defaults come from config.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchParams {
    pub fusion: FusionParams,
    /// Candidates each retriever contributes before fusion.
    pub depth: usize,
    /// Multiplier for techniques that do not run on the alert's platform.
    pub platform_penalty: f32,
    /// Weight of a procedure or detection passage relative to the summary passage.
    pub passage_weight: f32,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            fusion: FusionParams::default(),
            depth: 100,
            platform_penalty: 0.75,
            passage_weight: 0.95,
        }
    }
}

/// Why a technique was retrieved: the evidence the console and the prompt show.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Why {
    /// The alert names the technique itself (revoked ids noted).
    ExplicitId { source: String, written: String },
    /// Query words found in a field of the technique document.
    Terms {
        field: &'static str,
        terms: Vec<String>,
    },
    /// Close in meaning to one of the technique's passages.
    Semantic {
        similarity: f32,
        passage: &'static str,
    },
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::ExplicitId { source, written } => write!(f, "{written} named in {source}"),
            Why::Terms { field, terms } => write!(f, "{field}: {}", terms.join(" ")),
            Why::Semantic {
                similarity,
                passage,
            } => write!(f, "semantic {similarity:.2} ({passage})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub id: String,
    pub name: String,
    pub tactics: Vec<String>,
    pub score: f32,
    pub bm25_rank: Option<usize>,
    pub dense_rank: Option<usize>,
    pub why: Vec<Why>,
}

pub struct KnowledgeBase {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub catalog: Catalog,
    bm25: Bm25,
    vectors: Option<VectorStore>,
    embedder: Option<Arc<Embedder>>,
    /// Why the dense retriever is off, when it is.
    pub dense_off: Option<String>,
}

impl KnowledgeBase {
    /// Opens the index in `dir`. With no embedder, or one that is not the model the
    /// vectors were made with, search runs on BM25 alone and `dense_off` says why.
    pub fn open(dir: &Path, embedder: Option<Arc<Embedder>>) -> Result<KnowledgeBase, KbError> {
        let manifest = Manifest::read(dir)?;
        let catalog_path = dir.join(CATALOG);
        let bytes = std::fs::read(&catalog_path).map_err(|e| KbError::Corrupt {
            path: catalog_path.clone(),
            message: e.to_string(),
        })?;
        let mut catalog: Catalog =
            serde_json::from_slice(&bytes).map_err(|e| KbError::Corrupt {
                path: catalog_path.clone(),
                message: e.to_string(),
            })?;
        catalog.reindex();
        let bm25 = Bm25::open(&dir.join(TANTIVY))?;
        let mut kb = KnowledgeBase {
            dir: dir.to_path_buf(),
            manifest,
            catalog,
            bm25,
            vectors: None,
            embedder: None,
            dense_off: None,
        };
        kb.attach_embedder(embedder)?;
        Ok(kb)
    }

    /// Turns the dense retriever on once the embedding model has loaded (it may load in the
    /// background after the index opens).
    pub fn attach_embedder(&mut self, embedder: Option<Arc<Embedder>>) -> Result<(), KbError> {
        let Some(dense) = self.manifest.dense.clone() else {
            self.dense_off = Some(self.manifest.dense_missing.clone().unwrap_or_else(|| {
                "the index was built without embeddings; re-run `soc-copilot ingest` with the model available".into()
            }));
            return Ok(());
        };
        let Some(embedder) = embedder else {
            self.dense_off =
                Some("the embedding model is not loaded (see `soc-copilot doctor`)".into());
            return Ok(());
        };
        if embedder.id() != dense.model_id {
            self.dense_off = Some(format!(
                "the index vectors were made with {} but the loaded model is {}; re-run `soc-copilot ingest`",
                dense.model_id,
                embedder.id()
            ));
            return Ok(());
        }
        if self.vectors.is_none() {
            let path = self.dir.join(VECTORS);
            let vectors = VectorStore::load(&path).map_err(|e| KbError::Corrupt {
                path,
                message: e.to_string(),
            })?;
            self.vectors = Some(vectors);
        }
        self.embedder = Some(embedder);
        self.dense_off = None;
        Ok(())
    }

    /// Checks an index on disk without loading the embedding model: manifest, catalog (and
    /// its counts against the manifest), vectors (count and dimension), tantivy segments
    /// (checksums) and a probe search. Returns the problems found, empty when sound.
    pub fn verify(dir: &Path) -> Vec<String> {
        let manifest = match Manifest::read(dir) {
            Ok(m) => m,
            Err(e) => return vec![e.to_string()],
        };
        let mut problems = Bm25::verify(&dir.join(TANTIVY));
        match KnowledgeBase::open(dir, None) {
            Ok(kb) => {
                let counts = kb.catalog.counts();
                if counts.techniques != manifest.counts.techniques
                    || counts.subtechniques != manifest.counts.subtechniques
                {
                    problems.push(format!(
                        "the catalog holds {} techniques + {} sub-techniques but the manifest says {} + {}; re-run `soc-copilot ingest`",
                        counts.techniques, counts.subtechniques, manifest.counts.techniques, manifest.counts.subtechniques
                    ));
                }
                if problems.is_empty()
                    && let Err(e) = kb.probe()
                {
                    problems.push(e.to_string());
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
        if let Some(dense) = &manifest.dense {
            match VectorStore::load(&dir.join(VECTORS)) {
                Ok(v) if v.len() != dense.passages => problems.push(format!(
                    "the vectors file holds {} passages but the manifest says {}; re-run `soc-copilot ingest`",
                    v.len(),
                    dense.passages
                )),
                Ok(_) => {}
                Err(e) => problems.push(format!("the vectors file cannot be read: {e}")),
            }
        }
        problems
    }

    /// A small BM25 search and a re-read of the manifest: the index is still there and
    /// answers (for `/health`). Cheap: no embedding.
    pub fn probe(&self) -> Result<(), KbError> {
        Manifest::read(&self.dir)?;
        let alert = Alert {
            title: "process execution command line".into(),
            ..Default::default()
        };
        let params = SearchParams {
            depth: 5,
            ..SearchParams::default()
        };
        let hits = self.search_alert(&alert, 1, Mode::Bm25, &params)?;
        if hits.is_empty() {
            return Err(KbError::Corrupt {
                path: self.dir.join(TANTIVY),
                message: "a probe search found nothing: the full-text index is empty or unreadable"
                    .into(),
            });
        }
        Ok(())
    }

    pub fn has_dense(&self) -> bool {
        self.embedder.is_some() && self.vectors.is_some()
    }

    pub fn embedder(&self) -> Option<&Arc<Embedder>> {
        self.embedder.as_ref()
    }

    /// Top `k` techniques for an alert.
    pub fn search_alert(
        &self,
        alert: &Alert,
        k: usize,
        mode: Mode,
        params: &SearchParams,
    ) -> Result<Vec<Hit>, KbError> {
        let q = query::build(alert);
        let qv = self.query_vector(&q, mode)?;
        self.search_query(&q, qv.as_deref(), k, mode, params)
    }

    /// Top `k` for many alerts, embedding their queries in batches (the batch and eval path).
    pub fn search_alerts(
        &self,
        alerts: &[Alert],
        k: usize,
        mode: Mode,
        params: &SearchParams,
    ) -> Result<Vec<Vec<Hit>>, KbError> {
        let queries: Vec<RetrievalQuery> = alerts.iter().map(query::build).collect();
        let vectors: Vec<Option<Vec<f32>>> = match (&self.embedder, mode) {
            (Some(e), Mode::Hybrid | Mode::Dense) if self.vectors.is_some() => {
                let texts: Vec<String> = queries.iter().map(|q| q.dense_text.clone()).collect();
                e.embed(&texts, QUERY_BATCH)?
                    .into_iter()
                    .map(Some)
                    .collect()
            }
            _ => vec![None; queries.len()],
        };
        queries
            .iter()
            .zip(vectors)
            .map(|(q, v)| self.search_query(q, v.as_deref(), k, mode, params))
            .collect()
    }

    fn query_vector(&self, q: &RetrievalQuery, mode: Mode) -> Result<Option<Vec<f32>>, KbError> {
        match (&self.embedder, mode) {
            (Some(e), Mode::Hybrid | Mode::Dense) if self.vectors.is_some() => {
                Ok(Some(e.embed_one(&q.dense_text)?))
            }
            _ => Ok(None),
        }
    }

    /// Ranks techniques for a prepared query. `qv` is the query's embedding, when dense
    /// retrieval is available and wanted.
    pub fn search_query(
        &self,
        q: &RetrievalQuery,
        qv: Option<&[f32]>,
        k: usize,
        mode: Mode,
        params: &SearchParams,
    ) -> Result<Vec<Hit>, KbError> {
        let terms = self.bm25.weighted_terms(&q.segments);
        let bm25_hits: Vec<Bm25Hit> = if mode == Mode::Dense && qv.is_some() {
            Vec::new()
        } else {
            self.bm25.search(&terms, params.depth)?
        };
        let bm25_ranked: Vec<(usize, f32)> = bm25_hits
            .iter()
            .filter_map(|h| Some((self.catalog.position(&h.id)?, h.score)))
            .collect();

        let mut best_passage: BTreeMap<usize, ChunkKind> = BTreeMap::new();
        let dense_ranked: Vec<(usize, f32)> = match (qv, &self.vectors) {
            (Some(qv), Some(vectors)) if mode != Mode::Bm25 => {
                let sims = vectors.similarities(qv);
                let mut best: Vec<Option<(f32, ChunkKind)>> =
                    vec![None; self.catalog.techniques.len()];
                for (row, sim) in vectors.rows.iter().zip(sims) {
                    let w = if row.kind == ChunkKind::Summary {
                        1.0
                    } else {
                        params.passage_weight
                    };
                    let s = sim * w;
                    let slot = &mut best[row.technique as usize];
                    if slot.is_none_or(|(b, _)| s > b) {
                        *slot = Some((s, row.kind));
                    }
                }
                let mut ranked: Vec<(usize, f32)> = best
                    .iter()
                    .enumerate()
                    .filter_map(|(i, b)| b.map(|(s, _)| (i, s)))
                    .collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                ranked.truncate(params.depth);
                for &(i, _) in &ranked {
                    if let Some((_, kind)) = best[i] {
                        best_passage.insert(i, kind);
                    }
                }
                ranked
            }
            _ => Vec::new(),
        };

        let mut fusion = params.fusion;
        match mode {
            Mode::Bm25 => fusion.dense_weight = 0.0,
            Mode::Dense if !dense_ranked.is_empty() => fusion.dense_weight = 1.0,
            _ => {}
        }
        let mut fused: Vec<(Candidate, f32)> = fuse(&bm25_ranked, &dense_ranked, fusion)
            .into_iter()
            .filter(|(c, _)| match mode {
                Mode::Bm25 => c.bm25.is_some(),
                Mode::Dense if !dense_ranked.is_empty() => c.dense.is_some(),
                _ => true,
            })
            .collect();
        if !q.platforms.is_empty() {
            for (c, score) in &mut fused {
                let t = &self.catalog.techniques[c.doc];
                if !t.platforms.iter().any(|p| q.platforms.contains(p)) {
                    *score *= params.platform_penalty;
                }
            }
            fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.doc.cmp(&b.0.doc)));
        }

        // Techniques the alert names itself come first.
        let mut ranked: Vec<(usize, f32, Option<Candidate>, Option<Why>)> = Vec::new();
        let top = fused.first().map_or(1.0, |f| f.1);
        for e in &q.explicit {
            if let Some(t) = self.catalog.resolve(&e.id).technique()
                && let Some(pos) = self.catalog.position(&t.id)
                && !ranked.iter().any(|r| r.0 == pos)
            {
                let why = Why::ExplicitId {
                    source: e.source.clone(),
                    written: e.id.clone(),
                };
                ranked.push((pos, top + 1.0, None, Some(why)));
            }
        }
        for (c, s) in fused {
            if ranked.len() >= k {
                break;
            }
            if let Some(r) = ranked.iter_mut().find(|r| r.0 == c.doc) {
                r.2 = Some(c);
            } else {
                ranked.push((c.doc, s, Some(c), None));
            }
        }
        ranked.truncate(k);

        // Evidence: matched words per field for the BM25 side, the passage for the dense side.
        let by_id: BTreeMap<&str, &Bm25Hit> =
            bm25_hits.iter().map(|h| (h.id.as_str(), h)).collect();
        let with_terms: Vec<(usize, &Bm25Hit)> = ranked
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                by_id
                    .get(self.catalog.techniques[r.0].id.as_str())
                    .map(|h| (i, *h))
            })
            .collect();
        let matched = self
            .bm25
            .matched_terms(&with_terms.iter().map(|x| x.1).collect::<Vec<_>>(), &terms)?;
        let mut term_evidence: BTreeMap<usize, BTreeMap<DocField, Vec<String>>> = BTreeMap::new();
        for ((i, _), m) in with_terms.iter().zip(matched) {
            term_evidence.insert(*i, m);
        }

        Ok(ranked
            .into_iter()
            .enumerate()
            .map(|(i, (pos, score, cand, explicit))| {
                let t = &self.catalog.techniques[pos];
                let mut why: Vec<Why> = explicit.into_iter().collect();
                if let Some(fields) = term_evidence.remove(&i) {
                    for (field, terms) in fields {
                        why.push(Why::Terms {
                            field: field.key(),
                            terms,
                        });
                    }
                }
                if let (Some((_, sim)), Some(kind)) =
                    (cand.and_then(|c| c.dense), best_passage.get(&pos))
                {
                    why.push(Why::Semantic {
                        similarity: sim,
                        passage: kind.label(),
                    });
                }
                Hit {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    tactics: self.catalog.tactic_names(t),
                    score,
                    bm25_rank: cand.and_then(|c| c.bm25).map(|(r, _)| r + 1),
                    dense_rank: cand.and_then(|c| c.dense).map(|(r, _)| r + 1),
                    why,
                }
            })
            .collect())
    }
}
