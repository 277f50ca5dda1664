//! The numbers every verdict-quality measurement shares: agreement rates, the confusion
//! matrix of analyst against tool verdicts, calibration (reliability bins and the expected
//! calibration error), and latency percentiles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::triage::verdict::Level;

/// `hits` of `total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub hits: usize,
    pub total: usize,
}

impl Rate {
    pub fn add(&mut self, hit: bool) {
        self.total += 1;
        self.hits += usize::from(hit);
    }

    pub fn value(&self) -> Option<f64> {
        (self.total > 0).then(|| self.hits as f64 / self.total as f64)
    }

    /// `61% (52/85)`, or `–` with nothing counted.
    pub fn show(&self) -> String {
        match self.value() {
            Some(v) => format!("{:.0}% ({}/{})", v * 100.0, self.hits, self.total),
            None => "–".into(),
        }
    }
}

/// Levels from least to most severe: the matrix's row and column order.
pub const ORDER: [Level; 5] = [
    Level::Benign,
    Level::Low,
    Level::Medium,
    Level::High,
    Level::Critical,
];

pub fn index(l: Level) -> usize {
    ORDER.iter().position(|x| *x == l).unwrap_or(0)
}

/// Analyst verdict (rows) against tool verdict (columns), least severe first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub counts: [[usize; 5]; 5],
}

impl Confusion {
    pub fn add(&mut self, truth: Level, predicted: Level) {
        self.counts[index(truth)][index(predicted)] += 1;
    }

    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Tool and analyst gave the same level.
    pub fn exact(&self) -> Rate {
        Rate {
            hits: (0..5).map(|i| self.counts[i][i]).sum(),
            total: self.total(),
        }
    }

    /// Agreement per analyst level (the row's diagonal share).
    pub fn per_level(&self) -> BTreeMap<String, Rate> {
        ORDER
            .iter()
            .enumerate()
            .map(|(i, l)| {
                (
                    l.as_str().to_string(),
                    Rate {
                        hits: self.counts[i][i],
                        total: self.counts[i].iter().sum(),
                    },
                )
            })
            .collect()
    }

    /// The matrix as text rows, for a terminal.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "  {:<16}{}",
            "analyst \\ tool",
            ORDER
                .iter()
                .map(|l| format!("{:>9}", l.as_str()))
                .collect::<String>()
        )];
        for (i, l) in ORDER.iter().enumerate() {
            out.push(format!(
                "  {:<16}{}",
                l.as_str(),
                self.counts[i]
                    .iter()
                    .map(|c| format!("{c:>9}"))
                    .collect::<String>()
            ));
        }
        out
    }
}

/// One confidence bin of a reliability diagram.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub from: f64,
    pub to: f64,
    pub n: usize,
    pub mean_confidence: f64,
    pub accuracy: f64,
}

/// How well confidence predicts being right.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reliability {
    pub bins: Vec<Bin>,
    /// Expected calibration error: Σ (n_b / N) · |accuracy_b − confidence_b|.
    pub ece: Option<f64>,
}

/// Reliability over `bins` equal-width confidence bins; `(confidence, right)` pairs.
pub fn reliability(points: &[(f64, bool)], bins: usize) -> Reliability {
    let bins = bins.max(1);
    let mut acc: Vec<(usize, f64, usize)> = vec![(0, 0.0, 0); bins];
    for &(c, right) in points {
        let c = if c.is_nan() { 0.0 } else { c.clamp(0.0, 1.0) };
        let b = ((c * bins as f64) as usize).min(bins - 1);
        acc[b].0 += 1;
        acc[b].1 += c;
        acc[b].2 += usize::from(right);
    }
    let total = points.len();
    let mut ece = 0.0;
    let out: Vec<Bin> = acc
        .iter()
        .enumerate()
        .map(|(i, &(n, sum_c, right))| {
            let (mean_confidence, accuracy) = if n == 0 {
                (0.0, 0.0)
            } else {
                (sum_c / n as f64, right as f64 / n as f64)
            };
            if n > 0 {
                ece += n as f64 / total as f64 * (accuracy - mean_confidence).abs();
            }
            Bin {
                from: i as f64 / bins as f64,
                to: (i + 1) as f64 / bins as f64,
                n,
                mean_confidence,
                accuracy,
            }
        })
        .collect();
    Reliability {
        bins: out,
        ece: (total > 0).then_some(ece),
    }
}

impl Reliability {
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec!["  confidence      n   mean conf   right".to_string()];
        for b in self.bins.iter().filter(|b| b.n > 0) {
            out.push(format!(
                "  {:.1}–{:.1}   {:>6}   {:>9.2}   {:>4.0}%",
                b.from,
                b.to,
                b.n,
                b.mean_confidence,
                b.accuracy * 100.0
            ));
        }
        out
    }
}

/// The `p`-th percentile (0–100, nearest rank) of `values`.
pub fn percentile(values: &[u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_is_zero_when_confidence_matches_accuracy_and_large_when_not() {
        let good: Vec<(f64, bool)> = (0..10).map(|i| (0.75, i % 4 != 0)).collect();
        let r = reliability(&good, 10);
        assert!(r.ece.is_some_and(|e| e.abs() < 0.051), "{r:?}");
        let bad: Vec<(f64, bool)> = (0..10).map(|_| (0.95, false)).collect();
        assert!(reliability(&bad, 10).ece.is_some_and(|e| e > 0.9));
        assert_eq!(reliability(&[], 10).ece, None);
    }

    #[test]
    fn confusion_counts_agreement_per_analyst_level() {
        let mut c = Confusion::default();
        c.add(Level::High, Level::High);
        c.add(Level::High, Level::Medium);
        c.add(Level::Benign, Level::Benign);
        assert_eq!(c.exact(), Rate { hits: 2, total: 3 });
        assert_eq!(c.per_level()["HIGH"], Rate { hits: 1, total: 2 });
        assert_eq!(percentile(&[5, 1, 9, 3], 50.0), Some(3));
        assert_eq!(percentile(&[5, 1, 9, 3], 100.0), Some(9));
    }
}
