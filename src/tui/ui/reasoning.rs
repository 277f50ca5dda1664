//! The reasoning pane: the engine's reasoning as it streams, then the verdict summary, with
//! engine, model, time to first token, tokens and cost in the title.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::super::state::{Item, ItemStatus};
use super::{View, block, text, title_span};

fn header(it: Option<&Item>, v: &View<'_>) -> String {
    let Some(p) = it.and_then(|i| i.provenance.as_ref()) else {
        return format!(" Reasoning · {} ", v.state.engine);
    };
    let mut s = format!(" Reasoning · {}", p.engine);
    if let Some(m) = &p.model {
        s.push_str(&format!(" · {m}"));
    }
    if let Some(t) = p.ttft_ms {
        s.push_str(&format!(" · TTFT {t} ms"));
    }
    s.push_str(&format!(" · {} ms", p.latency_ms));
    if p.input_tokens + p.output_tokens > 0 {
        s.push_str(&format!(
            " · {}/{} tok · ${:.4}",
            p.input_tokens, p.output_tokens, p.cost_usd
        ));
    }
    s.push(' ');
    s
}

fn verdict_lines<'a>(it: &'a Item, v: &View<'_>) -> Vec<Line<'a>> {
    let t = &v.theme;
    let mut out = Vec::new();
    if let Some(e) = &it.error {
        out.push(Line::from(""));
        out.push(Line::styled(format!("Failed: {e}"), t.bad()));
        out.push(Line::styled("r re-triages; p shows what was sent", t.dim()));
    }
    let Some(verdict) = &it.verdict else {
        return out;
    };
    out.push(Line::from(""));
    out.push(Line::from(vec![
        Span::styled("Verdict ", t.heading()),
        Span::styled(verdict.verdict.as_str(), t.level(verdict.verdict)),
        Span::raw(format!(" · confidence {:.2}", verdict.confidence)),
        Span::styled(
            if verdict.escalation.recommended {
                " · escalate"
            } else {
                ""
            },
            t.bad(),
        ),
    ]));
    for step in &verdict.attack_chain {
        out.push(Line::from(vec![
            Span::styled("  → ", t.accent()),
            Span::styled(step.tactic.as_str(), t.bold()),
            Span::raw(format!(
                "{}: {}",
                step.technique
                    .as_deref()
                    .map(|x| format!(" ({x})"))
                    .unwrap_or_default(),
                step.description
            )),
        ]));
    }
    for w in &verdict.warnings {
        out.push(Line::styled(format!("  ! {w}"), t.dim()));
    }
    for f in &verdict.injection_flags {
        out.push(Line::styled(
            format!("  ⚠ prompt injection in the alert: {f}"),
            t.bad(),
        ));
    }
    let j = &it.judgement;
    if let Some(th) = j.thumbs {
        out.push(Line::styled(
            format!(
                "  analyst: thumbs {}{}{}",
                th.as_str(),
                j.reason
                    .map(|r| format!(" ({})", r.as_str().replace('_', " ")))
                    .unwrap_or_default(),
                j.analyst_verdict
                    .map(|l| format!(", verdict {l}"))
                    .unwrap_or_default()
            ),
            t.good(),
        ));
    }
    for n in &it.notes {
        out.push(Line::styled(format!("  note: {n}"), t.dim()));
    }
    out
}

pub fn draw(f: &mut Frame, area: Rect, v: &View<'_>, focused: bool) {
    let s = v.state;
    let it = s.selected_item();
    let b = block(
        title_span(header(it, v), focused, &v.theme),
        focused,
        &v.theme,
    );
    let t = &v.theme;
    let mut lines: Vec<Line> = Vec::new();
    match it {
        None => lines.push(Line::styled("Select an alert.", t.dim())),
        Some(it) => {
            match it.status {
                ItemStatus::New if it.reasoning.text.is_empty() => {
                    lines.push(Line::styled(
                        format!(
                            "Not triaged yet. Enter triages it ({}); p shows what would be sent.",
                            s.engine
                        ),
                        t.dim(),
                    ));
                }
                ItemStatus::Queued => {
                    lines.push(Line::styled("Queued; waiting for a worker…", t.dim()))
                }
                ItemStatus::Triaging if it.reasoning.text.is_empty() => lines.push(Line::styled(
                    "Retrieving techniques, waiting for the first token… (Esc cancels)",
                    t.dim(),
                )),
                _ => {}
            }
            lines.extend(text::stream(&it.reasoning, t, t.plain()));
            lines.extend(verdict_lines(it, v));
        }
    }
    let (para, scroll) = text::scrolled(
        lines,
        area.width.saturating_sub(2),
        area.height.saturating_sub(2) as usize,
        s.reasoning_scroll,
    );
    f.render_widget(para.block(b).scroll((scroll, 0)), area);
}
