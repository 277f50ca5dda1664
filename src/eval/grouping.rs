//! How well alerts are grouped into incidents, on a labelled set of interleaved incidents:
//! pairwise precision (of the alert pairs put in one incident, the share that belong
//! together), pairwise recall, and the labelled incidents recovered whole.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::alert::load::LoadedAlert;
use crate::alert::parse::from_json;

/// One labelled alert: its incident (`None`: noise, in no incident).
#[derive(Debug, Clone)]
pub struct Labelled {
    pub incident: Option<String>,
    pub alert: Arc<LoadedAlert>,
}

/// Reads `{"incident": "inc-1" | null, "alert": {…}}` lines; bad lines are reported by
/// line and skipped.
pub fn read(path: &Path) -> std::io::Result<(Vec<Labelled>, Vec<String>)> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let origin = format!("{}:{}", path.display(), i + 1);
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!("{origin}: not JSON: {e}"));
                continue;
            }
        };
        let incident = match v.get("incident") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(_) => {
                errors.push(format!(
                    "{origin}: field `incident` must be a label string or null"
                ));
                continue;
            }
        };
        let Some(raw @ Value::Object(_)) = v.get("alert") else {
            errors.push(format!("{origin}: field `alert` must be an object"));
            continue;
        };
        let mut alert = from_json(raw);
        if alert.is_empty() {
            errors.push(format!("{origin}: {}", crate::alert::load::EMPTY_ALERT));
            continue;
        }
        if alert.id.trim().is_empty() {
            alert.id = format!("line-{}", i + 1);
        }
        out.push(Labelled {
            incident,
            alert: Arc::new(LoadedAlert {
                alert,
                raw: raw.to_string(),
                origin,
            }),
        });
    }
    Ok((out, errors))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Score {
    pub alerts: usize,
    pub labelled_incidents: usize,
    pub predicted_incidents: usize,
    /// Pairs of alerts put in one incident.
    pub predicted_pairs: usize,
    /// Of those, pairs from the same labelled incident.
    pub correct_pairs: usize,
    /// Pairs of alerts from the same labelled incident.
    pub labelled_pairs: usize,
    pub precision: f64,
    pub recall: f64,
    /// Labelled incidents whose alerts are exactly one predicted incident.
    pub exact: usize,
    /// Labelled incidents whose alerts all sit in one predicted incident (maybe with others).
    pub complete: usize,
    /// Noise alerts put into some incident.
    pub noise_grouped: usize,
}

fn pairs(n: usize) -> usize {
    n * n.saturating_sub(1) / 2
}

/// Scores `predicted` groups (alert ids; alerts in no group are alone) against the labels.
pub fn score(labels: &BTreeMap<String, Option<String>>, predicted: &[Vec<String>]) -> Score {
    let mut truth: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (id, inc) in labels {
        if let Some(inc) = inc {
            truth.entry(inc.as_str()).or_default().insert(id.as_str());
        }
    }
    let mut s = Score {
        alerts: labels.len(),
        labelled_incidents: truth.len(),
        predicted_incidents: predicted.len(),
        labelled_pairs: truth.values().map(|m| pairs(m.len())).sum(),
        ..Score::default()
    };
    for g in predicted {
        s.predicted_pairs += pairs(g.len());
        let mut by_label: BTreeMap<&str, usize> = BTreeMap::new();
        for id in g {
            match labels.get(id).and_then(|l| l.as_deref()) {
                Some(l) => *by_label.entry(l).or_default() += 1,
                None => s.noise_grouped += 1,
            }
        }
        s.correct_pairs += by_label.values().map(|n| pairs(*n)).sum::<usize>();
    }
    for members in truth.values() {
        if let Some(g) = predicted
            .iter()
            .find(|g| members.iter().all(|m| g.iter().any(|x| x == m)))
        {
            s.complete += 1;
            if g.len() == members.len() {
                s.exact += 1;
            }
        }
    }
    s.precision = if s.predicted_pairs == 0 {
        0.0
    } else {
        s.correct_pairs as f64 / s.predicted_pairs as f64
    };
    s.recall = if s.labelled_pairs == 0 {
        0.0
    } else {
        s.correct_pairs as f64 / s.labelled_pairs as f64
    };
    s
}

impl Score {
    pub fn line(&self) -> String {
        format!(
            "pairwise precision {:.3} ({}/{}), recall {:.3} ({}/{}); {} of {} incidents exact, {} complete; {} predicted incidents; {} noise alerts grouped",
            self.precision,
            self.correct_pairs,
            self.predicted_pairs,
            self.recall,
            self.correct_pairs,
            self.labelled_pairs,
            self.exact,
            self.labelled_incidents,
            self.complete,
            self.predicted_incidents,
            self.noise_grouped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_scored_and_noise_in_a_group_costs_precision() {
        let labels: BTreeMap<String, Option<String>> = [
            ("a1", Some("A")),
            ("a2", Some("A")),
            ("a3", Some("A")),
            ("b1", Some("B")),
            ("b2", Some("B")),
            ("n1", None),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect();
        let g = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // A found whole but with a noise alert; B split.
        let s = score(&labels, &[g(&["a1", "a2", "a3", "n1"])]);
        assert_eq!(
            (s.predicted_pairs, s.correct_pairs, s.labelled_pairs),
            (6, 3, 4)
        );
        assert_eq!((s.exact, s.complete, s.noise_grouped), (0, 1, 1));
        assert!((s.precision - 0.5).abs() < 1e-9 && (s.recall - 0.75).abs() < 1e-9);
        let s = score(&labels, &[g(&["a1", "a2", "a3"]), g(&["b1", "b2"])]);
        assert_eq!((s.precision, s.recall, s.exact), (1.0, 1.0, 2));
    }
}
