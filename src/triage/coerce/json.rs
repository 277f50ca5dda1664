//! Finding the verdict's JSON in model text: fenced, bare, followed by prose, or with
//! trailing commas.

use serde_json::Value;

/// The JSON value of a verdict found in model text: the last ```json (or bare ```) fence, else
/// the last balanced top-level {…}; tolerant of trailing commas (`,` before `}` or `]`
/// outside strings) and of prose after the object. None when there is no object.
pub fn find_json(text: &str) -> Option<Value> {
    fenced_blocks(text)
        .into_iter()
        .rev()
        .find_map(|body| parse_object(body).or_else(|| last_braced(body)))
        .or_else(|| last_braced(text))
}

/// Bodies of the fences tagged `json…` or untagged, in order.
fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let (info, body) = match after.find('\n') {
            Some(nl) if !after[..nl].contains('{') => (after[..nl].trim(), &after[nl + 1..]),
            _ => ("", after),
        };
        let Some(close) = body.find("```") else { break };
        if info.is_empty() || info.to_ascii_lowercase().starts_with("json") {
            out.push(&body[..close]);
        }
        rest = &body[close + 3..];
    }
    out
}

/// The first JSON value of `s` (prose after it ignored) when it is an object.
fn parse_object(s: &str) -> Option<Value> {
    let cleaned = strip_trailing_commas(s.trim());
    let mut values = serde_json::Deserializer::from_str(&cleaned).into_iter::<Value>();
    match values.next() {
        Some(Ok(v)) if v.is_object() => Some(v),
        _ => None,
    }
}

/// The last top-level balanced `{…}` of `text` that parses as an object. One pass with a
/// stack; quotes count only inside braces, so prose apostrophes and quotes are harmless.
fn last_braced(text: &str) -> Option<Value> {
    let (mut open, mut spans) = (Vec::new(), Vec::new());
    let (mut in_str, mut escaped) = (false, false);
    for (i, c) in text.bytes().enumerate() {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
        } else {
            match c {
                b'"' if !open.is_empty() => in_str = true,
                b'{' => open.push(i),
                b'}' => spans.extend(open.pop().map(|start| (start, i))),
                _ => {}
            }
        }
    }
    // Spans close in order; walking back, one that starts after an already-seen (later
    // closing) span's start is nested inside it.
    let mut min_start = usize::MAX;
    spans.into_iter().rev().find_map(|(start, end)| {
        if start > min_start {
            return None;
        }
        min_start = start;
        parse_object(&text[start..=end])
    })
}

fn strip_trailing_commas(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut in_str, mut escaped) = (false, false);
    for (i, c) in s.char_indices() {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
        } else if c == ',' && matches!(s[i + 1..].trim_start().chars().next(), Some('}' | ']')) {
            continue;
        }
        out.push(c);
    }
    out
}
