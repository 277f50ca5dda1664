//! An alert's investigation as a Markdown document, for a ticket or a case file.

use std::fmt::Write as _;

use super::state::{ChatRole, Failure, Item};

/// Alert text goes into code spans or fenced blocks so that Markdown in it cannot restyle
/// (or hide) the document around it.
fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'"))
}

pub fn markdown(item: &Item) -> String {
    let a = &item.alert.alert;
    let mut m = String::new();
    let _ = writeln!(m, "# Investigation: {}\n", a.title.replace('\n', " "));
    let _ = writeln!(m, "- Alert id: {}", code(&a.id));
    let _ = writeln!(m, "- Source: {} ({})", code(&a.source), a.format);
    let _ = writeln!(
        m,
        "- Severity: {}",
        a.severity.map_or("unknown", |s| s.as_str())
    );
    if let Some(h) = &a.host {
        let _ = writeln!(m, "- Host: {}", code(h));
    }
    if let Some(u) = &a.user {
        let _ = writeln!(m, "- User: {}", code(u));
    }
    if let Some(t) = &a.timestamp {
        let _ = writeln!(m, "- Time: {t}");
    }
    let _ = writeln!(m, "- Status: {}", item.status.label());
    if !a.description.is_empty() {
        let _ = writeln!(
            m,
            "\n> Alert content below is untrusted data from the source.\n\n```text\n{}\n```",
            a.description.replace("```", "'''")
        );
    }
    match &item.verdict {
        Some(v) => {
            let _ = writeln!(
                m,
                "\n## Verdict: {} (confidence {:.2})\n",
                v.verdict, v.confidence
            );
            if let Some(p) = &item.provenance {
                let _ = writeln!(
                    m,
                    "Engine {}{} · ATT&CK {} · triage `{}` · prompt `{}`\n",
                    p.engine,
                    p.model
                        .as_deref()
                        .map(|x| format!(" ({x})"))
                        .unwrap_or_default(),
                    p.attack_version,
                    v.triage_id,
                    &p.prompt_hash[..p.prompt_hash.len().min(12)]
                );
            }
            let _ = writeln!(m, "{}\n", item.reasoning.text.trim());
            section(
                &mut m,
                "Matched techniques",
                v.matched_techniques
                    .iter()
                    .map(|t| format!("**{}** {} — {}", t.id, t.name, t.rationale)),
            );
            section(
                &mut m,
                "Attack chain",
                v.attack_chain.iter().map(|s| {
                    format!(
                        "{}{}: {}",
                        s.tactic,
                        s.technique
                            .as_deref()
                            .map(|t| format!(" ({t})"))
                            .unwrap_or_default(),
                        s.description
                    )
                }),
            );
            if let Some(c) = &v.claims {
                let _ = writeln!(m, "Evidence check: {}.\n", c.line());
            }
            section(
                &mut m,
                "Evidence",
                v.evidence.iter().map(|e| {
                    let mark = match e.verified {
                        Some(true) => "✓ ",
                        Some(false) => "✗ UNVERIFIED ",
                        None => "",
                    };
                    let quote = if e.quote.is_empty() {
                        String::new()
                    } else {
                        format!(" “{}”", e.quote)
                    };
                    let source = if e.reference.is_empty() {
                        e.source.clone()
                    } else {
                        format!("{}: {}", e.source, e.reference)
                    };
                    format!("{mark}{} [{source}]{quote}", e.claim)
                }),
            );
            if let Some(p) = &item.provenance {
                section(
                    &mut m,
                    "Tool calls",
                    p.tool_calls.iter().map(|r| {
                        format!(
                            "`{}` {} ({}, {} ms){}",
                            r.id,
                            r.call_line(),
                            r.origin(),
                            r.latency_ms,
                            if r.is_error { " — failed" } else { "" }
                        )
                    }),
                );
            }
            section(
                &mut m,
                "Recommended actions",
                v.recommended_actions.iter().cloned(),
            );
            section(
                &mut m,
                "False-positive indicators",
                v.false_positive_indicators.iter().cloned(),
            );
            if !v.investigation_queries.is_empty() {
                m.push_str("## Investigation queries\n\n");
                for q in &v.investigation_queries {
                    let _ = writeln!(
                        m,
                        "{} — {}\n\n```\n{}\n```\n",
                        q.language, q.purpose, q.query
                    );
                }
            }
            if v.escalation.recommended || !v.escalation.draft.is_empty() {
                let _ = writeln!(
                    m,
                    "## Escalation{}\n\n{}\n",
                    if v.escalation.recommended {
                        " (recommended)"
                    } else {
                        ""
                    },
                    v.escalation.draft
                );
            }
            section(&mut m, "Warnings", v.warnings.iter().cloned());
            section(
                &mut m,
                "Prompt-injection attempts in the alert",
                v.injection_flags.iter().cloned(),
            );
        }
        None => match &item.failure {
            Some(f) => failure(&mut m, item, f),
            None => m.push_str("\n## Verdict\n\nNot triaged yet.\n\n"),
        },
    }
    let j = &item.judgement;
    if let Some(t) = j.thumbs {
        let _ = writeln!(
            m,
            "## Analyst review\n\n- Thumbs {}{}{}\n",
            t.as_str(),
            j.reason
                .map(|r| format!(" ({})", r.as_str().replace('_', " ")))
                .unwrap_or_default(),
            j.analyst_verdict
                .map(|l| format!(", analyst verdict {l}"))
                .unwrap_or_default()
        );
    }
    section(&mut m, "Notes", item.notes.iter().cloned());
    if !item.chat.is_empty() {
        m.push_str("## Follow-up\n\n");
        for e in &item.chat {
            let who = match e.role {
                ChatRole::Analyst => "**Analyst:**",
                ChatRole::Assistant => "**Copilot:**",
                ChatRole::Error => "**Error:**",
            };
            let _ = writeln!(m, "{who} {}\n", e.text.text.trim());
        }
    }
    m
}

fn section(m: &mut String, title: &str, rows: impl Iterator<Item = String>) {
    let rows: Vec<String> = rows.collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(m, "## {title}\n");
    for r in rows {
        let _ = writeln!(m, "- {r}");
    }
    m.push('\n');
}

/// A failed triage: why, the run's id, what the model's answer named (unvalidated) and the
/// answer itself, fenced as untrusted text.
fn failure(m: &mut String, item: &Item, f: &Failure) {
    let _ = writeln!(
        m,
        "\n## Verdict: none — the triage failed\n\nFailure: {}\n",
        f.error.replace('\n', " ")
    );
    if let Some(id) = &item.triage_id {
        let _ = writeln!(m, "Triage `{id}`\n");
    }
    if let Some(l) = f.salvaged.level {
        let _ = writeln!(m, "The model's answer named {l} (unvalidated).\n");
    }
    if !f.salvaged.techniques.is_empty() {
        let _ = writeln!(
            m,
            "Technique ids in the answer (unvalidated): {}\n",
            f.salvaged.techniques.join(", ")
        );
    }
    let raw = f
        .raw
        .as_deref()
        .unwrap_or(item.reasoning.text.as_str())
        .trim();
    if raw.is_empty() {
        m.push_str("The model returned no text.\n\n");
    } else {
        let _ = writeln!(
            m,
            "### The model's raw answer (untrusted, unvalidated)\n\n```text\n{}\n```\n",
            raw.replace("```", "'''")
        );
    }
}
