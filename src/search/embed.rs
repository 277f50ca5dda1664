//! Local sentence embeddings (fastembed over ONNX Runtime, loaded dynamically) from a model
//! directory on disk: no hub, no download.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};
use sha2::{Digest, Sha256};

use super::vectors::normalize;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "ONNX Runtime could not be loaded from {path}: {message}; set ORT_DYLIB_PATH to a \
         libonnxruntime.so (1.2x or newer)"
    )]
    Runtime { path: PathBuf, message: String },
    #[error(
        "the embedding model directory {dir} lacks {file}; it needs model.onnx, tokenizer.json, config.json, special_tokens_map.json and tokenizer_config.json"
    )]
    MissingFile { dir: PathBuf, file: &'static str },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the embedding model in {dir} failed to load: {message}")]
    Model { dir: PathBuf, message: String },
    #[error("embedding failed: {0}")]
    Inference(String),
}

/// Loads ONNX Runtime once per process; later calls return the first outcome.
fn load_runtime(path: &Path) -> Result<(), EmbedError> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    let outcome = LOADED.get_or_init(|| {
        if !path.is_file() {
            return Err("no such file".into());
        }
        ort::init_from(path)
            .map(|_builder| ())
            .map_err(|e| e.to_string())
    });
    outcome.clone().map_err(|message| EmbedError::Runtime {
        path: path.to_path_buf(),
        message,
    })
}

pub struct Embedder {
    model: Mutex<TextEmbedding>,
    recent: Mutex<RecentVectors>,
    id: String,
    dim: usize,
}

/// Vectors of recently embedded queries. SIEMs fire the same rule over and over (another
/// host, another hour, the same title and command line), and embedding a query is the most
/// expensive step of an offline triage, so a repeat is answered from here.
///
/// Two generations of at most `half` entries each: a hit in the older one moves the entry
/// to the newer; when the newer fills up, the older is dropped. Bounded at `2 * half`
/// entries with O(1) work per lookup.
pub(crate) struct RecentVectors {
    newer: HashMap<String, Vec<f32>>,
    older: HashMap<String, Vec<f32>>,
    half: usize,
}

impl RecentVectors {
    pub(crate) fn new(capacity: usize) -> Self {
        RecentVectors {
            newer: HashMap::new(),
            older: HashMap::new(),
            half: (capacity / 2).max(1),
        }
    }

    pub(crate) fn get(&mut self, text: &str) -> Option<Vec<f32>> {
        if let Some(v) = self.newer.get(text) {
            return Some(v.clone());
        }
        let v = self.older.remove(text)?;
        self.insert(text.to_string(), v.clone());
        Some(v)
    }

    pub(crate) fn insert(&mut self, text: String, v: Vec<f32>) {
        if self.newer.len() >= self.half && !self.newer.contains_key(&text) {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(text, v);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }
}

/// Queries whose vectors are kept (about 1.5 KB each with a 384-dimension model).
const RECENT_QUERIES: usize = 4096;

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("id", &self.id)
            .field("dim", &self.dim)
            .finish()
    }
}

const MODEL_FILES: [&str; 5] = [
    "model.onnx",
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

/// Passages longer than this many tokens are cut; ours are short, and shorter inputs are
/// much faster on a CPU.
const MAX_TOKENS: usize = 256;

impl Embedder {
    /// Loads the model in `model_dir` with the runtime at `ort_dylib`.
    pub fn load(
        model_dir: &Path,
        ort_dylib: &Path,
        threads: usize,
    ) -> Result<Embedder, EmbedError> {
        for file in MODEL_FILES {
            if !model_dir.join(file).is_file() {
                return Err(EmbedError::MissingFile {
                    dir: model_dir.to_path_buf(),
                    file,
                });
            }
        }
        load_runtime(ort_dylib)?;
        let read = |name: &str| {
            let path = model_dir.join(name);
            std::fs::read(&path).map_err(|source| EmbedError::Io { path, source })
        };
        let onnx = read("model.onnx")?;
        let id = model_id(model_dir, &onnx);
        let tokenizer = TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        };
        let model = UserDefinedEmbeddingModel::new(onnx, tokenizer).with_pooling(Pooling::Mean);
        let options = InitOptionsUserDefined::new()
            .with_max_length(MAX_TOKENS)
            .with_intra_threads(threads.max(1));
        let mut model = TextEmbedding::try_new_from_user_defined(model, options).map_err(|e| {
            EmbedError::Model {
                dir: model_dir.to_path_buf(),
                message: e.to_string(),
            }
        })?;
        let probe = model
            .embed(vec!["probe"], None)
            .map_err(|e| EmbedError::Model {
                dir: model_dir.to_path_buf(),
                message: e.to_string(),
            })?;
        let dim = probe.first().map_or(0, Vec::len);
        if dim == 0 {
            return Err(EmbedError::Model {
                dir: model_dir.to_path_buf(),
                message: "model returned empty vectors".into(),
            });
        }
        Ok(Embedder {
            model: Mutex::new(model),
            recent: Mutex::new(RecentVectors::new(RECENT_QUERIES)),
            id,
            dim,
        })
    }

    /// The model's identity: directory name and a hash of the ONNX file, so vectors made by
    /// a different model are never mixed with this one's.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Normalised embeddings of `texts`, in batches of `batch`.
    pub fn embed(&self, texts: &[String], batch: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // A batch is padded to its longest text: embedding texts in length order wastes far
        // less work on padding than embedding them as they come.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let sorted: Vec<&str> = order.iter().map(|&i| texts[i].as_str()).collect();
        let mut model = self
            .model
            .lock()
            .map_err(|_| EmbedError::Inference("embedding model lock poisoned".into()))?;
        let vectors = model
            .embed(sorted, Some(batch.max(1)))
            .map_err(|e| EmbedError::Inference(e.to_string()))?;
        let mut out = vec![Vec::new(); texts.len()];
        for (i, mut v) in order.into_iter().zip(vectors) {
            normalize(&mut v);
            out[i] = v;
        }
        Ok(out)
    }

    /// One query's vector; a text embedded recently is answered from memory.
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        if let Some(v) = self.recent_lock()?.get(text) {
            return Ok(v);
        }
        let v = self
            .embed(&[text.to_string()], 1)?
            .pop()
            .ok_or_else(|| EmbedError::Inference("no vector returned".into()))?;
        self.recent_lock()?.insert(text.to_string(), v.clone());
        Ok(v)
    }

    /// Forgets the recent query vectors (benchmarks measure the uncached path with it).
    pub fn clear_recent(&self) {
        if let Ok(mut r) = self.recent.lock() {
            *r = RecentVectors::new(RECENT_QUERIES);
        }
    }

    fn recent_lock(&self) -> Result<std::sync::MutexGuard<'_, RecentVectors>, EmbedError> {
        self.recent
            .lock()
            .map_err(|_| EmbedError::Inference("query vector cache lock poisoned".into()))
    }
}

fn model_id(dir: &Path, onnx: &[u8]) -> String {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("model");
    let digest = Sha256::digest(onnx);
    format!("{name}@{}", hex::encode(&digest[..6]))
}

/// Finds the model and runtime as configured (see `assets`) and loads them; the error says
/// what is missing and how to supply it.
pub fn discover(config: &crate::config::Config, data_dir: &Path) -> Result<Embedder, String> {
    use crate::assets::{embedding_model, onnx_runtime};
    let model = embedding_model(config, data_dir);
    let runtime = onnx_runtime(config, data_dir);
    let (Some(model_dir), Some(ort)) = (model.path(), runtime.path()) else {
        let missing = [&model, &runtime]
            .iter()
            .filter(|d| d.chosen.is_none())
            .map(|d| d.kind.label())
            .collect::<Vec<_>>()
            .join(" and ");
        return Err(format!(
            "{missing} not found (run `soc-copilot doctor` to see where it looked)"
        ));
    };
    Embedder::load(&model_dir, &ort, config.embedding_threads()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: f32) -> Vec<f32> {
        vec![x, 0.0]
    }

    #[test]
    fn recent_vectors_answer_repeats_and_stay_bounded() {
        let mut r = RecentVectors::new(4);
        for i in 0..100 {
            r.insert(format!("q{i}"), v(i as f32));
            assert!(r.len() <= 4, "{} entries after {i} inserts", r.len());
        }
        assert_eq!(r.get("q99").as_deref(), Some(&[99.0, 0.0][..]));
        assert_eq!(r.get("q98").as_deref(), Some(&[98.0, 0.0][..]));
        assert!(r.get("q0").is_none(), "the oldest entries are dropped");
    }

    #[test]
    fn a_hit_in_the_older_generation_survives_the_next_turnover() {
        let mut r = RecentVectors::new(4);
        r.insert("a".into(), v(1.0));
        r.insert("b".into(), v(2.0));
        r.insert("c".into(), v(3.0)); // a, b move to the older generation
        assert!(r.get("a").is_some()); // promoted back to the newer
        r.insert("d".into(), v(4.0)); // newer (c, a) is full: it becomes the older
        r.insert("e".into(), v(5.0));
        assert!(r.get("a").is_some(), "a was used recently");
        assert!(r.get("b").is_none(), "b was not");
    }
}
