//! Hand-off: an alert or an incident leaves the console as a case-system record (TheHive 5
//! alert, DFIR-IRIS alert), an exchange document (MISP event, STIX 2.1 bundle) or Markdown.
//! Every exporter renders the same `Case`; the pushers send it to the configured instance
//! and return the id the remote system gave it.

pub mod case;
pub mod finetune;
pub mod iris;
pub mod markdown;
pub mod misp;
pub mod run;
pub mod stix;
pub mod thehive;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One indicator of a case, in the extractor's kinds: `ip`, `domain`, `url`, `md5`, `sha1`,
/// `sha256`, `email`, `filename`, `process`, `cve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseIndicator {
    pub kind: String,
    pub value: String,
}

/// One ATT&CK technique of a case, with its tactic shortname (`credential-access`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseTechnique {
    pub id: String,
    pub name: String,
    pub tactic: Option<String>,
}

/// One alert of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseAlert {
    /// The source's alert id.
    pub key: String,
    pub title: String,
    pub source: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub host: Option<String>,
    pub user: Option<String>,
    pub description: String,
}

/// What is handed off: one alert, or one incident (several alerts), with its triage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// `alert` or `incident`.
    pub kind: String,
    /// Stable across exports: the alert key or the incident id. Case systems deduplicate
    /// on it (TheHive's sourceRef, IRIS's alert_source_ref).
    pub reference: String,
    pub title: String,
    /// BENIGN, LOW, MEDIUM, HIGH or CRITICAL: the level the case is handed over at — the
    /// analyst's standing verdict when they gave one (for an incident, when it is higher than
    /// the tool's), else the tool's; None when never triaged nor judged.
    pub verdict: Option<String>,
    /// The analyst whose verdict `verdict` is, when it is not the tool's.
    #[serde(default)]
    pub judged_by: Option<String>,
    /// The tool's own verdict when the analyst's replaced it.
    #[serde(default)]
    pub tool_verdict: Option<String>,
    pub confidence: Option<f64>,
    pub summary: String,
    /// RFC 3339 UTC of the first alert.
    pub first_seen: String,
    /// RFC 3339 UTC of the last alert.
    pub last_seen: String,
    pub alerts: Vec<CaseAlert>,
    pub hosts: Vec<String>,
    pub users: Vec<String>,
    pub indicators: Vec<CaseIndicator>,
    /// Ordered by tactic (kill-chain order).
    pub techniques: Vec<CaseTechnique>,
    pub actions: Vec<String>,
    /// Why the alerts are one incident ("shares 185.220.101.47 within 20 min").
    pub links: Vec<String>,
    /// The triage the export is recorded with, when there is one.
    pub triage_id: Option<String>,
}

/// Where a case can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    TheHive,
    Iris,
    Misp,
    Stix,
    Markdown,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::TheHive,
        Target::Iris,
        Target::Misp,
        Target::Stix,
        Target::Markdown,
    ];

    /// `thehive`, `iris`, `misp`, `stix`, `markdown` (case-insensitive; a few common
    /// spellings such as `dfir-iris`, `stix2` and `md` too).
    pub fn parse(s: &str) -> Option<Target> {
        match s.trim().to_ascii_lowercase().as_str() {
            "thehive" | "the-hive" | "hive" => Some(Target::TheHive),
            "iris" | "dfir-iris" => Some(Target::Iris),
            "misp" => Some(Target::Misp),
            "stix" | "stix2" | "stix2.1" => Some(Target::Stix),
            "markdown" | "md" => Some(Target::Markdown),
            _ => None,
        }
    }

    /// The machine name, as `parse` reads it and the export records store it.
    pub fn name(self) -> &'static str {
        match self {
            Target::TheHive => "thehive",
            Target::Iris => "iris",
            Target::Misp => "misp",
            Target::Stix => "stix",
            Target::Markdown => "markdown",
        }
    }

    /// The product name, for messages.
    pub fn label(self) -> &'static str {
        match self {
            Target::TheHive => "TheHive",
            Target::Iris => "DFIR-IRIS",
            Target::Misp => "MISP",
            Target::Stix => "STIX",
            Target::Markdown => "Markdown",
        }
    }

    /// Whether the target is a case system a case can be pushed to (the others are files).
    pub fn pushable(self) -> bool {
        matches!(self, Target::TheHive | Target::Iris)
    }
}

/// What a push left on the remote system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    /// `Target::name()` of the system.
    pub target: String,
    /// The id the remote system gave the record (`~41099392`, `17`).
    pub remote_id: String,
    /// False when the record already existed (an earlier push of the same reference).
    pub created: bool,
}

/// Why a push failed. Messages name the target and never carry the API key.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// No answer: connection refused, timeout, TLS.
    #[error("{target}: {what} failed: {reason}")]
    Transport {
        target: &'static str,
        what: String,
        reason: String,
    },
    /// The remote answered with an error status or an error envelope.
    #[error("{target} answered HTTP {status}: {message}")]
    Remote {
        target: &'static str,
        status: u16,
        message: String,
    },
    /// An answer that does not have the documented shape.
    #[error("{target}: unexpected answer to {what}: {detail}")]
    Malformed {
        target: &'static str,
        what: String,
        detail: String,
    },
    /// The instance lacks something the export needs (a severity, a status, a customer).
    #[error("{target}: {detail}")]
    Instance {
        target: &'static str,
        detail: String,
    },
}

/// TheHive's severity scale from a verdict: 1 LOW (BENIGN too), 2 MEDIUM, 3 HIGH,
/// 4 CRITICAL; `None` when never triaged or not a known verdict.
pub fn severity_rank(verdict: Option<&str>) -> Option<u8> {
    match verdict?.trim().to_ascii_uppercase().as_str() {
        "BENIGN" | "LOW" => Some(1),
        "MEDIUM" => Some(2),
        "HIGH" => Some(3),
        "CRITICAL" => Some(4),
        _ => None,
    }
}

/// An RFC 3339 time in UTC; `None` when it does not parse.
pub fn parse_time(rfc3339: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(rfc3339.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Epoch milliseconds of an RFC 3339 time.
pub fn epoch_ms(rfc3339: &str) -> Option<i64> {
    parse_time(rfc3339).map(|t| t.timestamp_millis())
}

/// One line of at most `max` characters: line breaks and tabs become spaces, runs of
/// spaces collapse, and an over-long text is cut with an ellipsis.
pub fn one_line(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut out: String = flat.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The case title on one line, or a stand-in naming the reference when it is empty.
pub(crate) fn title(case: &Case, max: usize) -> String {
    let t = one_line(&case.title, max);
    if t.is_empty() {
        one_line(
            &format!("soc-copilot {} {}", case.kind, case.reference),
            max,
        )
    } else {
        t
    }
}

/// The case's indicators without repeats (same kind and value) or empty values, kinds
/// lower-cased for matching.
pub(crate) fn indicators(case: &Case) -> Vec<(String, &str)> {
    let mut seen = HashSet::new();
    case.indicators
        .iter()
        .map(|i| (i.kind.trim().to_ascii_lowercase(), i.value.trim()))
        .filter(|(k, v)| !v.is_empty() && seen.insert((k.clone(), *v)))
        .collect()
}

/// The case's techniques, each id once (the first occurrence wins).
pub(crate) fn techniques(case: &Case) -> Vec<&CaseTechnique> {
    let mut seen = HashSet::new();
    case.techniques
        .iter()
        .filter(|t| !t.id.trim().is_empty() && seen.insert(t.id.trim().to_ascii_uppercase()))
        .collect()
}

/// Tags for case systems: `soc-copilot`, `verdict:<level>`, then the technique ids.
pub(crate) fn tags(case: &Case) -> Vec<String> {
    let mut out = vec!["soc-copilot".to_string()];
    if let Some(v) = case.verdict.as_deref().map(str::trim)
        && !v.is_empty()
    {
        out.push(format!("verdict:{}", v.to_ascii_lowercase()));
    }
    out.extend(techniques(case).iter().map(|t| t.id.trim().to_string()));
    out
}

/// `HIGH (confidence 82%)`, or whose verdict it is when an analyst's replaced the tool's:
/// `HIGH (analyst jdoe; the tool said MEDIUM, confidence 70%)`.
pub(crate) fn verdict_line(case: &Case) -> String {
    use self::markdown::inline;
    let verdict = inline(case.verdict.as_deref().unwrap_or("not triaged"));
    let confidence = case
        .confidence
        .map(|c| format!("confidence {:.0}%", c * 100.0));
    match (&case.judged_by, &case.tool_verdict, confidence) {
        (Some(who), Some(tool), c) if Some(tool) == case.verdict.as_ref() => match c {
            Some(c) => format!("{verdict} (confirmed by analyst {}; {c})", inline(who)),
            None => format!("{verdict} (confirmed by analyst {})", inline(who)),
        },
        (Some(who), Some(tool), Some(c)) => {
            format!(
                "{verdict} (analyst {}; the tool said {}, {c})",
                inline(who),
                inline(tool)
            )
        }
        (Some(who), Some(tool), None) => {
            format!(
                "{verdict} (analyst {}; the tool said {})",
                inline(who),
                inline(tool)
            )
        }
        (Some(who), None, _) => format!("{verdict} (analyst {})", inline(who)),
        (None, _, Some(c)) => format!("{verdict} ({c})"),
        (None, _, None) => verdict,
    }
}

/// The Markdown description a case system shows: summary, verdict, time range, alerts,
/// why they are grouped and the recommended actions.
pub(crate) fn description(case: &Case) -> String {
    use self::markdown::inline;
    use std::fmt::Write as _;
    let mut out = String::new();
    if !case.summary.trim().is_empty() {
        let _ = writeln!(out, "{}\n", case.summary.trim());
    }
    let _ = write!(out, "**Verdict:** {}", verdict_line(case));
    let _ = writeln!(
        out,
        "  \n**Seen:** {} → {} (UTC)  \n**Reference:** {} {}",
        inline(&case.first_seen),
        inline(&case.last_seen),
        inline(&case.kind),
        inline(&case.reference)
    );
    if !case.alerts.is_empty() {
        let _ = writeln!(out, "\n### Alerts");
        for a in &case.alerts {
            let mut place = Vec::new();
            if let Some(h) = a.host.as_deref() {
                place.push(format!("host {}", inline(h)));
            }
            if let Some(u) = a.user.as_deref() {
                place.push(format!("user {}", inline(u)));
            }
            let place = if place.is_empty() {
                String::new()
            } else {
                format!(", {}", place.join(", "))
            };
            let _ = writeln!(
                out,
                "- {} **{}** ({}{place}) — {}",
                inline(&a.at),
                inline(&a.title),
                inline(&a.source),
                inline(&a.key)
            );
        }
    }
    if !case.links.is_empty() {
        let _ = writeln!(out, "\n### Why grouped");
        for l in &case.links {
            let _ = writeln!(out, "- {}", inline(l));
        }
    }
    if !case.actions.is_empty() {
        let _ = writeln!(out, "\n### Recommended actions");
        for (n, a) in case.actions.iter().enumerate() {
            let _ = writeln!(out, "{}. {}", n + 1, inline(a));
        }
    }
    out.trim_end().to_string()
}

/// An answer as received: status, the body parsed as JSON (`Null` when it is not JSON) and
/// the raw text.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

/// Sends a request and reads the whole answer. `what` names the call in errors
/// (`POST /api/v1/alert`); it must not contain the key.
pub(crate) async fn send(
    target: &'static str,
    what: &str,
    req: reqwest::RequestBuilder,
) -> Result<Answer, HandoffError> {
    let transport = |e: reqwest::Error| HandoffError::Transport {
        target,
        what: what.to_string(),
        reason: error_chain(&e.without_url()),
    };
    let resp = req.send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(transport)?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer { status, body, text })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

/// A remote error with the key scrubbed from the message (should the remote echo it) and
/// the message cut to a readable length.
pub(crate) fn remote_error(
    target: &'static str,
    status: u16,
    message: &str,
    key: &str,
) -> HandoffError {
    let mut message = one_line(message, 500);
    if !key.is_empty() {
        message = message.replace(key, "[api key]");
    }
    if message.is_empty() {
        message = "(no message)".into();
    }
    HandoffError::Remote {
        target,
        status,
        message,
    }
}
