//! Autonomous closure (`[autoclose]`, off by default): a BENIGN verdict at or above a
//! confidence, backed by enough analysts' own BENIGN verdicts on similar alerts and by none
//! against, closes the alert without an analyst. Every closure is recorded with this
//! justification, listed for review and reversible.

use crate::store::similar::SimilarCase;

use super::precedent::MIN_SIMILARITY;
use super::verdict::{Level, Verdict};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub min_confidence: f64,
    /// Distinct analysts whose BENIGN verdicts on similar alerts are needed.
    pub min_precedents: usize,
}

/// The justification for closing, or `None` when the policy does not allow it.
pub fn decide(v: &Verdict, similar: &[SimilarCase], p: &Policy) -> Option<String> {
    if v.verdict != Level::Benign
        || v.confidence < p.min_confidence
        || !v.injection_flags.is_empty()
    {
        return None;
    }
    let precedent: Vec<&SimilarCase> = similar
        .iter()
        .filter(|c| c.similarity >= MIN_SIMILARITY && c.analyst_verdict != "UNKNOWN")
        .collect();
    if precedent.iter().any(|c| c.analyst_verdict != "BENIGN") {
        return None;
    }
    let mut analysts: Vec<&str> = precedent.iter().map(|c| c.analyst.as_str()).collect();
    analysts.sort_unstable();
    analysts.dedup();
    if analysts.len() < p.min_precedents {
        return None;
    }
    let best = precedent
        .iter()
        .max_by(|a, b| a.similarity.total_cmp(&b.similarity))?;
    Some(format!(
        "BENIGN at confidence {:.2} ≥ {:.2}; {} analyst(s) ({}) judged {} similar alert(s) BENIGN (closest {} at similarity {:.2}) and none judged one otherwise",
        v.confidence,
        p.min_confidence,
        analysts.len(),
        analysts.join(", "),
        precedent.len(),
        best.alert_key,
        best.similarity
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(analyst: &str, verdict: &str, sim: f32) -> SimilarCase {
        SimilarCase {
            alert_key: format!("k-{analyst}"),
            title: "t".into(),
            similarity: sim,
            verdict: "BENIGN".into(),
            analyst_verdict: verdict.into(),
            agreed: true,
            notes: None,
            host: None,
            analyst: analyst.into(),
        }
    }

    fn verdict(level: Level, confidence: f64) -> Verdict {
        Verdict::bare(level, confidence)
    }

    #[test]
    fn closes_only_with_enough_distinct_agreeing_analysts_and_none_against() {
        let p = Policy {
            min_confidence: 0.9,
            min_precedents: 2,
        };
        let v = verdict(Level::Benign, 0.95);
        let two = [case("ana", "BENIGN", 0.97), case("bo", "BENIGN", 0.9)];
        let why = decide(&v, &two, &p).unwrap_or_default();
        assert!(why.contains("2 analyst(s) (ana, bo)"), "{why}");
        // One analyst twice is one analyst.
        assert!(
            decide(
                &v,
                &[case("ana", "BENIGN", 0.97), case("ana", "BENIGN", 0.96)],
                &p
            )
            .is_none()
        );
        // Any analyst against blocks it.
        let mut against = two.to_vec();
        against.push(case("cy", "HIGH", 0.88));
        assert!(decide(&v, &against, &p).is_none());
        // Dissimilar cases are not precedent.
        assert!(
            decide(
                &v,
                &[case("ana", "BENIGN", 0.5), case("bo", "BENIGN", 0.6)],
                &p
            )
            .is_none()
        );
        assert!(decide(&verdict(Level::Benign, 0.8), &two, &p).is_none());
        assert!(decide(&verdict(Level::Low, 0.99), &two, &p).is_none());
    }
}
