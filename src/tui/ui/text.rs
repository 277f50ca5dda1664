//! Turning the state's text into terminal lines: laid-out Markdown for settled messages,
//! plain lines for text still streaming, and the last line of defence against control
//! characters reaching the terminal.

use ratatui::buffer::Buffer;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::super::state::StreamText;
use super::super::state::markdown::{LineKind, MdLine, SpanKind};
use super::theme::Theme;

pub fn markdown<'a>(lines: &'a [MdLine], theme: &Theme, base: Style) -> Vec<Line<'a>> {
    lines
        .iter()
        .map(|l| {
            let line_style = match l.kind {
                LineKind::Heading(_) => theme.heading(),
                LineKind::Code => theme.code(),
                LineKind::Quote => theme.dim(),
                _ => base,
            };
            if l.kind == LineKind::Rule {
                return Line::styled("────────────", theme.dim());
            }
            let mut spans = Vec::with_capacity(l.spans.len() + 1);
            if !l.prefix.is_empty() {
                spans.push(Span::styled(l.prefix.as_str(), theme.accent()));
            }
            spans.extend(l.spans.iter().map(|s| {
                let st = match s.kind {
                    SpanKind::Plain => line_style,
                    SpanKind::Bold => line_style.patch(theme.bold()),
                    SpanKind::Italic => line_style.add_modifier(ratatui::style::Modifier::ITALIC),
                    SpanKind::Code => theme.code(),
                };
                Span::styled(s.text.as_str(), st)
            }));
            Line::from(spans)
        })
        .collect()
}

/// Settled text as Markdown; growing text as plain lines (laid out once it settles, so the
/// pane does not jump while tokens arrive).
pub fn stream<'a>(t: &'a StreamText, theme: &Theme, base: Style) -> Vec<Line<'a>> {
    match &t.settled {
        Some(md) => markdown(md, theme, base),
        None => t.text.split('\n').map(|l| Line::styled(l, base)).collect(),
    }
}

/// A wrapped paragraph of `lines` for a pane `width` × `height`, and the scroll offset that
/// shows the requested position (`None`: follow the end). When following, only the last
/// lines that fill the pane are wrapped, so a frame costs what the pane shows, not the
/// length of a stream that keeps growing. The largest offset goes to `extent` — given only
/// for the pane in focus, the one keys can scroll — so scrolling clamps to what is there;
/// counting it wraps the whole text, which a pane nobody scrolls does not pay for.
pub fn scrolled<'a>(
    mut lines: Vec<Line<'a>>,
    width: u16,
    height: usize,
    scroll: Option<u16>,
    extent: Option<&std::cell::Cell<u16>>,
) -> (Paragraph<'a>, u16) {
    let wrap = Wrap { trim: false };
    if scroll.is_none() {
        let mut start = lines.len();
        let mut rows = 0;
        while start > 0 && rows < height {
            start -= 1;
            rows += Paragraph::new(lines[start].clone())
                .wrap(wrap)
                .line_count(width);
        }
        if let Some(extent) = extent {
            let above: usize = lines[..start]
                .iter()
                .map(|l| Paragraph::new(l.clone()).wrap(wrap).line_count(width))
                .sum();
            extent.set(clamp((above + rows).saturating_sub(height)));
        }
        let tail = lines.split_off(start);
        let offset = rows.saturating_sub(height);
        return (Paragraph::new(tail).wrap(wrap), clamp(offset));
    }
    let para = Paragraph::new(lines).wrap(wrap);
    let max_scroll = para.line_count(width).saturating_sub(height);
    if let Some(extent) = extent {
        extent.set(clamp(max_scroll));
    }
    let offset = scroll.map_or(max_scroll, |y| (y as usize).min(max_scroll));
    (para, clamp(offset))
}

fn clamp(n: usize) -> u16 {
    n.min(u16::MAX as usize) as u16
}

/// Replaces any cell whose symbol holds a control character. Alert text is sanitised when
/// it is loaded and model text when it arrives; this makes sure nothing drawn can ever be
/// an escape sequence, whatever path it took.
pub fn neutralise(buf: &mut Buffer) {
    for cell in buf.content.iter_mut() {
        if cell.symbol().chars().any(|c| c.is_control()) {
            cell.set_symbol("\u{fffd}");
        }
    }
}
