//! Popups over the panes: help (generated from the keymap), technique detail, the outbound
//! preview, the quit confirmation, the thumbs-down reason and verdict pickers, the note box.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::super::state::{Mode, Overlay};
use super::{View, block};

pub fn centered(area: Rect, width_pct: u16, height_pct: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Percentage(height_pct)])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Percentage(width_pct)])
        .flex(Flex::Center)
        .areas(v);
    h
}

fn small(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

fn mode_title(m: Mode) -> &'static str {
    match m {
        Mode::Normal => "Queue and panes",
        Mode::Chat => "Chat box (other keys type)",
        Mode::Popup => "Popups",
        Mode::Text => "Filter and note input",
        Mode::PickReason => "Thumbs-down reason",
        Mode::PickVerdict => "Your verdict",
        Mode::Confirm => "Quit confirmation",
        Mode::Incidents => "Incident view",
        Mode::Export => "Hand-off menu",
        Mode::Sigma => "Sigma draft",
        Mode::Closures => "Closed automatically (review)",
    }
}

fn help<'a>(v: &View<'_>) -> Vec<Line<'a>> {
    let t = &v.theme;
    let mut lines = Vec::new();
    // Each mode once, in the order the table first names it.
    let mut modes: Vec<Mode> = Vec::new();
    for b in &v.keymap.bindings {
        if !modes.contains(&b.mode) {
            modes.push(b.mode);
        }
    }
    for m in modes {
        lines.push(Line::styled(mode_title(m), t.heading()));
        for b in v.keymap.bindings.iter().filter(|b| b.mode == m) {
            let keys = b
                .keys
                .iter()
                .map(|k| k.label())
                .collect::<Vec<_>>()
                .join(" ");
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<16}"), t.accent()),
                Span::raw(format!("{:<50} ", b.help)),
                Span::styled(b.name, t.dim()),
            ]));
        }
        lines.push(Line::from(""));
    }
    lines.push(Line::styled(
        "Remap in config: [tui.keys] name = \"key\" or [\"key\", …]. Italic magenta text came from the alert.",
        t.dim(),
    ));
    lines
}

fn detail<'a>(v: &'a View<'_>) -> Vec<Line<'a>> {
    let t = &v.theme;
    let Some(d) = &v.state.detail else {
        return vec![Line::styled("loading…", t.dim())];
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(d.id.as_str(), t.accent()),
            Span::raw(" "),
            Span::styled(d.name.as_str(), t.heading()),
        ]),
        Line::styled(format!("Tactics: {}", d.tactics.join(", ")), t.dim()),
        Line::styled(format!("Platforms: {}", d.platforms.join(", ")), t.dim()),
        Line::styled(d.url.as_str(), t.accent()),
        Line::from(""),
    ];
    // A `Line` does not break at '\n': each paragraph line is its own `Line`, or the
    // sentences of two paragraphs run together ("systems).PowerShell").
    lines.extend(d.description.lines().map(Line::raw));
    let mut section = |title: &'a str, rows: &'a [String], empty: &'a str| {
        lines.push(Line::from(""));
        lines.push(Line::styled(title, t.heading()));
        if rows.is_empty() {
            lines.push(Line::styled(empty, t.dim()));
        }
        for r in rows {
            let mut first = true;
            for part in r.lines().filter(|l| !l.trim().is_empty()) {
                lines.push(Line::from(vec![
                    Span::styled(if first { "• " } else { "  " }, t.accent()),
                    Span::raw(part),
                ]));
                first = false;
            }
        }
    };
    section(
        "Detection",
        &d.detection,
        "No detection guidance in this ATT&CK release.",
    );
    section("Mitigations", &d.mitigations, "No mitigations recorded.");
    section("Groups known to use it", &d.groups, "No groups recorded.");
    lines
}

fn preview<'a>(v: &'a View<'_>) -> Vec<Line<'a>> {
    let t = &v.theme;
    let Some(p) = &v.state.preview else {
        return vec![Line::styled("building the prompt (retrieval)…", t.dim())];
    };
    let mut lines = vec![
        Line::styled(p.heading.as_str(), t.heading()),
        Line::styled(
            format!(
                "prompt sha256 {} · ⚑ lines came from the alert (attacker-controllable)",
                &p.hash[..p.hash.len().min(16)]
            ),
            t.dim(),
        ),
        Line::from(""),
        Line::styled("── system ──", t.accent()),
    ];
    lines.extend(p.system.lines().map(|l| Line::styled(l, t.dim())));
    lines.push(Line::styled("── user ──", t.accent()));
    for (untrusted, l) in p.marked_lines() {
        if untrusted {
            lines.push(Line::from(vec![
                Span::styled("⚑ ", t.bad()),
                Span::styled(l, t.untrusted()),
            ]));
        } else {
            lines.push(Line::raw(l));
        }
    }
    lines
}

/// Every indicator of the selected alert that an earlier stored alert carried, with each
/// sighting: when, which alert, the tool's verdict, the analyst's feedback and verdict.
fn history<'a>(v: &View<'a>) -> Vec<Line<'a>> {
    let t = &v.theme;
    let Some(it) = v.state.selected_item() else {
        return vec![Line::styled("No alert selected.", t.dim())];
    };
    let n = crate::intel::indicators(&it.alert.alert.iocs).len();
    if n == 0 && it.seen_before.is_empty() {
        return vec![Line::styled(
            "This alert has no indicator (IP, domain, URL, hash, e-mail address) to look up.",
            t.dim(),
        )];
    }
    if it.seen_before.is_empty() {
        return vec![Line::styled(
            format!("None of this alert's {n} indicator(s) was in an earlier stored alert."),
            t.dim(),
        )];
    }
    let mut lines = vec![Line::styled(
        format!(
            "{} of {} indicator(s) seen before, in {} earlier alert(s); titles are alert text",
            it.seen_before.len(),
            n.max(it.seen_before.len()),
            crate::intel::enrich::earlier_alerts(&it.seen_before)
        ),
        t.dim(),
    )];
    for h in &it.seen_before {
        lines.push(Line::styled(
            format!("{} — {} earlier alert(s)", h.indicator, h.sightings.len()),
            t.heading(),
        ));
        for s in &h.sightings {
            lines.push(Line::from(vec![
                Span::styled(
                    format!(
                        "  {} {} ",
                        s.seen_at.get(..16).unwrap_or(&s.seen_at),
                        s.alert_key
                    ),
                    t.dim(),
                ),
                Span::styled(s.title.as_str(), t.untrusted()),
                Span::raw(format!(
                    " · {} · tool {} · feedback {} · analyst {}",
                    s.host.as_deref().unwrap_or("no host"),
                    s.verdict.as_deref().unwrap_or("—"),
                    s.thumbs.as_deref().unwrap_or("—"),
                    s.analyst_verdict.as_deref().unwrap_or("—"),
                )),
            ]));
        }
    }
    lines
}

fn picker<'a>(v: &View<'_>, mode: Mode, title: &'a str) -> (Vec<Line<'a>>, u16) {
    let t = &v.theme;
    let mut lines = vec![Line::styled(title, t.heading())];
    for b in v
        .keymap
        .bindings
        .iter()
        .filter(|b| b.mode == mode && b.name != "reason_cancel" && b.name != "verdict_cancel")
    {
        let keys = b
            .keys
            .iter()
            .map(|k| k.label())
            .collect::<Vec<_>>()
            .join("/");
        lines.push(Line::from(vec![
            Span::styled(format!(" {keys:<5} "), t.accent()),
            Span::raw(b.help),
        ]));
    }
    lines.push(Line::styled(" Esc  cancel", t.dim()));
    let h = lines.len() as u16 + 2;
    (lines, h)
}

pub fn draw(f: &mut Frame, v: &View<'_>) {
    let area = f.area();
    let s = v.state;
    let t = &v.theme;
    let (title, lines, rect, scroll): (&str, Vec<Line>, Rect, bool) = match s.overlay {
        Overlay::Help => (
            " Keys (? or Esc closes) ",
            help(v),
            centered(area, 90, 90),
            true,
        ),
        Overlay::Detail => (
            " Technique (Esc closes) ",
            detail(v),
            centered(area, 85, 85),
            true,
        ),
        Overlay::History => (
            " Indicator history (Esc closes) ",
            history(v),
            centered(area, 90, 85),
            true,
        ),
        Overlay::Preview => (
            " Outbound preview (Esc closes) ",
            preview(v),
            centered(area, 92, 92),
            true,
        ),
        Overlay::ConfirmQuit => (
            " Quit? ",
            vec![
                Line::raw(format!("{} stream(s) still running.", s.running())),
                Line::raw("y quits and cancels them; n stays."),
            ],
            small(area, 44, 4),
            false,
        ),
        Overlay::PickReason => {
            let (l, h) = picker(v, Mode::PickReason, "Why is the verdict wrong?");
            (" Thumbs down ", l, small(area, 40, h), false)
        }
        Overlay::PickVerdict => {
            let ask = if s.judging_wrong_verdict {
                "Wrong verdict: which one is right?"
            } else {
                "Your verdict for this alert:"
            };
            let (l, h) = picker(v, Mode::PickVerdict, ask);
            (" Set verdict ", l, small(area, 40, h), false)
        }
        Overlay::Note => (
            " Note (Enter saves, Esc cancels) ",
            vec![Line::from(vec![
                Span::raw(s.note_input.as_str()),
                Span::styled("▏", t.accent()),
            ])],
            small(area, area.width.saturating_sub(10).min(90), 5),
            false,
        ),
        Overlay::None
        | Overlay::Stats
        | Overlay::Incidents
        | Overlay::ExportMenu
        | Overlay::Sigma
        | Overlay::Closures => return,
    };
    f.render_widget(Clear, rect);
    let b = block(Span::styled(title, t.heading()), true, t);
    let para = Paragraph::new(lines).wrap(Wrap { trim: false });
    let para = if scroll {
        let inner_h = rect.height.saturating_sub(2) as usize;
        let total = para.line_count(rect.width.saturating_sub(2));
        let max = total.saturating_sub(inner_h).min(u16::MAX as usize) as u16;
        s.extents.overlay.set(max);
        para.scroll((s.overlay_scroll.min(max), 0))
    } else {
        s.extents.overlay.set(0);
        para
    };
    f.render_widget(para.block(b), rect);
}
