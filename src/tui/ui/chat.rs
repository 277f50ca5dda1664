//! The follow-up chat: the stored conversation, the answer streaming in, the input box.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};

use super::super::state::ChatRole;
use super::{View, block, text, title_span};

pub fn draw(f: &mut Frame, area: Rect, v: &View<'_>, focused: bool) {
    let s = v.state;
    let t = &v.theme;
    let it = s.selected_item();
    let n = it.map_or(0, |i| i.chat.len());
    let hint = if focused {
        format!(
            " · Enter send · {} newline · {} scroll · Esc back",
            v.keymap.keys_for("chat_newline"),
            v.keymap
                .keys_for("chat_scroll_up")
                .split('/')
                .next()
                .unwrap_or("PgUp")
        )
    } else {
        format!(" · {} to ask", v.keymap.keys_for("chat"))
    };
    let b = block(
        title_span(format!(" Chat {n}{hint} "), focused, t),
        focused,
        t,
    );
    let inner = b.inner(area);
    f.render_widget(b, area);
    let input_h = if focused {
        3.min(inner.height.saturating_sub(1))
    } else {
        0
    };
    let [history, input] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(input_h)]).areas(inner);

    let mut lines: Vec<Line> = Vec::new();
    match it {
        Some(it) if !it.chat.is_empty() => {
            for e in &it.chat {
                match e.role {
                    ChatRole::Analyst => {
                        lines.push(Line::styled("you ›", t.accent()));
                        lines.extend(e.text.text.split('\n').map(Line::raw));
                    }
                    ChatRole::Assistant => {
                        lines.push(Line::styled("copilot ›", t.heading()));
                        if e.text.text.is_empty() {
                            lines.push(Line::styled("…", t.dim()));
                        }
                        lines.extend(text::stream(&e.text, t, t.plain()));
                    }
                    ChatRole::Error => {
                        lines.push(Line::styled(e.text.text.as_str(), t.bad()));
                    }
                }
            }
        }
        Some(_) => lines.push(Line::from(vec![Span::styled(
            "Ask about this alert: what else to check, who uses these techniques, how to contain it. \
             Each question re-runs retrieval.",
            t.dim(),
        )])),
        None => {}
    }
    let (para, scroll) = super::text::scrolled(
        lines,
        history.width,
        history.height as usize,
        s.chat_scroll,
        focused.then_some(&s.extents.chat),
    );
    f.render_widget(para.scroll((scroll, 0)), history);
    if input_h > 0 {
        f.render_widget(v.input, input);
    }
}
