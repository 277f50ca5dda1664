//! ATT&CK descriptions are markdown with `(Citation: …)` markers, links and `<code>` spans.
//! We strip them for display and indexing, and keep the code spans apart: they name the
//! concrete tools, commands and registry keys that alerts contain.

use std::sync::LazyLock;

use regex::Regex;

static CITATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\(Citation:[^)]*\)").expect("static regex"));
static LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[([^\]]*)\]\((?:https?://[^)]*)\)").expect("static regex"));
static CODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<code>(.*?)</code>").expect("static regex"));
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"</?[a-zA-Z][^>]*>").expect("static regex"));
static SPACES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[ \t]+").expect("static regex"));
static BLANK_LINES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\n{3,}").expect("static regex"));

/// Plain text for display and indexing: citations removed, links reduced to their text,
/// `<code>` spans unwrapped, other tags dropped, whitespace tidied.
pub fn clean(text: &str) -> String {
    let text = CITATION.replace_all(text, "");
    let text = LINK.replace_all(&text, "$1");
    let text = CODE.replace_all(&text, "$1");
    let text = TAG.replace_all(&text, "");
    let text = SPACES.replace_all(&text, " ");
    let text = BLANK_LINES.replace_all(&text, "\n\n");
    text.lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// The contents of `<code>` spans, in order, deduplicated, with citations removed.
pub fn code_spans(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for cap in CODE.captures_iter(text) {
        let span = CITATION.replace_all(&cap[1], "");
        let span = span.trim();
        if !span.is_empty() && span.len() <= 200 && !out.iter().any(|s| s == span) {
            out.push(span.to_string());
        }
    }
    out
}

/// The first `max_sentences` sentences of `text`, never longer than `max_chars`
/// (cut at a word boundary).
pub fn lead(text: &str, max_sentences: usize, max_chars: usize) -> String {
    let first_para = text.split("\n\n").next().unwrap_or(text);
    let mut end = first_para.len();
    let mut seen = 0;
    for (i, _) in first_para.match_indices(". ") {
        seen += 1;
        if seen == max_sentences {
            end = i + 1;
            break;
        }
    }
    truncate_words(&first_para[..end], max_chars)
}

/// `text` cut to at most `max_chars` bytes at a word boundary, with an ellipsis when cut.
pub fn truncate_words(text: &str, max_chars: usize) -> String {
    if text.len() <= max_chars {
        return text.to_string();
    }
    let mut cut = max_chars;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &text[..cut];
    let head = head.rfind(char::is_whitespace).map_or(head, |i| &head[..i]);
    format!("{}…", head.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_strips_citations_links_and_tags() {
        let raw = "Adversaries may abuse [PowerShell](https://attack.mitre.org/techniques/T1059/001) \
                   commands.(Citation: TechNet PowerShell) Use <code>vssadmin delete shadows</code>  now.";
        assert_eq!(
            clean(raw),
            "Adversaries may abuse PowerShell commands. Use vssadmin delete shadows now."
        );
    }

    #[test]
    fn code_spans_are_extracted_once() {
        let raw =
            "<code>rundll32.exe</code> and <code>rundll32.exe</code> and <code>regsvr32 /s</code>";
        assert_eq!(code_spans(raw), vec!["rundll32.exe", "regsvr32 /s"]);
    }

    #[test]
    fn lead_keeps_first_sentences_and_bounds_length() {
        let text = "One. Two. Three.\n\nNext paragraph.";
        assert_eq!(lead(text, 2, 100), "One. Two.");
        assert_eq!(
            lead("word ".repeat(50).trim(), 3, 20),
            "word word word word…"
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let s = "ééééé ééééé";
        let t = truncate_words(s, 7);
        assert!(t.ends_with('…'));
    }
}
