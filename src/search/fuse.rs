//! Combining the BM25 and dense rankings into one.
//!
//! Two methods, measured against each other with `soc-copilot eval retrieval`:
//! reciprocal rank fusion (robust, ignores score scale) and a convex combination of
//! normalised scores (keeps how much better the first hit is than the tenth).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FusionMethod {
    Rrf,
    #[default]
    Convex,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FusionParams {
    pub method: FusionMethod,
    /// RRF's k: larger flattens the contribution of rank.
    pub rrf_k: f32,
    /// Share of the dense retriever in the fused score (0 = BM25 only, 1 = dense only).
    pub dense_weight: f32,
}

impl Default for FusionParams {
    fn default() -> Self {
        FusionParams {
            method: FusionMethod::default(),
            rrf_k: 60.0,
            dense_weight: 0.5,
        }
    }
}

/// One candidate's scores from each retriever (None where it did not retrieve it).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Candidate {
    pub doc: usize,
    pub bm25: Option<(usize, f32)>,
    pub dense: Option<(usize, f32)>,
}

/// Merges two ranked lists (best first, `(doc, score)`) into fused `(candidate, score)`,
/// best first. Ties break on document order so output is deterministic.
pub fn fuse(
    bm25: &[(usize, f32)],
    dense: &[(usize, f32)],
    params: FusionParams,
) -> Vec<(Candidate, f32)> {
    let mut cands: Vec<Candidate> = Vec::with_capacity(bm25.len() + dense.len());
    let mut slot = std::collections::HashMap::with_capacity(bm25.len() + dense.len());
    for (rank, &(doc, score)) in bm25.iter().enumerate() {
        let i = *slot.entry(doc).or_insert_with(|| {
            cands.push(Candidate {
                doc,
                ..Default::default()
            });
            cands.len() - 1
        });
        cands[i].bm25 = Some((rank, score));
    }
    for (rank, &(doc, score)) in dense.iter().enumerate() {
        let i = *slot.entry(doc).or_insert_with(|| {
            cands.push(Candidate {
                doc,
                ..Default::default()
            });
            cands.len() - 1
        });
        cands[i].dense = Some((rank, score));
    }

    let w = params.dense_weight.clamp(0.0, 1.0);
    let norm_bm25 = Normalizer::new(bm25);
    let norm_dense = Normalizer::new(dense);
    let mut out: Vec<(Candidate, f32)> = cands
        .into_iter()
        .map(|c| {
            let score = match params.method {
                FusionMethod::Rrf => {
                    let rr = |r: Option<(usize, f32)>| {
                        r.map_or(0.0, |(rank, _)| 1.0 / (params.rrf_k + rank as f32 + 1.0))
                    };
                    (1.0 - w) * rr(c.bm25) + w * rr(c.dense)
                }
                FusionMethod::Convex => {
                    (1.0 - w) * c.bm25.map_or(0.0, |(_, s)| norm_bm25.apply(s))
                        + w * c.dense.map_or(0.0, |(_, s)| norm_dense.apply(s))
                }
            };
            (c, score)
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.doc.cmp(&b.0.doc)));
    out
}

/// Min–max over the retrieved list, so the best hit scores 1 and the last retrieved 0.
struct Normalizer {
    min: f32,
    span: f32,
}

impl Normalizer {
    fn new(list: &[(usize, f32)]) -> Self {
        let max = list.iter().map(|x| x.1).fold(f32::NEG_INFINITY, f32::max);
        let min = list.iter().map(|x| x.1).fold(f32::INFINITY, f32::min);
        if list.is_empty() || !max.is_finite() {
            return Normalizer {
                min: 0.0,
                span: 1.0,
            };
        }
        Normalizer {
            min,
            span: (max - min).max(1e-6),
        }
    }

    fn apply(&self, s: f32) -> f32 {
        ((s - self.min) / self.span).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(out: &[(Candidate, f32)]) -> Vec<usize> {
        out.iter().map(|(c, _)| c.doc).collect()
    }

    #[test]
    fn rrf_rewards_agreement() {
        let bm25 = [(1, 9.0), (2, 8.0), (3, 7.0)];
        let dense = [(2, 0.9), (3, 0.8), (4, 0.7)];
        let p = FusionParams {
            method: FusionMethod::Rrf,
            rrf_k: 60.0,
            dense_weight: 0.5,
        };
        let out = fuse(&bm25, &dense, p);
        assert_eq!(ids(&out)[0], 2, "rank 2 in both beats rank 1 in one");
        assert_eq!(out.len(), 4);
        let c = out
            .iter()
            .find(|(c, _)| c.doc == 4)
            .expect("dense-only hit kept")
            .0;
        assert_eq!(c.bm25, None);
        assert_eq!(c.dense, Some((2, 0.7)));
    }

    #[test]
    fn convex_respects_score_gaps() {
        let bm25 = [(1, 30.0), (2, 5.0), (3, 4.0)];
        let dense = [(2, 0.60), (1, 0.59), (3, 0.10)];
        let p = FusionParams {
            method: FusionMethod::Convex,
            rrf_k: 60.0,
            dense_weight: 0.5,
        };
        assert_eq!(ids(&fuse(&bm25, &dense, p))[0], 1);
    }

    #[test]
    fn weight_extremes_reduce_to_one_retriever() {
        let bm25 = [(1, 3.0), (2, 2.0)];
        let dense = [(2, 0.9), (1, 0.1)];
        for method in [FusionMethod::Rrf, FusionMethod::Convex] {
            let only_bm25 = FusionParams {
                method,
                rrf_k: 60.0,
                dense_weight: 0.0,
            };
            let only_dense = FusionParams {
                method,
                rrf_k: 60.0,
                dense_weight: 1.0,
            };
            assert_eq!(ids(&fuse(&bm25, &dense, only_bm25))[0], 1);
            assert_eq!(ids(&fuse(&bm25, &dense, only_dense))[0], 2);
        }
    }

    #[test]
    fn empty_inputs() {
        assert!(fuse(&[], &[], FusionParams::default()).is_empty());
        assert_eq!(
            ids(&fuse(&[(5, 1.0)], &[], FusionParams::default())),
            vec![5]
        );
    }
}
