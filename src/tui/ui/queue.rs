//! The queue pane: one line per alert — severity, status, verdict, thumbs, title, host/user.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem};

use crate::alert::Severity;
use crate::store::feedback::Thumbs;

use super::super::state::{Item, ItemStatus};
use super::{View, block, title_span};

fn severity_label(s: Option<Severity>) -> &'static str {
    match s {
        Some(Severity::Critical) => "CRIT",
        Some(Severity::High) => "HIGH",
        Some(Severity::Medium) => "MED ",
        Some(Severity::Low) => "LOW ",
        Some(Severity::Informational) => "INFO",
        None => " ?  ",
    }
}

fn verdict_label(l: crate::triage::Level) -> &'static str {
    use crate::triage::Level;
    match l {
        Level::Critical => "CRIT",
        Level::High => "HIGH",
        Level::Medium => "MED",
        Level::Low => "LOW",
        Level::Benign => "BEN",
    }
}

fn row<'a>(it: &'a Item, v: &View<'_>) -> Line<'a> {
    let t = &v.theme;
    let a = &it.alert.alert;
    let status_style = match it.status {
        ItemStatus::Triaging | ItemStatus::Queued => t.accent(),
        ItemStatus::Failed => t.bad(),
        ItemStatus::Reviewed => t.good(),
        _ => t.dim(),
    };
    let mut spans = vec![
        Span::styled(
            format!("{} ", severity_label(a.severity)),
            t.severity(a.severity),
        ),
        Span::styled(format!("{:<8} ", it.status.label()), status_style),
    ];
    match &it.verdict {
        Some(verdict) => spans.push(Span::styled(
            format!("{:<4} ", verdict_label(verdict.verdict)),
            t.level(verdict.verdict),
        )),
        None => spans.push(Span::raw("     ")),
    }
    spans.push(match it.judgement.thumbs {
        Some(Thumbs::Up) => Span::styled("+ ", t.good()),
        Some(Thumbs::Down) => Span::styled("- ", t.bad()),
        None => Span::raw("  "),
    });
    spans.push(Span::styled(a.title.as_str(), t.untrusted()));
    let who: Vec<&str> = [a.host.as_deref(), a.user.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !who.is_empty() {
        spans.push(Span::styled(format!(" · {}", who.join(" / ")), t.dim()));
    }
    Line::from(spans)
}

pub fn draw(f: &mut Frame, area: Rect, v: &View<'_>, focused: bool) {
    let s = v.state;
    let count = |st: ItemStatus| s.items.iter().filter(|i| i.status == st).count();
    let mut title = format!(
        " Queue {} · new {} · triaged {} · reviewed {}",
        s.items.len(),
        count(ItemStatus::New),
        count(ItemStatus::Triaged),
        count(ItemStatus::Reviewed),
    );
    let running = count(ItemStatus::Triaging) + count(ItemStatus::Queued);
    if running > 0 {
        title.push_str(&format!(" · running {running}"));
    }
    if s.filter_editing || !s.filter.is_empty() {
        title.push_str(&format!(
            " · /{}{} ({} shown)",
            s.filter,
            if s.filter_editing { "▏" } else { "" },
            s.visible.len()
        ));
    }
    title.push(' ');
    let b = block(title_span(title, focused, &v.theme), focused, &v.theme);
    let inner_h = area.height.saturating_sub(2) as usize;
    if s.items.is_empty() {
        let msg = if s.loading {
            "loading alerts…"
        } else {
            "no alerts: pass files, a directory or - (stdin)"
        };
        f.render_widget(
            List::new([ListItem::new(Span::styled(msg, v.theme.dim()))]).block(b),
            area,
        );
        return;
    }
    // Only the rows on screen are built, so 10,000 alerts cost what 30 do.
    let offset = if inner_h == 0 {
        0
    } else {
        s.selected.saturating_sub(inner_h - 1)
    };
    let rows: Vec<ListItem> = s
        .visible
        .iter()
        .enumerate()
        .skip(offset)
        .take(inner_h)
        .map(|(pos, id)| {
            let line = row(&s.items[*id], v);
            let item = ListItem::new(line);
            if pos == s.selected {
                item.style(v.theme.selected())
            } else {
                item
            }
        })
        .collect();
    f.render_widget(List::new(rows).block(b), area);
}
