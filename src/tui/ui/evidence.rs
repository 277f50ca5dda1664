//! Techniques & evidence: matched techniques with why they matched, then tabs for the alert
//! itself, evidence, actions, queries, false-positive indicators and the escalation draft.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::super::state::{Item, Tab};
use super::{View, block, title_span};

fn techniques<'a>(it: &'a Item, v: &View<'_>, focused: bool) -> (Vec<Line<'a>>, usize) {
    let t = &v.theme;
    let mut lines = Vec::new();
    let mut selected_line = 0;
    if it.techniques.is_empty() {
        lines.push(Line::styled(
            "No techniques yet: Enter triages the alert.",
            t.dim(),
        ));
    }
    for (i, r) in it.techniques.iter().enumerate() {
        let sel = i == v.state.tech_selected;
        if sel {
            selected_line = lines.len();
        }
        let mark = if r.matched {
            Span::styled("✓ ", t.good())
        } else if r.from_chat {
            Span::styled("+ ", t.accent())
        } else {
            Span::raw("  ")
        };
        let mut head = Line::from(vec![
            mark,
            Span::styled(r.id.as_str(), t.accent()),
            Span::raw(" "),
            Span::styled(r.name.as_str(), t.bold()),
            Span::styled(format!(" {:.2}", r.score), t.dim()),
            Span::styled(
                if r.tactics.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", r.tactics.join(", "))
                },
                t.dim(),
            ),
        ]);
        if sel && focused {
            head = head.style(t.selected());
        }
        lines.push(head);
        if !r.why.is_empty() {
            lines.push(Line::from(vec![
                Span::styled("    why: ", t.dim()),
                // The words quoted in `why` are the alert's own.
                Span::styled(
                    r.why.iter().take(3).cloned().collect::<Vec<_>>().join("; "),
                    t.untrusted(),
                ),
            ]));
        }
    }
    (lines, selected_line)
}

fn alert<'a>(it: &'a Item, v: &View<'_>) -> Vec<Line<'a>> {
    let t = &v.theme;
    let a = &it.alert.alert;
    let field = |k: &'a str, val: &'a str| {
        Line::from(vec![
            Span::styled(format!("{k}: "), t.dim()),
            Span::styled(val, t.untrusted()),
        ])
    };
    let mut lines = vec![Line::styled(
        "italic = from the alert (attacker-controllable)",
        t.dim(),
    )];
    lines.push(field("title", &a.title));
    if !a.description.is_empty() {
        lines.push(field("description", &a.description));
    }
    lines.push(Line::styled(
        format!(
            "format {} · source {} · severity {} · origin {}",
            a.format,
            a.source,
            a.severity.map_or("unknown", |s| s.as_str()),
            // The file name and line; the whole path rarely fits.
            it.alert
                .origin
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or(&it.alert.origin)
        ),
        t.dim(),
    ));
    if let Some(h) = &a.host {
        lines.push(field("host", h));
    }
    if let Some(u) = &a.user {
        lines.push(field("user", u));
    }
    if let Some(ts) = &a.timestamp {
        lines.push(field("time", ts));
    }
    if !a.iocs.is_empty() {
        lines.push(Line::styled("Indicators", t.heading()));
        for (kind, values) in a.iocs.lists() {
            if !values.is_empty() {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {kind}: "), t.dim()),
                    Span::styled(values.join(", "), t.untrusted()),
                ]));
            }
        }
    }
    lines.push(Line::styled("Fields", t.heading()));
    for fl in a.fields.iter().take(200) {
        lines.push(Line::from(vec![
            Span::styled(format!("  {}: ", fl.path), t.dim()),
            Span::styled(fl.value.as_str(), t.untrusted()),
        ]));
    }
    lines
}

fn bullets<'a>(
    rows: impl Iterator<Item = String>,
    empty: &'static str,
    v: &View<'_>,
) -> Vec<Line<'a>> {
    let mut lines: Vec<Line> = rows
        .map(|r| Line::from(vec![Span::styled("• ", v.theme.accent()), Span::raw(r)]))
        .collect();
    if lines.is_empty() {
        lines.push(Line::styled(empty, v.theme.dim()));
    }
    lines
}

/// What the triage's investigation found: offline intel, IOC history, related alerts and
/// each remote lookup (provider, indicator, outcome, latency or cache age). Feed text is
/// external data, drawn like alert text.
fn intel<'a>(it: &'a Item, v: &View<'_>) -> Vec<Line<'a>> {
    let t = &v.theme;
    let Some(p) = &it.provenance else {
        return vec![Line::styled(
            "No investigation yet: Enter triages the alert (intel lookups run with it).",
            t.dim(),
        )];
    };
    if p.investigation.is_empty() && p.tool_calls.is_empty() {
        return vec![Line::styled(
            "Nothing known about the alert's indicators: no offline intel, no earlier alert with them, no related alert, no remote provider configured or none answered.",
            t.dim(),
        )];
    }
    let mut lines = Vec::new();
    if !p.investigation.is_empty() {
        lines.push(Line::styled(
            if p.mode == "agentic" {
                format!(
                    "{} finding(s) of the local lookups (the model investigated with its own tool calls, below)",
                    p.investigation.len()
                )
            } else {
                format!(
                    "{} finding(s), each naming its lookup",
                    p.investigation.len()
                )
            },
            t.dim(),
        ));
    }
    for f in &p.investigation {
        let (tool, rest) = f.split_once(": ").unwrap_or(("", f.as_str()));
        lines.push(Line::from(vec![
            Span::styled("• ", t.accent()),
            Span::styled(format!("{tool}: "), t.heading()),
            Span::styled(rest, t.untrusted()),
        ]));
    }
    tool_calls(&mut lines, p, v);
    lines
}

/// The agent's tool calls, each with its raw result as recorded.
fn tool_calls<'a>(
    lines: &mut Vec<Line<'a>>,
    p: &'a crate::triage::provenance::Provenance,
    v: &View<'_>,
) {
    let t = &v.theme;
    if p.tool_calls.is_empty() {
        return;
    }
    let by_model = p.tool_calls.iter().filter(|r| r.turn > 0).count();
    lines.push(Line::styled(
        if by_model > 0 {
            format!("Tool calls: {by_model} by the model in {} turn(s)", p.turns)
        } else {
            format!("Lookups, with raw results: {}", p.tool_calls.len())
        },
        t.heading(),
    ));
    for r in &p.tool_calls {
        lines.push(Line::from(vec![
            Span::styled(
                if r.is_error { "✗ " } else { "• " },
                if r.is_error { t.bad() } else { t.accent() },
            ),
            Span::styled(format!("{} ", r.call_line()), t.bold()),
            Span::styled(
                format!("· {} · {} ms · {}", r.origin(), r.latency_ms, r.id),
                t.dim(),
            ),
        ]));
        if !r.injection_flags.is_empty() {
            lines.push(Line::styled(
                format!(
                    "    ⚠ instruction-like text: {}",
                    r.injection_flags.join("; ")
                ),
                t.bad(),
            ));
        }
        for l in r.output.lines().take(12) {
            lines.push(Line::from(vec![
                Span::raw("    "),
                Span::styled(l, t.untrusted()),
            ]));
        }
    }
}

fn tab_lines<'a>(it: &'a Item, tab: Tab, v: &View<'_>, focused: bool) -> (Vec<Line<'a>>, usize) {
    let t = &v.theme;
    if tab == Tab::Techniques {
        return techniques(it, v, focused);
    }
    if tab == Tab::Alert {
        return (alert(it, v), 0);
    }
    if tab == Tab::Intel {
        return (intel(it, v), 0);
    }
    let Some(verdict) = &it.verdict else {
        return (
            vec![Line::styled(
                "No verdict yet: Enter triages the alert.",
                t.dim(),
            )],
            0,
        );
    };
    let lines = match tab {
        Tab::Evidence => {
            let mut lines = Vec::new();
            if let Some(c) = &verdict.claims {
                lines.push(Line::styled(
                    format!("{} (quotes checked)", c.line()),
                    if c.verified < c.total {
                        t.bad()
                    } else {
                        t.good()
                    },
                ));
            }
            for e in &verdict.evidence {
                let mark = match e.verified {
                    Some(true) => Span::styled("✓ ", t.good()),
                    Some(false) => Span::styled("✗ unverified: ", t.bad()),
                    None => Span::styled("• ", t.accent()),
                };
                lines.push(Line::from(vec![mark, Span::raw(e.claim.as_str())]));
                let reference = if e.source == "alert_field" || e.source.starts_with("alert:") {
                    t.untrusted()
                } else {
                    t.dim()
                };
                if !e.reference.is_empty() || e.quote.is_empty() {
                    lines.push(Line::from(vec![
                        Span::styled(format!("    {}: ", e.source), t.dim()),
                        Span::styled(e.reference.as_str(), reference),
                    ]));
                }
                if !e.quote.is_empty() {
                    lines.push(Line::from(vec![
                        Span::styled(format!("    {} quote: ", e.source), t.dim()),
                        Span::styled(format!("“{}”", e.quote), t.untrusted()),
                    ]));
                }
                if let Some(why) = &e.check {
                    lines.push(Line::styled(format!("    check: {why}"), t.dim()));
                }
            }
            if lines.is_empty() {
                lines.push(Line::styled("The verdict cites no evidence.", t.dim()));
            }
            lines
        }
        Tab::Actions => bullets(
            verdict.recommended_actions.iter().cloned(),
            "No actions recommended.",
            v,
        ),
        Tab::Queries => {
            let mut lines = Vec::new();
            for q in &verdict.investigation_queries {
                lines.push(Line::from(vec![
                    Span::styled(format!("{} ", q.language), t.heading()),
                    Span::raw(q.purpose.as_str()),
                ]));
                for l in q.query.lines() {
                    lines.push(Line::styled(format!("  {l}"), t.code()));
                }
            }
            if lines.is_empty() {
                lines.push(Line::styled("No queries.", t.dim()));
            }
            lines
        }
        Tab::FalsePositives => bullets(
            verdict.false_positive_indicators.iter().cloned(),
            "No false-positive indicators given.",
            v,
        ),
        Tab::Escalation => {
            let mut lines = vec![Line::styled(
                if verdict.escalation.recommended {
                    "Escalation recommended"
                } else {
                    "Escalation not recommended"
                },
                if verdict.escalation.recommended {
                    t.bad()
                } else {
                    t.good()
                },
            )];
            lines.extend(verdict.escalation.draft.lines().map(Line::raw));
            lines
        }
        Tab::Techniques | Tab::Alert | Tab::Intel => Vec::new(),
    };
    (lines, 0)
}

pub fn draw(f: &mut Frame, area: Rect, v: &View<'_>, focused: bool) {
    let s = v.state;
    let b = block(
        title_span(" Techniques & evidence ".into(), focused, &v.theme),
        focused,
        &v.theme,
    );
    let inner = b.inner(area);
    f.render_widget(b, area);
    let [tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let selected = Tab::ALL.iter().position(|t| *t == s.tab).unwrap_or(0);
    let titles: Vec<&str> = Tab::ALL.iter().map(|t| t.title()).collect();
    f.render_widget(
        Paragraph::new(tab_bar(&titles, selected, tabs_area.width, &v.theme)),
        tabs_area,
    );
    let Some(it) = s.selected_item() else {
        return;
    };
    let (lines, selected_line) = tab_lines(it, s.tab, v, focused);
    let h = body.height as usize;
    let para = Paragraph::new(lines).wrap(Wrap { trim: false });
    let max = para.line_count(body.width).saturating_sub(h);
    s.extents.evidence.set(max.min(u16::MAX as usize) as u16);
    let scroll = if s.tab == Tab::Techniques {
        (selected_line + 2).saturating_sub(h)
    } else {
        (s.evidence_scroll as usize).min(max)
    };
    f.render_widget(para.scroll((scroll.min(u16::MAX as usize) as u16, 0)), body);
}

/// The tabs that fit in `width` columns, whole: a window around the selected tab, with ‹ and
/// › where tabs are left out. A tab name is never cut.
pub fn tab_window(titles: &[&str], selected: usize, width: u16) -> (usize, usize) {
    let w = |i: usize| titles[i].chars().count() + 3; // " name " and a divider
    let fits = |a: usize, b: usize| {
        let marks = usize::from(a > 0) + usize::from(b < titles.len());
        (a..b).map(w).sum::<usize>() + marks * 2 <= width as usize
    };
    let (mut a, mut b) = (selected, (selected + 1).min(titles.len()));
    loop {
        if b < titles.len() && fits(a, b + 1) {
            b += 1;
        } else if a > 0 && fits(a - 1, b) {
            a -= 1;
        } else {
            break;
        }
    }
    (a, b)
}

fn tab_bar<'a>(titles: &[&'a str], selected: usize, width: u16, t: &super::Theme) -> Line<'a> {
    let (a, b) = tab_window(titles, selected, width);
    let mut spans = Vec::new();
    if a > 0 {
        spans.push(Span::styled("‹ ", t.dim()));
    }
    for (i, title) in titles.iter().enumerate().take(b).skip(a) {
        let style = if i == selected { t.heading() } else { t.dim() };
        spans.push(Span::styled(format!(" {title} "), style));
        if i + 1 < b {
            spans.push(Span::styled("|", t.dim()));
        }
    }
    if b < titles.len() {
        spans.push(Span::styled(" ›", t.dim()));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::tab_window;

    #[test]
    fn the_tab_window_keeps_whole_names_and_the_selected_tab() {
        let titles = [
            "Techniques",
            "Alert",
            "Evidence",
            "Actions",
            "Queries",
            "FP",
            "Escalation",
        ];
        for width in [12u16, 20, 38, 60, 120] {
            for sel in 0..titles.len() {
                let (a, b) = tab_window(&titles, sel, width);
                assert!(a <= sel && sel < b, "{width}/{sel}: {a}..{b}");
                let used: usize = (a..b).map(|i| titles[i].chars().count() + 3).sum::<usize>()
                    + 2 * (usize::from(a > 0) + usize::from(b < titles.len()));
                assert!(
                    used <= width as usize || b - a == 1,
                    "{width}/{sel}: {used} columns"
                );
            }
        }
        assert_eq!(tab_window(&titles, 0, 120), (0, titles.len()));
    }
}
