//! Everything the command line prints passes through here: escape sequences and control
//! characters are stripped from it, whatever its source — alert text, a model's streamed
//! answer, a file path in an error. `eprintln!` and `println!` are shadowed in `cli` by
//! macros that route through `Clean`, so no print site can forget.

use std::io::Write;

use soc_copilot::alert::sanitize::sanitize;

/// A writer that sanitises each chunk before passing it on. Every chunk loses ESC and C1
/// introducers, so a sequence split across two chunks cannot start in the terminal either.
pub struct Clean<W: Write>(pub W);

impl<W: Write> Write for Clean<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(sanitize(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

pub fn err_line(text: &str) {
    let mut e = Clean(std::io::stderr().lock());
    let _ = writeln!(e, "{text}");
}

pub fn out_line(text: &str) {
    let mut o = Clean(std::io::stdout().lock());
    let _ = writeln!(o, "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_never_pass_even_split_across_writes() {
        let mut out = Vec::new();
        {
            let mut w = Clean(&mut out);
            w.write_all(b"path /tmp/\x1b").expect("write");
            w.write_all(b"]0;pwned\x07 done\n").expect("write");
            w.write_all("\u{9b}31m red".as_bytes()).expect("write");
        }
        let s = String::from_utf8(out).expect("utf8");
        assert!(
            !s.contains('\u{1b}') && !s.contains('\u{7}') && !s.contains('\u{9b}'),
            "{s:?}"
        );
        assert!(s.contains("done"));
    }
}
