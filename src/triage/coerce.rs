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

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::verdict::{
    ChainStep, Escalation, Evidence, InvestigationQuery, Level, MatchedTechnique, Verdict,
};

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

const TACTICS: [&str; 14] = [
    "Reconnaissance",
    "Resource Development",
    "Initial Access",
    "Execution",
    "Persistence",
    "Privilege Escalation",
    "Defense Evasion",
    "Credential Access",
    "Discovery",
    "Lateral Movement",
    "Collection",
    "Command and Control",
    "Exfiltration",
    "Impact",
];

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

/// The JSON value of a verdict found in model text: the last ```json (or bare ```) fence, else
/// the last balanced top-level {…}; tolerant of trailing commas (`,` before `}` or `]`
/// outside strings) and of prose after the object. None when there is no object.
pub fn find_json(text: &str) -> Option<Value> {
    fenced_blocks(text)
        .into_iter()
        .rev()
        .find_map(|body| parse_object(body).or_else(|| last_braced(body)))
        .or_else(|| last_braced(text))
}

/// Bodies of the fences tagged `json…` or untagged, in order.
fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let (info, body) = match after.find('\n') {
            Some(nl) if !after[..nl].contains('{') => (after[..nl].trim(), &after[nl + 1..]),
            _ => ("", after),
        };
        let Some(close) = body.find("```") else { break };
        if info.is_empty() || info.to_ascii_lowercase().starts_with("json") {
            out.push(&body[..close]);
        }
        rest = &body[close + 3..];
    }
    out
}

/// The first JSON value of `s` (prose after it ignored) when it is an object.
fn parse_object(s: &str) -> Option<Value> {
    let cleaned = strip_trailing_commas(s.trim());
    let mut values = serde_json::Deserializer::from_str(&cleaned).into_iter::<Value>();
    match values.next() {
        Some(Ok(v)) if v.is_object() => Some(v),
        _ => None,
    }
}

/// The last top-level balanced `{…}` of `text` that parses as an object. One pass with a
/// stack; quotes count only inside braces, so prose apostrophes and quotes are harmless.
fn last_braced(text: &str) -> Option<Value> {
    let (mut open, mut spans) = (Vec::new(), Vec::new());
    let (mut in_str, mut escaped) = (false, false);
    for (i, c) in text.bytes().enumerate() {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
        } else {
            match c {
                b'"' if !open.is_empty() => in_str = true,
                b'{' => open.push(i),
                b'}' => spans.extend(open.pop().map(|start| (start, i))),
                _ => {}
            }
        }
    }
    // Spans close in order; walking back, one that starts after an already-seen (later
    // closing) span's start is nested inside it.
    let mut min_start = usize::MAX;
    spans.into_iter().rev().find_map(|(start, end)| {
        if start > min_start {
            return None;
        }
        min_start = start;
        parse_object(&text[start..=end])
    })
}

fn strip_trailing_commas(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut in_str, mut escaped) = (false, false);
    for (i, c) in s.char_indices() {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
        } else if c == ',' && matches!(s[i + 1..].trim_start().chars().next(), Some('}' | ']')) {
            continue;
        }
        out.push(c);
    }
    out
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
fn split_id(s: &str) -> Option<(String, String)> {
    let m = TECHNIQUE_ID.as_ref()?.find(s)?;
    let rest = format!("{}{}", &s[..m.start()], &s[m.end()..])
        .replace("()", "")
        .replace("[]", "");
    let rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    let name = rest.trim_matches(|c: char| c.is_whitespace() || "-:–—,;|".contains(c));
    Some((m.as_str().to_ascii_uppercase(), name.to_string()))
}

/// The first of `keys` whose value contains a technique id: the id, the rest, the key.
fn id_in(o: &Map<String, Value>, keys: &[&'static str]) -> Option<(String, String, &'static str)> {
    keys.iter().find_map(|&k| {
        let (_, v) = lookup(o, &[k])?;
        split_id(&as_text(v)).map(|(id, rest)| (id, rest, k))
    })
}

fn techniques_of(v: Option<&Value>, w: &mut Warnings) -> Vec<MatchedTechnique> {
    const F: &str = "matched_techniques";
    let mut out = Vec::new();
    for item in list(v, F, w) {
        let found = match item {
            Value::String(s) => {
                w.add(F, "ids given as strings");
                split_id(s).map(|(id, name)| (id, name, String::new()))
            }
            Value::Object(o) => {
                let keys = ["id", "technique_id", "technique", "techniqueID"];
                id_in(o, &keys).map(|(id, rest, key)| {
                    if key != "id" {
                        w.add(F, format_args!("ids read from `{key}`"));
                    }
                    let name = text_of(o, &["name", "technique_name"]).unwrap_or(rest);
                    let why = ["rationale", "reason", "justification", "description"];
                    (id, name, text_of(o, &why).unwrap_or_default())
                })
            }
            _ => None,
        };
        match found {
            Some((id, name, rationale)) => out.push(MatchedTechnique {
                id,
                name,
                rationale,
                in_context: true,
            }),
            None => w.add(F, format_args!("dropped {} (no technique id)", short(item))),
        }
    }
    out
}

fn chain(v: Option<&Value>, w: &mut Warnings) -> Vec<ChainStep> {
    const F: &str = "attack_chain";
    if let Some(Value::String(s)) = v {
        w.add(F, "given as one string");
        return s
            .replace("=>", "→")
            .replace("->", "→")
            .split('→')
            .map(|p| p.trim_matches(|c: char| c.is_whitespace() || c == '-' || c == '='))
            .filter(|p| !p.is_empty())
            .map(step_of_text)
            .collect();
    }
    let mut out = Vec::new();
    for item in list(v, F, w) {
        match item {
            Value::String(s) => {
                w.add(F, "steps given as strings");
                out.push(step_of_text(s));
            }
            Value::Object(o) => {
                let technique = id_in(o, &["technique", "technique_id"]).map(|(id, _, _)| id);
                if technique.is_none() && lookup(o, &["technique", "technique_id"]).is_some() {
                    w.add(F, "technique without an id left empty");
                }
                let description = ["description", "step", "action", "details"];
                out.push(ChainStep {
                    tactic: text_of(o, &["tactic"]).unwrap_or_default(),
                    technique,
                    description: text_of(o, &description).unwrap_or_default(),
                });
            }
            other => w.add(F, format_args!("dropped {}", short(other))),
        }
    }
    out
}

/// A step from free text: the technique id it holds, the tactic it names or starts with
/// (`"Execution (T1059.001): …"`, `"Execution: …"`), the whole text as description.
fn step_of_text(s: &str) -> ChainStep {
    let s = s.trim();
    let tactic = if let Some(t) = TACTICS.iter().find(|t| t.eq_ignore_ascii_case(s)) {
        (*t).to_string()
    } else {
        let cut = [s.find(':'), s.find(" (")].into_iter().flatten().min();
        let prefix = cut.map_or("", |i| s[..i].trim());
        let wordy = prefix
            .chars()
            .all(|c| c.is_alphabetic() || " &-".contains(c));
        if wordy && prefix.split_whitespace().count() <= 3 {
            prefix.to_string()
        } else {
            String::new()
        }
    };
    ChainStep {
        tactic,
        technique: split_id(s).map(|(id, _)| id),
        description: s.to_string(),
    }
}

fn strings(v: Option<&Value>, field: &str, w: &mut Warnings) -> Vec<String> {
    if let Some(Value::String(s)) = v {
        w.add(field, "given as one string");
        return Some(s.trim().to_string())
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
    }
    let mut out = Vec::new();
    for item in list(v, field, w) {
        let text = match item {
            Value::String(s) => s.trim().to_string(),
            Value::Object(o) => {
                w.add(field, "items given as objects");
                let keys = ["action", "text", "description", "indicator"];
                text_of(o, &keys).unwrap_or_else(|| item.to_string())
            }
            other => {
                w.add(field, "items given as non-strings");
                other.to_string()
            }
        };
        if !text.is_empty() {
            out.push(text);
        }
    }
    out
}

/// The query language guessed from the query text.
fn guess_language(q: &str) -> &'static str {
    let t = q.trim();
    let l = t.to_ascii_lowercase();
    if l.starts_with("index=")
        || l.starts_with("index =")
        || l.starts_with("| tstats")
        || l.contains("| stats")
        || l.contains("sourcetype=")
    {
        "SPL"
    } else if l.starts_with("from ") && l.contains("| where") {
        "ES|QL"
    } else if hit(&EQL, t) {
        "EQL"
    } else if l.contains("| where") || hit(&KQL_TABLE, t) {
        "KQL"
    } else if hit(&LUCENE, t) {
        "Lucene"
    } else {
        "text"
    }
}

fn queries_of(v: Option<&Value>, w: &mut Warnings) -> Vec<InvestigationQuery> {
    const F: &str = "investigation_queries";
    let mut out = Vec::new();
    for item in list(v, F, w) {
        match item {
            Value::String(s) => {
                w.add(F, "given as strings; language guessed");
                out.push(InvestigationQuery {
                    language: guess_language(s).to_string(),
                    query: s.trim().to_string(),
                    purpose: String::new(),
                });
            }
            Value::Object(o) => {
                let Some(query) = text_of(o, &["query", "q"]) else {
                    w.add(F, format_args!("dropped {} (no query)", short(item)));
                    continue;
                };
                let language = text_of(o, &["language", "lang", "type"]).unwrap_or_else(|| {
                    w.add(F, "language guessed");
                    guess_language(&query).to_string()
                });
                let purpose = text_of(o, &["purpose", "description"]).unwrap_or_default();
                out.push(InvestigationQuery {
                    language,
                    query,
                    purpose,
                });
            }
            other => w.add(F, format_args!("dropped {}", short(other))),
        }
    }
    out
}

fn evidence(v: Option<&Value>, w: &mut Warnings) -> Vec<Evidence> {
    const F: &str = "evidence";
    let mut out = Vec::new();
    for item in list(v, F, w) {
        let (claim, source, reference) = match item {
            Value::String(s) => {
                w.add(F, "given as strings");
                (Some(s.trim().to_string()), None, None)
            }
            Value::Object(o) => (
                text_of(o, &["claim", "text", "finding"]),
                text_of(o, &["source"]),
                text_of(o, &["reference", "field", "ref"]),
            ),
            _ => (None, None, None),
        };
        match claim.filter(|c| !c.is_empty()) {
            Some(claim) => out.push(Evidence {
                claim,
                source: source.unwrap_or_else(|| "model".to_string()),
                reference: reference.unwrap_or_default(),
            }),
            None => w.add(F, format_args!("dropped {} (no claim)", short(item))),
        }
    }
    out
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A drifted answer: the row's JSON is laid over `BASE` (a row's `null` unsets a key,
    /// since `null` counts as missing), coerced, then checked.
    struct Row {
        name: &'static str,
        json: &'static str,
        level: Level,
        confidence: f64,
        ids: &'static [&'static str],
        /// Each must be contained in its own warning; no other warning may appear.
        warnings: &'static [&'static str],
        check: fn(&Verdict),
    }

    const BASE: &str = r#"{"verdict": "HIGH", "confidence": 0.9, "reasoning": "r"}"#;
    const SEED: &str = r#"{"verdict": "HIGH", "confidence": 0.85, "matched_techniques": ["T1059.001", "T1566.001"], "attack_chain": "Initial Access (T1566.001) → Execution (T1059.001) → Command and Control", "reasoning": "Word spawned an encoded PowerShell command.", "recommended_actions": ["Isolate FIN-WS-04", "Reset the user's credentials"], "false_positive_indicators": ["Signed internal macro"], "investigation_queries": ["process_name:powershell.exe AND parent_process_name:winword.exe"]}"#;

    fn none(_: &Verdict) {}

    fn names(v: &Verdict) -> Vec<&str> {
        v.matched_techniques
            .iter()
            .map(|t| t.name.as_str())
            .collect()
    }

    const ROWS: &[Row] = &[
        Row {
            name: "seed contract",
            json: SEED,
            level: Level::High,
            confidence: 0.85,
            ids: &["T1059.001", "T1566.001"],
            warnings: &[
                "matched_techniques: ids given as strings",
                "attack_chain: given as one string",
                "investigation_queries: given as strings",
            ],
            check: |v| {
                let tactics: Vec<_> = v.attack_chain.iter().map(|s| s.tactic.as_str()).collect();
                assert_eq!(
                    tactics,
                    ["Initial Access", "Execution", "Command and Control"]
                );
                let techs: Vec<_> = v
                    .attack_chain
                    .iter()
                    .map(|s| s.technique.as_deref())
                    .collect();
                assert_eq!(techs, [Some("T1566.001"), Some("T1059.001"), None]);
                assert_eq!(v.attack_chain[0].description, "Initial Access (T1566.001)");
                assert_eq!(v.reasoning, "Word spawned an encoded PowerShell command.");
                assert_eq!(v.recommended_actions.len(), 2);
                assert_eq!(v.false_positive_indicators, ["Signed internal macro"]);
                assert_eq!(v.investigation_queries[0].language, "Lucene");
                assert_eq!(v.investigation_queries[0].purpose, "");
                assert_eq!(v.escalation, Escalation::default());
                assert!(
                    v.matched_techniques
                        .iter()
                        .all(|t| t.in_context && t.name.is_empty())
                );
                assert!(v.warnings.is_empty() && v.triage_id.is_empty() && v.engine.is_empty());
            },
        },
        Row {
            name: "confidence as a percentage number",
            json: r#"{"confidence": 85}"#,
            level: Level::High,
            confidence: 0.85,
            ids: &[],
            warnings: &["confidence: 85 read as 0.85"],
            check: none,
        },
        Row {
            name: "confidence as a percent string",
            json: r#"{"confidence": "85%"}"#,
            level: Level::High,
            confidence: 0.85,
            ids: &[],
            warnings: &[r#"confidence: "85%" read as 0.85"#],
            check: none,
        },
        Row {
            name: "confidence as a word",
            json: r#"{"confidence": "high"}"#,
            level: Level::High,
            confidence: 0.85,
            ids: &[],
            warnings: &[r#"confidence: "high" read as 0.85"#],
            check: none,
        },
        Row {
            name: "confidence as words with a suffix",
            json: r#"{"confidence": "Very_Low confidence"}"#,
            level: Level::High,
            confidence: 0.15,
            ids: &[],
            warnings: &["confidence: \"Very_Low confidence\" read as 0.15"],
            check: none,
        },
        Row {
            name: "confidence as a numeric string",
            json: r#"{"confidence": "0.7"}"#,
            level: Level::High,
            confidence: 0.7,
            ids: &[],
            warnings: &[r#"confidence: "0.7" read as 0.7"#],
            check: none,
        },
        Row {
            name: "confidence as a percentage string without %",
            json: r#"{"confidence": "80"}"#,
            level: Level::High,
            confidence: 0.8,
            ids: &[],
            warnings: &["confidence: \"80\" read as 0.8"],
            check: none,
        },
        Row {
            name: "confidence above 100",
            json: r#"{"confidence": 150}"#,
            level: Level::High,
            confidence: 1.0,
            ids: &[],
            warnings: &["confidence: 150 out of range; clamped to 1"],
            check: none,
        },
        Row {
            name: "confidence negative",
            json: r#"{"confidence": -0.2}"#,
            level: Level::High,
            confidence: 0.0,
            ids: &[],
            warnings: &["confidence: -0.2 out of range; clamped to 0"],
            check: none,
        },
        Row {
            name: "confidence missing",
            json: r#"{"confidence": null}"#,
            level: Level::High,
            confidence: 0.5,
            ids: &[],
            warnings: &["confidence: missing; set to 0.5"],
            check: none,
        },
        Row {
            name: "confidence unreadable",
            json: r#"{"confidence": "somewhat"}"#,
            level: Level::High,
            confidence: 0.5,
            ids: &[],
            warnings: &["confidence: \"somewhat\" unreadable; set to 0.5"],
            check: none,
        },
        Row {
            name: "level lowercase",
            json: r#"{"verdict": "critical"}"#,
            level: Level::Critical,
            confidence: 0.9,
            ids: &[],
            warnings: &[],
            check: none,
        },
        Row {
            name: "level with padding",
            json: r#"{"verdict": "  Benign "}"#,
            level: Level::Benign,
            confidence: 0.9,
            ids: &[],
            warnings: &[],
            check: none,
        },
        Row {
            name: "level as a leading word",
            json: r#"{"verdict": "HIGH - likely malicious"}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &[r#"verdict: "HIGH - likely malicious" read as HIGH"#],
            check: none,
        },
        Row {
            name: "level word followed by 'risk'",
            json: r#"{"verdict": "low risk"}"#,
            level: Level::Low,
            confidence: 0.9,
            ids: &[],
            warnings: &["verdict: \"low risk\" read as LOW"],
            check: none,
        },
        Row {
            name: "level in an object",
            json: r#"{"verdict": {"level": "medium", "why": "x"}}"#,
            level: Level::Medium,
            confidence: 0.9,
            ids: &[],
            warnings: &["verdict: given as an object"],
            check: none,
        },
        Row {
            name: "level from severity when verdict is a word",
            json: r#"{"verdict": "malicious", "severity": "High"}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &["verdict: read from `severity`"],
            check: none,
        },
        Row {
            name: "level under a capitalised alias key",
            json: r#"{"verdict": null, "Classification": "LOW"}"#,
            level: Level::Low,
            confidence: 0.9,
            ids: &[],
            warnings: &["verdict: read from `classification`"],
            check: none,
        },
        Row {
            name: "ids with names in strings",
            json: r#"{"matched_techniques": ["T1059.001 - PowerShell", "T1059.003: Command and Scripting Interpreter", "PowerShell (t1566.001)"]}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &["T1059.001", "T1059.003", "T1566.001"],
            warnings: &["matched_techniques: ids given as strings"],
            check: |v| {
                let expected = [
                    "PowerShell",
                    "Command and Scripting Interpreter",
                    "PowerShell",
                ];
                assert_eq!(names(v), expected);
            },
        },
        Row {
            name: "ids in objects under technique_id and technique",
            json: r#"{"matched_techniques": [{"technique_id": "T1059.001", "technique_name": "PowerShell", "reason": "encoded command"}, {"technique": "T1566.001 Spearphishing Attachment", "justification": "macro"}, {"id": "T1204.002", "name": "Malicious File", "rationale": "opened"}]}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &["T1059.001", "T1566.001", "T1204.002"],
            warnings: &[
                "matched_techniques: ids read from `technique_id`",
                "matched_techniques: ids read from `technique`",
            ],
            check: |v| {
                let expected = ["PowerShell", "Spearphishing Attachment", "Malicious File"];
                assert_eq!(names(v), expected);
                let why: Vec<_> = v
                    .matched_techniques
                    .iter()
                    .map(|t| t.rationale.as_str())
                    .collect();
                assert_eq!(why, ["encoded command", "macro", "opened"]);
            },
        },
        Row {
            name: "techniques alias, items without ids dropped",
            json: r#"{"techniques": ["T1059", "PowerShell", 42, {"name": "Phishing"}]}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &["T1059"],
            warnings: &[
                "matched_techniques: read from `techniques`",
                "matched_techniques: ids given as strings",
                r#"matched_techniques: dropped "PowerShell" (no technique id)"#,
                "matched_techniques: dropped 42",
                "matched_techniques: dropped {\"name\":\"Phishing\"}",
            ],
            check: none,
        },
        Row {
            name: "one technique object instead of a list",
            json: r#"{"mitre_techniques": {"techniqueID": "T1003.001"}}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &["T1003.001"],
            warnings: &[
                "matched_techniques: read from `mitre_techniques`",
                "matched_techniques: given as a single value",
                "matched_techniques: ids read from `techniqueID`",
            ],
            check: none,
        },
        Row {
            name: "attack chain as strings and objects",
            json: r#"{"attack_chain": ["Execution (T1059.001): Word launched PowerShell", "Persistence: run key", "T1105 download", {"tactic": "Command and Control", "technique_id": "T1071.001", "details": "HTTPS beacon"}, {"tactic": "Impact", "technique": "ransomware", "step": "encrypt"}]}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &[
                "attack_chain: steps given as strings",
                "attack_chain: technique without an id left empty",
            ],
            check: |v| {
                let c = &v.attack_chain;
                let tactics: Vec<_> = c.iter().map(|s| s.tactic.as_str()).collect();
                assert_eq!(
                    tactics,
                    [
                        "Execution",
                        "Persistence",
                        "",
                        "Command and Control",
                        "Impact"
                    ]
                );
                let techs: Vec<_> = c.iter().map(|s| s.technique.as_deref()).collect();
                assert_eq!(
                    techs,
                    [
                        Some("T1059.001"),
                        None,
                        Some("T1105"),
                        Some("T1071.001"),
                        None
                    ]
                );
                assert_eq!(
                    c[0].description,
                    "Execution (T1059.001): Word launched PowerShell"
                );
                assert_eq!(c[3].description, "HTTPS beacon");
                assert_eq!(c[4].description, "encrypt");
            },
        },
        Row {
            name: "attack chain with ASCII arrows",
            json: r#"{"attack_chain": "Initial Access -> Execution => Persistence"}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &["attack_chain: given as one string"],
            check: |v| {
                let tactics: Vec<_> = v.attack_chain.iter().map(|s| s.tactic.as_str()).collect();
                assert_eq!(tactics, ["Initial Access", "Execution", "Persistence"]);
            },
        },
        Row {
            name: "recommended actions as one string",
            json: r#"{"recommended_actions": "Isolate the host"}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &["recommended_actions: given as one string"],
            check: |v| assert_eq!(v.recommended_actions, ["Isolate the host"]),
        },
        Row {
            name: "actions and false positives under aliases, as objects",
            json: r#"{"actions": [{"action": "Isolate", "priority": 1}, {"priority": 2}], "false_positives": [{"indicator": "IT script"}, "Signed macro"]}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &[
                "recommended_actions: read from `actions`",
                "recommended_actions: items given as objects",
                "false_positive_indicators: read from `false_positives`",
                "false_positive_indicators: items given as objects",
            ],
            check: |v| {
                assert_eq!(v.recommended_actions, ["Isolate", r#"{"priority":2}"#]);
                assert_eq!(v.false_positive_indicators, ["IT script", "Signed macro"]);
            },
        },
        Row {
            name: "queries as strings in many languages and as objects",
            json: r#"{"queries": ["index=edr sourcetype=sysmon | stats count by host", "DeviceProcessEvents\n| where FileName == \"powershell.exe\"", "FROM logs-* | WHERE process.name == \"powershell.exe\"", "process where process.name == \"powershell.exe\"", "Check the proxy logs", {"lang": "KQL", "q": "SecurityEvent | take 10", "description": "recent"}, {"query": "event.code:4688"}, {"language": "SPL"}]}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &[
                "investigation_queries: read from `queries`",
                "investigation_queries: given as strings; language guessed",
                "investigation_queries: language guessed",
                "investigation_queries: dropped {\"language\":\"SPL\"} (no query)",
            ],
            check: |v| {
                let q = &v.investigation_queries;
                let langs: Vec<_> = q.iter().map(|q| q.language.as_str()).collect();
                assert_eq!(
                    langs,
                    ["SPL", "KQL", "ES|QL", "EQL", "text", "KQL", "Lucene"]
                );
                assert_eq!(
                    (q[5].query.as_str(), q[5].purpose.as_str()),
                    ("SecurityEvent | take 10", "recent")
                );
            },
        },
        Row {
            name: "evidence as strings and objects",
            json: r#"{"evidence": ["parent is winword.exe", {"finding": "encoded command", "source": "alert_field", "field": "process.command_line"}, {"source": "x"}]}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &[
                "evidence: given as strings",
                "evidence: dropped {\"source\":\"x\"} (no claim)",
            ],
            check: |v| {
                let e = &v.evidence;
                assert_eq!(
                    (
                        e[0].claim.as_str(),
                        e[0].source.as_str(),
                        e[0].reference.as_str()
                    ),
                    ("parent is winword.exe", "model", "")
                );
                assert_eq!(
                    (
                        e[1].claim.as_str(),
                        e[1].source.as_str(),
                        e[1].reference.as_str()
                    ),
                    ("encoded command", "alert_field", "process.command_line")
                );
                assert_eq!(e.len(), 2);
            },
        },
        Row {
            name: "escalation as a bool",
            json: r#"{"escalation": true}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &["escalation: given as true"],
            check: |v| {
                assert_eq!(
                    v.escalation,
                    Escalation {
                        recommended: true,
                        draft: String::new()
                    }
                )
            },
        },
        Row {
            name: "escalation as a string draft",
            json: r#"{"escalation": "Page the IR lead: FIN-WS-04 runs encoded PowerShell"}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &["escalation: given as a string"],
            check: |v| {
                assert!(v.escalation.recommended);
                assert!(v.escalation.draft.starts_with("Page the IR lead"));
            },
        },
        Row {
            name: "escalation object with a yes/no string",
            json: r#"{"escalation": {"recommended": "No", "draft": "not needed"}}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &["escalation: recommended given as a string"],
            check: |v| {
                assert_eq!(
                    v.escalation,
                    Escalation {
                        recommended: false,
                        draft: "not needed".into()
                    }
                )
            },
        },
        Row {
            name: "escalation object as is",
            json: r#"{"escalation": {"recommended": true, "draft": "d"}}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &[],
            check: |v| {
                assert_eq!(
                    v.escalation,
                    Escalation {
                        recommended: true,
                        draft: "d".into()
                    }
                )
            },
        },
        Row {
            name: "top-level escalate",
            json: r#"{"escalate": true}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &["escalation: read from `escalate`"],
            check: |v| assert!(v.escalation.recommended),
        },
        Row {
            name: "reasoning as a list",
            json: r#"{"reasoning": ["Word spawned PowerShell.", "The command is encoded."]}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &["reasoning: given as a list"],
            check: |v| {
                assert_eq!(
                    v.reasoning,
                    "Word spawned PowerShell.\nThe command is encoded."
                )
            },
        },
        Row {
            name: "reasoning missing, unknown fields ignored",
            json: r#"{"reasoning": null, "mood": "tired", "alert_id": 7}"#,
            level: Level::High,
            confidence: 0.9,
            ids: &[],
            warnings: &["reasoning: missing"],
            check: |v| assert_eq!(v.reasoning, ""),
        },
    ];

    fn layered(row_json: &str) -> Value {
        let mut base: Value = serde_json::from_str(BASE).expect("base");
        let row: Value = serde_json::from_str(row_json).expect("row JSON");
        if let (Value::Object(b), Value::Object(r)) = (&mut base, row) {
            b.extend(r);
        }
        base
    }

    #[test]
    fn drifted_answers_are_coerced_with_warnings() {
        for row in ROWS {
            let c = coerce(layered(row.json)).unwrap_or_else(|e| panic!("{}: {e}", row.name));
            let v = &c.verdict;
            assert_eq!(v.verdict, row.level, "{}", row.name);
            assert!(
                (v.confidence - row.confidence).abs() < 1e-9,
                "{}: {}",
                row.name,
                v.confidence
            );
            let ids: Vec<_> = v.matched_techniques.iter().map(|t| t.id.as_str()).collect();
            assert_eq!(ids, row.ids, "{}", row.name);
            assert_eq!(
                c.warnings.len(),
                row.warnings.len(),
                "{}: {:?}",
                row.name,
                c.warnings
            );
            for (want, got) in row.warnings.iter().zip(&c.warnings) {
                assert!(got.contains(want), "{}: {got:?} lacks {want:?}", row.name);
            }
            (row.check)(v);
        }
    }

    #[test]
    fn unreadable_levels_and_non_objects_are_errors() {
        let rows = [
            (
                r#"{"confidence": 0.9, "reasoning": "r"}"#,
                CoerceError::MissingLevel,
            ),
            (r#"{"verdict": null}"#, CoerceError::MissingLevel),
            (
                r#"{"verdict": "maybe"}"#,
                CoerceError::BadLevel("maybe".into()),
            ),
            (
                r#"{"verdict": "CRIT"}"#,
                CoerceError::BadLevel("CRIT".into()),
            ),
            (
                r#"{"verdict": "highly suspicious"}"#,
                CoerceError::BadLevel("highly suspicious".into()),
            ),
            (
                r#"{"verdict": 3, "severity": "bad"}"#,
                CoerceError::BadLevel("3".into()),
            ),
            (r#"["HIGH"]"#, CoerceError::NotObject),
            (r#""HIGH""#, CoerceError::NotObject),
        ];
        for (json, want) in rows {
            let value: Value = serde_json::from_str(json).expect("row JSON");
            assert_eq!(coerce(value), Err(want), "{json}");
        }
    }

    #[test]
    fn find_json_in_model_text() {
        let rows: &[(&str, &str, Option<Value>)] = &[
            (
                "fence followed by prose",
                "Let me look.\n```json\n{\"verdict\": \"HIGH\", \"confidence\": 0.9}\n```\nLet me know if you need more.",
                Some(json!({"verdict": "HIGH", "confidence": 0.9})),
            ),
            (
                "bare object followed by prose",
                "I think {this} matters, he said \"hi\". {\"verdict\": \"LOW\", \"x\": {\"y\": \"}\"}} Hope this helps!",
                Some(json!({"verdict": "LOW", "x": {"y": "}"}})),
            ),
            (
                "trailing commas, not inside strings",
                "{\"verdict\": \"LOW\", \"list\": [1, 2,], \"s\": \"a,}\", \"o\": {\"k\": 1,},}",
                Some(json!({"verdict": "LOW", "list": [1, 2], "s": "a,}", "o": {"k": 1}})),
            ),
            (
                "fence without a language",
                "```\n{\"verdict\": \"MEDIUM\",}\n```\ndone",
                Some(json!({"verdict": "MEDIUM"})),
            ),
            (
                "last json fence wins, other languages skipped",
                "```json\n{\"verdict\": \"LOW\"}\n```\n```json\n{\"verdict\": \"HIGH\"}\n```\n```spl\nindex=main {x}\n```",
                Some(json!({"verdict": "HIGH"})),
            ),
            (
                "unparseable fence falls back to the last bare object",
                "```\nindex=main | stats count\n```\n{\"verdict\": \"LOW\"}",
                Some(json!({"verdict": "LOW"})),
            ),
            (
                "prose inside a fence before the object",
                "```json\nHere it is: {\"verdict\": \"LOW\"} ok\n```",
                Some(json!({"verdict": "LOW"})),
            ),
            (
                "unbalanced brace in prose before the object",
                "Use {braces like this. {\"verdict\": \"HIGH\"}",
                Some(json!({"verdict": "HIGH"})),
            ),
            ("no object", "no json here", None),
            ("array only", "[1, 2]", None),
            (
                "truncated object",
                "{\"verdict\": \"HIGH\", \"confidence\": ",
                None,
            ),
        ];
        for (name, text, want) in rows {
            assert_eq!(&find_json(text), want, "{name}");
        }
    }

    #[test]
    fn seed_contract_in_a_fence_round_trips() {
        let text = format!("Analysis done.\n```json\n{SEED}\n```\nStay safe.");
        let value = find_json(&text).expect("object");
        let c = coerce(value).expect("coerced");
        assert_eq!(c.verdict.verdict, Level::High);
        assert_eq!(c.verdict.attack_chain.len(), 3);
    }

    #[test]
    fn word_confidences_are_as_documented() {
        let table: Vec<_> = WORD_CONFIDENCE.to_vec();
        for (word, x) in [
            ("very high", 0.95),
            ("high", 0.85),
            ("medium", 0.6),
            ("low", 0.3),
            ("very low", 0.15),
        ] {
            assert!(table.contains(&(word, x)), "{word}");
            assert_eq!(word_confidence(&word.to_uppercase()), Some(x));
        }
    }
}
