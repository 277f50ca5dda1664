//! Turns what real models answer into the strict [`Verdict`] shape, with warnings instead of
//! failures. Only a missing or unreadable verdict level is an error; every other repair adds
//! one short warning that names the field (`"confidence: \"85%\" read as 0.85"`). Keys are
//! matched case-insensitively, `null` counts as missing, unknown fields are ignored, and a
//! warning is never repeated.
//!
//! [`find_json`] takes the last ```` ```json ```` (or bare ```` ``` ````) fence that holds an
//! object, else the last balanced top-level `{…}` in the text; it drops trailing commas
//! (`,` before `}` or `]` outside strings) and ignores prose after the object.
//!
//! [`coerce`] rules, field by field:
//! - `verdict`: read from `verdict`, else `level`, `severity`, `classification` (the first
//!   one that reads). A level name in any case and with spaces around it is taken as is; a
//!   leading level word is taken with a warning (`"HIGH - likely malicious"`, `"high risk"`);
//!   abbreviations (`"CRIT"`) are not. An object such as `{"level": "HIGH"}` is looked into.
//!   No key → [`CoerceError::MissingLevel`]; nothing readable → [`CoerceError::BadLevel`].
//! - `confidence`: a number in 0–1 is kept. Above 1 and up to 100 it is a percentage (/100);
//!   a numeric string (`"0.8"`, `"80"`, `"80%"`) follows the same rules; words map through
//!   [`WORD_CONFIDENCE`]; negative or above 100 is clamped to 0–1; missing or unreadable → 0.5.
//! - `matched_techniques` (aliases `techniques`, `mitre_techniques`): strings such as
//!   `"T1059.001 - PowerShell"` or `"PowerShell (T1059.001)"` give the id (`T\d{4}(.\d{3})?`,
//!   uppercased) and the rest as the name; objects give the id under `id`, `technique_id`,
//!   `technique` or `techniqueID`, the name under `name` / `technique_name` and the rationale
//!   under `rationale` / `reason` / `justification` / `description`. Items without an id are
//!   dropped. `in_context` is true here; validation sets it.
//! - `attack_chain`: objects `{tactic, technique (or technique_id), description (or step,
//!   action, details)}`; strings become steps whose technique is the id they contain and whose
//!   tactic is an ATT&CK tactic name or the short words before `:` or ` (`, the description
//!   being the whole string; one string is split on `→`, `->` and `=>`.
//! - `recommended_actions` / `false_positive_indicators` (aliases `actions` /
//!   `false_positives`): one string becomes a list; objects become their `action`, `text`,
//!   `description` or `indicator` string, else their JSON text.
//! - `investigation_queries` (alias `queries`): strings become queries whose language is
//!   guessed (SPL, ES|QL, EQL, KQL, Lucene, else `text`); objects read `language` / `lang` /
//!   `type`, `query` / `q` and `purpose` / `description`.
//! - `evidence`: strings become `{claim, source: "model", reference: ""}`; objects read
//!   `claim` / `text` / `finding`, `source` and `reference` / `field` / `ref`.
//! - `escalation`: an object whose `recommended` may be a bool or a yes/no/true/false string;
//!   a bool becomes `{recommended, draft: ""}`; a string becomes a recommended escalation with
//!   that draft; without it, a top-level `escalate` is read; neither → not recommended.
//! - `reasoning`: a list of strings is joined with newlines; missing → `""` with a warning.
//! - Any value that should be a list but is a single value becomes a one-item list.

mod fields;
mod json;
#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::verdict::{Escalation, Level, Verdict};

pub use json::find_json;

use fields::{chain, evidence, queries_of, strings, techniques_of};

/// Numbers used for word confidences (`"high"`, `"Medium confidence"`, `"very_low"`…).
pub const WORD_CONFIDENCE: &[(&str, f64)] = &[
    ("very high", 0.95),
    ("high", 0.85),
    ("medium", 0.6),
    ("moderate", 0.6),
    ("low", 0.3),
    ("very low", 0.15),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Coerced {
    pub verdict: Verdict,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoerceError {
    #[error("the answer is not a JSON object")]
    NotObject,
    #[error("the verdict level is missing")]
    MissingLevel,
    #[error("the verdict level {0:?} is not one of CRITICAL, HIGH, MEDIUM, LOW, BENIGN")]
    BadLevel(String),
}

const LEVEL_KEYS: [&str; 4] = ["verdict", "level", "severity", "classification"];

// `.ok()`: the patterns are constant, and a `None` only disables what depends on them.
static TECHNIQUE_ID: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)\bT\d{4}(?:\.\d{3})?\b").ok());
static KQL_TABLE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[A-Z][A-Za-z]+\s*(?:\n|\|)").ok());
static EQL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:sequence\b|(?:any|process|file|network|registry|library|dns)\s+where\b)")
        .ok()
});
static LUCENE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?:^|[\s(])[A-Za-z_@][\w.@-]*:[^\s/:]").ok());

fn hit(re: &LazyLock<Option<Regex>>, s: &str) -> bool {
    re.as_ref().is_some_and(|re| re.is_match(s))
}

#[derive(Default)]
struct Warnings(Vec<String>);

impl Warnings {
    fn add(&mut self, field: &str, what: impl std::fmt::Display) {
        let w = format!("{field}: {what}");
        if !self.0.contains(&w) {
            self.0.push(w);
        }
    }
}

/// Only a missing or unreadable verdict level is an error; everything else is coerced and
/// each coercion adds one short warning naming the field (e.g. "matched_techniques: ids given as strings").
pub fn coerce(value: Value) -> Result<Coerced, CoerceError> {
    let Value::Object(obj) = value else {
        return Err(CoerceError::NotObject);
    };
    let mut w = Warnings::default();
    let verdict = level(&obj, &mut w)?;
    let confidence = confidence(lookup(&obj, &["confidence"]).map(|(_, v)| v), &mut w);
    let techniques = field(
        &obj,
        &["matched_techniques", "techniques", "mitre_techniques"],
        &mut w,
    );
    let matched_techniques = techniques_of(techniques, &mut w);
    let attack_chain = chain(field(&obj, &["attack_chain"], &mut w), &mut w);
    let reasoning = reasoning(&obj, &mut w);
    let actions = field(&obj, &["recommended_actions", "actions"], &mut w);
    let recommended_actions = strings(actions, "recommended_actions", &mut w);
    let fps = field(
        &obj,
        &["false_positive_indicators", "false_positives"],
        &mut w,
    );
    let false_positive_indicators = strings(fps, "false_positive_indicators", &mut w);
    let queries = field(&obj, &["investigation_queries", "queries"], &mut w);
    let investigation_queries = queries_of(queries, &mut w);
    let evidence = evidence(field(&obj, &["evidence"], &mut w), &mut w);
    let escalation = escalation(&obj, &mut w);
    Ok(Coerced {
        verdict: Verdict {
            triage_id: String::new(),
            verdict,
            confidence,
            matched_techniques,
            attack_chain,
            reasoning,
            recommended_actions,
            false_positive_indicators,
            investigation_queries,
            evidence,
            escalation,
            injection_flags: Vec::new(),
            warnings: Vec::new(),
            engine: String::new(),
            claims: None,
        },
        warnings: w.0,
    })
}

/// The first of `keys` present and not null (exact name first, then any case), with the key.
fn lookup<'a>(
    obj: &'a Map<String, Value>,
    keys: &[&'static str],
) -> Option<(&'static str, &'a Value)> {
    keys.iter().find_map(|&k| {
        obj.get(k)
            .or_else(|| {
                obj.iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v)
            })
            .filter(|v| !v.is_null())
            .map(|v| (k, v))
    })
}

/// [`lookup`] with a warning when an alias (not the first key) was used.
fn field<'a>(
    obj: &'a Map<String, Value>,
    keys: &[&'static str],
    w: &mut Warnings,
) -> Option<&'a Value> {
    let (key, v) = lookup(obj, keys)?;
    let name = keys.first().copied().unwrap_or(key);
    if key != name {
        w.add(name, format_args!("read from `{key}`"));
    }
    Some(v)
}

/// The first of `keys` holding a non-empty string (or, failing that, a list or object as
/// JSON text); numbers and bools are skipped.
fn text_of(obj: &Map<String, Value>, keys: &[&'static str]) -> Option<String> {
    let present = || {
        keys.iter()
            .filter_map(|k| lookup(obj, &[k]).map(|(_, v)| v))
    };
    present()
        .find_map(|v| {
            v.as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        })
        .or_else(|| {
            present()
                .find(|v| v.is_array() || v.is_object())
                .map(Value::to_string)
        })
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}

/// A value as a short quoted text for warnings.
fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// A list field as items: null/missing → none, a single value → one item (with a warning).
fn list<'a>(v: Option<&'a Value>, field: &str, w: &mut Warnings) -> Vec<&'a Value> {
    match v {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter(|i| !i.is_null()).collect(),
        Some(one) => {
            w.add(field, "given as a single value, not a list");
            vec![one]
        }
    }
}

fn level(obj: &Map<String, Value>, w: &mut Warnings) -> Result<Level, CoerceError> {
    let mut first_bad = None;
    for key in LEVEL_KEYS {
        let Some((_, v)) = lookup(obj, &[key]) else {
            continue;
        };
        match read_level(v, true) {
            Some((level, note)) => {
                if key != "verdict" {
                    w.add("verdict", format_args!("read from `{key}`"));
                }
                if let Some(note) = note {
                    w.add("verdict", note);
                }
                return Ok(level);
            }
            None => {
                first_bad.get_or_insert_with(|| as_text(v));
            }
        }
    }
    Err(first_bad.map_or(CoerceError::MissingLevel, CoerceError::BadLevel))
}

/// A level and, when it was not given plainly, a note on how it was read.
fn read_level(v: &Value, look_inside: bool) -> Option<(Level, Option<String>)> {
    match v {
        Value::String(s) => {
            if let Some(level) = Level::parse(s) {
                return Some((level, None));
            }
            let word: String = s
                .trim()
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            Level::parse(&word).map(|l| (l, Some(format!("{:?} read as {l}", s.trim()))))
        }
        Value::Object(o) if look_inside => LEVEL_KEYS
            .iter()
            .find_map(|k| lookup(o, &[k]).and_then(|(_, v)| read_level(v, false)))
            .map(|(l, _)| (l, Some("given as an object".to_string()))),
        _ => None,
    }
}

fn word_confidence(s: &str) -> Option<f64> {
    let norm = s.to_ascii_lowercase().replace(['_', '-'], " ");
    let norm = norm.split_whitespace().collect::<Vec<_>>().join(" ");
    let norm = norm.strip_suffix(" confidence").unwrap_or(&norm);
    WORD_CONFIDENCE
        .iter()
        .find(|(word, _)| *word == norm)
        .map(|&(_, x)| x)
}

fn confidence(v: Option<&Value>, w: &mut Warnings) -> f64 {
    const F: &str = "confidence";
    let Some(v) = v else {
        w.add(F, "missing; set to 0.5");
        return 0.5;
    };
    if let Some(x) = v.as_str().and_then(word_confidence) {
        w.add(F, format_args!("{v} read as {x}"));
        return x;
    }
    // The number and whether it was explicitly a percentage.
    let parsed = match v {
        Value::Number(n) => n.as_f64().map(|x| (x, false)),
        Value::String(s) => {
            let t = s.trim();
            let (num, percent) = t.strip_suffix('%').map_or((t, false), |p| (p.trim(), true));
            num.parse::<f64>().ok().map(|x| (x, percent))
        }
        _ => None,
    };
    let Some((x, percent)) = parsed.filter(|(x, _)| x.is_finite()) else {
        w.add(F, format_args!("{} unreadable; set to 0.5", short(v)));
        return 0.5;
    };
    let (y, clamped) = match x {
        _ if percent => ((x / 100.0).clamp(0.0, 1.0), !(0.0..=100.0).contains(&x)),
        _ if x < 0.0 => (0.0, true),
        _ if x <= 1.0 => (x, false),
        _ if x <= 100.0 => (x / 100.0, false),
        _ => (1.0, true),
    };
    if clamped {
        w.add(F, format_args!("{v} out of range; clamped to {y}"));
    } else if y != x || v.is_string() {
        w.add(F, format_args!("{v} read as {y}"));
    }
    y
}

/// The first technique id in `s` (uppercased) and the rest of the text as a name.
fn yes_no(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "y" => Some(true),
            "no" | "false" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn escalation(obj: &Map<String, Value>, w: &mut Warnings) -> Escalation {
    const F: &str = "escalation";
    let Some((key, v)) = lookup(obj, &["escalation", "escalate"]) else {
        return Escalation::default();
    };
    if key == "escalate" {
        w.add(F, "read from `escalate`");
    }
    match v {
        Value::Object(o) => {
            let recommended = match lookup(o, &["recommended"]) {
                None => false,
                Some((_, r)) => {
                    if r.is_string() {
                        w.add(F, "recommended given as a string");
                    }
                    yes_no(r).unwrap_or_else(|| {
                        w.add(
                            F,
                            format_args!("recommended {} unreadable; set to false", short(r)),
                        );
                        false
                    })
                }
            };
            let draft = text_of(o, &["draft"]).unwrap_or_default();
            Escalation { recommended, draft }
        }
        Value::String(s) if yes_no(v).is_none() => {
            w.add(
                F,
                "given as a string; read as a recommended escalation with that draft",
            );
            Escalation {
                recommended: true,
                draft: s.trim().to_string(),
            }
        }
        _ => match yes_no(v) {
            Some(recommended) => {
                if key == "escalation" {
                    w.add(F, format_args!("given as {v}"));
                }
                Escalation {
                    recommended,
                    draft: String::new(),
                }
            }
            None => {
                w.add(F, format_args!("{} unreadable; not recommended", short(v)));
                Escalation::default()
            }
        },
    }
}

fn reasoning(obj: &Map<String, Value>, w: &mut Warnings) -> String {
    const F: &str = "reasoning";
    match lookup(obj, &["reasoning"]).map(|(_, v)| v) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            w.add(F, "given as a list; joined");
            items.iter().map(as_text).collect::<Vec<_>>().join("\n")
        }
        Some(other) => {
            w.add(F, "not a string");
            other.to_string()
        }
        None => {
            w.add(F, "missing");
            String::new()
        }
    }
}
