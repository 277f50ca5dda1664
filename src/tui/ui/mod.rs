//! Drawing: a pure function of the state (plus the chat input box). No I/O, no state
//! changes; one file per pane.

mod cases;
mod chat;
mod evidence;
mod popup;
mod queue;
mod reasoning;
mod stats;
mod status;
pub mod text;
pub mod theme;

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};
use tui_textarea::TextArea;

use super::keymap::Keymap;
use super::state::{Focus, Overlay, State};
pub use theme::Theme;

/// Everything a frame is drawn from.
pub struct View<'a> {
    pub state: &'a State,
    pub keymap: &'a Keymap,
    pub input: &'a TextArea<'static>,
    pub theme: Theme,
}

/// Where each pane goes for a terminal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panes {
    pub queue: Rect,
    pub reasoning: Rect,
    pub evidence: Rect,
    pub chat: Rect,
    pub status: Rect,
}

/// From 160 columns the queue spans the top (full titles with host and user) over three
/// columns; from 140 the three panes sit side by side; from 80×24 up to that, the queue
/// sits on top of two columns and the chat.
pub fn layout(area: Rect) -> Panes {
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    if area.width >= 160 && area.height >= 30 {
        let queue_h = (main.height * 3 / 10).clamp(8, 16);
        let [queue, below] =
            Layout::vertical([Constraint::Length(queue_h), Constraint::Min(3)]).areas(main);
        let [reasoning, evidence, chat] = Layout::horizontal([
            Constraint::Percentage(36),
            Constraint::Percentage(34),
            Constraint::Percentage(30),
        ])
        .areas(below);
        return Panes {
            queue,
            reasoning,
            evidence,
            chat,
            status,
        };
    }
    if area.width >= 140 && area.height >= 20 {
        let [queue, reasoning, right] = Layout::horizontal([
            Constraint::Percentage(34),
            Constraint::Percentage(33),
            Constraint::Percentage(33),
        ])
        .areas(main);
        let [evidence, chat] =
            Layout::vertical([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(right);
        return Panes {
            queue,
            reasoning,
            evidence,
            chat,
            status,
        };
    }
    let h = main.height;
    let queue_h = (h * 3 / 10).max(5);
    let chat_h = (h / 4).max(6);
    let [queue, middle, chat] = Layout::vertical([
        Constraint::Length(queue_h),
        Constraint::Min(3),
        Constraint::Length(chat_h),
    ])
    .areas(main);
    let [reasoning, evidence] = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(50), Constraint::Percentage(50)])
        .areas(middle);
    Panes {
        queue,
        reasoning,
        evidence,
        chat,
        status,
    }
}

pub fn block<'a>(
    title: impl Into<ratatui::text::Line<'a>>,
    focused: bool,
    theme: &Theme,
) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(focused))
        .title(title)
}

pub fn title_span(text: String, focused: bool, theme: &Theme) -> Span<'static> {
    Span::styled(
        text,
        if focused {
            theme.heading()
        } else {
            Style::new()
        },
    )
}

pub fn draw(f: &mut Frame, v: &View<'_>) {
    let p = layout(f.area());
    let s = v.state;
    queue::draw(f, p.queue, v, s.focus == Focus::Queue);
    reasoning::draw(f, p.reasoning, v, s.focus == Focus::Reasoning);
    evidence::draw(f, p.evidence, v, s.focus == Focus::Evidence);
    chat::draw(f, p.chat, v, s.focus == Focus::Chat);
    status::draw(f, p.status, v);
    match s.overlay {
        Overlay::None => {}
        Overlay::Stats => stats::draw(f, v),
        Overlay::Incidents | Overlay::ExportMenu | Overlay::Sigma | Overlay::Closures => {
            cases::draw(f, v)
        }
        _ => {
            // Help opened over the incident view draws over it.
            if s.under == Overlay::Incidents {
                cases::draw(f, v);
            }
            popup::draw(f, v)
        }
    }
    text::neutralise(f.buffer_mut());
}
