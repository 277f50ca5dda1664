//! Follow-up questions about one alert: each question re-runs retrieval (so techniques the
//! verdict did not consider can come in), then goes to the model with the fenced alert, the
//! verdict and the conversation so far — or, offline, gets what the knowledge base can say.

use std::fmt::Write as _;

use crate::alert::Alert;
use crate::attack::Catalog;
use crate::attack::markup::{lead, truncate_words};
use crate::llm::{ChatRequest, Message, ModelSettings, Role};
use crate::search::{Hit, KnowledgeBase, Mode, SearchParams, build_query};

use super::prompt::{fenced_alert, new_delimiter};
use super::verdict::Verdict;

pub const CHAT_SYSTEM: &str = include_str!("../../assets/prompts/chat.md");

/// Longest question accepted; the rest is cut.
pub const MAX_QUESTION_CHARS: usize = 4_000;

/// Techniques for the question in the light of the alert.
pub fn retrieve(
    kb: &KnowledgeBase,
    alert: &Alert,
    question: &str,
    k: usize,
    params: &SearchParams,
) -> Result<Vec<Hit>, crate::search::kb::KbError> {
    let mut a = alert.clone();
    a.title = question.to_string();
    a.description = format!("{} {}", alert.title, alert.description);
    let q = build_query(&a);
    let qv = match kb.embedder() {
        Some(e) => e.embed_one(&q.dense_text).ok(),
        None => None,
    };
    kb.search_query(&q, qv.as_deref(), k, Mode::Hybrid, params)
}

/// Everything the model needs for one follow-up turn.
pub struct ChatTurn<'a> {
    pub alert: &'a Alert,
    pub verdict: Option<&'a Verdict>,
    pub hits: &'a [Hit],
    pub catalog: &'a Catalog,
    pub injection_flags: &'a [String],
    /// Earlier turns, oldest first: `(role, text)`.
    pub history: &'a [(Role, String)],
    pub question: &'a str,
}

/// The request for one follow-up: earlier turns, then the question with fresh context.
pub fn request(turn: &ChatTurn<'_>, settings: &ModelSettings) -> ChatRequest {
    let mut messages: Vec<Message> = Vec::new();
    for (role, text) in turn.history {
        // The API wants turns to alternate, starting with the user: fold repeats together.
        match messages.last_mut() {
            Some(last) if last.role == *role => {
                last.content.push_str("\n\n");
                last.content.push_str(text);
            }
            None if *role == Role::Assistant => {}
            _ => messages.push(Message {
                role: *role,
                ..Message::user(text.clone())
            }),
        }
    }
    let mut u = String::new();
    u.push_str("## ATT&CK context retrieved for this question\n\n");
    for h in turn.hits {
        if let Some(t) = turn.catalog.get(&h.id) {
            let _ = writeln!(
                u,
                "- {} {} [{}]: {}",
                t.id,
                t.name,
                turn.catalog.tactic_names(t).join(", "),
                lead(&t.description, 2, 240)
            );
        }
    }
    if let Some(v) = turn.verdict {
        let _ = writeln!(
            u,
            "\n## The verdict given earlier\n\n{} (confidence {:.2}); techniques: {}.\n{}",
            v.verdict,
            v.confidence,
            v.matched_techniques
                .iter()
                .map(|t| t.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            truncate_words(&v.reasoning, 1_500)
        );
    }
    u.push('\n');
    u.push_str(&fenced_alert(
        turn.alert,
        turn.injection_flags,
        &new_delimiter(),
    ));
    let question: String = turn.question.chars().take(MAX_QUESTION_CHARS).collect();
    let _ = write!(u, "\n\n## Question from the analyst\n\n{question}");
    match messages.last_mut() {
        Some(last) if last.role == Role::User => {
            last.content.push_str("\n\n");
            last.content.push_str(&u);
        }
        _ => messages.push(Message::user(u)),
    }
    ChatRequest {
        system: CHAT_SYSTEM.to_string(),
        messages,
        max_tokens: settings.max_tokens,
        temperature: settings.temperature,
        ..ChatRequest::default()
    }
}

fn asks(q: &str, words: &[&str]) -> bool {
    words.iter().any(|w| q.contains(w))
}

/// What the offline engine can answer from the knowledge base and the stored verdict, and a
/// plain statement of what needs a model.
pub fn offline_answer(turn: &ChatTurn<'_>) -> String {
    let q = turn.question.to_lowercase();
    let mut out = String::new();
    let named: Vec<&crate::attack::Technique> = q
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .filter_map(|w| turn.catalog.resolve(w).technique())
        .collect();
    let focus: Vec<&crate::attack::Technique> = if named.is_empty() {
        turn.hits
            .iter()
            .take(3)
            .filter_map(|h| turn.catalog.get(&h.id))
            .collect()
    } else {
        named
    };
    let verdict = turn.verdict;

    if asks(
        &q,
        &[
            "mitigat",
            "contain",
            "what should",
            "what do i do",
            "remediat",
            "respond",
            "next step",
        ],
    ) {
        out.push_str("### Recommended actions\n\n");
        match verdict {
            Some(v) if !v.recommended_actions.is_empty() => {
                for a in &v.recommended_actions {
                    let _ = writeln!(out, "- {a}");
                }
            }
            _ => {
                for t in &focus {
                    for m in t.mitigations.iter().take(3) {
                        let _ = writeln!(
                            out,
                            "- {} ({}): {}",
                            m.name,
                            t.id,
                            truncate_words(&m.how, 200)
                        );
                    }
                }
            }
        }
        out.push('\n');
    }
    if asks(
        &q,
        &["query", "queries", "hunt", "search", "spl", "kql", "detect"],
    ) {
        out.push_str("### Investigation queries and detection\n\n");
        if let Some(v) = verdict {
            for iq in &v.investigation_queries {
                let _ = writeln!(out, "- {} — {}\n  `{}`", iq.language, iq.purpose, iq.query);
            }
        }
        for t in &focus {
            if let Some(a) = t.detections.iter().flat_map(|d| &d.analytics).next() {
                let _ = writeln!(
                    out,
                    "- Detecting {} {}: {}",
                    t.id,
                    t.name,
                    truncate_words(&a.description, 240)
                );
            }
        }
        out.push('\n');
    }
    if asks(&q, &["group", "actor", "apt", "who ", "attribution"]) {
        out.push_str("### Groups known to use these techniques\n\n");
        for t in &focus {
            let groups: Vec<String> = turn
                .catalog
                .groups_using(&t.id)
                .iter()
                .take(8)
                .map(|g| g.name.clone())
                .collect();
            let _ = writeln!(
                out,
                "- {} {}: {}",
                t.id,
                t.name,
                if groups.is_empty() {
                    "none recorded in ATT&CK".to_string()
                } else {
                    groups.join(", ")
                }
            );
        }
        out.push('\n');
    }
    if asks(&q, &["why", "evidence", "reason", "how sure", "confiden"])
        && let Some(v) = verdict
    {
        let _ = writeln!(
            out,
            "### Why {} (confidence {:.2})\n",
            v.verdict, v.confidence
        );
        for e in &v.evidence {
            let _ = writeln!(out, "- {} [{}: {}]", e.claim, e.source, e.reference);
        }
        for f in &v.false_positive_indicators {
            let _ = writeln!(out, "- Could be benign if: {f}");
        }
        out.push('\n');
    }
    if out.is_empty() {
        out.push_str("### What ATT&CK says about this\n\n");
        for t in &focus {
            let _ = writeln!(
                out,
                "- **{} {}** [{}]: {}\n  {}",
                t.id,
                t.name,
                turn.catalog.tactic_names(t).join(", "),
                lead(&t.description, 3, 320),
                t.url
            );
        }
        if focus.is_empty() {
            out.push_str("No technique in the knowledge base fits the question.\n");
        }
        out.push('\n');
    }
    out.push_str(
        "*Offline engine: this answer comes from the ATT&CK knowledge base and the stored verdict only. \
         Reasoning about this specific alert beyond that needs a model — set ANTHROPIC_API_KEY (or configure \
         [llm.openai]) and ask again.*",
    );
    out
}
