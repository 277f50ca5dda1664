//! Alert content is attacker-controlled. Before any of it is stored, shown or sent anywhere
//! it loses terminal escape sequences and control characters, and it is bounded in size.

/// Longest single text value kept from an alert (title, description, one raw field).
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

/// Removes ANSI/VT escape sequences (CSI, OSC, DCS and two-byte escapes), C0 and C1 control
/// characters other than newline and tab, and bidi overrides that can disguise text.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI/OSC/DCS introducers start sequences just like ESC [ / ESC ] / ESC P.
            '\u{9b}' => skip_until_final(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\t' => out.push(c),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            c if c.is_control() => {}
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_until_final(chars),
        Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => skip_string(chars),
        // Two-byte sequences (ESC 7, ESC c…) and charset selection (ESC ( B).
        Some('(') | Some(')') | Some('*') | Some('+') => {
            chars.next();
        }
        _ => {}
    }
}

/// CSI: parameter and intermediate bytes, then one final byte in `@`..=`~`.
fn skip_until_final(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

/// OSC/DCS/APC/PM/SOS: everything up to BEL or the string terminator (ESC \ or C1 ST).
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

/// Sanitises and bounds one value; the note says how much was cut.
pub fn bounded(text: &str, max_bytes: usize) -> String {
    let clean = sanitize(text);
    if clean.len() <= max_bytes {
        return clean;
    }
    let mut cut = max_bytes;
    while !clean.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{} […truncated {} bytes]", &clean[..cut], clean.len() - cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_title_setting_and_cursor_moves() {
        let hostile = "ok\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[10;10Hdone\u{1b}c";
        assert_eq!(sanitize(hostile), "okdone");
    }

    #[test]
    fn strips_c1_and_bidi_keeps_newlines() {
        let s = "a\u{9b}31mb\u{202e}c\r\nd\re\u{0}";
        assert_eq!(sanitize(s), "abc\nd\ne");
    }

    #[test]
    fn unterminated_osc_drops_rest() {
        assert_eq!(sanitize("x\u{1b}]52;c;Zm9v"), "x");
    }

    #[test]
    fn bounded_cuts_on_char_boundary() {
        let s = "é".repeat(10);
        let b = bounded(&s, 5);
        assert!(b.starts_with("éé"));
        assert!(b.contains("truncated"));
    }
}
