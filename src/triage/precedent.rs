//! Analyst precedent as evidence, not a switch: reviewed alerts like this one pull the
//! offline score toward what analysts decided, by a weight that grows with how alike the
//! cases are (similarity, same rule, same host) and how many analysts agree — never with how
//! many times one analyst repeated themselves. Strong behavioural evidence keeps a floor.

use crate::alert::Alert;
use crate::store::similar::SimilarCase;

use super::verdict::Level;

/// Reviewed cases below this similarity are not precedent at all.
pub const MIN_SIMILARITY: f32 = 0.85;
/// The most of the distance to the analysts' level that precedent can cover.
const MAX_WEIGHT: f64 = 0.85;
/// Positive rule evidence at or above this is a behaviour (HIGH or worse on its own) that
/// precedent can soften but never close as BENIGN.
const BEHAVIOUR_FLOOR_FROM: f64 = 4.0;
/// The lowest score such a behaviour keeps: LOW, so an analyst still looks at it.
const LOW_FLOOR: f64 = 0.75;

/// A score that stands for each level, the middle of its band in the offline engine.
pub fn level_score(level: Level) -> f64 {
    match level {
        Level::Critical => 8.0,
        Level::High => 5.0,
        Level::Medium => 3.0,
        Level::Low => 1.5,
        Level::Benign => 0.0,
    }
}

/// What precedent did to a score, with the arithmetic spelled out.
pub struct Pull {
    pub level: Level,
    pub score: f64,
    pub weight: f64,
    pub agreeing_analysts: usize,
    pub cases: usize,
    pub explanation: String,
    /// The case that weighed most, for the evidence list.
    pub best: SimilarCase,
}

fn same(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if !a.is_empty() && a.eq_ignore_ascii_case(b))
}

/// A case with its strength and the arithmetic behind it.
type Weighed<'a> = (f64, String, &'a SimilarCase);

/// How much one reviewed case says about this alert, 0–1, and why.
fn strength(alert: &Alert, case: &SimilarCase) -> (f64, String) {
    let sim = ((f64::from(case.similarity) - f64::from(MIN_SIMILARITY))
        / (1.0 - f64::from(MIN_SIMILARITY)))
    .clamp(0.0, 1.0);
    let rule = if case.title.trim().eq_ignore_ascii_case(alert.title.trim()) {
        (1.0, "same rule")
    } else {
        (0.5, "other rule")
    };
    let host = match (case.host.as_deref(), alert.host.as_deref()) {
        _ if same(case.host.as_deref(), alert.host.as_deref()) => (1.0, "same host"),
        (Some(_), Some(_)) => (0.4, "other host"),
        // One side names no host: neither the same entity nor known to differ.
        _ => (0.7, "host unknown"),
    };
    let s = sim * rule.0 * host.0;
    (
        s,
        format!(
            "similarity {:.2} → {sim:.2} × {} {:.1} × {} {:.1} = {s:.2}",
            case.similarity, rule.1, rule.0, host.1, host.0
        ),
    )
}

/// Pulls `score` toward the analysts' verdict on similar reviewed alerts. `rule_evidence` is
/// the sum of positive rule weights (behaviour seen in the alert itself). `None` when no case
/// is precedent.
pub fn pull(
    alert: &Alert,
    cases: &[SimilarCase],
    score: f64,
    rule_evidence: f64,
    level_of: impl Fn(f64) -> Level,
) -> Option<Pull> {
    // Strength of each case with a usable verdict, grouped by the verdict analysts gave.
    let mut by_level: Vec<(Level, Vec<Weighed<'_>>)> = Vec::new();
    for c in cases
        .iter()
        .filter(|c| c.similarity >= MIN_SIMILARITY && c.analyst_verdict != "UNKNOWN")
    {
        let Some(level) = Level::parse(&c.analyst_verdict) else {
            continue;
        };
        let (s, why) = strength(alert, c);
        match by_level.iter_mut().find(|(l, _)| *l == level) {
            Some((_, v)) => v.push((s, why, c)),
            None => by_level.push((level, vec![(s, why, c)])),
        }
    }
    // Each analyst counts once per level, with their strongest case.
    let support = |v: &[Weighed<'_>]| {
        let mut best: Vec<(&str, f64)> = Vec::new();
        for (s, _, c) in v {
            match best.iter_mut().find(|(a, _)| *a == c.analyst.as_str()) {
                Some((_, b)) => *b = b.max(*s),
                None => best.push((c.analyst.as_str(), *s)),
            }
        }
        (best.iter().map(|(_, s)| s).sum::<f64>(), best.len())
    };
    let (target, cases_for) = by_level
        .iter()
        .max_by(|a, b| support(&a.1).0.total_cmp(&support(&b.1).0))?;
    let (total, analysts) = support(cases_for);
    let (best_why, best) = cases_for
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, w, c)| (w.clone(), (*c).clone()))?;
    let weight = (1.0 - (-total).exp()).min(MAX_WEIGHT);
    let goal = level_score(*target);
    let mut moved = score + weight * (goal - score);
    let mut explanation = format!(
        "analyst precedent: {} reviewed alert(s) judged {target} by {analysts} analyst(s); strongest: {best_why} \
         (\"{}\"); support {total:.2} (each analyst counted once) → weight 1 − e^(−{total:.2}) = {weight:.2}; \
         score {score:.1} + {weight:.2} × ({goal:.1} − {score:.1}) = {moved:.1}",
        cases_for.len(),
        best.title,
    );
    if rule_evidence >= BEHAVIOUR_FLOOR_FROM && moved < LOW_FLOOR {
        moved = LOW_FLOOR;
        explanation.push_str(&format!(
            "; held at {moved:.2} (LOW): the alert's own rule evidence ({rule_evidence:.1}) is a behaviour precedent cannot close as BENIGN"
        ));
    }
    Some(Pull {
        level: level_of(moved),
        score: moved,
        weight,
        agreeing_analysts: analysts,
        cases: cases_for.len(),
        explanation,
        best,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level_of(s: f64) -> Level {
        match s {
            s if s >= 7.0 => Level::Critical,
            s if s >= 4.0 => Level::High,
            s if s >= 2.0 => Level::Medium,
            s if s >= 0.75 => Level::Low,
            _ => Level::Benign,
        }
    }

    fn case(key: &str, host: &str, analyst: &str, sim: f32, verdict: &str) -> SimilarCase {
        SimilarCase {
            alert_key: key.into(),
            title: "LSASS memory dump".into(),
            similarity: sim,
            verdict: "CRITICAL".into(),
            analyst_verdict: verdict.into(),
            agreed: false,
            notes: None,
            host: Some(host.into()),
            analyst: analyst.into(),
        }
    }

    fn alert(host: &str) -> Alert {
        Alert {
            title: "LSASS memory dump".into(),
            host: Some(host.into()),
            ..Default::default()
        }
    }

    #[test]
    fn one_precedent_from_another_host_never_closes_a_critical_behaviour() {
        let dc = alert("DC01");
        let p = pull(
            &dc,
            &[case("a1", "SRV07", "ann", 0.99, "BENIGN")],
            8.0,
            6.0,
            level_of,
        )
        .expect("precedent");
        assert!(p.level >= Level::High, "{:?} {}", p.level, p.explanation);
        assert!(p.explanation.contains("other host") && p.explanation.contains('='));
    }

    #[test]
    fn repeated_feedback_by_one_analyst_counts_once() {
        let a = alert("WS1");
        let one = [case("a1", "WS9", "ann", 0.95, "LOW")];
        let many: Vec<SimilarCase> = (0..400)
            .map(|i| case(&format!("a{i}"), "WS9", "ann", 0.95, "LOW"))
            .collect();
        let p1 = pull(&a, &one, 8.0, 0.0, level_of).expect("one");
        let p400 = pull(&a, &many, 8.0, 0.0, level_of).expect("many");
        assert!(
            (p1.score - p400.score).abs() < 1e-9,
            "{} vs {}",
            p1.score,
            p400.score
        );
        assert!(p400.level >= Level::High, "{}", p400.explanation);
    }

    #[test]
    fn agreeing_analysts_on_the_same_host_and_rule_move_it_far_but_keep_a_floor() {
        let a = alert("SRV07");
        let cases = [
            case("a1", "SRV07", "ann", 1.0, "BENIGN"),
            case("a2", "SRV07", "bob", 0.99, "BENIGN"),
            case("a3", "SRV07", "cy", 0.98, "BENIGN"),
        ];
        let without_rules = pull(&a, &cases, 3.0, 0.0, level_of).expect("p");
        assert_eq!(
            without_rules.level,
            Level::Benign,
            "{}",
            without_rules.explanation
        );
        let with_rules = pull(&a, &cases, 8.0, 6.0, level_of).expect("p");
        assert_eq!(with_rules.level, Level::Low, "{}", with_rules.explanation);
        let high = pull(&a, &cases, 4.5, 4.5, level_of).expect("p");
        assert_eq!(high.level, Level::Low, "{}", high.explanation);
        assert!(
            high.explanation.contains("cannot close"),
            "{}",
            high.explanation
        );
    }

    #[test]
    fn weak_similarity_is_not_precedent() {
        let a = alert("H");
        assert!(
            pull(
                &a,
                &[case("a1", "H", "ann", 0.8, "BENIGN")],
                5.0,
                0.0,
                level_of
            )
            .is_none()
        );
    }
}
