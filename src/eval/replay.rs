//! Replaying a labelled queue in time order through a scratch store: the engine of
//! `eval feedback` (does analyst feedback make later verdicts better?) and of `backtest`
//! (how would another engine, model, mode or prompt have done on our reviewed history?).
//! With feedback on, each alert's label is recorded as the analyst's judgement right after
//! its triage, so later alerts can draw on it as precedent — never on their own label.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::alert::load::LoadedAlert;
use crate::store::feedback::{NewFeedback, Thumbs};
use crate::triage::engine::TriageMode;
use crate::triage::verdict::Level;

use super::metrics::{Confusion, Rate, Reliability, index, percentile, reliability};
use super::triage::{Band, Bench, observe};

/// One alert of a replayed queue with its truth.
#[derive(Debug, Clone)]
pub struct Item {
    pub alert: Arc<LoadedAlert>,
    /// The analyst's verdict.
    pub label: Level,
    /// The class (dataset) or source rule (history) results are broken down by.
    pub group: String,
    /// The acceptable band, when the dataset gives one.
    pub band: Option<Band>,
    /// Who gives the feedback: precedent counts each analyst once per level, so a team's
    /// agreement weighs more than one analyst repeating themselves.
    pub analyst: String,
}

/// The detection rule that raised an alert, as its source names it (Elastic
/// `kibana.alert.rule.name`, Splunk `search_name` / `rule_name`, ECS `rule.name`, Wazuh
/// `rule.description`, a generic `rule`), else its title: false positives are counted per rule.
pub fn source_rule(alert: &crate::alert::Alert) -> String {
    let rule = [
        "alert.rule.name",
        "search_name",
        "rule_name",
        "rule.name",
        "rule.description",
        "rule",
    ]
    .iter()
    .find_map(|f| alert.field(f).filter(|v| !v.trim().is_empty()))
    .unwrap_or(&alert.title);
    let rule: String = rule.chars().take(120).collect();
    if alert.source.is_empty() {
        rule
    } else {
        format!("{}: {rule}", alert.source)
    }
}

/// What one configuration said about one item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub verdict: Option<Level>,
    pub confidence: f64,
    pub latency_ms: u64,
    pub cost_usd: f64,
    /// Similar reviewed alerts the engine was shown.
    pub precedent: usize,
    pub error: Option<String>,
}

impl Outcome {
    pub fn agrees(&self, label: Level) -> bool {
        self.verdict == Some(label)
    }
}

/// Triages every item in order in a fresh store under `dir`; with `feedback`, records each
/// item's label as the analyst's judgement once its triage is done. A replay stops once the
/// bench's cost meter is spent: the outcomes then cover only the first items.
pub async fn replay(
    bench: &Bench,
    items: &[Item],
    mode: TriageMode,
    dir: &Path,
    feedback: bool,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<Vec<Outcome>> {
    let pipeline = bench.scratch(dir)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if bench.meter.exhausted() {
            break;
        }
        let (observed, outcome) = observe(&pipeline, item.alert.clone(), mode).await;
        let o = Outcome {
            verdict: observed.verdict,
            confidence: observed.confidence,
            latency_ms: observed.latency_ms,
            cost_usd: observed.cost_usd,
            precedent: outcome
                .as_ref()
                .map_or(0, |o| o.provenance.similar_cases.len()),
            error: observed.error,
        };
        if feedback && let Some(done) = &outcome {
            let agreed = o.verdict == Some(item.label);
            let stores = pipeline.stores.clone();
            let fb = NewFeedback {
                triage_id: done.triage_id.clone(),
                thumbs: Some(if agreed { Thumbs::Up } else { Thumbs::Down }),
                reason: None,
                analyst_verdict: (!agreed).then(|| item.label.as_str().to_string()),
                notes: None,
                analyst: item.analyst.clone(),
            };
            tokio::task::spawn_blocking(move || stores.get()?.add_feedback(&fb).map(|_| ()))
                .await??;
        }
        bench.meter.add(o.cost_usd);
        out.push(o);
        progress(i + 1);
    }
    Ok(out)
}

/// `eval feedback`: accuracy on the later alerts with and without earlier feedback.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackSummary {
    pub at: String,
    pub dataset: String,
    pub engine: String,
    pub mode: String,
    /// Alerts at the head of the queue only fed feedback (not scored).
    pub warmup: usize,
    /// Analysts whose feedback was replayed (taking turns).
    #[serde(default)]
    pub analysts: usize,
    /// Same level as the analyst, on the later alerts.
    pub with: Rate,
    pub without: Rate,
    /// Mean distance in levels from the analyst's verdict on the later alerts (0 = same
    /// level, 4 = CRITICAL for BENIGN): closer counts even when not exact.
    #[serde(default)]
    pub distance_with: Option<f64>,
    #[serde(default)]
    pub distance_without: Option<f64>,
    /// Inside the case's band, on the later alerts.
    pub with_in_band: Rate,
    pub without_in_band: Rate,
    /// group → (with, without), exact agreement on the later alerts.
    pub per_group: BTreeMap<String, (Rate, Rate)>,
    /// Cumulative exact agreement after each later alert, with and without.
    pub curve_with: Vec<f64>,
    pub curve_without: Vec<f64>,
    /// Later alerts whose verdict feedback changed, and how many of those it made right or wrong.
    pub changed: usize,
    pub fixed: usize,
    pub broke: usize,
    /// Later alerts that were shown any precedent.
    pub with_precedent: usize,
    /// Each changed verdict: `id (group): without → with, analyst said L`.
    #[serde(default)]
    pub changes: Vec<String>,
    pub wall_ms: u64,
}

impl FeedbackSummary {
    /// The gain in exact agreement, in percentage points.
    pub fn gain_points(&self) -> Option<f64> {
        Some((self.with.value()? - self.without.value()?) * 100.0)
    }
}

/// Scores two replays of the same items (with and without feedback) after `warmup` items.
pub fn feedback_summary(
    items: &[Item],
    with: &[Outcome],
    without: &[Outcome],
    warmup: usize,
) -> FeedbackSummary {
    let mut s = FeedbackSummary {
        warmup,
        ..FeedbackSummary::default()
    };
    let distance = |o: &Outcome, label: Level| {
        o.verdict
            .map(|v| (index(v) as f64 - index(label) as f64).abs())
    };
    let (mut dw, mut dn) = (Vec::new(), Vec::new());
    for ((item, w), n) in items.iter().zip(with).zip(without).skip(warmup) {
        dw.extend(distance(w, item.label));
        dn.extend(distance(n, item.label));
        let (aw, an) = (w.agrees(item.label), n.agrees(item.label));
        s.with.add(aw);
        s.without.add(an);
        let g = s.per_group.entry(item.group.clone()).or_default();
        g.0.add(aw);
        g.1.add(an);
        if let Some(b) = item.band {
            s.with_in_band.add(w.verdict.is_some_and(|v| b.contains(v)));
            s.without_in_band
                .add(n.verdict.is_some_and(|v| b.contains(v)));
        }
        if w.verdict != n.verdict {
            let show = |o: &Outcome| o.verdict.map_or("none", Level::as_str);
            s.changes.push(format!(
                "{} ({}): {} without feedback → {} with it ({} similar reviewed case(s) shown), analyst said {}",
                item.alert.alert.id,
                item.group,
                show(n),
                show(w),
                w.precedent,
                item.label
            ));
            s.changed += 1;
            s.fixed += usize::from(aw && !an);
            s.broke += usize::from(an && !aw);
        }
        s.with_precedent += usize::from(w.precedent > 0);
        s.curve_with.push(s.with.value().unwrap_or(0.0));
        s.curve_without.push(s.without.value().unwrap_or(0.0));
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    s.distance_with = mean(&dw);
    s.distance_without = mean(&dn);
    s
}

/// A text chart of the two cumulative curves, `width` columns wide, `height` rows high.
pub fn chart(with: &[f64], without: &[f64], width: usize, height: usize) -> Vec<String> {
    if with.is_empty() || height == 0 || width == 0 {
        return Vec::new();
    }
    let sample = |c: &[f64], x: usize| c[(x * c.len() / width).min(c.len() - 1)];
    let mut rows = vec![vec![' '; width]; height];
    for (curve, mark) in [(without, '·'), (with, '█')] {
        if curve.is_empty() {
            continue;
        }
        let ys =
            (0..width).map(|x| ((1.0 - sample(curve, x)) * (height - 1) as f64).round() as usize);
        for (x, y) in ys.enumerate() {
            let cell = &mut rows[y.min(height - 1)][x];
            *cell = if *cell == ' ' || *cell == mark {
                mark
            } else {
                '▓'
            };
        }
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let label = if i == 0 {
                "100%".to_string()
            } else if i == height - 1 {
                "  0%".to_string()
            } else {
                "    ".to_string()
            };
            format!("{label} │{}", r.into_iter().collect::<String>())
        })
        .collect()
}

/// One configuration's figures on a backtest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigSummary {
    pub label: String,
    pub agreement: Rate,
    pub per_level: BTreeMap<String, Rate>,
    pub confusion: Confusion,
    /// Source rule → (alerts, alerts the analysts judged BENIGN or LOW, of those the ones this
    /// configuration called MEDIUM or above).
    pub fp_per_rule: Vec<RuleFp>,
    pub reliability: Reliability,
    pub cost_usd: f64,
    pub p50_latency_ms: Option<u64>,
    pub p95_latency_ms: Option<u64>,
    pub errors: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleFp {
    pub rule: String,
    pub alerts: usize,
    pub analyst_benign: usize,
    pub false_positives: usize,
}

impl RuleFp {
    pub fn rate(&self) -> Option<f64> {
        (self.analyst_benign > 0).then(|| self.false_positives as f64 / self.analyst_benign as f64)
    }

    /// `50% (1/2)`, or `–` when analysts called none of its alerts benign.
    pub fn show_rate(&self) -> String {
        self.rate().map_or("–".into(), |v| {
            format!(
                "{:.0}% ({}/{})",
                v * 100.0,
                self.false_positives,
                self.analyst_benign
            )
        })
    }
}

/// Figures of `outcomes` against the items' labels.
pub fn config_summary(label: &str, items: &[Item], outcomes: &[Outcome]) -> ConfigSummary {
    let mut s = ConfigSummary {
        label: label.into(),
        ..ConfigSummary::default()
    };
    let mut rules: BTreeMap<&str, RuleFp> = BTreeMap::new();
    let mut points = Vec::new();
    let mut latencies = Vec::new();
    for (item, o) in items.iter().zip(outcomes) {
        s.cost_usd += o.cost_usd;
        let r = rules.entry(&item.group).or_insert_with(|| RuleFp {
            rule: item.group.clone(),
            ..RuleFp::default()
        });
        r.alerts += 1;
        let level = s.per_level.entry(item.label.as_str().into()).or_default();
        // A failed triage agrees with nobody: it counts as a miss overall and per level,
        // and stays out of the matrix, the false-positive rate and calibration.
        let Some(v) = o.verdict else {
            s.errors += 1;
            s.agreement.add(false);
            level.add(false);
            continue;
        };
        let right = v == item.label;
        level.add(right);
        let analyst_benign = item.label <= Level::Low;
        r.analyst_benign += usize::from(analyst_benign);
        r.false_positives += usize::from(analyst_benign && v >= Level::Medium);
        s.agreement.add(right);
        s.confusion.add(item.label, v);
        if o.confidence.is_finite() {
            points.push((o.confidence, right));
        }
        if o.latency_ms > 0 {
            latencies.push(o.latency_ms);
        }
    }
    s.reliability = reliability(&points, 10);
    s.p50_latency_ms = percentile(&latencies, 50.0);
    s.p95_latency_ms = percentile(&latencies, 95.0);
    let mut fp: Vec<RuleFp> = rules.into_values().collect();
    fp.sort_by(|a, b| b.alerts.cmp(&a.alerts).then(a.rule.cmp(&b.rule)));
    s.fp_per_rule = fp;
    s
}

/// `backtest`: two configurations over the same reviewed alerts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BacktestSummary {
    pub at: String,
    pub since: Option<String>,
    pub alerts: usize,
    pub configs: Vec<ConfigSummary>,
    pub wall_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(label: Level, group: &str) -> Item {
        Item {
            alert: Arc::new(LoadedAlert {
                alert: crate::alert::parse::from_text("x", None),
                raw: String::new(),
                origin: String::new(),
            }),
            label,
            group: group.into(),
            band: None,
            analyst: "a".into(),
        }
    }

    fn said(v: Level) -> Outcome {
        Outcome {
            verdict: Some(v),
            confidence: 0.6,
            precedent: 1,
            ..Outcome::default()
        }
    }

    #[test]
    fn feedback_gain_counts_only_the_later_alerts() {
        let items = [
            item(Level::High, "a"),
            item(Level::Benign, "b"),
            item(Level::Benign, "b"),
        ];
        let with = [said(Level::Low), said(Level::Benign), said(Level::Benign)];
        let without = [said(Level::High), said(Level::Medium), said(Level::Benign)];
        let s = feedback_summary(&items, &with, &without, 1);
        assert_eq!(s.with, Rate { hits: 2, total: 2 });
        assert_eq!(s.without, Rate { hits: 1, total: 2 });
        assert_eq!((s.changed, s.fixed, s.broke), (1, 1, 0));
        assert_eq!(s.gain_points().map(f64::round), Some(50.0));
        // Later alerts: BENIGN said BENIGN/MEDIUM (0, 2) with, MEDIUM/BENIGN without… per arm.
        assert_eq!(s.distance_with, Some(0.0));
        assert_eq!(s.distance_without, Some(1.0));
        assert_eq!(s.curve_with, [1.0, 1.0]);
        assert_eq!(chart(&s.curve_with, &s.curve_without, 10, 3).len(), 3);
    }

    #[test]
    fn false_positive_rate_is_per_rule_over_what_analysts_called_benign() {
        let items = [
            item(Level::Benign, "rule A"),
            item(Level::Low, "rule A"),
            item(Level::High, "rule A"),
            item(Level::Benign, "rule B"),
        ];
        let out = [
            said(Level::High),
            said(Level::Low),
            said(Level::High),
            said(Level::Benign),
        ];
        let s = config_summary("x", &items, &out);
        assert_eq!(s.fp_per_rule[0].rule, "rule A");
        assert_eq!(s.fp_per_rule[0].rate(), Some(0.5));
        assert_eq!(s.fp_per_rule[1].rate(), Some(0.0));
        assert_eq!(s.agreement, Rate { hits: 3, total: 4 });
        assert_eq!(s.per_level["BENIGN"], Rate { hits: 1, total: 2 });
    }
}
