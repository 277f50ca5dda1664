//! How well the offline engine cites techniques: of the techniques a verdict cites (its
//! `matched_techniques`), the share in a correct family (precision), and the share of
//! alerts with at least one correct citation (coverage), per source and overall.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::attack::catalog::family_of;

use super::retrieval::Case;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CitationReport {
    pub cases: usize,
    /// Techniques cited, over all cases.
    pub cited: usize,
    /// Of those, in a family the case is labelled with.
    pub correct: usize,
    /// `correct / cited` (1.0 when nothing was cited).
    pub precision: f64,
    /// Cases with at least one correct citation.
    pub covered: usize,
    pub coverage: f64,
    /// Cases where nothing was cited.
    pub none_cited: usize,
}

/// Scores each case's cited technique ids against its labels, by family.
pub fn score(
    cases: &[Case],
    cited: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, CitationReport> {
    let mut out: BTreeMap<String, CitationReport> = BTreeMap::new();
    for case in cases {
        let families: Vec<&str> = case.techniques.iter().map(|t| family_of(t)).collect();
        let ids = cited.get(&case.id).map(Vec::as_slice).unwrap_or(&[]);
        let correct = ids
            .iter()
            .filter(|id| families.contains(&family_of(id)))
            .count();
        for key in [case.source.as_str(), "overall"] {
            let r = out.entry(key.to_string()).or_default();
            r.cases += 1;
            r.cited += ids.len();
            r.correct += correct;
            r.covered += usize::from(correct > 0);
            r.none_cited += usize::from(ids.is_empty());
        }
    }
    for r in out.values_mut() {
        r.precision = if r.cited == 0 {
            1.0
        } else {
            r.correct as f64 / r.cited as f64
        };
        r.coverage = r.covered as f64 / r.cases.max(1) as f64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_and_coverage_by_family() {
        let case = |id: &str, t: &[&str]| Case {
            id: id.into(),
            source: "s".into(),
            techniques: t.iter().map(|x| x.to_string()).collect(),
            alert: Default::default(),
        };
        let cases = [case("a", &["T1059.001"]), case("b", &["T1003.001"])];
        let cited = BTreeMap::from([
            (
                "a".to_string(),
                vec!["T1059".to_string(), "T1027".to_string()],
            ),
            ("b".to_string(), vec![]),
        ]);
        let r = &score(&cases, &cited)["overall"];
        assert_eq!((r.cited, r.correct, r.covered, r.none_cited), (2, 1, 1, 1));
        assert!((r.precision - 0.5).abs() < 1e-9 && (r.coverage - 0.5).abs() < 1e-9);
    }
}
