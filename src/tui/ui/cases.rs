//! The incident view, the hand-off menu, a Sigma draft before it is saved, and the list of
//! autonomous closures.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::handoff::Target;

use super::super::state::{Overlay, State};
use super::popup::centered;
use super::{Theme, View, block};

/// `2026-11-20T10:40:00Z` → `11-20 10:40` (UTC).
fn short_time(t: &str) -> String {
    t.get(5..16).unwrap_or(t).replacen('T', " ", 1)
}

fn hint<'a>(v: &View<'_>, pairs: &[(&str, &'a str)]) -> Line<'a> {
    let t = &v.theme;
    let mut spans = Vec::new();
    for (name, what) in pairs {
        let keys = v.keymap.keys_for(name);
        if keys.is_empty() {
            continue;
        }
        spans.push(Span::styled(keys, t.accent()));
        spans.push(Span::styled(format!(" {what}  "), t.dim()));
    }
    Line::from(spans)
}

fn incident_list<'a>(s: &'a State, t: &Theme, rows: usize) -> Vec<Line<'a>> {
    let v = &s.incidents;
    if v.list.is_empty() {
        return vec![Line::styled(
            if v.loading {
                "grouping the queue's alerts…"
            } else {
                "No incidents: no two stored alerts share a host, user or indicator in the window, or a tactic chain."
            },
            t.dim(),
        )];
    }
    let start = v.selected.saturating_sub(rows.saturating_sub(1) / 2);
    let start = start.min(v.list.len().saturating_sub(rows));
    v.list
        .iter()
        .enumerate()
        .skip(start)
        .take(rows)
        .map(|(i, d)| {
            let inc = &d.incident;
            let here = i == v.selected;
            let verdict = inc
                .verdict
                .clone()
                .or_else(|| inc.worst_alert_verdict.as_ref().map(|w| format!("{w}*")))
                .unwrap_or_else(|| "—".into());
            let marked = v.marked.as_deref() == Some(inc.id.as_str());
            let style = if here && v.alert.is_none() {
                t.selected()
            } else {
                ratatui::style::Style::new()
            };
            Line::from(vec![
                Span::styled(if here { "▶ " } else { "  " }, t.accent()),
                Span::styled(if marked { "◆" } else { " " }, t.bad()),
                Span::styled(format!("{:<9} ", inc.id), style),
                Span::styled(format!("{:>3} alerts ", inc.alert_count), t.dim()),
                Span::styled(format!("{verdict:<9} "), t.heading()),
                Span::styled(
                    format!(
                        "{}→{} ",
                        short_time(&inc.first_at),
                        short_time(&inc.last_at)
                    ),
                    t.dim(),
                ),
                Span::styled(inc.title.as_str(), t.untrusted()),
            ])
        })
        .collect()
}

/// The selected incident: status, timeline (with why each alert joined), chain by tactic,
/// and its incident-level verdict. Returns the lines and the line of the alert cursor.
fn incident_detail<'a>(s: &'a State, t: &Theme) -> (Vec<Line<'a>>, usize) {
    let Some(d) = s.selected_incident() else {
        return (Vec::new(), 0);
    };
    let inc = &d.incident;
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} ", inc.id), t.heading()),
        Span::styled(inc.title.as_str(), t.untrusted()),
    ])];
    let status = if s.incidents.triaging.contains(&inc.id) {
        "incident triage running…".to_string()
    } else {
        match (&inc.verdict, inc.confidence) {
            (Some(v), Some(c)) => format!("incident verdict {v} (confidence {c:.2})"),
            _ => "not triaged as one incident yet (Enter)".into(),
        }
    };
    lines.push(Line::styled(
        format!(
            "{} alerts, {} → {} UTC · {status}",
            inc.alert_count,
            short_time(&inc.first_at),
            short_time(&inc.last_at)
        ),
        t.dim(),
    ));
    lines.push(Line::styled("Timeline", t.heading()));
    let mut cursor_line = 0;
    for (i, m) in d.alerts.iter().enumerate() {
        let here = s.incidents.alert == Some(i);
        if here {
            cursor_line = lines.len();
        }
        let who: Vec<&str> = [m.host.as_deref(), m.user.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let mut spans = vec![
            Span::styled(if here { "▶ " } else { "  " }, t.accent()),
            Span::styled(
                format!("{} ", short_time(&m.at)),
                if here { t.selected() } else { t.dim() },
            ),
            Span::styled(
                format!("{:<8} ", m.verdict.as_deref().unwrap_or("—")),
                t.heading(),
            ),
            Span::styled(m.title.as_str(), t.untrusted()),
            Span::styled(format!(" [{}]", who.join(", ")), t.dim()),
        ];
        if !m.why.is_empty() {
            spans.push(Span::styled(format!(" — {}", m.why), t.accent()));
        }
        lines.push(Line::from(spans));
    }
    if !d.chain.is_empty() {
        lines.push(Line::styled("Chain by tactic", t.heading()));
        for c in &d.chain {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<22} ", c.tactic), t.accent()),
                Span::raw(format!(
                    "{} {} ({} alert(s))",
                    c.technique.as_deref().unwrap_or(""),
                    c.name,
                    c.alerts.len()
                )),
            ]));
        }
    }
    if let Some(v) = &d.verdict {
        let actions: Vec<&str> = v["recommended_actions"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).take(4).collect())
            .unwrap_or_default();
        if !actions.is_empty() {
            lines.push(Line::styled("Incident actions", t.heading()));
            for a in actions {
                lines.push(Line::from(vec![
                    Span::styled("  → ", t.accent()),
                    Span::raw(a.to_string()),
                ]));
            }
        }
    }
    (lines, cursor_line)
}

fn incidents(f: &mut Frame, v: &View<'_>, area: Rect) {
    let s = v.state;
    let t = &v.theme;
    let rect = centered(area, 96, 94);
    f.render_widget(Clear, rect);
    let title = format!(
        " Incidents ({}) — {} ",
        s.incidents.list.len(),
        if s.incidents.alert.is_some() {
            "alerts: d takes one out, Esc back to incidents"
        } else {
            "I or q back to the queue"
        }
    );
    let b = block(Span::styled(title, t.heading()), true, t);
    let inner = b.inner(rect);
    f.render_widget(b, rect);
    let list_rows = (inner.height as usize / 3).clamp(2, 10);
    let shown = s.incidents.list.len().clamp(1, list_rows) as u16;
    let [hint_area, list_area, detail_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(shown),
        Constraint::Min(1),
    ])
    .areas(inner);
    let hints = hint(
        v,
        &[
            ("incident_triage", "triage"),
            ("incident_alerts", "alerts"),
            ("incident_split", "split"),
            ("incident_merge", "merge"),
            ("incident_handoff", "hand off"),
            ("incident_detection", "Sigma"),
        ],
    );
    f.render_widget(Paragraph::new(hints), hint_area);
    f.render_widget(Paragraph::new(incident_list(s, t, list_rows)), list_area);
    let (lines, cursor) = incident_detail(s, t);
    let h = detail_area.height.saturating_sub(1) as usize;
    let para = Paragraph::new(lines).wrap(Wrap { trim: false });
    let max = para
        .line_count(detail_area.width)
        .saturating_sub(h)
        .min(u16::MAX as usize) as u16;
    s.extents.overlay.set(max);
    // Paged by the analyst (PgDn/PgUp), and always keeping the alert cursor in view.
    let follow = cursor
        .saturating_sub(h.saturating_sub(1))
        .min(u16::MAX as usize) as u16;
    let scroll = s.overlay_scroll.max(follow).min(max);
    f.render_widget(
        para.scroll((scroll, 0))
            .block(ratatui::widgets::Block::default().borders(ratatui::widgets::Borders::TOP)),
        detail_area,
    );
}

fn export_menu<'a>(v: &View<'_>) -> Vec<Line<'a>> {
    let t = &v.theme;
    let s = v.state;
    let cfg_line = |target: Target| -> String {
        match target {
            Target::TheHive | Target::Iris => {
                if s.handoff_ready.contains(&target) {
                    "push to the configured instance".into()
                } else {
                    format!(
                        "not configured: [handoff.{}] base_url and key",
                        target.name()
                    )
                }
            }
            _ => "write a file in the export folder".into(),
        }
    };
    let mut lines = vec![Line::styled(
        format!(
            "Hand off {}",
            s.export.as_ref().map_or("", |e| e.label.as_str())
        ),
        t.heading(),
    )];
    for (name, target) in [
        ("export_thehive", Target::TheHive),
        ("export_iris", Target::Iris),
        ("export_misp", Target::Misp),
        ("export_stix", Target::Stix),
        ("export_markdown", Target::Markdown),
    ] {
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<5} ", v.keymap.keys_for(name)), t.accent()),
            Span::raw(format!("{:<10} ", target.label())),
            Span::styled(cfg_line(target), t.dim()),
        ]));
    }
    lines.push(Line::styled(" Esc  cancel", t.dim()));
    lines
}

fn sigma<'a>(v: &'a View<'_>) -> Vec<Line<'a>> {
    let t = &v.theme;
    let Some(d) = &v.state.sigma else {
        return Vec::new();
    };
    if let Some(e) = &d.error {
        return vec![
            Line::styled(format!("No rule for {}", d.reference), t.heading()),
            Line::raw(e.as_str()),
        ];
    }
    if d.yaml.is_empty() {
        return vec![Line::styled(
            format!("drafting a Sigma rule for {}…", d.reference),
            t.dim(),
        )];
    }
    let mut lines = vec![Line::styled(
        format!("Drafted {} for {}", d.source, d.reference),
        t.dim(),
    )];
    if d.problems.is_empty() {
        lines.push(Line::styled(
            "✓ valid against the Sigma specification",
            t.good(),
        ));
    }
    for p in &d.problems {
        lines.push(Line::styled(format!("✗ {p}"), t.bad()));
    }
    if let Some((matched, scanned, fp, confirmed)) = d.history {
        lines.push(Line::styled(
            format!(
                "History: matches {matched} of {scanned} stored alerts — {fp} judged false positive, {confirmed} confirmed"
            ),
            if fp > 0 { t.bad() } else { t.good() },
        ));
    }
    lines.push(Line::styled(
        format!(
            "{} saves it to the export folder; Esc discards it",
            v.keymap.keys_for("sigma_save")
        ),
        t.dim(),
    ));
    lines.push(Line::from(""));
    // The rule quotes alert text: shown as untrusted.
    lines.extend(
        d.yaml
            .lines()
            .map(|l| Line::styled(l.to_string(), t.untrusted())),
    );
    lines
}

fn closures<'a>(v: &'a View<'_>) -> Vec<Line<'a>> {
    let t = &v.theme;
    let s = v.state;
    let Some(list) = &s.closures else {
        return vec![Line::styled("reading closures…", t.dim())];
    };
    if list.is_empty() {
        return vec![Line::styled(
            "No alert was closed automatically ([autoclose] closes confident BENIGN verdicts backed by analysts; it is off by default).",
            t.dim(),
        )];
    }
    let mut lines = vec![Line::styled(
        format!(
            "{} reverses the selected closure; the alert is open again",
            v.keymap.keys_for("closures_undo")
        ),
        t.dim(),
    )];
    for (i, c) in list.iter().enumerate() {
        let here = i == s.closure_selected;
        lines.push(Line::from(vec![
            Span::styled(if here { "▶ " } else { "  " }, t.accent()),
            Span::styled(
                format!("#{} {} {} ", c.id, short_time(&c.at), c.alert_key),
                if here { t.selected() } else { t.dim() },
            ),
            Span::styled(c.title.as_str(), t.untrusted()),
            match &c.reversed_at {
                Some(r) => Span::styled(
                    format!(
                        "  reversed {} by {}",
                        short_time(r),
                        c.reversed_by.as_deref().unwrap_or("?")
                    ),
                    t.bad(),
                ),
                None => Span::styled("  closed", t.good()),
            },
        ]));
        lines.push(Line::styled(format!("    {}", c.justification), t.dim()));
    }
    lines
}

fn popup(f: &mut Frame, v: &View<'_>, title: &str, lines: Vec<Line<'_>>, rect: Rect) {
    let t = &v.theme;
    let s = v.state;
    f.render_widget(Clear, rect);
    let para = Paragraph::new(lines).wrap(Wrap { trim: false });
    let inner_h = rect.height.saturating_sub(2) as usize;
    let total = para.line_count(rect.width.saturating_sub(2));
    let max = total.saturating_sub(inner_h).min(u16::MAX as usize) as u16;
    s.extents.overlay.set(max);
    let para = para.scroll((s.overlay_scroll.min(max), 0));
    f.render_widget(
        para.block(block(Span::styled(title.to_string(), t.heading()), true, t)),
        rect,
    );
}

/// Draws whichever of these is open (the incident view under a menu opened from it).
pub fn draw(f: &mut Frame, v: &View<'_>) {
    let s = v.state;
    let area = f.area();
    if s.overlay == Overlay::Incidents || s.under == Overlay::Incidents {
        incidents(f, v, area);
    }
    match s.overlay {
        Overlay::ExportMenu => {
            let lines = export_menu(v);
            let h = lines.len() as u16 + 2;
            let w = area.width.saturating_sub(4).min(78);
            let rect = Rect {
                x: area.x + (area.width.saturating_sub(w)) / 2,
                y: area.y + (area.height.saturating_sub(h)) / 2,
                width: w,
                height: h.min(area.height),
            };
            popup(f, v, " Hand off (Esc cancels) ", lines, rect);
        }
        Overlay::Sigma => popup(
            f,
            v,
            " Sigma draft (w saves, Esc discards) ",
            sigma(v),
            centered(area, 90, 90),
        ),
        Overlay::Closures => popup(
            f,
            v,
            " Closed automatically (Esc closes) ",
            closures(v),
            centered(area, 92, 85),
        ),
        _ => {}
    }
}
