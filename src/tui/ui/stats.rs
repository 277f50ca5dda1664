//! The statistics screen: accuracy overall, per verdict and engine, the evaluation lab's
//! latest results, the trend over days, the confusion matrix, calibration and thumbs-down
//! reasons — as charts and tables.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    BarChart, Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, Wrap,
};

use crate::store::accuracy::{Accuracy, Rate, VERDICTS};

use super::{View, block};

fn pct(r: &Rate) -> u64 {
    r.accuracy.map_or(0, |a| (a * 100.0).round() as u64)
}

fn short(v: &str) -> &str {
    match v {
        "CRITICAL" => "CRIT",
        "MEDIUM" => "MED",
        "BENIGN" => "BEN",
        other => other,
    }
}

fn summary<'a>(a: &Accuracy, v: &View<'_>) -> Vec<Line<'a>> {
    let t = &v.theme;
    let engines: Vec<String> = a
        .per_engine
        .iter()
        .map(|(e, r)| match r.accuracy {
            Some(_) => format!("{e} {}% ({})", pct(r), r.total),
            None => format!("{e}: no judged alerts"),
        })
        .collect();
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Accuracy ", t.heading()),
            Span::styled(
                match a.overall.accuracy {
                    Some(x) => format!("{:.0}%", x * 100.0),
                    None => "no judged alerts yet".into(),
                },
                t.bold(),
            ),
            Span::raw(format!(
                " ({}/{} judged) · thumbs up {} · down {}",
                a.overall.correct, a.overall.total, a.thumbs_up, a.thumbs_down
            )),
        ]),
        Line::styled(
            if engines.is_empty() {
                "No feedback yet: judge verdicts with + and - (or v) in the queue.".to_string()
            } else {
                format!("By engine: {}", engines.join(" · "))
            },
            t.dim(),
        ),
    ];
    // Team mode: each analyst's judgements of the tool, side by side.
    if a.per_analyst.len() > 1 {
        let each: Vec<String> = a
            .per_analyst
            .iter()
            // Names other analysts (and API callers) wrote: text like any other.
            .map(|(who, r)| {
                format!(
                    "{} {}% ({})",
                    crate::alert::sanitize::sanitize(who),
                    pct(r),
                    r.total
                )
            })
            .collect();
        lines.push(Line::styled(
            format!("By analyst: {}", each.join(" · ")),
            t.dim(),
        ));
    }
    lines
}

fn titled(title: impl Into<String>, v: &View<'_>) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(v.theme.dim())
        .title(Span::styled(title.into(), v.theme.heading()))
}

fn per_verdict(f: &mut Frame, area: Rect, a: &Accuracy, v: &View<'_>) {
    let data: Vec<(&str, u64)> = VERDICTS
        .iter()
        .map(|k| (short(k), a.per_verdict.get(*k).map_or(0, pct)))
        .collect();
    let w = (area.width.saturating_sub(2) / 5)
        .saturating_sub(1)
        .clamp(3, 9);
    f.render_widget(
        BarChart::default()
            .block(titled(" Accuracy per verdict (%) ", v))
            .data(&data)
            .bar_width(w)
            .bar_style(v.theme.accent())
            .value_style(v.theme.bold())
            .max(100),
        area,
    );
}

fn confusion(f: &mut Frame, area: Rect, a: &Accuracy, v: &View<'_>) {
    let t = &v.theme;
    let mut header = vec![Cell::from("tool ╲ analyst")];
    header.extend(VERDICTS.iter().map(|k| Cell::from(short(k))));
    let rows: Vec<Row> = VERDICTS
        .iter()
        .map(|tool| {
            let mut cells = vec![Cell::from(short(tool)).style(t.bold())];
            for truth in VERDICTS {
                let n = a
                    .confusion
                    .get(*tool)
                    .and_then(|m| m.get(truth))
                    .copied()
                    .unwrap_or(0);
                let style = if n == 0 {
                    t.dim()
                } else if *tool == truth {
                    t.good()
                } else {
                    t.bad()
                };
                cells.push(Cell::from(n.to_string()).style(style));
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![Constraint::Length(14)];
    widths.extend([Constraint::Length(6); 5]);
    f.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(t.heading()))
            .block(titled(" Confusion matrix ", v)),
        area,
    );
}

fn trend(f: &mut Frame, area: Rect, a: &Accuracy, v: &View<'_>) {
    let days: Vec<u64> = a.by_day.values().map(pct).collect();
    let label = match (a.by_day.keys().next(), a.by_day.keys().last()) {
        (Some(first), Some(last)) => format!(" Accuracy by day, {first} → {last} (%) "),
        _ => " Accuracy by day (%) ".to_string(),
    };
    f.render_widget(
        Sparkline::default()
            .block(titled(label, v))
            .data(&days)
            .max(100)
            .style(v.theme.good()),
        area,
    );
}

fn calibration(f: &mut Frame, area: Rect, a: &Accuracy, v: &View<'_>) {
    let labels: Vec<String> = a
        .calibration
        .iter()
        .map(|b| format!("{:.1}-{:.1}", b.from, b.to))
        .collect();
    let data: Vec<(&str, u64)> = labels
        .iter()
        .zip(&a.calibration)
        .map(|(l, b)| (l.as_str(), pct(&b.rate)))
        .collect();
    f.render_widget(
        BarChart::default()
            .block(titled(" Calibration: accuracy (%) by confidence ", v))
            .data(&data)
            .bar_width(7)
            .bar_style(v.theme.accent())
            .max(100),
        area,
    );
}

fn reasons(f: &mut Frame, area: Rect, a: &Accuracy, v: &View<'_>) {
    // Reasons as words ("wrong verdict"), not identifiers ("wrong_verdict").
    let words: Vec<(String, u64)> = a
        .down_reasons
        .iter()
        .map(|(r, n)| (r.replace('_', " "), *n))
        .collect();
    let data: Vec<(&str, u64)> = words.iter().map(|(r, n)| (r.as_str(), *n)).collect();
    f.render_widget(
        BarChart::default()
            .block(titled(" Thumbs-down reasons ", v))
            .data(&data)
            .bar_width(16)
            .bar_style(v.theme.bad()),
        area,
    );
}

pub fn draw(f: &mut Frame, v: &View<'_>) {
    let full = f.area();
    // The statistics screen does not scroll.
    v.state.extents.overlay.set(0);
    let [area, _status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(full);
    f.render_widget(Clear, area);
    let s = v.state;
    let title = if s.stats_mine {
        format!(
            " Statistics · your judgements, {} ({} the team's · s or Esc closes) ",
            s.analyst,
            v.keymap.keys_for("stats_scope")
        )
    } else if s.team {
        format!(
            " Statistics · the team ({} yours · s or Esc closes) ",
            v.keymap.keys_for("stats_scope")
        )
    } else {
        " Statistics (s or Esc closes) ".to_string()
    };
    let b = block(Span::styled(title, v.theme.heading()), true, &v.theme);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let Some(a) = &v.state.stats else {
        let msg = v
            .state
            .stats_error
            .clone()
            .unwrap_or_else(|| "loading…".into());
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: false }), inner);
        return;
    };
    let mut head = summary(a, v);
    // The evaluation lab's latest results: a line each when there is room, else one line.
    match (&v.state.lab_compact, inner.height >= 30) {
        (None, _) => head.push(Line::styled(
            "No evaluation yet: soc-copilot eval triage --dataset data/eval/triage-cases.jsonl",
            v.theme.dim(),
        )),
        (Some(_), true) => head.extend(v.state.lab.iter().map(|l| Line::raw(l.clone()))),
        (Some(c), false) => head.push(Line::raw(c.clone())),
    }
    // The per-verdict and confusion row keeps its whole matrix (8 rows) on small screens;
    // the trend row gives way first.
    let [top, mid, low, bottom] = Layout::vertical([
        Constraint::Length(head.len() as u16),
        Constraint::Min(8),
        Constraint::Percentage(35),
        Constraint::Length(4),
    ])
    .areas(inner);
    f.render_widget(Paragraph::new(head), top);
    let [l, r] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(mid);
    per_verdict(f, l, a, v);
    confusion(f, r, a, v);
    let [l, r] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(low);
    trend(f, l, a, v);
    calibration(f, r, a, v);
    reasons(f, bottom, a, v);
}
