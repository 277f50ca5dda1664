//! The structured verdict every engine produces, how it is pulled out of model text, and
//! how it is checked against the knowledge base.

use serde::{Deserialize, Serialize};

use crate::attack::{Catalog, Resolved};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Hash,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
#[value(rename_all = "UPPERCASE")]
pub enum Level {
    Benign,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Critical,
        Level::High,
        Level::Medium,
        Level::Low,
        Level::Benign,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Critical => "CRITICAL",
            Level::High => "HIGH",
            Level::Medium => "MEDIUM",
            Level::Low => "LOW",
            Level::Benign => "BENIGN",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MatchedTechnique {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub rationale: String,
    /// False when the technique was not among the retrieved context given to the engine.
    #[serde(default = "yes")]
    pub in_context: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainStep {
    pub tactic: String,
    #[serde(default)]
    pub technique: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvestigationQuery {
    /// SPL, KQL, ES|QL, EQL, Sigma…
    pub language: String,
    pub query: String,
    #[serde(default)]
    pub purpose: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    pub claim: String,
    /// Where it comes from: a tool call id (`toolu_…`, an OpenAI call id), a pipeline lookup
    /// (`lookup_2`), `alert:<field path>`; the offline engine also writes `alert_field`,
    /// `technique`, `intel`, `ioc_history`, `similar_case`.
    pub source: String,
    /// The field path, technique id or case that backs the claim.
    #[serde(default)]
    pub reference: String,
    /// Text copied from the source, checked against what the source recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub quote: String,
    /// The evidence check: the quote was found in its source (`true`), or not (`false`);
    /// `None` when it was not checked (the offline engine writes its evidence from the data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Why the check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

impl Evidence {
    /// Evidence written by code from the data it names (not checked).
    pub fn new(claim: String, source: &str, reference: String) -> Evidence {
        Evidence {
            claim,
            source: source.into(),
            reference,
            quote: String::new(),
            verified: None,
            check: None,
        }
    }
}

/// How many of a verdict's claims the evidence check found in their sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimCheck {
    pub verified: usize,
    pub total: usize,
}

impl ClaimCheck {
    /// `3 of 4 claims verified`.
    pub fn line(&self) -> String {
        format!("{} of {} claims verified", self.verified, self.total)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Escalation {
    pub recommended: bool,
    #[serde(default)]
    pub draft: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verdict {
    #[serde(default)]
    pub triage_id: String,
    pub verdict: Level,
    pub confidence: f64,
    #[serde(default)]
    pub matched_techniques: Vec<MatchedTechnique>,
    #[serde(default)]
    pub attack_chain: Vec<ChainStep>,
    pub reasoning: String,
    #[serde(default)]
    pub recommended_actions: Vec<String>,
    #[serde(default)]
    pub false_positive_indicators: Vec<String>,
    #[serde(default)]
    pub investigation_queries: Vec<InvestigationQuery>,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    #[serde(default)]
    pub escalation: Escalation,
    /// Prompt-injection-like content found in the alert (filled by the engine, not the model).
    #[serde(default)]
    pub injection_flags: Vec<String>,
    /// Problems found while validating (unknown techniques removed, ids remapped…).
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub engine: String,
    /// The evidence check of a model's claims (`None` for the offline engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<ClaimCheck>,
}

impl Verdict {
    /// A verdict with a level and confidence and nothing else (fixtures, synthetic cases).
    pub fn bare(verdict: Level, confidence: f64) -> Verdict {
        Verdict {
            triage_id: String::new(),
            verdict,
            confidence,
            matched_techniques: Vec::new(),
            attack_chain: Vec::new(),
            reasoning: String::new(),
            recommended_actions: Vec::new(),
            false_positive_indicators: Vec::new(),
            investigation_queries: Vec::new(),
            evidence: Vec::new(),
            escalation: Default::default(),
            injection_flags: Vec::new(),
            warnings: Vec::new(),
            engine: String::new(),
            claims: None,
        }
    }
}

/// Checks a verdict (already coerced to the schema) against the catalog: revoked ids
/// remapped, unknown ones removed, ids outside the retrieved context marked, confidence
/// kept in 0–1. Every repair becomes a warning on the verdict.
pub fn validate(mut v: Verdict, catalog: &Catalog, context_ids: &[String]) -> Verdict {
    if !(0.0..=1.0).contains(&v.confidence) || v.confidence.is_nan() {
        v.warnings
            .push(format!("confidence {} was outside 0–1", v.confidence));
        v.confidence = if v.confidence.is_nan() {
            0.5
        } else {
            v.confidence.clamp(0.0, 1.0)
        };
    }
    let mut kept: Vec<MatchedTechnique> = Vec::new();
    for mut t in std::mem::take(&mut v.matched_techniques) {
        match catalog.resolve(&t.id) {
            Resolved::Active(tech) => {
                t.id = tech.id.clone();
                t.name = tech.name.clone();
            }
            Resolved::Revoked { from, to } => {
                v.warnings.push(format!(
                    "{from} is revoked in ATT&CK {}; mapped to {} {}",
                    catalog.attack_version, to.id, to.name
                ));
                t.id = to.id.clone();
                t.name = to.name.clone();
            }
            Resolved::Unknown(id) => {
                v.warnings.push(format!(
                    "removed technique {id}: not in ATT&CK {}",
                    catalog.attack_version
                ));
                continue;
            }
        }
        t.in_context = context_ids.contains(&t.id);
        if !t.in_context {
            v.warnings.push(format!(
                "{} was cited from outside the retrieved context",
                t.id
            ));
        }
        if !kept.iter().any(|k| k.id == t.id) {
            kept.push(t);
        }
    }
    v.matched_techniques = kept;
    for step in &mut v.attack_chain {
        if let Some(id) = step.technique.clone() {
            step.technique = catalog.resolve(&id).technique().map(|t| t.id.clone());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_parses_case_insensitively() {
        assert_eq!(Level::parse("high"), Some(Level::High));
        assert_eq!(Level::parse("bogus"), None);
        assert!(Level::Critical > Level::Benign);
    }
}
