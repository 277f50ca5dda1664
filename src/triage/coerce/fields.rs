//! The list-shaped fields of a verdict, each from the shapes models write them in:
//! techniques, the attack chain, string lists, investigation queries, evidence.

use serde_json::{Map, Value};

use super::super::verdict::{ChainStep, Evidence, InvestigationQuery, MatchedTechnique};
use super::{
    EQL, KQL_TABLE, LUCENE, TECHNIQUE_ID, Warnings, as_text, hit, list, lookup, short, text_of,
};

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

pub(super) fn split_id(s: &str) -> Option<(String, String)> {
    let m = TECHNIQUE_ID.as_ref()?.find(s)?;
    let rest = format!("{}{}", &s[..m.start()], &s[m.end()..])
        .replace("()", "")
        .replace("[]", "");
    let rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    let name = rest.trim_matches(|c: char| c.is_whitespace() || "-:–—,;|".contains(c));
    Some((m.as_str().to_ascii_uppercase(), name.to_string()))
}

/// The first of `keys` whose value contains a technique id: the id, the rest, the key.
pub(super) fn id_in(
    o: &Map<String, Value>,
    keys: &[&'static str],
) -> Option<(String, String, &'static str)> {
    keys.iter().find_map(|&k| {
        let (_, v) = lookup(o, &[k])?;
        split_id(&as_text(v)).map(|(id, rest)| (id, rest, k))
    })
}

pub(super) fn techniques_of(v: Option<&Value>, w: &mut Warnings) -> Vec<MatchedTechnique> {
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

pub(super) fn chain(v: Option<&Value>, w: &mut Warnings) -> Vec<ChainStep> {
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
pub(super) fn step_of_text(s: &str) -> ChainStep {
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

pub(super) fn strings(v: Option<&Value>, field: &str, w: &mut Warnings) -> Vec<String> {
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
pub(super) fn guess_language(q: &str) -> &'static str {
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

pub(super) fn queries_of(v: Option<&Value>, w: &mut Warnings) -> Vec<InvestigationQuery> {
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

pub(super) fn evidence(v: Option<&Value>, w: &mut Warnings) -> Vec<Evidence> {
    const F: &str = "evidence";
    let mut out = Vec::new();
    for item in list(v, F, w) {
        let (claim, source, reference, quote) = match item {
            Value::String(s) => {
                w.add(F, "given as strings");
                (Some(s.trim().to_string()), None, None, None)
            }
            Value::Object(o) => (
                text_of(o, &["claim", "text", "finding"]),
                text_of(o, &["source", "tool_call_id", "tool_use_id"]),
                text_of(o, &["reference", "field", "ref"]),
                text_of(o, &["quote", "excerpt"]),
            ),
            _ => (None, None, None, None),
        };
        match claim.filter(|c| !c.is_empty()) {
            Some(claim) => out.push(Evidence {
                quote: quote.unwrap_or_default(),
                ..Evidence::new(
                    claim,
                    source.as_deref().unwrap_or("model"),
                    reference.unwrap_or_default(),
                )
            }),
            None => w.add(F, format_args!("dropped {} (no claim)", short(item))),
        }
    }
    out
}
