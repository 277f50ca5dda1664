//! Offline threat intelligence for air-gapped SOCs, read from the files the feeds publish:
//! abuse.ch Feodo Tracker blocklists (CSV, JSON, plain), URLhaus and ThreatFox exports (CSV,
//! JSON), MISP feed directories (`manifest.json` and one JSON file per event), and plain
//! indicator lists with a source name. The format is recognised from the content; a line or
//! entry that cannot be used is skipped and reported by file and line, never fatal.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Indicator, IntelRecord, Kind, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: cannot read it: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

/// What a file or feed directory gave.
#[derive(Debug, Default)]
pub struct Imported {
    /// `feodo-csv`, `urlhaus-csv`, `threatfox-json`, `misp-feed`, `list`…
    pub format: String,
    pub source: String,
    pub records: Vec<IntelRecord>,
    /// `file:line: why`, for entries that were skipped.
    pub skipped: Vec<String>,
}

/// Options of `intel import`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The source name stored with each record; defaults to the feed's own name, or the
    /// file's stem for a plain list.
    pub source: Option<String>,
    /// What a plain list's entries are (default malicious); feeds say it themselves.
    pub verdict: Option<Verdict>,
}

/// Reads one file or a MISP feed directory.
pub fn read(path: &Path, opts: &Options) -> Result<Imported, ImportError> {
    if path.is_dir() {
        return misp_feed(path, opts);
    }
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let v: Value = serde_json::from_str(trimmed).map_err(|e| ImportError::Format {
            path: path.to_path_buf(),
            message: format!(
                "not valid JSON ({e}); expected a Feodo Tracker, ThreatFox or URLhaus JSON export"
            ),
        })?;
        return json_feed(path, &v, opts);
    }
    Ok(csv_or_list(path, &text, opts))
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("list")
        .to_string()
}

fn record(
    ind: Indicator,
    source: &str,
    verdict: Verdict,
    threat: Option<String>,
    first_seen: Option<String>,
    reference: Option<String>,
) -> IntelRecord {
    let clean = |s: Option<String>| {
        s.map(|v| crate::alert::sanitize::sanitize(v.trim()))
            .filter(|v| !v.is_empty() && v != "None" && v != "null")
            .map(|v| v.chars().take(200).collect())
    };
    IntelRecord {
        indicator: ind,
        source: source.to_string(),
        verdict,
        threat: clean(threat),
        first_seen: clean(first_seen),
        reference: clean(reference),
    }
}

/// Splits one CSV line (RFC 4180 quoting, `""` for a quote).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|f| f.trim().to_string()).collect()
}

/// The kind of CSV export, from its header's column names.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Csv {
    Feodo,
    Urlhaus,
    Threatfox,
}

fn csv_kind(columns: &[String]) -> Option<Csv> {
    let has = |c: &str| columns.iter().any(|x| x == c);
    if has("dst_ip") {
        Some(Csv::Feodo)
    } else if has("ioc_value") {
        Some(Csv::Threatfox)
    } else if has("url") && has("url_status") {
        Some(Csv::Urlhaus)
    } else {
        None
    }
}

fn csv_or_list(path: &Path, text: &str, opts: &Options) -> Imported {
    // abuse.ch exports put the header in the last comment line before the data.
    let mut header: Option<Vec<String>> = None;
    for line in text.lines() {
        let l = line.trim();
        if let Some(c) = l.strip_prefix('#') {
            let cols = csv_fields(c.trim());
            if csv_kind(&cols).is_some() {
                header = Some(cols);
            }
        } else if !l.is_empty() {
            if header.is_none() {
                let cols = csv_fields(l);
                if csv_kind(&cols).is_some() {
                    header = Some(cols);
                }
            }
            break;
        }
    }
    let name = path.display().to_string();
    let Some((header, kind)) = header.and_then(|h| csv_kind(&h).map(|k| (h, k))) else {
        return plain_list(path, text, opts);
    };
    let (format, default_source) = match kind {
        Csv::Feodo => ("feodo-csv", "feodotracker"),
        Csv::Urlhaus => ("urlhaus-csv", "urlhaus"),
        Csv::Threatfox => ("threatfox-csv", "threatfox"),
    };
    let source = opts.source.clone().unwrap_or_else(|| default_source.into());
    let col = |row: &[String], name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .and_then(|i| row.get(i).cloned())
    };
    let mut out = Imported {
        format: format.into(),
        source: source.clone(),
        ..Imported::default()
    };
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let row = csv_fields(l);
        if row == header {
            continue;
        }
        let value = match kind {
            Csv::Feodo => col(&row, "dst_ip"),
            Csv::Urlhaus => col(&row, "url"),
            Csv::Threatfox => col(&row, "ioc_value"),
        };
        let Some(ind) = value.as_deref().and_then(Indicator::detect) else {
            out.skipped.push(format!(
                "{name}:{}: no indicator in {:?}",
                n + 1,
                value.unwrap_or_default()
            ));
            continue;
        };
        let (threat, first_seen, reference) = match kind {
            Csv::Feodo => (
                col(&row, "malware"),
                col(&row, "first_seen_utc"),
                Some("https://feodotracker.abuse.ch/".into()),
            ),
            Csv::Urlhaus => (
                col(&row, "threat").map(|t| {
                    let tags = col(&row, "tags").unwrap_or_default();
                    if tags.is_empty() {
                        t
                    } else {
                        format!("{t} ({tags})")
                    }
                }),
                col(&row, "dateadded"),
                col(&row, "urlhaus_link"),
            ),
            Csv::Threatfox => (
                col(&row, "malware_printable").or_else(|| col(&row, "threat_type")),
                col(&row, "first_seen_utc"),
                col(&row, "reference"),
            ),
        };
        out.records.push(record(
            ind,
            &source,
            Verdict::Malicious,
            threat,
            first_seen,
            reference,
        ));
    }
    out
}

fn plain_list(path: &Path, text: &str, opts: &Options) -> Imported {
    let name = path.display().to_string();
    let source = opts.source.clone().unwrap_or_else(|| stem(path));
    let verdict = opts.verdict.unwrap_or(Verdict::Malicious);
    let mut out = Imported {
        format: "list".into(),
        source: source.clone(),
        ..Imported::default()
    };
    for (n, line) in text.lines().enumerate() {
        let l = line.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        // The first field is the indicator; a second one, if any, is a comment or tag.
        let mut parts = l.splitn(2, [',', '\t', ' ', ';']);
        let first = parts.next().unwrap_or("");
        let note = parts.next().map(|s| s.trim().to_string());
        match Indicator::detect(first) {
            Some(ind) => out
                .records
                .push(record(ind, &source, verdict, note, None, None)),
            None => out.skipped.push(format!(
                "{name}:{}: {first:?} is not an IP, domain, URL, hash or e-mail address",
                n + 1
            )),
        }
    }
    out
}

fn text_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn json_feed(path: &Path, v: &Value, opts: &Options) -> Result<Imported, ImportError> {
    let name = path.display().to_string();
    // Feodo Tracker: an array of {ip_address, port, status, malware, first_seen…}.
    if let Some(items) = v.as_array()
        && items.iter().any(|i| i.get("ip_address").is_some())
    {
        let source = opts.source.clone().unwrap_or_else(|| "feodotracker".into());
        let mut out = Imported {
            format: "feodo-json".into(),
            source: source.clone(),
            ..Imported::default()
        };
        for (n, item) in items.iter().enumerate() {
            match text_of(item, "ip_address")
                .as_deref()
                .and_then(Indicator::detect)
            {
                Some(ind) => out.records.push(record(
                    ind,
                    &source,
                    Verdict::Malicious,
                    text_of(item, "malware"),
                    text_of(item, "first_seen"),
                    Some("https://feodotracker.abuse.ch/".into()),
                )),
                None => out
                    .skipped
                    .push(format!("{name}: entry {n}: no usable ip_address")),
            }
        }
        return Ok(out);
    }
    // ThreatFox and URLhaus JSON exports: {"<id>": [{ioc_value | url, …}]}; the ThreatFox
    // API answers {"query_status": "ok", "data": [ … ]}.
    let entries: Vec<&Value> = match v {
        Value::Object(m) if m.get("data").is_some_and(Value::is_array) => m["data"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        Value::Object(m) => m
            .values()
            .flat_map(|x| match x {
                Value::Array(a) => a.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect(),
        Value::Array(a) => a.iter().collect(),
        _ => Vec::new(),
    };
    let threatfox = entries.iter().any(|e| e.get("ioc_value").is_some());
    let urlhaus = entries.iter().any(|e| e.get("url").is_some());
    if !threatfox && !urlhaus {
        return Err(ImportError::Format {
            path: path.to_path_buf(),
            message: "JSON, but not a Feodo Tracker (ip_address), ThreatFox (ioc_value) or URLhaus (url) export".into(),
        });
    }
    let (format, default_source) = if threatfox {
        ("threatfox-json", "threatfox")
    } else {
        ("urlhaus-json", "urlhaus")
    };
    let source = opts.source.clone().unwrap_or_else(|| default_source.into());
    let mut out = Imported {
        format: format.into(),
        source: source.clone(),
        ..Imported::default()
    };
    for (n, e) in entries.iter().enumerate() {
        let value = text_of(e, if threatfox { "ioc_value" } else { "url" });
        let Some(ind) = value.as_deref().and_then(Indicator::detect) else {
            out.skipped.push(format!(
                "{name}: entry {n}: no indicator in {:?}",
                value.unwrap_or_default()
            ));
            continue;
        };
        let threat = if threatfox {
            text_of(e, "malware_printable").or_else(|| text_of(e, "threat_type"))
        } else {
            text_of(e, "threat")
        };
        let first = text_of(e, "first_seen_utc")
            .or_else(|| text_of(e, "first_seen"))
            .or_else(|| text_of(e, "dateadded"));
        let reference = text_of(e, "reference").or_else(|| text_of(e, "urlhaus_link"));
        out.records.push(record(
            ind,
            &source,
            Verdict::Malicious,
            threat,
            first,
            reference,
        ));
    }
    Ok(out)
}

/// MISP attribute types that name an indicator, and the kind each becomes. Composite types
/// (`filename|sha256`, `ip-dst|port`, `domain|ip`) use the part that is an indicator.
fn misp_kind(t: &str) -> Option<Kind> {
    Some(match t {
        "ip-src" | "ip-dst" | "ip-src|port" | "ip-dst|port" => Kind::Ip,
        "domain" | "hostname" | "domain|ip" | "hostname|port" => Kind::Domain,
        "url" | "uri" => Kind::Url,
        "md5" | "filename|md5" => Kind::Md5,
        "sha1" | "filename|sha1" => Kind::Sha1,
        "sha256" | "filename|sha256" => Kind::Sha256,
        "email" | "email-src" | "email-dst" => Kind::Email,
        _ => return None,
    })
}

fn misp_feed(dir: &Path, opts: &Options) -> Result<Imported, ImportError> {
    let manifest_path = dir.join("manifest.json");
    let read_json = |p: &Path| -> Result<Value, ImportError> {
        let text = std::fs::read_to_string(p).map_err(|source| ImportError::Read {
            path: p.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| ImportError::Format {
            path: p.to_path_buf(),
            message: format!("not valid JSON: {e}"),
        })
    };
    if !manifest_path.is_file() {
        return Err(ImportError::Format {
            path: dir.to_path_buf(),
            message: "a directory, but not a MISP feed: it has no manifest.json".into(),
        });
    }
    let manifest = read_json(&manifest_path)?;
    let Some(events) = manifest.as_object() else {
        return Err(ImportError::Format {
            path: manifest_path,
            message: "manifest.json should map event UUIDs to event summaries".into(),
        });
    };
    let source = opts.source.clone().unwrap_or_else(|| {
        dir.file_name()
            .and_then(|s| s.to_str())
            .map_or_else(|| "misp".into(), |s| format!("misp:{s}"))
    });
    let mut out = Imported {
        format: "misp-feed".into(),
        source: source.clone(),
        ..Imported::default()
    };
    for uuid in events.keys() {
        // The UUID names a file in the directory: nothing else is read.
        if !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            out.skipped.push(format!(
                "{}: {uuid:?} is not an event UUID",
                manifest_path.display()
            ));
            continue;
        }
        let path = dir.join(format!("{uuid}.json"));
        let event = match read_json(&path) {
            Ok(v) => v,
            Err(e) => {
                out.skipped.push(e.to_string());
                continue;
            }
        };
        let ev = event.get("Event").unwrap_or(&event);
        let info = text_of(ev, "info");
        let date = text_of(ev, "date");
        let mut attrs: Vec<&Value> = ev
            .get("Attribute")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for o in ev
            .get("Object")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            attrs.extend(
                o.get("Attribute")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
        }
        for a in attrs {
            // Only attributes flagged for detection are indicators; the rest is context.
            if a.get("to_ids").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let (Some(t), Some(value)) = (text_of(a, "type"), text_of(a, "value")) else {
                continue;
            };
            let Some(kind) = misp_kind(&t) else {
                continue;
            };
            let part = if t.starts_with("filename|") {
                value.split('|').nth(1)
            } else {
                value.split('|').next()
            };
            let Some(ind) = part
                .and_then(Indicator::detect)
                .filter(|i| i.kind == kind || (kind == Kind::Domain && i.kind == Kind::Ip))
            else {
                out.skipped.push(format!(
                    "{}: attribute {t} {value:?} is not a usable {}",
                    path.display(),
                    kind.as_str()
                ));
                continue;
            };
            out.records.push(record(
                ind,
                &source,
                Verdict::Malicious,
                info.clone(),
                date.clone(),
                Some(format!("MISP event {uuid}")),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_handle_quotes() {
        assert_eq!(
            csv_fields(r#""a","b,c","d ""q""",e"#),
            vec!["a", "b,c", "d \"q\"", "e"]
        );
    }
}
