//! `export finetune`: reviewed triages as chat-format JSONL — the alert as the model saw
//! it (fenced as untrusted data), and the analyst's verdict as the answer — pseudonymised.

use serde_json::{Value, json};

use crate::privacy::Privacy;
use crate::store::feedback::TrainingRow;
use crate::triage::prompt::{SYSTEM, fenced_alert};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// `{"system": …, "messages": [{"role": "user"…}, {"role": "assistant"…}]}`
    Anthropic,
    /// `{"messages": [{"role": "system"…}, {"role": "user"…}, {"role": "assistant"…}]}`
    Openai,
}

/// The target answer: the tool's verdict with the analyst's level; when the analyst
/// disagreed, their reason and notes replace the tool's reasoning.
fn target(row: &TrainingRow) -> Option<Value> {
    let mut v: Value = row
        .verdict_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())?;
    let tool = v.get("verdict")?.as_str()?.to_string();
    let label = match (&row.analyst_verdict, row.thumbs.as_str()) {
        (Some(l), _) => l.to_ascii_uppercase(),
        (None, "up") => tool.clone(),
        // Thumbs down without a verdict: the right answer is unknown.
        _ => return None,
    };
    let o = v.as_object_mut()?;
    for k in [
        "triage_id",
        "engine",
        "warnings",
        "claims",
        "injection_flags",
    ] {
        o.remove(k);
    }
    if label != tool {
        let why = [row.reason.as_deref(), row.notes.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(". ");
        o.insert(
            "reasoning".into(),
            Value::String(if why.is_empty() {
                format!("An analyst judged this {label}.")
            } else {
                why
            }),
        );
        o.insert("confidence".into(), json!(0.9));
    }
    o.insert("verdict".into(), Value::String(label));
    Some(v)
}

/// One JSONL line per usable row (the rest are counted as skipped).
pub fn lines(rows: &[TrainingRow], shape: Shape, privacy: &Privacy) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut skipped = 0;
    for row in rows {
        let Some(answer) = target(row) else {
            skipped += 1;
            continue;
        };
        privacy.learn_alert(&row.alert);
        let delimiter = crate::triage::prompt::new_delimiter();
        let user = privacy.apply(&format!(
            "Triage this alert. Answer with the verdict JSON.\n\n{}",
            fenced_alert(&row.alert, &[], &delimiter)
        ));
        let answer = privacy.apply(&answer.to_string());
        let line = match shape {
            Shape::Anthropic => json!({
                "system": SYSTEM,
                "messages": [
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": answer},
                ],
            }),
            Shape::Openai => json!({
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": answer},
                ],
            }),
        };
        out.push(line.to_string());
    }
    (out, skipped)
}
