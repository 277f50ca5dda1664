//! The approximate index behind similar-case search once a team's history is large: an
//! in-process HNSW graph (`hnsw_rs`) of every reviewed alert's embedding, one per store,
//! kept current from the store by a watermark on feedback ids (each lookup first adds the
//! alerts reviewed since). It only proposes candidates: the store then reads those alerts'
//! standing feedback and scores them exactly, so a superseded or changed judgement is never
//! served from the index.
//!
//! Below `ANN_FROM` reviewed alerts the exact scan is fast and the graph is not built. The
//! graph is built on a background thread the first time the history is large enough
//! (seconds to a minute for 100,000 alerts); lookups scan exactly until it is ready.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use hnsw_rs::prelude::{Distance, Hnsw};

use super::alerts::blob_embedding;
use super::{Store, StoreError, args};

/// From this many reviewed alerts on, candidates come from the graph.
pub const ANN_FROM: usize = 2_000;

/// Cosine distance of unit vectors, never negative (rounding can put a vector's dot with
/// itself a hair above 1).
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - crate::search::vectors::dot(a, b)).max(0.0)
    }
}

struct Graph {
    hnsw: Hnsw<'static, f32, UnitCosine>,
    dim: usize,
}

#[derive(Default)]
struct State {
    /// Feedback rows up to this id have been read.
    watermark: i64,
    indexed: HashSet<i64>,
    /// Vectors read while there is no graph yet (too few, or it is being built).
    pending: Vec<(i64, Vec<f32>)>,
    building: bool,
    graph: Option<Arc<Graph>>,
}

/// One store's index.
#[derive(Default)]
pub struct PrecedentIndex {
    state: Arc<Mutex<State>>,
}

const M: usize = 16;
const EF_CONSTRUCTION: usize = 100;
const MAX_LAYER: usize = 16;
const EF_SEARCH: usize = 128;

fn registry() -> &'static Mutex<HashMap<String, Arc<PrecedentIndex>>> {
    static INDEXES: OnceLock<Mutex<HashMap<String, Arc<PrecedentIndex>>>> = OnceLock::new();
    INDEXES.get_or_init(Default::default)
}

/// The index of the store at this location (a file, or a team database's address).
pub fn index_for(store: &Store) -> Arc<PrecedentIndex> {
    let key = store.path().display().to_string();
    let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
    map.entry(key).or_default().clone()
}

/// Reads what was reviewed since the last look and, when the graph is being built, waits
/// for it (up to `timeout`); whether the graph is ready. Benchmarks and tests measure the
/// index this way, not the exact scan used meanwhile.
pub fn warm(store: &Store, timeout: std::time::Duration) -> Result<bool, StoreError> {
    let index = index_for(store);
    index.refresh(store)?;
    Ok(index.wait_ready(timeout))
}

/// Alert rows worth scoring for `embedding`: `None` while the store has too few reviewed
/// alerts for the graph (scan them all instead) or the vectors' size differs.
pub fn candidates(
    store: &Store,
    embedding: &[f32],
    k: usize,
) -> Result<Option<Vec<i64>>, StoreError> {
    let index = index_for(store);
    let Some(graph) = index.refresh(store)? else {
        return Ok(None);
    };
    if graph.dim != embedding.len() {
        return Ok(None);
    }
    // Several candidates per wanted case: a few are the alert itself, superseded or below
    // the similarity floor.
    let want = (k * 4).max(16);
    let found = graph.hnsw.search(embedding, want, want.max(EF_SEARCH));
    Ok(Some(found.into_iter().map(|n| n.d_id as i64).collect()))
}

impl PrecedentIndex {
    /// Adds the alerts reviewed since the last look; the graph once there is one.
    fn refresh(&self, store: &Store) -> Result<Option<Arc<Graph>>, StoreError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let latest: i64 = store
            .db()
            .query_one("SELECT COALESCE(MAX(id), 0) FROM feedback", args![])?
            .get(0)?;
        if latest > state.watermark {
            let mut fresh: Vec<(i64, Vec<f32>)> = Vec::new();
            let mut seen = std::mem::take(&mut state.indexed);
            store.db().each(
                "SELECT t.alert_id, a.embedding FROM feedback f
                   JOIN triages t ON t.id = f.triage_id JOIN alerts a ON a.id = t.alert_id
                  WHERE f.id > ?1 AND f.id <= ?2 AND a.embedding IS NOT NULL ORDER BY f.id",
                args![state.watermark, latest],
                |r| {
                    let row: i64 = r.get(0)?;
                    if seen.insert(row) {
                        fresh.push((row, blob_embedding(r.blob(1).unwrap_or_default())));
                    }
                    Ok(())
                },
            )?;
            state.indexed = seen;
            state.watermark = latest;
            match &state.graph {
                Some(g) => {
                    for (row, v) in fresh.iter().filter(|(_, v)| v.len() == g.dim) {
                        g.hnsw.insert((v.as_slice(), *row as usize));
                    }
                }
                None => {
                    state.pending.extend(fresh);
                    if state.pending.len() >= ANN_FROM && !state.building {
                        state.building = true;
                        let vectors = std::mem::take(&mut state.pending);
                        let shared = self.state.clone();
                        let spawned = std::thread::Builder::new()
                            .name("precedent-index".into())
                            .spawn(move || {
                                let started = std::time::Instant::now();
                                let graph = build(&vectors);
                                let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                                // What was reviewed while the graph was built goes in now.
                                for (row, v) in state.pending.drain(..) {
                                    if v.len() == graph.dim {
                                        graph.hnsw.insert((v.as_slice(), row as usize));
                                    }
                                }
                                tracing::info!(
                                    alerts = vectors.len(),
                                    secs = started.elapsed().as_secs_f64(),
                                    "similar-case index built"
                                );
                                state.graph = Some(Arc::new(graph));
                                state.building = false;
                            });
                        if spawned.is_err() {
                            state.building = false;
                        }
                    }
                }
            }
        }
        Ok(state.graph.clone())
    }

    /// Waits (up to `timeout`) until the graph is built, when one is being built; whether
    /// one is ready. For benchmarks and tests, which measure the index and not the scan.
    pub fn wait_ready(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            {
                let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if state.graph.is_some() {
                    return true;
                }
                if !state.building {
                    return false;
                }
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Builds the graph from the vectors of the commonest size (all of them, in practice).
fn build(vectors: &[(i64, Vec<f32>)]) -> Graph {
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    for (_, v) in vectors {
        *sizes.entry(v.len()).or_default() += 1;
    }
    let dim = sizes
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map_or(0, |(d, _)| d);
    let mut hnsw = Hnsw::new(
        M,
        (vectors.len() * 2).max(10_000),
        MAX_LAYER,
        EF_CONSTRUCTION,
        UnitCosine,
    );
    // Alerts come in tight clusters (one per rule and entity): examining the candidates'
    // own neighbours while inserting keeps the clusters linked, so a search does not end in
    // the wrong one.
    hnsw.set_extend_candidates(true);
    let data: Vec<(&[f32], usize)> = vectors
        .iter()
        .filter(|(_, v)| v.len() == dim)
        .map(|(row, v)| (v.as_slice(), *row as usize))
        .collect();
    hnsw.parallel_insert_slice(&data);
    Graph { hnsw, dim }
}
