//! The reasoning pane: the engine's reasoning as it streams, then the verdict summary, with
//! engine, model, time to first token, tokens and cost in the title.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::super::state::{Item, ItemStatus, KbState, State};
use super::{View, block, text, title_span};

fn header(it: Option<&Item>, v: &View<'_>) -> String {
    let mut s = header_of_run(it, v);
    // Team mode: a colleague's alert says so first, where even a narrow title shows it.
    if let Some(c) = it
        .and_then(|i| i.holder.as_ref())
        .filter(|c| v.state.team && c.analyst != v.state.analyst)
    {
        s.insert_str(
            " Reasoning".len(),
            &format!(
                " · held by {}",
                c.analyst.chars().take(16).collect::<String>()
            ),
        );
    }
    s
}

fn header_of_run(it: Option<&Item>, v: &View<'_>) -> String {
    let Some(p) = it.and_then(|i| i.provenance.as_ref()) else {
        let engine = if it.is_some_and(|i| i.offline_run) {
            "offline"
        } else {
            v.state.engine.as_str()
        };
        return format!(" Reasoning · {engine} ");
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
    if let Some(f) = &it.failure {
        let k = |name: &str| v.keymap.keys_for(name);
        out.push(Line::from(""));
        out.push(Line::styled(format!("Failed: {}", f.error), t.bad()));
        if f.raw.is_some() {
            let sal = &f.salvaged;
            out.push(Line::from(vec![
                Span::styled("The model said (unvalidated): ", t.heading()),
                match sal.level {
                    Some(l) => Span::styled(l.as_str(), t.level(l)),
                    None => Span::styled("no level", t.dim()),
                },
                Span::raw(if sal.techniques.is_empty() {
                    " · no technique ids".to_string()
                } else {
                    format!(" · {}", sal.techniques.join(", "))
                }),
            ]));
            out.push(Line::styled(
                "  not checked against the knowledge base; its whole answer is above",
                t.dim(),
            ));
        }
        out.push(Line::styled(
            format!(
                "{} re-triages · {} triages offline · {} re-runs every failed alert · {}/{}/{} judge it anyway · {} shows what was sent",
                k("retriage"),
                k("triage_offline"),
                k("retriage_failed"),
                k("thumbs_up"),
                k("thumbs_down"),
                k("set_verdict"),
                k("preview")
            ),
            t.dim(),
        ));
    }
    if let Some(verdict) = &it.verdict {
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
            Span::styled(
                verdict
                    .claims
                    .map(|c| format!(" · {}", c.line()))
                    .unwrap_or_default(),
                match verdict.claims {
                    Some(c) if c.verified < c.total => t.bad(),
                    _ => t.dim(),
                },
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

/// What a run that has shown nothing yet is waiting for: the knowledge base (with its
/// progress), a worker slot, retrieval, or the model's first token. The offline engine has
/// no tokens, so it never says so.
pub fn waiting(it: &Item, s: &State) -> String {
    if let KbState::Loading(progress) = &s.kb {
        return format!("Waiting for the knowledge base: {progress}… (Esc cancels)");
    }
    if it.status == ItemStatus::Queued {
        return "Queued; waiting for a worker… (Esc cancels)".into();
    }
    let offline = it.offline_run || s.engine == "offline";
    if offline {
        "Retrieving techniques and deciding with the offline engine… (Esc cancels)".into()
    } else {
        "Retrieving techniques, then waiting for the model's first token… (Esc cancels)".into()
    }
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
            if let Some(c) = it
                .holder
                .as_ref()
                .filter(|c| s.team && c.analyst != s.analyst)
            {
                lines.push(Line::styled(
                    format!(
                        "{}: theirs to triage and judge — {} takes it over (recorded)",
                        super::super::state::holder_text(c),
                        v.keymap.keys_for("take_over"),
                    ),
                    t.bad(),
                ));
            }
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
                ItemStatus::Queued | ItemStatus::Triaging if it.reasoning.text.is_empty() => {
                    lines.push(Line::styled(waiting(it, s), t.dim()))
                }
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
        focused.then_some(&s.extents.reasoning),
    );
    f.render_widget(para.block(b).scroll((scroll, 0)), area);
}
