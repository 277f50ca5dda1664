//! The status line: engine, knowledge base, queue progress, session accuracy, the latest
//! notice, key hints.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::super::state::{Batch, ItemStatus, KbState, State};
use super::View;

/// A batch's progress, telling apart what finished, failed, runs now and waits for a slot.
pub fn batch_line(s: &State, b: Batch) -> String {
    let (running, queued) = s.items.iter().fold((0, 0), |(r, q), i| match i.status {
        ItemStatus::Triaging => (r + 1, q),
        ItemStatus::Queued => (r, q + 1),
        _ => (r, q),
    });
    let mut line = format!("batch {}/{} done", b.done, b.total);
    if b.failed > 0 {
        line.push_str(&format!(", {} failed", b.failed));
    }
    line.push_str(&format!(" · {running} running, {queued} queued"));
    line
}

pub fn draw(f: &mut Frame, area: Rect, v: &View<'_>) {
    let s = v.state;
    let t = &v.theme;
    let done = s
        .items
        .iter()
        .filter(|i| matches!(i.status, ItemStatus::Triaged | ItemStatus::Reviewed))
        .count();
    let mut spans = vec![Span::styled(format!(" {} ", s.engine), t.heading())];
    // Team mode: who is at this console (it claims alerts in that name).
    if s.team {
        spans.push(Span::styled(format!("· {} @ team ", s.analyst), t.accent()));
    }
    match &s.kb {
        KbState::Loading(m) => spans.push(Span::styled(format!("· {m} "), t.accent())),
        KbState::Failed(_) => spans.push(Span::styled("· no knowledge base ", t.bad())),
        KbState::Ready(_) => {}
    }
    // The latest notice (a feedback confirmation, an error) comes first: on a narrow
    // terminal the counters are what gets cut.
    if let Some(n) = &s.notice {
        spans.push(Span::styled(
            format!("· {} ", n.text),
            if n.error { t.bad() } else { t.good() },
        ));
    }
    spans.push(Span::raw(format!("· {done}/{} triaged ", s.items.len())));
    if let Some(a) = &s.api {
        spans.push(Span::styled(format!("· API {a} "), t.dim()));
    }
    if let Some(b) = s.batch {
        spans.push(Span::styled(format!("· {} ", batch_line(s, b)), t.accent()));
    } else if s.running() > 0 {
        spans.push(Span::styled(
            format!("· {} running ", s.running()),
            t.accent(),
        ));
    }
    let (right, judged) = s.session_accuracy();
    if judged > 0 {
        spans.push(Span::raw(format!(
            "· session {right}/{judged} right ({:.0}%) ",
            100.0 * right as f64 / judged as f64
        )));
    }
    let hints = format!(
        "{} help · {} quit ",
        v.keymap.keys_for("help"),
        v.keymap.keys_for("quit").split('/').next().unwrap_or("q")
    );
    let [left, right_area] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(hints.chars().count() as u16),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(Line::from(spans)), left);
    f.render_widget(Paragraph::new(Span::styled(hints, t.dim())), right_area);
}
