//! How often the tool's verdicts were right, from the latest feedback on each triage.
//! A triage is correct when the analyst's verdict equals it, or, with no verdict given,
//! when the analyst gave it a thumbs up.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Store, StoreError, args};

pub const VERDICTS: [&str; 5] = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "BENIGN"];

#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Rate {
    pub total: u64,
    pub correct: u64,
    pub accuracy: Option<f64>,
}

impl Rate {
    fn add(&mut self, correct: bool) {
        self.total += 1;
        self.correct += u64::from(correct);
        self.accuracy = Some(self.correct as f64 / self.total as f64);
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CalibrationBucket {
    /// Lower bound of the confidence bucket (0.0, 0.2, … 0.8).
    pub from: f64,
    pub to: f64,
    pub mean_confidence: Option<f64>,
    pub rate: Rate,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Accuracy {
    pub overall: Rate,
    pub thumbs_up: u64,
    pub thumbs_down: u64,
    /// By the tool's verdict.
    pub per_verdict: BTreeMap<String, Rate>,
    /// tool verdict → analyst's (true) verdict → count, where the truth is known.
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
    /// Day (YYYY-MM-DD of the feedback) → rate.
    pub by_day: BTreeMap<String, Rate>,
    pub calibration: Vec<CalibrationBucket>,
    /// Thumbs-down reasons → count.
    pub down_reasons: BTreeMap<String, u64>,
    /// By engine (`offline`, `anthropic`…).
    pub per_engine: BTreeMap<String, Rate>,
    /// By the analyst who judged (team mode: each one's view of the tool).
    pub per_analyst: BTreeMap<String, Rate>,
}

/// Adds one outcome to the rate under `key`, allocating the key only the first time.
fn bump(map: &mut BTreeMap<String, Rate>, key: &str, correct: bool) {
    match map.get_mut(key) {
        Some(r) => r.add(correct),
        None => {
            let mut r = Rate::default();
            r.add(correct);
            map.insert(key.to_string(), r);
        }
    }
}

impl Store {
    /// The team's accuracy: every analyst's standing judgements.
    pub fn accuracy(&self) -> Result<Accuracy, StoreError> {
        self.accuracy_of(None)
    }

    /// Accuracy as judged by one analyst (`Some`), or by the whole team (`None`).
    pub fn accuracy_of(&self, analyst: Option<&str>) -> Result<Accuracy, StoreError> {
        // The latest feedback per triage, which carries a copy of the triage's verdict.
        let mut acc = Accuracy {
            calibration: (0..5)
                .map(|i| CalibrationBucket {
                    from: i as f64 * 0.2,
                    to: (i + 1) as f64 * 0.2,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let mut conf_sums = [0.0f64; 5];
        self.db().each(
            "SELECT verdict, confidence, engine, thumbs, analyst_verdict, reason, substr(created_at, 1, 10), analyst
             FROM feedback WHERE superseded = 0 AND verdict IS NOT NULL
               AND (CAST(?1 AS TEXT) IS NULL OR analyst = ?1)",
            args![analyst],
            |r| {
                let verdict = r.str(0).unwrap_or_default();
                let confidence: Option<f64> = r.get(1)?;
                let engine = r.str(2).unwrap_or_default();
                let up = r.str(3) == Some("up");
                let analyst = r.str(4);
                let reason = r.str(5);
                let day = r.str(6).unwrap_or_default();

                let correct = match analyst {
                    Some(a) => a.eq_ignore_ascii_case(verdict),
                    None => up,
                };
                acc.overall.add(correct);
                if up {
                    acc.thumbs_up += 1;
                } else {
                    acc.thumbs_down += 1;
                    let reason = reason.unwrap_or("unspecified");
                    match acc.down_reasons.get_mut(reason) {
                        Some(n) => *n += 1,
                        None => {
                            acc.down_reasons.insert(reason.to_string(), 1);
                        }
                    }
                }
                bump(&mut acc.per_verdict, verdict, correct);
                bump(&mut acc.per_engine, engine, correct);
                bump(&mut acc.per_analyst, r.str(7).unwrap_or_default(), correct);
                bump(&mut acc.by_day, day, correct);
                let truth = match analyst {
                    Some(a) => Some(a.to_ascii_uppercase()),
                    None if up => Some(verdict.to_string()),
                    None => None,
                };
                if let Some(t) = truth {
                    let row = match acc.confusion.get_mut(verdict) {
                        Some(row) => row,
                        None => acc.confusion.entry(verdict.to_string()).or_default(),
                    };
                    *row.entry(t).or_default() += 1;
                }
                if let Some(c) = confidence {
                    let i = ((c.clamp(0.0, 1.0) * 5.0) as usize).min(4);
                    acc.calibration[i].rate.add(correct);
                    conf_sums[i] += c;
                }
                Ok(())
            },
        )?;
        for (b, sum) in acc.calibration.iter_mut().zip(conf_sums) {
            if b.rate.total > 0 {
                b.mean_confidence = Some(sum / b.rate.total as f64);
            }
        }
        Ok(acc)
    }
}
