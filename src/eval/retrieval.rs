//! Retrieval metrics as `shared/eval/README.md` defines them: recall@1/5/10 and MRR@10,
//! exact and family (parent technique), per source and overall.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::alert::parse::from_json;
use crate::attack::family_of;

/// Only the first ten predictions count.
pub const CUTOFF: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has no usable lines; expected JSON lines like {{\"id\": …, \"alert\": {{…}}}}")]
    Empty { path: PathBuf },
}

/// One labelled case: `{"id", "source", "techniques", "alert"}`.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub source: String,
    pub techniques: Vec<String>,
    pub alert: Alert,
}

#[derive(Debug, Deserialize)]
struct RawCase {
    id: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    techniques: Vec<String>,
    alert: serde_json::Value,
}

/// A line that could not be read, with where it was.
#[derive(Debug, Clone, Serialize)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// Reads `{"id", "alert", …}` lines; bad lines are reported, not fatal.
pub fn read_cases(path: &Path) -> Result<(Vec<Case>, Vec<LineError>), DatasetError> {
    let file = std::fs::File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| DatasetError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RawCase>(&line) {
            Ok(raw) => cases.push(Case {
                alert: from_json(&raw.alert),
                id: raw.id,
                source: raw.source.unwrap_or_else(|| "all".into()),
                techniques: raw.techniques,
            }),
            Err(e) => errors.push(LineError {
                line: i + 1,
                message: e.to_string(),
            }),
        }
    }
    if cases.is_empty() {
        return Err(DatasetError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok((cases, errors))
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Scores {
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub mrr_at_10: f64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Report {
    pub cases: usize,
    pub exact: Scores,
    pub family: Scores,
}

/// The 1-based rank of the first prediction matching any truth, within the cutoff.
pub fn first_hit(predicted: &[String], truth: &[String], family: bool) -> Option<usize> {
    predicted
        .iter()
        .take(CUTOFF)
        .position(|p| {
            truth.iter().any(|t| {
                if family {
                    family_of(p) == family_of(t)
                } else {
                    p == t
                }
            })
        })
        .map(|i| i + 1)
}

#[derive(Default)]
struct Acc {
    n: usize,
    exact: [f64; 4],
    family: [f64; 4],
}

impl Acc {
    fn add(&mut self, predicted: &[String], truth: &[String]) {
        self.n += 1;
        for (slot, fam) in [(&mut self.exact, false), (&mut self.family, true)] {
            if let Some(rank) = first_hit(predicted, truth, fam) {
                slot[0] += f64::from(u8::from(rank <= 1));
                slot[1] += f64::from(u8::from(rank <= 5));
                slot[2] += f64::from(u8::from(rank <= 10));
                slot[3] += 1.0 / rank as f64;
            }
        }
    }

    fn report(&self) -> Report {
        let n = self.n.max(1) as f64;
        let s = |v: &[f64; 4]| Scores {
            recall_at_1: v[0] / n,
            recall_at_5: v[1] / n,
            recall_at_10: v[2] / n,
            mrr_at_10: v[3] / n,
        };
        Report {
            cases: self.n,
            exact: s(&self.exact),
            family: s(&self.family),
        }
    }
}

/// Scores predictions (case id → ranked ids) against the cases; a case with no
/// prediction scores zero. Keys are the per-source reports plus `overall`.
pub fn score(
    cases: &[Case],
    predictions: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, Report> {
    let mut by_source: BTreeMap<String, Acc> = BTreeMap::new();
    let mut overall = Acc::default();
    let empty = Vec::new();
    for c in cases {
        let p = predictions.get(&c.id).unwrap_or(&empty);
        by_source
            .entry(c.source.clone())
            .or_default()
            .add(p, &c.techniques);
        overall.add(p, &c.techniques);
    }
    let mut out: BTreeMap<String, Report> = by_source
        .into_iter()
        .map(|(k, a)| (k, a.report()))
        .collect();
    out.insert("overall".into(), overall.report());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, source: &str, truth: &[&str]) -> Case {
        Case {
            id: id.into(),
            source: source.into(),
            techniques: truth.iter().map(|s| s.to_string()).collect(),
            alert: crate::alert::parse::from_text("x", None),
        }
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exact_and_family_differ() {
        let cases = vec![case("a", "s", &["T1059.001"])];
        let preds = BTreeMap::from([("a".to_string(), ids(&["T1059", "T1003", "T1059.001"]))]);
        let r = &score(&cases, &preds)["overall"];
        assert_eq!(r.family.recall_at_1, 1.0);
        assert_eq!(r.exact.recall_at_1, 0.0);
        assert_eq!(r.exact.recall_at_5, 1.0);
        assert!((r.exact.mrr_at_10 - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn missing_prediction_scores_zero_and_sources_split() {
        let cases = vec![
            case("a", "sigma", &["T1003"]),
            case("b", "atomic", &["T1003"]),
        ];
        let preds = BTreeMap::from([("a".to_string(), ids(&["T1003"]))]);
        let r = score(&cases, &preds);
        assert_eq!(r["overall"].exact.recall_at_1, 0.5);
        assert_eq!(r["sigma"].exact.recall_at_1, 1.0);
        assert_eq!(r["atomic"].exact.recall_at_10, 0.0);
    }

    #[test]
    fn only_first_ten_count() {
        let mut p: Vec<String> = (0..10).map(|i| format!("T10{i:02}")).collect();
        p.push("T1059".into());
        assert_eq!(first_hit(&p, &ids(&["T1059"]), false), None);
    }
}
