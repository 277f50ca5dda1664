//! The local investigation of one alert: what the imported feeds say about each of its
//! indicators, where each was seen before and what analysts decided, and which stored
//! alerts are related to it. No network; everything comes from the store.

use std::time::Instant;

use serde::Serialize;

use crate::alert::Alert;
use crate::store::iocs::{Related, Sighting};
use crate::store::{Store, StoreError};

use super::{Indicator, IntelRecord, Verdict, indicators};

/// How far back and forward "related" reaches, and how much each lookup returns.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub related_hours: f64,
    pub related: usize,
    pub history_per_indicator: usize,
    /// Indicators looked up per alert at most (an alert listing thousands is summarised).
    pub indicators: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            related_hours: 24.0,
            related: 10,
            history_per_indicator: 5,
            indicators: 25,
        }
    }
}

/// Where an indicator was seen before.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct History {
    pub indicator: Indicator,
    pub sightings: Vec<Sighting>,
}

/// Everything the local tools found for one alert.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Enrichment {
    pub indicators: Vec<Indicator>,
    /// Indicators beyond `Limits::indicators` that were not looked up.
    pub not_looked_up: usize,
    pub intel: Vec<IntelRecord>,
    pub history: Vec<History>,
    pub related: Vec<Related>,
    /// Remote provider lookups (empty when no provider is configured).
    pub remote: Vec<super::remote::Lookup>,
    pub took_ms: f64,
}

impl Enrichment {
    /// Every opinion on an indicator with verdict `v`: offline feeds and remote providers
    /// alike, each as a record naming its source.
    pub fn with_verdict(&self, v: Verdict) -> Vec<IntelRecord> {
        let mut out: Vec<IntelRecord> = self
            .intel
            .iter()
            .filter(|r| r.verdict == v)
            .cloned()
            .collect();
        out.extend(
            self.remote
                .iter()
                .filter(|l| l.verdict() == Some(v))
                .map(|l| IntelRecord {
                    indicator: l.indicator.clone(),
                    source: l.provider.to_string(),
                    verdict: v,
                    threat: match &l.outcome {
                        super::remote::Outcome::Found { summary, .. } => Some(summary.clone()),
                        _ => None,
                    },
                    first_seen: None,
                    reference: None,
                }),
        );
        out
    }

    /// The position of remote lookup `i` among `findings()` (offline intel and history come
    /// first), so a record of the lookup carries the id the prompt gives its line.
    pub fn remote_finding(&self, i: usize) -> usize {
        self.intel.len() + self.history.len() + i
    }

    /// One line per finding, each naming the lookup that made it: what the engines' reasoning
    /// and the console show.
    pub fn findings(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.intel.iter().map(IntelRecord::line));
        for h in &self.history {
            let judged: Vec<String> = h
                .sightings
                .iter()
                .filter_map(|s| {
                    s.analyst_verdict.clone().or_else(|| {
                        (s.thumbs.as_deref() == Some("up")).then(|| s.verdict.clone())?
                    })
                })
                .collect();
            out.push(format!(
                "IOC history: {} was in {} earlier alert(s){}",
                h.indicator,
                h.sightings.len(),
                if judged.is_empty() {
                    String::new()
                } else {
                    format!("; analysts judged them {}", judged.join(", "))
                }
            ));
        }
        for l in &self.remote {
            out.push(format!("intel lookup {}", l.line()));
        }
        if !self.related.is_empty() {
            out.push(format!(
                "related alerts: {} within the window ({})",
                self.related.len(),
                self.related
                    .iter()
                    .take(3)
                    .map(|r| format!("“{}”: {}", r.title, r.why.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        out
    }
}

/// Where each of the alert's indicators was seen before (only those that were): the
/// queue's "seen before" badge and the indicator history popup.
pub fn seen_before(
    store: &Store,
    alert: &Alert,
    per_indicator: usize,
) -> Result<Vec<History>, StoreError> {
    let mut out = Vec::new();
    for ind in indicators(&alert.iocs)
        .into_iter()
        .take(Limits::default().indicators)
    {
        let sightings = store.ioc_history(&ind, &alert.id, per_indicator)?;
        if !sightings.is_empty() {
            out.push(History {
                indicator: ind,
                sightings,
            });
        }
    }
    Ok(out)
}

/// How many distinct earlier alerts share an indicator with this one.
pub fn earlier_alerts(history: &[History]) -> usize {
    let mut keys: Vec<&str> = history
        .iter()
        .flat_map(|h| h.sightings.iter().map(|s| s.alert_key.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.len()
}

/// Runs the local lookups for `alert`. The alert's own stored copy (same key) is left out of
/// its history; related alerts need it stored (a triage stores it).
pub fn enrich(store: &Store, alert: &Alert, limits: Limits) -> Result<Enrichment, StoreError> {
    let started = Instant::now();
    let mut all = indicators(&alert.iocs);
    let not_looked_up = all.len().saturating_sub(limits.indicators);
    all.truncate(limits.indicators);
    let mut e = Enrichment {
        not_looked_up,
        ..Enrichment::default()
    };
    for ind in &all {
        e.intel.extend(store.intel_for(ind)?);
        let sightings = store.ioc_history(ind, &alert.id, limits.history_per_indicator)?;
        if !sightings.is_empty() {
            e.history.push(History {
                indicator: ind.clone(),
                sightings,
            });
        }
    }
    if limits.related > 0 {
        e.related = store.related_alerts(&alert.id, limits.related_hours, limits.related)?;
    }
    e.indicators = all;
    e.took_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(e)
}
