//! The one alert model every source shape is parsed into.

pub mod decode;
pub mod ioc;
pub mod load;
pub mod parse;
pub mod sanitize;
mod siem;

pub use ioc::Iocs;
pub use load::{LoadError, Loaded, load_paths, load_reader};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Reads the many ways SIEMs spell severity: words, and numbers on 0–10, 0–15 (Wazuh
    /// rule levels) or 0–100 (Elastic risk scores) scales.
    pub fn parse(raw: &str) -> Option<Severity> {
        let s = raw.trim().to_ascii_lowercase();
        Some(match s.as_str() {
            "info" | "informational" | "information" | "none" => Severity::Informational,
            "low" => Severity::Low,
            "medium" | "moderate" | "med" => Severity::Medium,
            "high" => Severity::High,
            "critical" | "crit" | "urgent" => Severity::Critical,
            _ => {
                let n: f64 = s.parse().ok()?;
                let pct = if n <= 10.0 {
                    n * 10.0
                } else if n <= 15.0 {
                    n / 15.0 * 100.0
                } else {
                    n
                };
                match pct {
                    p if p < 20.0 => Severity::Informational,
                    p if p < 47.0 => Severity::Low,
                    p if p < 73.0 => Severity::Medium,
                    p if p < 90.0 => Severity::High,
                    _ => Severity::Critical,
                }
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One raw field of the alert, flattened: `event.CommandLine` → `powershell -enc …`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Field {
    pub path: String,
    pub value: String,
}

/// A normalised alert. Every text in it has been sanitised and bounded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Alert {
    pub id: String,
    /// Which parser recognised it (`plain-text`, `soc-json`, `generic-json`…).
    pub format: String,
    /// The sending system as the alert names it (`edr`, `siem`, a product name).
    pub source: String,
    pub severity: Option<Severity>,
    pub title: String,
    pub description: String,
    /// Raw fields flattened to dotted paths, in document order.
    pub fields: Vec<Field>,
    pub host: Option<String>,
    pub user: Option<String>,
    /// When the event happened, as the source wrote it.
    pub timestamp: Option<String>,
    /// Indicators extracted from the whole alert (filled by `parse`).
    #[serde(default)]
    pub iocs: Iocs,
}

impl Alert {
    /// Nothing to triage: no title, no description, no field with a value.
    pub fn is_empty(&self) -> bool {
        self.title.trim().is_empty()
            && self.description.trim().is_empty()
            && self.fields.iter().all(|f| f.value.trim().is_empty())
    }

    /// The first field whose path is `name` or ends with `.name` (case-insensitive), so
    /// both `CommandLine` and `process.command_line` can be asked for.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| {
                let path = f.path.as_bytes();
                let name = name.as_bytes();
                path.len() >= name.len()
                    && path[path.len() - name.len()..].eq_ignore_ascii_case(name)
                    && (path.len() == name.len() || path[path.len() - name.len() - 1] == b'.')
            })
            .map(|f| f.value.as_str())
    }

    /// All the alert's text in one string: title, description, then `path: value` lines.
    pub fn full_text(&self) -> String {
        let mut out = format!("{}\n{}", self.title, self.description);
        for f in &self.fields {
            out.push('\n');
            out.push_str(&f.path);
            out.push_str(": ");
            out.push_str(&f.value);
        }
        out
    }
}
