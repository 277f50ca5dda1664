//! The queue pane: one line per alert — severity, status, verdict, thumbs, title, host/user.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem};

use crate::store::feedback::Thumbs;

use super::super::state::{Item, ItemStatus, State, severity_label, verdict_label};
use super::{View, block, title_span};

fn row<'a>(it: &'a Item, v: &View<'_>, narrow: bool) -> Line<'a> {
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
        match &it.closed {
            Some(_) => Span::styled(format!("{:<8} ", "closed"), t.good()),
            None => Span::styled(format!("{:<8} ", it.status.label()), status_style),
        },
    ];
    match (
        &it.verdict,
        it.failure.as_ref().and_then(|f| f.salvaged.level),
    ) {
        (Some(verdict), _) => spans.push(Span::styled(
            format!("{:<6}", verdict_label(verdict.verdict)),
            t.level(verdict.verdict),
        )),
        // A failed run's level is the model's unvalidated word: shown, marked with `?`.
        (None, Some(l)) => spans.push(Span::styled(
            format!("{:<6}", format!("{}?", verdict_label(l))),
            t.dim(),
        )),
        (None, None) => spans.push(Span::raw("      ")),
    }
    spans.push(match it.judgement.thumbs {
        Some(Thumbs::Up) => Span::styled("+", t.good()),
        Some(Thumbs::Down) => Span::styled("-", t.bad()),
        None => Span::raw(" "),
    });
    // The analyst's own verdict next to the tool's, when they set one.
    spans.push(match it.judgement.analyst_verdict {
        Some(l) => Span::styled(format!("→{:<4} ", verdict_label(l)), t.level(l)),
        None => Span::raw(if narrow { " " } else { "      " }),
    });
    // Team mode: who holds it — a colleague (theirs until taken over), or this analyst.
    if v.state.team
        && let Some(c) = &it.holder
    {
        spans.push(if c.analyst == v.state.analyst {
            Span::styled("@me ", t.good())
        } else {
            let name: String = c
                .analyst
                .chars()
                .take(if narrow { 6 } else { 10 })
                .collect();
            Span::styled(format!("@{name} "), t.bad())
        });
    }
    // Seen before: an indicator of this alert was in earlier stored alerts (`h` lists them).
    if !it.seen_before.is_empty() {
        let n = crate::intel::enrich::earlier_alerts(&it.seen_before);
        let judged_bad = it.seen_before.iter().flat_map(|h| &h.sightings).any(|s| {
            s.analyst_verdict
                .as_deref()
                .or(s
                    .verdict
                    .as_deref()
                    .filter(|_| s.thumbs.as_deref() == Some("up")))
                .and_then(crate::triage::Level::parse)
                .is_some_and(|l| l >= crate::triage::Level::High)
        });
        spans.push(Span::styled(
            format!("↺{n} "),
            if judged_bad { t.bad() } else { t.accent() },
        ));
    }
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

/// The pane title: counts by status (failed ones included), then the filter. While a
/// filter is set it comes first and is shown whole, or its end when it is longer than the
/// pane, so what is typed is always visible.
pub fn title(s: &State, width: usize) -> String {
    let count = |st: ItemStatus| s.items.iter().filter(|i| i.status == st).count();
    let mut counts = format!(
        "Queue {} · new {} · triaged {} · reviewed {}",
        s.items.len(),
        count(ItemStatus::New),
        count(ItemStatus::Triaged),
        count(ItemStatus::Reviewed),
    );
    let failed = count(ItemStatus::Failed);
    if failed > 0 {
        counts.push_str(&format!(" · failed {failed}"));
    }
    let running = count(ItemStatus::Triaging) + count(ItemStatus::Queued);
    if running > 0 {
        counts.push_str(&format!(" · running {running}"));
    }
    if !s.filter_editing && s.filter.is_empty() {
        return format!(" {counts} ");
    }
    let tail = format!(
        "{} ({} of {} shown) · ",
        if s.filter_editing { "▏" } else { "" },
        s.visible.len(),
        s.items.len()
    );
    let room = width.saturating_sub(tail.chars().count() + 3);
    let n = s.filter.chars().count();
    let shown: String = if n <= room {
        s.filter.clone()
    } else {
        let skip = n - room.saturating_sub(1);
        format!("…{}", s.filter.chars().skip(skip).collect::<String>())
    };
    format!(" /{shown}{tail}{counts} ")
}

pub fn draw(f: &mut Frame, area: Rect, v: &View<'_>, focused: bool) {
    let s = v.state;
    let title = title(s, area.width.saturating_sub(4) as usize);
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
            let line = row(&s.items[*id], v, area.width < 100);
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
