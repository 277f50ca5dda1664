//! A small Markdown reader for model output: headings, bullets, numbered items, fenced code,
//! and inline code/bold/italic spans. It yields plain data (no terminal types) so it can be
//! computed once when a message settles and drawn many times.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Text,
    Heading(u8),
    Bullet(u8),
    Numbered,
    Code,
    Quote,
    Rule,
    Blank,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Plain,
    Bold,
    Italic,
    Code,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub kind: SpanKind,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdLine {
    pub kind: LineKind,
    /// The marker drawn before the text (`• `, `1. `, `│ `).
    pub prefix: String,
    pub spans: Vec<Span>,
}

pub fn parse(text: &str) -> Vec<MdLine> {
    let mut out = Vec::new();
    let mut in_code = false;
    for raw in text.lines() {
        let trimmed = raw.trim_start();
        if trimmed.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push(line(LineKind::Code, "  ", vec![plain(raw)]));
            continue;
        }
        if trimmed.is_empty() {
            out.push(line(LineKind::Blank, "", Vec::new()));
            continue;
        }
        let indent = ((raw.len() - trimmed.len()) / 2).min(3) as u8;
        if let Some(level) = heading_level(trimmed) {
            let body = trimmed[level as usize..].trim();
            out.push(line(LineKind::Heading(level), "", inline(body)));
        } else if trimmed == "---" || trimmed == "***" || trimmed == "___" {
            out.push(line(LineKind::Rule, "", Vec::new()));
        } else if let Some(rest) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
            .or_else(|| trimmed.strip_prefix("+ "))
        {
            let prefix = format!("{}• ", "  ".repeat(indent as usize));
            out.push(line(LineKind::Bullet(indent), &prefix, inline(rest)));
        } else if let Some((num, rest)) = numbered(trimmed) {
            out.push(line(LineKind::Numbered, &format!("{num}. "), inline(rest)));
        } else if let Some(rest) = trimmed.strip_prefix('>') {
            out.push(line(LineKind::Quote, "│ ", inline(rest.trim_start())));
        } else {
            out.push(line(LineKind::Text, "", inline(raw.trim_end())));
        }
    }
    out
}

fn line(kind: LineKind, prefix: &str, spans: Vec<Span>) -> MdLine {
    MdLine {
        kind,
        prefix: prefix.to_string(),
        spans,
    }
}

fn plain(t: &str) -> Span {
    Span {
        kind: SpanKind::Plain,
        text: t.to_string(),
    }
}

fn heading_level(t: &str) -> Option<u8> {
    let hashes = t.bytes().take_while(|b| *b == b'#').count();
    ((1..=6).contains(&hashes) && t[hashes..].starts_with(' ')).then_some(hashes as u8)
}

fn numbered(t: &str) -> Option<(&str, &str)> {
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    let rest = t[digits..].strip_prefix(". ")?;
    Some((&t[..digits], rest))
}

/// Inline spans: `code`, **bold**, *italic*. Unclosed markers stay literal; `_` is left
/// alone because it is everywhere in field and file names.
pub fn inline(text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut plain_buf = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (marker, kind) = if rest.starts_with("**") {
            ("**", SpanKind::Bold)
        } else if rest.starts_with('`') {
            ("`", SpanKind::Code)
        } else if rest.starts_with('*') {
            ("*", SpanKind::Italic)
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            plain_buf.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        let after = &rest[marker.len()..];
        match after.find(marker) {
            Some(end) if end > 0 => {
                if !plain_buf.is_empty() {
                    spans.push(plain(&std::mem::take(&mut plain_buf)));
                }
                spans.push(Span {
                    kind,
                    text: after[..end].to_string(),
                });
                rest = &after[end + marker.len()..];
            }
            _ => {
                plain_buf.push_str(marker);
                rest = after;
            }
        }
    }
    if !plain_buf.is_empty() {
        spans.push(plain(&plain_buf));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(lines: &[MdLine]) -> String {
        lines
            .iter()
            .map(|l| {
                let body: Vec<String> = l
                    .spans
                    .iter()
                    .map(|s| match s.kind {
                        SpanKind::Plain => s.text.clone(),
                        SpanKind::Bold => format!("<b>{}</b>", s.text),
                        SpanKind::Italic => format!("<i>{}</i>", s.text),
                        SpanKind::Code => format!("<c>{}</c>", s.text),
                    })
                    .collect();
                format!("{:?}|{}{}", l.kind, l.prefix, body.concat())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn reads_the_markdown_models_write() {
        let md = "## Assessment\nWord spawned `powershell.exe -enc` — **suspicious**.\n\n- parent: WINWORD\n  - child: powershell\n1. isolate host\n```\nindex=main\n```\n> quoted *note*\n---";
        insta::assert_snapshot!(render(&parse(md)), @r"
        Heading(2)|Assessment
        Text|Word spawned <c>powershell.exe -enc</c> — <b>suspicious</b>.
        Blank|
        Bullet(0)|• parent: WINWORD
        Bullet(1)|  • child: powershell
        Numbered|1. isolate host
        Code|  index=main
        Quote|│ quoted <i>note</i>
        Rule|
        ");
    }

    #[test]
    fn unclosed_markers_and_snake_case_stay_literal() {
        let spans = inline("file_name_here and `open and **half");
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].text, "file_name_here and `open and **half");
    }
}
