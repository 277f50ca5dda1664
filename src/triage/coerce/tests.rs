//! Drifted model answers, each with the verdict it must become and its warnings.

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
