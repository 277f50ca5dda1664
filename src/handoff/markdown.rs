//! The hand-off as a Markdown report an analyst can paste into a ticket or a chat: what
//! happened, why the alerts belong together, the alerts, the entities and indicators, the
//! ATT&CK techniques by tactic and what to do next. Text from alerts is escaped so that a
//! `|` in a title cannot break a table and a backtick cannot open a code span.

use std::fmt::Write as _;

use super::{Case, CaseTechnique, indicators, one_line, techniques, title};

/// Text for running Markdown (and table cells): line breaks become spaces and the
/// characters Markdown would read as markup, `|` included, are backslash-escaped.
pub fn inline(s: &str) -> String {
    let flat = one_line(s, usize::MAX);
    let mut out = String::with_capacity(flat.len());
    for c in flat.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '<' | '>' | '|' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A code span showing `s` verbatim: line breaks become spaces, the fence is one backtick
/// longer than the longest backtick run inside, and in a table cell `|` is escaped (GFM
/// splits cells on it even inside code spans).
pub fn code(s: &str, in_table: bool) -> String {
    let mut flat: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if flat.trim().is_empty() {
        return String::new();
    }
    if in_table {
        flat = flat.replace('|', "\\|");
    }
    let mut longest = 0;
    let mut run = 0;
    for c in flat.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if flat.starts_with('`') || flat.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{flat}{pad}{fence}")
}

pub fn render(case: &Case) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", inline(&title(case, 200)));

    let verdict = super::verdict_line(case);
    let _ = writeln!(
        out,
        "- **Reference:** {} {}",
        inline(&case.kind),
        code(&case.reference, false)
    );
    let _ = writeln!(out, "- **Verdict:** {verdict}");
    let _ = writeln!(
        out,
        "- **Time range:** {} → {} (UTC), {} alert{}",
        inline(&case.first_seen),
        inline(&case.last_seen),
        case.alerts.len(),
        if case.alerts.len() == 1 { "" } else { "s" }
    );
    if let Some(t) = case.triage_id.as_deref() {
        let _ = writeln!(out, "- **Triage:** {}", code(t, false));
    }

    if !case.summary.trim().is_empty() {
        let _ = writeln!(out, "\n## Summary\n\n{}", case.summary.trim());
    }

    if !case.links.is_empty() {
        let _ = writeln!(out, "\n## Why these alerts are grouped\n");
        for l in &case.links {
            let _ = writeln!(out, "- {}", inline(l));
        }
    }

    if !case.alerts.is_empty() {
        let _ = writeln!(
            out,
            "\n## Alerts\n\n| Time (UTC) | Title | Source | Host | User | Alert key |\n|---|---|---|---|---|---|"
        );
        let opt = |v: Option<&str>| v.map(inline).unwrap_or_else(|| "—".into());
        for a in &case.alerts {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                inline(&a.at),
                inline(&a.title),
                inline(&a.source),
                opt(a.host.as_deref()),
                opt(a.user.as_deref()),
                code(&a.key, true)
            );
        }
    }

    if !case.hosts.is_empty() || !case.users.is_empty() {
        let _ = writeln!(out, "\n## Hosts and users\n");
        let list = |v: &[String]| {
            v.iter()
                .map(|x| code(x, false))
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !case.hosts.is_empty() {
            let _ = writeln!(out, "- **Hosts:** {}", list(case.hosts.as_slice()));
        }
        if !case.users.is_empty() {
            let _ = writeln!(out, "- **Users:** {}", list(case.users.as_slice()));
        }
    }

    let iocs = indicators(case);
    if !iocs.is_empty() {
        let _ = writeln!(out, "\n## Indicators\n\n| Kind | Value |\n|---|---|");
        for (kind, value) in &iocs {
            let _ = writeln!(out, "| {} | {} |", inline(kind), code(value, true));
        }
    }

    let techs = techniques(case);
    if !techs.is_empty() {
        let _ = writeln!(out, "\n## ATT&CK techniques");
        // Tactics in the order the case lists them (kill-chain order), techniques without
        // a tactic last.
        let mut groups: Vec<(Option<&str>, Vec<&CaseTechnique>)> = Vec::new();
        for t in techs {
            let tactic = t.tactic.as_deref().map(str::trim).filter(|s| !s.is_empty());
            match groups.iter_mut().find(|(k, _)| *k == tactic) {
                Some((_, v)) => v.push(t),
                None => groups.push((tactic, vec![t])),
            }
        }
        groups.sort_by_key(|(k, _)| k.is_none());
        for (tactic, ts) in groups {
            let _ = writeln!(
                out,
                "\n### {}\n",
                tactic.map(inline).unwrap_or_else(|| "Other".into())
            );
            for t in ts {
                let _ = writeln!(out, "- {} — {}", inline(t.id.trim()), inline(&t.name));
            }
        }
    }

    if !case.actions.is_empty() {
        let _ = writeln!(out, "\n## Recommended actions\n");
        for (n, a) in case.actions.iter().enumerate() {
            let _ = writeln!(out, "{}. {}", n + 1, inline(a));
        }
    }

    let _ = writeln!(out, "\n---\n\n_Exported by soc-copilot._");
    out
}
