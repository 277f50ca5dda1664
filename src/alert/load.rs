//! Reading alerts from files, directories, NDJSON streams and stdin. The format of each
//! input is detected; a bad line or file becomes an error naming where it was, and the rest
//! still loads. Sizes are bounded so a huge or binary input cannot exhaust memory.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::Alert;
use super::parse::{from_json, from_text};

/// Largest single alert accepted (one NDJSON line, one JSON document, one text file).
pub const MAX_ALERT_BYTES: usize = 1024 * 1024;
/// Largest whole input read (a JSON array file, or stdin).
pub const MAX_INPUT_BYTES: usize = 256 * 1024 * 1024;

/// One alert as loaded, with its raw text (bounded) and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedAlert {
    pub alert: Alert,
    pub raw: String,
    /// `path` or `path:line`.
    pub origin: String,
}

/// An input that could not be read, named by file and line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LoadError {
    pub origin: String,
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub alerts: Vec<LoadedAlert>,
    pub errors: Vec<LoadError>,
}

/// Loads every path: files, directories (their files, sorted, recursively), or `-` for stdin.
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    let mut out = Loaded::default();
    for p in paths {
        if p.as_os_str() == "-" {
            load_reader(std::io::stdin().lock(), "<stdin>", &mut out);
        } else if p.is_dir() {
            for file in files_under(p) {
                load_file(&file, &mut out);
            }
        } else {
            load_file(p, &mut out);
        }
    }
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn load_file(path: &Path, out: &mut Loaded) {
    let origin = path.display().to_string();
    match std::fs::File::open(path) {
        Ok(f) => load_reader(BufReader::new(f), &origin, out),
        Err(e) => out.errors.push(LoadError {
            origin,
            message: format!("cannot read: {e}"),
        }),
    }
}

/// Loads from any reader; `origin` names it in errors.
pub fn load_reader(reader: impl Read, origin: &str, out: &mut Loaded) {
    let mut reader = BufReader::new(reader.take(MAX_INPUT_BYTES as u64 + 1));
    let head = match reader.fill_buf() {
        Ok(b) => b.to_vec(),
        Err(e) => {
            out.errors.push(LoadError {
                origin: origin.into(),
                message: format!("cannot read: {e}"),
            });
            return;
        }
    };
    if looks_binary(&head) {
        out.errors.push(LoadError {
            origin: origin.into(),
            message: "looks like binary data, not an alert (JSON, NDJSON or text); skipped".into(),
        });
        return;
    }
    let first = head.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match first {
        None => out.errors.push(LoadError {
            origin: origin.into(),
            message: "empty input".into(),
        }),
        Some(b'[') => load_array(reader, origin, out),
        Some(b'{') => load_objects(reader, origin, out),
        Some(_) => load_text(reader, origin, out),
    }
}

fn looks_binary(head: &[u8]) -> bool {
    let sample = &head[..head.len().min(4096)];
    sample.contains(&0) || (std::str::from_utf8(sample).is_err() && sample.len() < 4 * 1024 - 4)
}

fn too_big(origin: String, size: usize) -> LoadError {
    LoadError {
        origin,
        message: format!(
            "alert is {:.1} MB, over the {} KiB limit; trim the raw event before loading it",
            size as f64 / 1e6,
            MAX_ALERT_BYTES / 1024
        ),
    }
}

/// Why an alert with nothing in it is refused rather than triaged from nothing.
pub const EMPTY_ALERT: &str = "the alert has nothing to triage (no title, description or field with a value); check the sender's payload";

fn push_value(value: &Value, raw: &str, origin: String, out: &mut Loaded) {
    // An {"id", "alert": {...}} envelope (as in evaluation and batch files).
    let inner = value
        .get("alert")
        .filter(|a| a.is_object() && value.get("id").is_some())
        .unwrap_or(value);
    let mut alert = from_json(inner);
    if alert.is_empty() {
        out.errors.push(LoadError {
            origin,
            message: EMPTY_ALERT.into(),
        });
        return;
    }
    if !std::ptr::eq(inner, value)
        && let Some(id) = value.get("id").and_then(Value::as_str)
    {
        alert.id = id.to_string();
    }
    out.alerts.push(LoadedAlert {
        alert,
        raw: raw.to_string(),
        origin,
    });
}

/// A JSON array of alerts.
fn load_array(mut reader: impl Read, origin: &str, out: &mut Loaded) {
    let mut bytes = Vec::new();
    if let Err(e) = reader.read_to_end(&mut bytes) {
        out.errors.push(LoadError {
            origin: origin.into(),
            message: format!("cannot read: {e}"),
        });
        return;
    }
    if bytes.len() > MAX_INPUT_BYTES {
        out.errors.push(LoadError {
            origin: origin.into(),
            message: format!(
                "input over {} MiB; split it into NDJSON",
                MAX_INPUT_BYTES >> 20
            ),
        });
        return;
    }
    match serde_json::from_slice::<Vec<Value>>(&bytes) {
        Ok(items) => {
            for (i, item) in items.iter().enumerate() {
                let raw = item.to_string();
                let where_ = format!("{origin}[{i}]");
                if raw.len() > MAX_ALERT_BYTES {
                    out.errors.push(too_big(where_, raw.len()));
                } else {
                    push_value(item, &raw, where_, out);
                }
            }
        }
        Err(e) => out.errors.push(LoadError {
            origin: format!("{origin}:{}", e.line()),
            message: format!("not a valid JSON array of alerts: {e}"),
        }),
    }
}

/// One JSON document (possibly pretty-printed) or NDJSON, one alert per line.
fn load_objects(reader: impl BufRead, origin: &str, out: &mut Loaded) {
    let mut lines: Vec<(usize, String)> = Vec::new();
    let mut doc = String::new();
    let mut doc_too_big = false;
    for (n, line) in BoundedLines::new(reader).enumerate() {
        match line {
            Line::Text(t) => {
                if doc.len() + t.len() <= MAX_ALERT_BYTES {
                    doc.push_str(&t);
                    doc.push('\n');
                } else {
                    doc_too_big = true;
                }
                lines.push((n + 1, t));
            }
            Line::TooLong(size) => {
                doc_too_big = true;
                lines.push((n + 1, String::new()));
                out.errors
                    .push(too_big(format!("{origin}:{}", n + 1), size));
            }
            Line::Error(e) => {
                out.errors.push(LoadError {
                    origin: format!("{origin}:{}", n + 1),
                    message: format!("cannot read: {e}"),
                });
                break;
            }
        }
    }
    // A single (pretty-printed) document spanning several lines.
    if !doc_too_big
        && lines.len() > 1
        && let Ok(v) = serde_json::from_str::<Value>(&doc)
    {
        push_value(&v, doc.trim(), origin.to_string(), out);
        return;
    }
    for (n, text) in lines {
        let t = text.trim();
        if t.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(t) {
            Ok(v) => push_value(&v, t, format!("{origin}:{n}"), out),
            Err(e) => out.errors.push(LoadError {
                origin: format!("{origin}:{n}"),
                message: format!(
                    "not valid JSON ({e}); each line of an NDJSON file must be one alert object"
                ),
            }),
        }
    }
}

/// A text file is one alert.
fn load_text(reader: impl Read, origin: &str, out: &mut Loaded) {
    let mut bytes = Vec::new();
    let mut limited = reader.take(MAX_ALERT_BYTES as u64 + 1);
    if let Err(e) = limited.read_to_end(&mut bytes) {
        out.errors.push(LoadError {
            origin: origin.into(),
            message: format!("cannot read: {e}"),
        });
        return;
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if bytes.len() > MAX_ALERT_BYTES {
        out.errors.push(LoadError {
            origin: origin.into(),
            message: format!(
                "text alert over {} KiB; kept the first {} KiB",
                MAX_ALERT_BYTES / 1024,
                MAX_ALERT_BYTES / 1024
            ),
        });
        let mut cut = MAX_ALERT_BYTES.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let alert = from_text(&text, None);
    out.alerts.push(LoadedAlert {
        alert,
        raw: text,
        origin: origin.to_string(),
    });
}

enum Line {
    Text(String),
    /// A line longer than the per-alert limit, skipped without being held in memory.
    TooLong(usize),
    Error(std::io::Error),
}

/// Lines of at most `MAX_ALERT_BYTES`; longer ones are consumed and reported by size.
struct BoundedLines<R> {
    reader: R,
    done: bool,
}

impl<R: BufRead> BoundedLines<R> {
    fn new(reader: R) -> Self {
        BoundedLines {
            reader,
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        if self.done {
            return None;
        }
        let mut buf = Vec::new();
        let mut size = 0usize;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) => {
                    self.done = true;
                    return Some(Line::Error(e));
                }
            };
            if chunk.is_empty() {
                self.done = true;
                if size == 0 {
                    return None;
                }
                break;
            }
            let (take, end) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            size += take;
            if size <= MAX_ALERT_BYTES + 1 {
                buf.extend_from_slice(&chunk[..take]);
            }
            self.reader.consume(take);
            if end {
                break;
            }
        }
        if size > MAX_ALERT_BYTES + 1 {
            return Some(Line::TooLong(size));
        }
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        Some(Line::Text(String::from_utf8_lossy(&buf).into_owned()))
    }
}
