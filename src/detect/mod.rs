//! Detections derived from confirmed alerts: Sigma rules drafted offline or by the model,
//! validated against the specification, and tested against the alert history.

pub mod sigma;

use crate::alert::Alert;
use crate::store::{Store, StoreError};
use sigma::{Compiled, HistoryTest, Problem};

const CONFIRMED: [&str; 3] = ["MEDIUM", "HIGH", "CRITICAL"];

/// What a rule would have done: its problems against the specification and, when it
/// compiles, how many stored alerts it matches and how many of those analysts called
/// false positives.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub yaml: String,
    pub problems: Vec<Problem>,
    pub history: Option<HistoryTest>,
}

/// Validates `yaml` and tests it against every stored alert.
pub fn check(store: &Store, yaml: &str) -> Result<Checked, StoreError> {
    let mut out = Checked {
        yaml: yaml.to_string(),
        problems: sigma::validate(yaml),
        history: None,
    };
    if out.problems.is_empty()
        && let Ok(rule) = Compiled::compile(yaml)
    {
        let past = store.labelled_alerts()?;
        out.history = Some(sigma::test_history(
            &rule,
            past.iter().map(|(_, a, l)| (a, l.as_deref())),
        ));
    }
    Ok(out)
}

/// The confirmed alert a detection is drafted from: the alert itself, or an incident's
/// member with the highest analyst verdict; with its techniques `(id, tactic)` and level.
pub struct Source {
    pub alert: Alert,
    pub techniques: Vec<(String, String)>,
    pub level: String,
}

/// `reference` (an alert id or an incident id) when an analyst confirmed it (MEDIUM or
/// worse); otherwise an error saying what to do.
pub fn confirmed_source(store: &Store, reference: &str) -> anyhow::Result<Source> {
    let rows: Vec<i64> = if store.incident(reference)?.is_some() {
        store
            .incident_members(reference)?
            .iter()
            .map(|m| m.row)
            .collect()
    } else {
        match store.alert_by_key(reference)? {
            Some(a) => vec![a.row],
            None => anyhow::bail!("no stored alert or incident {reference:?}"),
        }
    };
    let labelled = store.labelled_alerts()?;
    let rank = |l: &str| CONFIRMED.iter().position(|c| *c == l);
    let best = labelled
        .into_iter()
        .filter(|(row, _, l)| rows.contains(row) && l.as_deref().and_then(rank).is_some())
        .max_by_key(|(_, _, l)| l.as_deref().and_then(rank));
    let Some((row, alert, label)) = best else {
        anyhow::bail!(
            "{reference} is not confirmed: a detection is drafted from an alert an analyst judged MEDIUM or worse (thumbs up on such a verdict, or `v` / `feedback --verdict`)"
        );
    };
    let mut techniques = Vec::new();
    if let Some(t) = store.latest_complete_triage_for(row)?
        && let Some(v) = t
            .verdict_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<crate::triage::Verdict>(j).ok())
    {
        for m in &v.matched_techniques {
            let tactic = v
                .attack_chain
                .iter()
                .find(|s| s.technique.as_deref() == Some(m.id.as_str()))
                .map(|s| crate::handoff::case::tactic_slug(&s.tactic))
                .unwrap_or_default();
            techniques.push((m.id.clone(), tactic));
        }
    }
    let level = match label.as_deref() {
        Some("CRITICAL") => "critical",
        Some("HIGH") => "high",
        _ => "medium",
    };
    Ok(Source {
        alert,
        techniques,
        level: level.into(),
    })
}

/// The offline draft from the source alert's fields.
pub fn offline_draft(src: &Source) -> String {
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    sigma::draft(&src.alert, &src.techniques, "", &src.level, &today)
}

/// The question that asks a model for a rule (through the follow-up chat, so the alert is
/// fenced as untrusted data and pseudonymised like any request).
pub const MODEL_QUESTION: &str = "Write one Sigma rule (specification v2) that detects the malicious behaviour in this alert \
and not the benign activity around it. Use the alert's own field names mapped to Sigma's (CommandLine, Image, \
ParentImage, DestinationIp, TargetUserName…), `attack.` tags for the tactics and techniques, status experimental, \
and a falsepositives list. Answer with the rule alone in one ```yaml block.";
