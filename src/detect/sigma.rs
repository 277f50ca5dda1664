//! Sigma (v2.1) rules from confirmed alerts: an offline draft built from the alert's fields,
//! extraction of a rule from a model's reply, a validator following the specification and
//! pySigma's checks, and a small matcher that runs a rule against stored alerts so an
//! analyst sees how often it would have fired — and on what — before deploying it.

use std::cell::OnceCell;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use regex::{Regex, RegexBuilder};
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlLoader};

use crate::alert::{Alert, Severity, decode};

/// One thing wrong with a rule, named by where it is (`title`, `detection.selection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// How a rule fared against the alert history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryTest {
    pub scanned: usize,
    pub matched: usize,
    /// Matched alerts the analyst judged BENIGN or LOW.
    pub matched_false_positive: usize,
    /// Matched alerts the analyst judged MEDIUM or worse.
    pub matched_confirmed: usize,
    /// Ids of up to five matched alerts.
    pub examples: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Vocabulary

/// ECS / Elastic paths and the Sysmon-style names Sigma rules use for them.
const ECS_FIELDS: &[(&str, &str)] = &[
    ("process.command_line", "CommandLine"),
    ("process.executable", "Image"),
    ("process.name", "Image"),
    ("process.parent.command_line", "ParentCommandLine"),
    ("process.parent.executable", "ParentImage"),
    ("process.parent.name", "ParentImage"),
    ("process.pe.original_file_name", "OriginalFileName"),
    ("process.working_directory", "CurrentDirectory"),
    ("process.pid", "ProcessId"),
    ("destination.ip", "DestinationIp"),
    ("destination.port", "DestinationPort"),
    ("destination.domain", "DestinationHostname"),
    ("source.ip", "SourceIp"),
    ("source.port", "SourcePort"),
    ("user.name", "User"),
    ("user.target.name", "TargetUserName"),
    ("winlog.event_id", "EventID"),
    ("event.code", "EventID"),
    ("winlog.logon.type", "LogonType"),
    ("file.path", "TargetFilename"),
    ("registry.path", "TargetObject"),
    ("dns.question.name", "QueryName"),
];

/// The enterprise ATT&CK tactics, as Sigma v2 tags spell them (the STIX shortnames).
const TACTICS: [&str; 14] = crate::incident::correlate::TACTIC_ORDER;

const STATUSES: &[&str] = &[
    "stable",
    "test",
    "experimental",
    "deprecated",
    "unsupported",
];
const LEVELS: &[&str] = &["informational", "low", "medium", "high", "critical"];
const RELATION_TYPES: &[&str] = &["derived", "obsolete", "merged", "renamed", "similar"];
const TAG_NAMESPACES: &[&str] = &["attack", "car", "cve", "d3fend", "detection", "stp", "tlp"];
const LOGSOURCE_KEYS: &[&str] = &["category", "product", "service", "definition"];
const RESERVED: &[&str] = &["and", "or", "not", "of", "them", "all", "any"];

/// Every value modifier of the v2.1 appendix (and pySigma's long regex-flag names).
const MODIFIERS: &[&str] = &[
    "all",
    "base64",
    "base64offset",
    "cased",
    "cidr",
    "contains",
    "day",
    "dotall",
    "endswith",
    "exists",
    "expand",
    "fieldref",
    "gt",
    "gte",
    "hour",
    "i",
    "ignorecase",
    "lt",
    "lte",
    "m",
    "minute",
    "month",
    "multiline",
    "neq",
    "re",
    "s",
    "startswith",
    "utf16",
    "utf16be",
    "utf16le",
    "week",
    "wide",
    "windash",
    "year",
];
const REGEX_FLAGS: &[&str] = &["i", "ignorecase", "m", "multiline", "s", "dotall"];
const ENCODINGS: &[&str] = &["wide", "utf16le", "utf16be", "utf16"];
/// Modifiers that change a plain value: `re` and `cidr` take unmodified values only.
const VALUE_MODIFIERS: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "base64",
    "base64offset",
    "windash",
    "wide",
    "utf16le",
    "utf16be",
    "utf16",
    "cased",
];
/// Valid Sigma the matcher cannot evaluate: placeholders and date parts.
const UNSUPPORTED: &[&str] = &["expand", "minute", "hour", "day", "week", "month", "year"];

/// Windows logon events: an alert carrying one is about authentication.
const AUTH_EVENT_IDS: &[&str] = &["4624", "4625", "4648", "4768", "4769", "4771", "4776"];

/// Bounds on regexes built from rules (which may come from a model).
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Deepest nesting of parentheses and `not` in a condition.
const MAX_CONDITION_DEPTH: usize = 64;

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}-(0[1-9]|1[012])-(0[1-9]|[12]\d|3[01])$").expect("static regex")
});
static LEGACY_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{4}/\d{1,2}/\d{1,2}$").expect("static regex"));
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
        .expect("static regex")
});
static TAG_FORMAT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9_-]+\.[a-z0-9._-]+$").expect("static regex"));
/// A tag whose name is valid for its namespace.
static KNOWN_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^(?:attack\.(?:{}|t\d{{4}}(?:\.\d{{3}})?|(?:g|s|m|ds|a)\d{{4}})|car\.\d{{4}}-\d{{2}}-\d{{3}}|cve\.\d+-\d+|d3fend\.[a-z0-9._-]+|detection\.(?:dfir|emerging-threats|threat-hunting)|stp\.[1-5][auk]?|tlp\.(?:clear|white|green|amber|amber-strict|red))$",
        TACTICS.join("|")
    ))
    .expect("static regex")
});

// ---------------------------------------------------------------------------------------
// Field names

/// `path` is `name` or ends with `.name`, ASCII case-insensitively.
fn ends_with_segment(path: &str, name: &str) -> bool {
    let (p, n) = (path.as_bytes(), name.as_bytes());
    p.len() >= n.len()
        && p[p.len() - n.len()..].eq_ignore_ascii_case(n)
        && (p.len() == n.len() || p[p.len() - n.len() - 1] == b'.')
}

/// The Sigma name of an alert field path or a rule's field name: the Sysmon-style name of a
/// known ECS path, else the last path segment.
fn canonical(path: &str) -> &str {
    ECS_FIELDS
        .iter()
        .find(|(ecs, _)| ends_with_segment(path, ecs))
        .map_or_else(
            || path.rsplit_once('.').map_or(path, |(_, last)| last),
            |&(_, sigma)| sigma,
        )
}

/// Every value of the alert that a rule's field `name` refers to.
fn lookup<'a>(alert: &'a Alert, name: &str) -> Vec<&'a str> {
    let want = canonical(name);
    let mut values: Vec<&str> = alert
        .fields
        .iter()
        .filter(|f| {
            canonical(&f.path).eq_ignore_ascii_case(want) || ends_with_segment(&f.path, name)
        })
        .map(|f| f.value.as_str())
        .collect();
    if name.eq_ignore_ascii_case("title") {
        values.push(&alert.title);
    } else if name.eq_ignore_ascii_case("description") {
        values.push(&alert.description);
    }
    values
}

// ---------------------------------------------------------------------------------------
// YAML and Sigma string writing

/// A YAML scalar that reads back as exactly `s`: single-quoted, or double-quoted with
/// escapes when `s` holds line breaks or other characters single quotes can't carry.
fn quote(s: &str) -> String {
    let awkward = |c: char| {
        c.is_control()
            || matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            )
    };
    if !s.chars().any(awkward) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if awkward(c) => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` as a plain YAML scalar when it reads back as the same string or number, else quoted.
fn scalar(s: &str) -> String {
    let simple = !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && match Yaml::from_str(s) {
            Yaml::String(_) => true,
            Yaml::Integer(i) => i.to_string() == s,
            _ => false,
        };
    if simple { s.to_owned() } else { quote(s) }
}

/// A literal as a Sigma string: wildcards escaped, and a backslash doubled where it would
/// otherwise escape what follows.
fn sigma_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => {
                out.push('\\');
                out.push(c);
            }
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

/// Whitespace collapsed to single spaces, at most `max` characters.
fn one_line(s: &str, max: usize) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Draft

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Process,
    Network,
    Auth,
    Generic,
}

/// The alert's best value for Sigma field `name`, preferring a full path over a bare name.
fn pick<'a>(alert: &'a Alert, name: &str) -> Option<&'a str> {
    let mut values = alert
        .fields
        .iter()
        .filter(|f| {
            !f.path.starts_with(decode::PREFIX) && canonical(&f.path).eq_ignore_ascii_case(name)
        })
        .map(|f| f.value.trim())
        .filter(|v| !v.is_empty());
    let first = values.next()?;
    if first.contains(['\\', '/']) {
        return Some(first);
    }
    Some(values.find(|v| v.contains(['\\', '/'])).unwrap_or(first))
}

/// A value fit to put in a rule verbatim: short, one line.
fn stable(v: &str) -> Option<&str> {
    (v.chars().count() <= 256 && !v.chars().any(char::is_control)).then_some(v)
}

fn basename(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

fn guess_kind(alert: &Alert) -> Kind {
    let has = |name: &str| pick(alert, name).is_some();
    let auth_category = alert.fields.iter().any(|f| {
        ends_with_segment(&f.path, "event.category")
            && f.value.to_ascii_lowercase().contains("authentication")
    });
    if pick(alert, "EventID").is_some_and(|id| AUTH_EVENT_IDS.contains(&id)) {
        Kind::Auth
    } else if has("CommandLine") || has("ParentImage") || has("ParentCommandLine") {
        Kind::Process
    } else if has("DestinationIp") || has("DestinationHostname") {
        Kind::Network
    } else if auth_category {
        Kind::Auth
    } else if has("Image") {
        Kind::Process
    } else {
        Kind::Generic
    }
}

/// `windows` or `linux`, from path style first, then from what the source calls itself.
fn os_hint(alert: &Alert) -> Option<&'static str> {
    if let Some(path) = ["Image", "ParentImage", "CommandLine"]
        .iter()
        .find_map(|n| pick(alert, n))
    {
        if path.contains('\\') || path.to_ascii_lowercase().contains(".exe") {
            return Some("windows");
        }
        if path.starts_with('/') {
            return Some("linux");
        }
    }
    let origin = format!("{} {}", alert.source, alert.format).to_lowercase();
    if alert.fields.iter().any(|f| f.path.starts_with("winlog."))
        || ["windows", "sysmon"].iter().any(|w| origin.contains(w))
    {
        Some("windows")
    } else if ["linux", "auditd", "sshd", "syslog"]
        .iter()
        .any(|w| origin.contains(w))
    {
        Some("linux")
    } else {
        None
    }
}

/// Looks like a hash, GUID, address, port or timestamp rather than a word.
fn random_looking(token: &str) -> bool {
    let digits = token.chars().filter(char::is_ascii_digit).count();
    digits * 3 > token.chars().count()
        || (token.len() >= 16 && token.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
}

/// Up to three command-line tokens worth matching: options first, then words; never paths,
/// blobs, numbers, the program itself, or the user's and host's names.
fn distinctive_tokens<'a>(alert: &Alert, cmd: &'a str) -> Vec<&'a str> {
    let program = |s: &str| s.to_lowercase().trim_end_matches(".exe").to_owned();
    let image = pick(alert, "Image").map(|i| program(basename(i)));
    let personal: Vec<String> = alert
        .user
        .iter()
        .chain(&alert.host)
        .chain(&alert.iocs.users)
        .chain(&alert.iocs.hosts)
        .flat_map(|s| s.split(['\\', '@']))
        .map(str::to_lowercase)
        .filter(|s| s.len() >= 3)
        .collect();
    let (mut flags, mut words): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for raw in cmd.split_whitespace() {
        let token = raw.trim_matches(['"', '\'', ',', ';']);
        let lower = token.to_lowercase();
        let flag = token.starts_with('-')
            || token
                .strip_prefix('/')
                .is_some_and(|rest| !rest.contains(['/', '\\']));
        let keep = (4..=40).contains(&token.chars().count())
            && token.chars().any(char::is_alphabetic)
            && !token.contains('\\')
            && (flag || !token.contains('/'))
            && !random_looking(token)
            && image.as_deref() != Some(program(token).as_str())
            && !personal.iter().any(|p| lower.contains(p.as_str()))
            && !flags
                .iter()
                .chain(&words)
                .any(|t| t.eq_ignore_ascii_case(token));
        if keep {
            if flag {
                flags.push(token)
            } else {
                words.push(token)
            }
        }
    }
    flags.into_iter().chain(words).take(3).collect()
}

type Selection = Vec<(String, Vec<String>)>;

fn push_exact(sel: &mut Selection, alert: &Alert, name: &str) {
    if let Some(v) = pick(alert, name).and_then(stable) {
        sel.push((name.to_owned(), vec![scalar(&sigma_escape(v))]));
    }
}

fn push_endswith(sel: &mut Selection, alert: &Alert, name: &str) {
    if let Some(v) = pick(alert, name).and_then(stable) {
        let tail = v.rfind(['\\', '/']).map_or(v, |i| &v[i..]);
        if tail.chars().count() > 1 {
            sel.push((
                format!("{name}|endswith"),
                vec![scalar(&sigma_escape(tail))],
            ));
        }
    }
}

fn selection(alert: &Alert, kind: Kind) -> Selection {
    let mut sel = Selection::new();
    match kind {
        Kind::Process => {
            push_endswith(&mut sel, alert, "Image");
            push_exact(&mut sel, alert, "OriginalFileName");
            if let Some(cmd) = pick(alert, "CommandLine") {
                let tokens: Vec<String> = distinctive_tokens(alert, cmd)
                    .iter()
                    .map(|t| scalar(&sigma_escape(t)))
                    .collect();
                let key = if tokens.len() > 1 {
                    "CommandLine|contains|all"
                } else {
                    "CommandLine|contains"
                };
                if !tokens.is_empty() {
                    sel.push((key.to_owned(), tokens));
                }
            }
            push_endswith(&mut sel, alert, "ParentImage");
        }
        Kind::Network => {
            push_endswith(&mut sel, alert, "Image");
            for name in ["DestinationIp", "DestinationHostname", "DestinationPort"] {
                push_exact(&mut sel, alert, name);
            }
        }
        Kind::Auth => {
            for name in ["EventID", "TargetUserName", "LogonType"] {
                push_exact(&mut sel, alert, name);
            }
        }
        Kind::Generic => {
            for name in ["EventID", "QueryName", "ServiceName"] {
                push_exact(&mut sel, alert, name);
            }
        }
    }
    sel
}

/// An offline Sigma rule drafted from a confirmed alert: logsource guessed from its fields,
/// a `selection` of its most specific stable values, ATT&CK tags from `techniques`
/// (`(technique id, tactic shortname)`), `level` from a severity or verdict word, and
/// `today` (`YYYY-MM-DD`) as the date.
pub fn draft(
    alert: &Alert,
    techniques: &[(String, String)],
    title_hint: &str,
    level: &str,
    today: &str,
) -> String {
    let kind = guess_kind(alert);
    let os = os_hint(alert);
    let hint = if title_hint.trim().is_empty() {
        alert.title.as_str()
    } else {
        title_hint
    };
    let mut title = one_line(hint, 256);
    if title.is_empty() {
        title = "Activity seen in a confirmed alert".to_owned();
    }
    let description = one_line(
        &format!(
            "Drafted from the confirmed alert '{}' ({}). {}",
            alert.title, alert.source, alert.description
        ),
        2000,
    );
    let level = level.trim().to_ascii_lowercase();
    let level = if LEVELS.contains(&level.as_str()) {
        level
    } else {
        Severity::parse(&level)
            .map_or("medium", Severity::as_str)
            .to_owned()
    };
    let mut tags: Vec<String> = Vec::new();
    for (id, tactic) in techniques {
        let tactic = format!(
            "attack.{}",
            tactic.trim().to_lowercase().replace(['_', ' '], "-")
        );
        let technique = format!("attack.{}", id.trim().to_lowercase());
        for tag in [tactic, technique] {
            if KNOWN_TAG.is_match(&tag) && !tags.contains(&tag) {
                tags.push(tag);
            }
        }
    }
    let source: String = alert
        .source
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let source = match source.trim_matches('_') {
        "" => "unknown",
        s => s,
    };
    let (category, product, service) = match kind {
        Kind::Process => (Some("process_creation"), os, None),
        Kind::Network => (Some("network_connection"), os, None),
        Kind::Auth if os == Some("linux") => (None, Some("linux"), Some("auth")),
        Kind::Auth => (None, Some("windows"), Some("security")),
        Kind::Generic => (None, Some(source), None),
    };
    let false_positive = match kind {
        Kind::Process => {
            "Administrative or deployment scripts running the same program with the same options"
        }
        Kind::Network => "Legitimate software contacting the same destination",
        Kind::Auth => "Users mistyping passwords or services using stale credentials",
        Kind::Generic => "Legitimate activity with the same values",
    };

    let mut y = String::new();
    let _ = writeln!(y, "title: {}", quote(&title));
    let _ = writeln!(y, "id: {}", crate::store::new_id());
    y.push_str("status: experimental\n");
    let _ = writeln!(y, "description: {}", quote(&description));
    y.push_str("author: 'soc-copilot (draft)'\n");
    let _ = writeln!(y, "date: {}", scalar(today));
    if !tags.is_empty() {
        y.push_str("tags:\n");
        for tag in &tags {
            let _ = writeln!(y, "    - {tag}");
        }
    }
    y.push_str("logsource:\n");
    for (key, value) in [
        ("category", category),
        ("product", product),
        ("service", service),
    ] {
        if let Some(value) = value {
            let _ = writeln!(y, "    {key}: {}", scalar(value));
        }
    }
    y.push_str("detection:\n");
    let sel = selection(alert, kind);
    if sel.is_empty() {
        let keyword = stable(alert.title.trim())
            .filter(|t| !t.is_empty())
            .unwrap_or(title.as_str());
        let _ = writeln!(
            y,
            "    keywords:\n        - {}",
            scalar(&sigma_escape(keyword))
        );
        y.push_str("    condition: keywords\n");
    } else {
        y.push_str("    selection:\n");
        for (key, values) in &sel {
            if let [value] = values.as_slice() {
                let _ = writeln!(y, "        {key}: {value}");
            } else {
                let _ = writeln!(y, "        {key}:");
                for value in values {
                    let _ = writeln!(y, "            - {value}");
                }
            }
        }
        y.push_str("    condition: selection\n");
    }
    let _ = writeln!(y, "falsepositives:\n    - {}", quote(false_positive));
    let _ = writeln!(y, "level: {level}");
    y
}

// ---------------------------------------------------------------------------------------
// Model replies

/// A document that is a map with a `detection` key.
fn looks_like_rule(text: &str) -> bool {
    YamlLoader::load_from_str(text).is_ok_and(|docs| {
        matches!(docs.as_slice(), [Yaml::Hash(h)] if h.contains_key(&Yaml::String("detection".into())))
    })
}

/// Fenced code blocks as (language, body); an unterminated last block counts.
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in text.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (open.take(), fence) {
            (None, Some(info)) => {
                let lang = info
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                open = Some((lang, Vec::new()));
            }
            (None, None) => {}
            (Some((lang, body)), Some(_)) => blocks.push((lang, body.join("\n"))),
            (Some((lang, mut body)), None) => {
                body.push(line);
                open = Some((lang, body));
            }
        }
    }
    blocks.extend(open.map(|(lang, body)| (lang, body.join("\n"))));
    blocks
}

/// The Sigma rule in a model's reply: the first fenced block that is a rule, else the first
/// `yaml` block (for the validator to explain), else the whole reply if it is a rule.
pub fn from_model_text(text: &str) -> Option<String> {
    let blocks = fenced_blocks(text);
    blocks
        .iter()
        .find(|(_, body)| looks_like_rule(body))
        .or_else(|| {
            blocks
                .iter()
                .find(|(lang, _)| matches!(lang.as_str(), "yaml" | "yml" | "sigma"))
        })
        .map(|(_, body)| format!("{}\n", body.trim_end()))
        .or_else(|| looks_like_rule(text).then(|| format!("{}\n", text.trim())))
}

// ---------------------------------------------------------------------------------------
// Compiled form

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
    fn from_modifier(m: &str) -> Option<Cmp> {
        Some(match m {
            "gt" => Cmp::Gt,
            "gte" => Cmp::Gte,
            "lt" => Cmp::Lt,
            "lte" => Cmp::Lte,
            _ => return None,
        })
    }

    fn holds(self, x: f64, n: f64) -> bool {
        match self {
            Cmp::Gt => x > n,
            Cmp::Gte => x >= n,
            Cmp::Lt => x < n,
            Cmp::Lte => x <= n,
        }
    }
}

/// One value of a field test.
#[derive(Debug)]
enum Matcher {
    /// Wildcard strings (compiled to anchored regexes) and `re` regexes.
    Text(Regex),
    Cidr(IpAddr, u8),
    Compare(Cmp, f64),
    Exists(bool),
    /// `null`: the field is absent or empty.
    Null,
    /// `fieldref`: equal to the named field's value.
    FieldRef(String),
}

impl Matcher {
    fn matches(&self, values: &[&str], alert: &Alert) -> bool {
        match self {
            Matcher::Text(re) => values.iter().any(|v| re.is_match(v)),
            Matcher::Cidr(net, len) => values.iter().any(|v| {
                v.trim()
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| in_network(ip, *net, *len))
            }),
            Matcher::Compare(op, n) => values
                .iter()
                .any(|v| v.trim().parse::<f64>().is_ok_and(|x| op.holds(x, *n))),
            Matcher::Exists(wanted) => values.is_empty() != *wanted,
            Matcher::Null => values.iter().all(|v| v.is_empty()),
            Matcher::FieldRef(other) => {
                let others = lookup(alert, other);
                values
                    .iter()
                    .any(|v| others.iter().any(|o| o.to_lowercase() == v.to_lowercase()))
            }
        }
    }
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    let (addr, len) = s.split_once('/').unwrap_or((s, ""));
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = if len.is_empty() {
        max
    } else {
        len.parse().ok()?
    };
    (len <= max).then_some((ip, len))
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            a.to_bits() & mask == b.to_bits() & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            a.to_bits() & mask == b.to_bits() & mask
        }
        _ => false,
    }
}

/// `field|modifiers: values`, or a keyword search when `field` is `None`.
#[derive(Debug)]
struct FieldTest {
    field: Option<String>,
    values: Vec<Matcher>,
    all: bool,
    negate: bool,
}

impl FieldTest {
    fn matches(&self, alert: &Alert, text: &OnceCell<String>) -> bool {
        let values = match &self.field {
            Some(field) => lookup(alert, field),
            None => vec![text.get_or_init(|| alert.full_text()).as_str()],
        };
        let check = |m: &Matcher| {
            let hit = m.matches(&values, alert);
            if self.negate {
                !values.is_empty() && !hit
            } else {
                hit
            }
        };
        if self.all {
            self.values.iter().all(check)
        } else {
            self.values.iter().any(check)
        }
    }
}

/// A search identifier: any of its maps, each of whose tests all hold.
#[derive(Debug)]
struct Search(Vec<Vec<FieldTest>>);

impl Search {
    fn matches(&self, alert: &Alert, text: &OnceCell<String>) -> bool {
        self.0
            .iter()
            .any(|group| group.iter().all(|t| t.matches(alert, text)))
    }
}

/// A condition over search identifiers, by their index in the detection.
#[derive(Debug)]
enum Cond {
    Id(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    OneOf(Vec<usize>),
    AllOf(Vec<usize>),
}

impl Cond {
    fn eval(&self, hit: &impl Fn(usize) -> bool) -> bool {
        match self {
            Cond::Id(i) => hit(*i),
            Cond::Not(c) => !c.eval(hit),
            Cond::And(cs) => cs.iter().all(|c| c.eval(hit)),
            Cond::Or(cs) => cs.iter().any(|c| c.eval(hit)),
            Cond::OneOf(ids) => ids.iter().any(|&i| hit(i)),
            Cond::AllOf(ids) => ids.iter().all(|&i| hit(i)),
        }
    }

    fn mark_used(&self, used: &mut [bool]) {
        match self {
            Cond::Id(i) => Self::mark(used, std::slice::from_ref(i)),
            Cond::Not(c) => c.mark_used(used),
            Cond::And(cs) | Cond::Or(cs) => {
                for c in cs {
                    c.mark_used(used);
                }
            }
            Cond::OneOf(ids) | Cond::AllOf(ids) => Self::mark(used, ids),
        }
    }

    fn mark(used: &mut [bool], ids: &[usize]) {
        for &i in ids {
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
        }
    }
}

/// One term, or the terms joined by `and`/`or`.
fn join(mut terms: Vec<Cond>, op: fn(Vec<Cond>) -> Cond) -> Cond {
    if terms.len() == 1
        && let Some(term) = terms.pop()
    {
        term
    } else {
        op(terms)
    }
}

const PIPE_MESSAGE: &str = "the pipe syntax (`| count()`, `| near`) was removed in Sigma v2; aggregations belong in correlation rules";

fn tokenize(src: &str) -> Result<Vec<&str>, String> {
    let mut tokens = Vec::new();
    let mut start = None;
    for (i, c) in src.char_indices() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '*') {
            if start.is_none() {
                start = Some(i);
            }
            continue;
        }
        if let Some(s) = start.take() {
            tokens.push(&src[s..i]);
        }
        match c {
            '(' | ')' => tokens.push(&src[i..i + 1]),
            '|' => return Err(PIPE_MESSAGE.into()),
            c if c.is_whitespace() => {}
            c => return Err(format!("unexpected character `{c}`")),
        }
    }
    if let Some(s) = start {
        tokens.push(&src[s..]);
    }
    Ok(tokens)
}

/// `*`-only glob, full match.
fn glob(pattern: &str, s: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), s.as_bytes());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if p.get(pi) == Some(&b'*') {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if p.get(pi) == s.get(si) {
            pi += 1;
            si += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&b| b == b'*'))
}

/// Recursive descent over `or` < `and` < `not` < `x of` / identifiers / parentheses.
struct CondParser<'a> {
    tokens: Vec<&'a str>,
    pos: usize,
    ids: &'a [String],
    depth: usize,
}

impl<'a> CondParser<'a> {
    fn parse(src: &'a str, ids: &'a [String]) -> Result<Cond, String> {
        let mut p = CondParser {
            tokens: tokenize(src)?,
            pos: 0,
            ids,
            depth: 0,
        };
        if p.tokens.is_empty() {
            return Err("empty condition".into());
        }
        let cond = p.disjunction()?;
        match p.peek() {
            None => Ok(cond),
            Some(")") => Err("unbalanced parentheses: unexpected `)`".into()),
            Some(t) => Err(format!("unexpected `{t}`")),
        }
    }

    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.pos).copied()
    }

    fn advance(&mut self) -> Option<&'a str> {
        let t = self.peek();
        self.pos += 1;
        t
    }

    fn eat(&mut self, word: &str) -> bool {
        let found = self.peek() == Some(word);
        if found {
            self.pos += 1;
        }
        found
    }

    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Cond, String>,
    ) -> Result<Cond, String> {
        self.depth += 1;
        if self.depth > MAX_CONDITION_DEPTH {
            return Err("condition nested too deeply".into());
        }
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn disjunction(&mut self) -> Result<Cond, String> {
        let mut terms = vec![self.conjunction()?];
        while self.eat("or") {
            terms.push(self.conjunction()?);
        }
        Ok(join(terms, Cond::Or))
    }

    fn conjunction(&mut self) -> Result<Cond, String> {
        let mut terms = vec![self.negation()?];
        while self.eat("and") {
            terms.push(self.negation()?);
        }
        Ok(join(terms, Cond::And))
    }

    fn negation(&mut self) -> Result<Cond, String> {
        if self.eat("not") {
            return self.nested(Self::negation).map(|c| Cond::Not(Box::new(c)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, String> {
        let Some(token) = self.advance() else {
            return Err("condition ends where an identifier was expected".into());
        };
        match token {
            "(" => {
                let inner = self.nested(Self::disjunction)?;
                if self.eat(")") {
                    Ok(inner)
                } else {
                    Err("unbalanced parentheses: missing `)`".into())
                }
            }
            ")" => Err("unbalanced parentheses: unexpected `)`".into()),
            _ if self.peek() == Some("of") => {
                self.pos += 1;
                let Some(pattern) = self.advance() else {
                    return Err(format!(
                        "`{token} of` needs an identifier pattern or `them`"
                    ));
                };
                let set = self.resolve(pattern)?;
                match token {
                    "1" | "any" => Ok(Cond::OneOf(set)),
                    "all" => Ok(Cond::AllOf(set)),
                    _ => Err(format!(
                        "`{token} of`: only `1 of` and `all of` are allowed"
                    )),
                }
            }
            "and" | "or" | "not" | "of" | "them" => Err(format!("unexpected `{token}`")),
            id if id.contains('*') => Err(format!(
                "wildcard `{id}` is only allowed after `1 of` or `all of`"
            )),
            id => self
                .ids
                .iter()
                .position(|d| d == id)
                .map(Cond::Id)
                .ok_or_else(|| format!("`{id}` is not defined in detection")),
        }
    }

    /// The identifiers `them` or a pattern stands for; `_`-prefixed ones only when the
    /// pattern itself starts with `_`.
    fn resolve(&self, pattern: &str) -> Result<Vec<usize>, String> {
        let set: Vec<usize> = self
            .ids
            .iter()
            .enumerate()
            .filter(|(_, id)| {
                if pattern == "them" {
                    !id.starts_with('_')
                } else {
                    (pattern.starts_with('_') || !id.starts_with('_')) && glob(pattern, id)
                }
            })
            .map(|(i, _)| i)
            .collect();
        if set.is_empty() {
            Err(format!("`{pattern}` matches no search identifier"))
        } else {
            Ok(set)
        }
    }
}

/// A rule ready to run against alerts.
#[derive(Debug)]
pub struct Compiled {
    searches: Vec<Search>,
    condition: Cond,
}

impl Compiled {
    /// Validates `yaml` and compiles it; a valid rule using something the matcher can't
    /// evaluate (`expand`, date-part modifiers) is refused with that as the problem.
    pub fn compile(yaml: &str) -> Result<Compiled, Vec<Problem>> {
        let (mut analysis, compiled) = analyze(yaml);
        match compiled {
            Some(rule) if analysis.problems.is_empty() && analysis.unsupported.is_empty() => {
                Ok(rule)
            }
            _ => {
                analysis.problems.append(&mut analysis.unsupported);
                Err(analysis.problems)
            }
        }
    }

    pub fn matches(&self, alert: &Alert) -> bool {
        let text = OnceCell::new();
        self.condition.eval(&|i: usize| {
            self.searches
                .get(i)
                .is_some_and(|s| s.matches(alert, &text))
        })
    }
}

/// Runs `rule` over past alerts with the analyst's verdict where there is one.
pub fn test_history<'a>(
    rule: &Compiled,
    history: impl IntoIterator<Item = (&'a Alert, Option<&'a str>)>,
) -> HistoryTest {
    let mut test = HistoryTest::default();
    for (alert, verdict) in history {
        test.scanned += 1;
        if !rule.matches(alert) {
            continue;
        }
        test.matched += 1;
        match verdict.map(|v| v.trim().to_ascii_uppercase()).as_deref() {
            Some("BENIGN" | "LOW") => test.matched_false_positive += 1,
            Some("MEDIUM" | "HIGH" | "CRITICAL") => test.matched_confirmed += 1,
            _ => {}
        }
        if test.examples.len() < 5 {
            test.examples.push(alert.id.clone());
        }
    }
    test
}

// ---------------------------------------------------------------------------------------
// Validation

#[derive(Default)]
struct Analysis {
    problems: Vec<Problem>,
    /// Valid Sigma the matcher can't run.
    unsupported: Vec<Problem>,
}

impl Analysis {
    fn problem(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            field: field.into(),
            message: message.into(),
        });
    }
}

enum Issue {
    Invalid(String),
    Unsupported(String),
}

fn get<'a>(map: &'a Hash, key: &str) -> Option<&'a Yaml> {
    map.get(&Yaml::String(key.to_owned()))
}

/// Everything wrong with `yaml` as a Sigma v2 rule: specification and pySigma parse errors,
/// and the pySigma validator findings that matter for generated rules. Empty when valid.
pub fn validate(yaml: &str) -> Vec<Problem> {
    analyze(yaml).0.problems
}

fn analyze(text: &str) -> (Analysis, Option<Compiled>) {
    let mut a = Analysis::default();
    let docs = match YamlLoader::load_from_str(text) {
        Ok(docs) => docs,
        Err(e) => {
            a.problem("yaml", e.to_string());
            return (a, None);
        }
    };
    let root = match docs.as_slice() {
        [Yaml::Hash(root)] => root,
        [_] => {
            a.problem("yaml", "the rule must be a map");
            return (a, None);
        }
        [] => {
            a.problem("yaml", "empty document");
            return (a, None);
        }
        more => {
            a.problem(
                "yaml",
                format!("expected one YAML document, found {}", more.len()),
            );
            return (a, None);
        }
    };
    if root.keys().any(|k| k.as_str().is_none()) {
        a.problem("yaml", "keys must be strings");
    }
    check_metadata(&mut a, root);
    check_logsource(&mut a, get(root, "logsource"));
    let compiled = check_detection(&mut a, get(root, "detection"));
    (a, compiled)
}

/// The strings of a list, with non-strings, duplicates and (for `min_len`) short ones reported.
fn string_list<'a>(a: &mut Analysis, field: &str, value: &'a Yaml, min_len: usize) -> Vec<&'a str> {
    let Some(items) = value.as_vec() else {
        a.problem(field, "must be a list of strings");
        return Vec::new();
    };
    let mut out: Vec<&str> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(s) if out.contains(&s) => {
                a.problem(format!("{field}[{i}]"), format!("duplicate `{s}`"))
            }
            Some(s) if s.chars().count() < min_len => {
                a.problem(
                    format!("{field}[{i}]"),
                    format!("must be at least {min_len} characters"),
                );
            }
            Some(s) => out.push(s),
            None => a.problem(format!("{field}[{i}]"), "must be a string"),
        }
    }
    out
}

fn check_metadata(a: &mut Analysis, root: &Hash) {
    match get(root, "title") {
        None => a.problem("title", "required"),
        Some(Yaml::String(t)) if t.trim().is_empty() => a.problem("title", "must not be empty"),
        Some(Yaml::String(t)) if t.chars().count() > 256 => {
            a.problem("title", "longer than 256 characters")
        }
        Some(Yaml::String(_)) => {}
        Some(_) => a.problem("title", "must be a string"),
    }
    if let Some(id) = get(root, "id")
        && !id.as_str().is_some_and(|s| UUID.is_match(s))
    {
        a.problem("id", "must be a UUID (version 4)");
    }
    for (field, allowed) in [("status", STATUSES), ("level", LEVELS)] {
        if let Some(v) = get(root, field)
            && !v.as_str().is_some_and(|s| allowed.contains(&s))
        {
            a.problem(field, format!("must be one of {}", allowed.join(", ")));
        }
    }
    for field in ["date", "modified"] {
        match get(root, field).map(Yaml::as_str) {
            None => {}
            Some(Some(d)) if DATE.is_match(d) => {}
            Some(Some(d)) if LEGACY_DATE.is_match(d) => {
                a.problem(field, "use YYYY-MM-DD: Sigma v2 dropped YYYY/MM/DD");
            }
            Some(_) => a.problem(field, "must be a YYYY-MM-DD date"),
        }
    }
    for (field, max) in [
        ("description", 65535),
        ("name", 256),
        ("taxonomy", 256),
        ("author", usize::MAX),
        ("license", usize::MAX),
    ] {
        match get(root, field).map(Yaml::as_str) {
            None => {}
            Some(Some(s)) if s.chars().count() > max => {
                a.problem(field, format!("longer than {max} characters"))
            }
            Some(Some(_)) => {}
            Some(None) => a.problem(field, "must be a string"),
        }
    }
    for (field, min_len) in [
        ("references", 0),
        ("fields", 0),
        ("falsepositives", 2),
        ("scope", 2),
    ] {
        if let Some(v) = get(root, field) {
            string_list(a, field, v, min_len);
        }
    }
    if let Some(v) = get(root, "tags") {
        for tag in string_list(a, "tags", v, 0) {
            check_tag(a, tag);
        }
    }
    if let Some(related) = get(root, "related") {
        check_related(a, related);
    }
}

fn check_tag(a: &mut Analysis, tag: &str) {
    let namespace = tag.split('.').next().unwrap_or_default();
    if !TAG_FORMAT.is_match(tag) {
        a.problem(
            "tags",
            format!("`{tag}` must be lowercase `namespace.name` (letters, digits, `_`, `-`, `.`)"),
        );
    } else if !TAG_NAMESPACES.contains(&namespace) {
        a.problem(
            "tags",
            format!(
                "`{tag}`: unknown namespace (expected one of {})",
                TAG_NAMESPACES.join(", ")
            ),
        );
    } else if !KNOWN_TAG.is_match(tag) {
        if namespace == "attack" {
            let hyphenated = tag.replace('_', "-");
            let hint = if hyphenated != tag && KNOWN_TAG.is_match(&hyphenated) {
                format!(" (Sigma v2 spells it `{hyphenated}`)")
            } else {
                String::new()
            };
            a.problem(
                "tags",
                format!("`{tag}` is not an ATT&CK tactic, technique (t1059.001), group, software, mitigation or data-source id{hint}"),
            );
        } else {
            a.problem("tags", format!("`{tag}` is not a valid `{namespace}` tag"));
        }
    }
}

fn check_related(a: &mut Analysis, related: &Yaml) {
    let Some(items) = related.as_vec() else {
        a.problem("related", "must be a list of {id, type} maps");
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let field = format!("related[{i}]");
        let Some(map) = item.as_hash() else {
            a.problem(field, "must be a map with `id` and `type`");
            continue;
        };
        if !get(map, "id")
            .and_then(Yaml::as_str)
            .is_some_and(|s| UUID.is_match(s))
        {
            a.problem(format!("{field}.id"), "must be a UUID");
        }
        if !get(map, "type")
            .and_then(Yaml::as_str)
            .is_some_and(|s| RELATION_TYPES.contains(&s))
        {
            a.problem(
                format!("{field}.type"),
                format!("must be one of {}", RELATION_TYPES.join(", ")),
            );
        }
    }
}

fn check_logsource(a: &mut Analysis, logsource: Option<&Yaml>) {
    let Some(logsource) = logsource else {
        a.problem("logsource", "required");
        return;
    };
    let Some(map) = logsource.as_hash() else {
        a.problem("logsource", "must be a map");
        return;
    };
    let mut set = false;
    for (key, value) in map {
        let Some(key) = key.as_str() else { continue };
        let field = format!("logsource.{key}");
        if !LOGSOURCE_KEYS.contains(&key) {
            a.problem(
                field,
                "unknown key (expected category, product, service or definition)",
            );
            continue;
        }
        match value.as_str() {
            None => a.problem(field, "must be a string"),
            Some(_) if key == "definition" => {}
            Some(v) => {
                set = true;
                if v.is_empty()
                    || !v.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')
                    })
                {
                    a.problem(
                        field,
                        "should be lowercase letters, digits, `_`, `.` or `-`",
                    );
                }
            }
        }
    }
    if !set {
        a.problem(
            "logsource",
            "needs at least one of category, product or service",
        );
    }
}

fn check_detection(a: &mut Analysis, detection: Option<&Yaml>) -> Option<Compiled> {
    let Some(detection) = detection else {
        a.problem("detection", "required");
        return None;
    };
    let Some(map) = detection.as_hash() else {
        a.problem("detection", "must be a map");
        return None;
    };
    let mut conditions: Vec<&str> = Vec::new();
    let mut has_condition = false;
    let mut ids: Vec<String> = Vec::new();
    let mut searches: Vec<Option<Search>> = Vec::new();
    for (key, value) in map {
        let Some(name) = key.as_str() else { continue };
        if name == "condition" {
            has_condition = true;
            match value {
                Yaml::String(c) => conditions.push(c),
                Yaml::Array(list)
                    if !list.is_empty() && list.iter().all(|c| c.as_str().is_some()) =>
                {
                    conditions.extend(list.iter().filter_map(Yaml::as_str));
                }
                _ => a.problem(
                    "detection.condition",
                    "must be a string or a list of strings",
                ),
            }
            continue;
        }
        let field = format!("detection.{name}");
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        {
            a.problem(
                &field,
                "search identifiers may only hold letters, digits, `_` and `-`",
            );
        } else if RESERVED.contains(&name) || name.chars().all(|c| c.is_ascii_digit()) {
            a.problem(&field, "a reserved word can't be a search identifier");
        }
        ids.push(name.to_owned());
        searches.push(build_search(a, &field, value));
    }
    if !has_condition {
        a.problem("detection.condition", "required");
    }
    if ids.is_empty() {
        a.problem("detection", "no search identifiers defined");
        return None;
    }
    let mut parsed = Vec::new();
    for condition in &conditions {
        match CondParser::parse(condition, &ids) {
            Ok(c) => parsed.push(c),
            Err(message) => a.problem("detection.condition", message),
        }
    }
    if parsed.is_empty() || parsed.len() < conditions.len() {
        return None;
    }
    let condition = join(parsed, Cond::Or);
    let mut used = vec![false; ids.len()];
    condition.mark_used(&mut used);
    for (id, used) in ids.iter().zip(&used) {
        if !used {
            a.problem(
                format!("detection.{id}"),
                "defined but not used by the condition",
            );
        }
    }
    let searches = searches.into_iter().collect::<Option<Vec<Search>>>()?;
    Some(Compiled {
        searches,
        condition,
    })
}

fn build_search(a: &mut Analysis, field: &str, value: &Yaml) -> Option<Search> {
    match value {
        Yaml::Hash(map) => build_group(a, field, map).map(|g| Search(vec![g])),
        Yaml::Array(items) if items.is_empty() => {
            a.problem(field, "empty list");
            None
        }
        Yaml::Array(items) if items.iter().all(Yaml::is_hash) => {
            // Every map is checked, so all their problems are reported at once.
            let mut groups = Vec::new();
            let mut ok = true;
            for map in items.iter().filter_map(Yaml::as_hash) {
                match build_group(a, field, map) {
                    Some(group) => groups.push(group),
                    None => ok = false,
                }
            }
            ok.then_some(Search(groups))
        }
        Yaml::Array(items) if items.iter().all(|v| !v.is_array() && !v.is_hash()) => {
            build_test(a, field, None, &[], value).map(|t| Search(vec![vec![t]]))
        }
        Yaml::Array(_) => {
            a.problem(field, "a list must hold only maps or only keywords");
            None
        }
        _ => {
            a.problem(field, "must be a map of fields or a list");
            None
        }
    }
}

fn build_group(a: &mut Analysis, field: &str, map: &Hash) -> Option<Vec<FieldTest>> {
    if map.is_empty() {
        a.problem(field, "empty map");
        return None;
    }
    let mut tests = Vec::new();
    let mut ok = true;
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            a.problem(field, "field names must be strings");
            ok = false;
            continue;
        };
        let label = format!("{field}.{key}");
        let mut parts = key.split('|');
        let name = parts.next().unwrap_or_default();
        let mods: Vec<&str> = parts.collect();
        if !check_modifiers(a, &label, name, &mods, value) {
            ok = false;
            continue;
        }
        match build_test(a, &label, (!name.is_empty()).then_some(name), &mods, value) {
            Some(test) => tests.push(test),
            None => ok = false,
        }
    }
    ok.then_some(tests)
}

/// Modifier names and combinations (spec, pySigma parse errors and its
/// `invalid_modifier_combinations` validator). True when nothing was wrong.
fn check_modifiers(a: &mut Analysis, label: &str, name: &str, mods: &[&str], value: &Yaml) -> bool {
    let before = a.problems.len();
    let has = |m: &str| mods.contains(&m);
    if name.chars().any(char::is_whitespace) {
        a.problem(label, "field names can't contain whitespace");
    }
    if name.is_empty() && mods != ["all"] {
        a.problem(
            label,
            "field name missing (only `|all` stands alone, for keywords)",
        );
    }
    for (i, m) in mods.iter().enumerate() {
        let (earlier, later) = (&mods[..i], &mods[i + 1..]);
        if !MODIFIERS.contains(m) {
            a.problem(label, format!("unknown modifier `{m}`"));
        } else if *m != "base64" && earlier.contains(m) {
            a.problem(label, format!("modifier `{m}` repeated"));
        } else if REGEX_FLAGS.contains(m) && !earlier.contains(&"re") {
            a.problem(
                label,
                format!("`{m}` is a regular-expression flag and must follow `re`"),
            );
        } else if ENCODINGS.contains(m) && !later.iter().any(|n| n.starts_with("base64")) {
            a.problem(
                label,
                format!("`{m}` must be followed by `base64` or `base64offset`"),
            );
        }
    }
    for special in ["re", "cidr"] {
        if has(special)
            && let Some(m) = mods.iter().find(|m| VALUE_MODIFIERS.contains(m))
        {
            a.problem(label, format!("`{special}` can't be combined with `{m}`"));
        }
    }
    if has("exists") && mods.len() > 1 {
        a.problem(label, "`exists` can't be combined with other modifiers");
    }
    if mods
        .iter()
        .filter(|m| Cmp::from_modifier(m).is_some())
        .count()
        > 1
    {
        a.problem(label, "use only one of gt, gte, lt, lte");
    }
    if has("base64offset") && !has("contains") {
        a.problem(label, "`base64offset` needs `contains`");
    }
    if has("all") {
        if value.as_vec().is_none_or(|v| v.len() < 2) {
            a.problem(label, "`all` needs a list of at least two values");
        }
        if !name.is_empty() && !has("contains") && !has("re") {
            a.problem(
                label,
                "`all` without `contains` asks one value to equal several",
            );
        }
        if has("windash") {
            a.problem(label, "`windash` can't be combined with `all`");
        }
    }
    a.problems.len() == before
}

fn build_test(
    a: &mut Analysis,
    label: &str,
    name: Option<&str>,
    mods: &[&str],
    value: &Yaml,
) -> Option<FieldTest> {
    let items: Vec<&Yaml> = match value {
        Yaml::Array(list) => list.iter().collect(),
        Yaml::Hash(_) => {
            a.problem(
                label,
                "a field takes a value or a list of values, not a map",
            );
            return None;
        }
        one => vec![one],
    };
    if items.is_empty() {
        a.problem(label, "empty list of values");
        return None;
    }
    if items.len() > 1 && items.iter().any(|v| v.is_null()) {
        a.problem(label, "null can't be part of a list of values");
        return None;
    }
    let count = items.len();
    let mut values = Vec::with_capacity(count);
    for item in items {
        match build_value(name, mods, item) {
            Ok(m) => values.push(m),
            Err(Issue::Invalid(message)) => a.problem(label, message),
            Err(Issue::Unsupported(message)) => {
                a.unsupported.push(Problem {
                    field: label.to_owned(),
                    message,
                });
            }
        }
    }
    (values.len() == count).then(|| FieldTest {
        field: name.map(str::to_owned),
        values,
        all: mods.contains(&"all"),
        negate: mods.contains(&"neq"),
    })
}

/// A Sigma string: literal characters and the `*` / `?` wildcards.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Lit(char),
    Star,
    One,
}

fn parse_wildcards(s: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        parts.push(match c {
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => {
                chars.next().map_or(Part::Lit(c), Part::Lit)
            }
            '*' => Part::Star,
            '?' => Part::One,
            c => Part::Lit(c),
        });
    }
    parts
}

fn literal(parts: &[Part]) -> Option<String> {
    parts
        .iter()
        .map(|p| match p {
            Part::Lit(c) => Some(*c),
            Part::Star | Part::One => None,
        })
        .collect()
}

/// The three base64 renderings of `bytes` at each offset in a longer blob (pySigma's
/// `base64offset`), trimmed of the characters that depend on the neighbouring bytes.
fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    (0..3)
        .map(|shift| {
            let mut shifted = vec![b' '; shift];
            shifted.extend_from_slice(bytes);
            let encoded = STANDARD.encode(shifted);
            let start = [0, 2, 3][shift];
            let end = encoded
                .len()
                .saturating_sub([0, 3, 2][(bytes.len() + shift) % 3]);
            encoded.get(start..end).unwrap_or_default().to_owned()
        })
        .collect()
}

fn encode(text: &str, encoding: &str) -> Vec<u8> {
    match encoding {
        "wide" | "utf16le" => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        "utf16be" => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        "utf16" => [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect(),
        _ => text.as_bytes().to_vec(),
    }
}

/// Alternatives of Sigma strings as one anchored regex: case-insensitive unless `cased`,
/// any dash or slash matching any other under `windash`.
fn wildcard_regex(alternatives: &[Vec<Part>], windash: bool, cased: bool) -> Result<Regex, Issue> {
    let mut pattern = String::from("^(?:");
    for (i, parts) in alternatives.iter().enumerate() {
        if i > 0 {
            pattern.push('|');
        }
        for part in parts {
            match part {
                Part::Star => pattern.push_str(".*"),
                Part::One => pattern.push('.'),
                Part::Lit(c)
                    if windash && matches!(c, '-' | '/' | '\u{2013}' | '\u{2014}' | '\u{2015}') =>
                {
                    pattern.push_str("[-/\u{2013}\u{2014}\u{2015}]");
                }
                Part::Lit(c) => pattern.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
            }
        }
    }
    pattern.push_str(")$");
    RegexBuilder::new(&pattern)
        .case_insensitive(!cased)
        .dot_matches_new_line(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| Issue::Invalid(format!("value too complex: {e}")))
}

fn build_value(name: Option<&str>, mods: &[&str], item: &Yaml) -> Result<Matcher, Issue> {
    let has = |m: &str| mods.contains(&m);
    let invalid = |m: &str| Err(Issue::Invalid(m.to_owned()));
    if let Some(m) = mods.iter().find(|m| UNSUPPORTED.contains(m)) {
        return Err(Issue::Unsupported(format!(
            "the built-in matcher can't evaluate `{m}`"
        )));
    }
    if has("exists") {
        return match item {
            Yaml::Boolean(b) if name.is_some() => Ok(Matcher::Exists(*b)),
            _ => invalid("`exists` takes true or false"),
        };
    }
    if item.is_null() {
        return if name.is_some() && mods.is_empty() {
            Ok(Matcher::Null)
        } else {
            invalid("null must be bound to a field, without modifiers")
        };
    }
    if let Some(op) = mods.iter().find_map(|m| Cmp::from_modifier(m)) {
        let n = match item {
            Yaml::Integer(i) => Some(*i as f64),
            Yaml::Real(r) => r.parse().ok(),
            _ => None,
        };
        return n
            .map(|n| Matcher::Compare(op, n))
            .ok_or_else(|| Issue::Invalid("gt, gte, lt and lte need a number".into()));
    }
    let text = match item {
        Yaml::String(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Real(r) => r.clone(),
        Yaml::Boolean(b) => b.to_string(),
        _ => return invalid("values must be strings, numbers, booleans or null"),
    };
    if text.chars().any(char::is_control) {
        return invalid(
            "control character in a value (a stray `\\t` or `\\n` escape in a double-quoted string?)",
        );
    }
    if has("fieldref") {
        return if text.contains(['*', '?']) {
            invalid("`fieldref` values can't contain wildcards")
        } else {
            Ok(Matcher::FieldRef(text))
        };
    }
    if has("cidr") {
        return parse_cidr(&text)
            .map(|(ip, len)| Matcher::Cidr(ip, len))
            .ok_or_else(|| Issue::Invalid(format!("`{text}` is not a CIDR network")));
    }
    if has("re") {
        return RegexBuilder::new(&text)
            .case_insensitive(has("i") || has("ignorecase"))
            .multi_line(has("m") || has("multiline"))
            .dot_matches_new_line(has("s") || has("dotall"))
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(Matcher::Text)
            .map_err(|e| Issue::Invalid(format!("invalid regular expression: {e}")));
    }
    let mut alternatives = vec![parse_wildcards(&text)];
    let mut encoding = "utf8";
    for m in mods {
        match *m {
            "contains" | "startswith" | "endswith" => {
                for parts in &mut alternatives {
                    if *m != "startswith" && parts.first() != Some(&Part::Star) {
                        parts.insert(0, Part::Star);
                    }
                    if *m != "endswith" && parts.last() != Some(&Part::Star) {
                        parts.push(Part::Star);
                    }
                }
            }
            m if ENCODINGS.contains(&m) => encoding = m,
            "base64" | "base64offset" => {
                let mut encoded: Vec<Vec<Part>> = Vec::new();
                for parts in &alternatives {
                    let Some(plain) = literal(parts) else {
                        return invalid("base64 values can't contain wildcards");
                    };
                    let bytes = encode(&plain, encoding);
                    if *m == "base64" {
                        encoded.push(STANDARD.encode(bytes).chars().map(Part::Lit).collect());
                    } else {
                        encoded.extend(
                            base64_offsets(&bytes)
                                .iter()
                                .map(|s| s.chars().map(Part::Lit).collect()),
                        );
                    }
                }
                alternatives = encoded;
                encoding = "utf8";
            }
            _ => {}
        }
    }
    if name.is_none() {
        // Keywords are searched for anywhere in the alert.
        for parts in &mut alternatives {
            parts.insert(0, Part::Star);
            parts.push(Part::Star);
        }
    }
    wildcard_regex(&alternatives, has("windash"), has("cased")).map(Matcher::Text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Field;

    fn field(path: &str, value: &str) -> Field {
        Field {
            path: path.into(),
            value: value.into(),
        }
    }

    const ENCODED: &str =
        "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA";

    fn powershell_alert() -> Alert {
        Alert {
            id: "evt-1".into(),
            format: "soc-json".into(),
            source: "sysmon".into(),
            title: "Encoded PowerShell launched by Word".into(),
            description: "Winword spawned PowerShell with an encoded command".into(),
            fields: vec![
                field("winlog.event_id", "1"),
                field(
                    "winlog.event_data.Image",
                    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                ),
                field(
                    "winlog.event_data.CommandLine",
                    &format!(
                        r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -NoP -NonI -W Hidden -EncodedCommand {ENCODED}"#
                    ),
                ),
                field(
                    "winlog.event_data.ParentImage",
                    r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
                ),
                field("winlog.event_data.User", r"CORP\alice"),
            ],
            host: Some("WS-0042".into()),
            user: Some(r"CORP\alice".into()),
            ..Alert::default()
        }
    }

    fn process_alert(id: &str, image: &str, cmd: &str, parent: &str) -> Alert {
        Alert {
            id: id.into(),
            source: "edr".into(),
            title: format!("{image} started"),
            fields: vec![
                field("process.executable", image),
                field("process.command_line", cmd),
                field("process.parent.executable", parent),
            ],
            ..Alert::default()
        }
    }

    fn notepad() -> Alert {
        process_alert(
            "evt-2",
            r"C:\Windows\System32\notepad.exe",
            r"notepad.exe C:\Users\bob\notes.txt",
            r"C:\Windows\explorer.exe",
        )
    }

    fn techniques() -> Vec<(String, String)> {
        vec![
            ("T1059.001".into(), "execution".into()),
            ("T1027".into(), "defense-evasion".into()),
        ]
    }

    /// A rule with fixed metadata around `detection` (indented by four spaces).
    fn rule(detection: &str) -> String {
        format!(
            "title: Test rule\nid: 5b3f9a52-8d0e-4c4f-9b7a-1f2e3d4c5b6a\nstatus: test\nlogsource:\n    category: process_creation\n    product: windows\ndetection:\n{detection}level: medium\n"
        )
    }

    fn compiled(yaml: &str) -> Compiled {
        Compiled::compile(yaml).unwrap_or_else(|p| panic!("{yaml}\n{p:?}"))
    }

    fn assert_valid(yaml: &str) {
        let problems = validate(yaml);
        assert!(problems.is_empty(), "{yaml}\n{problems:?}");
    }

    fn has_problem(problems: &[Problem], field: &str, needle: &str) -> bool {
        problems
            .iter()
            .any(|p| p.field == field && p.message.contains(needle))
    }

    #[test]
    fn draft_of_encoded_powershell_validates_and_matches_its_alert_only() {
        let alert = powershell_alert();
        let yaml = draft(
            &alert,
            &techniques(),
            "Encoded PowerShell from Office",
            "HIGH",
            "2025-01-15",
        );
        assert_valid(&yaml);
        assert!(
            yaml.contains("category: process_creation") && yaml.contains("product: windows"),
            "{yaml}"
        );
        assert!(
            yaml.contains(r"Image|endswith: '\powershell.exe'"),
            "{yaml}"
        );
        assert!(
            yaml.contains("'-EncodedCommand'")
                && !yaml.contains(ENCODED)
                && !yaml.contains("alice"),
            "{yaml}"
        );
        assert!(
            yaml.contains("    - attack.t1059.001\n")
                && yaml.contains("    - attack.defense-evasion\n"),
            "{yaml}"
        );
        assert!(yaml.contains("level: high\n"), "{yaml}");
        let rule = compiled(&yaml);
        assert!(rule.matches(&alert));
        assert!(!rule.matches(&notepad()));

        let benign = notepad();
        let history = [
            (&alert, Some("CRITICAL")),
            (&benign, Some("BENIGN")),
            (&alert, Some("low")),
            (&alert, None),
        ];
        let test = test_history(&rule, history);
        assert_eq!(
            test,
            HistoryTest {
                scanned: 4,
                matched: 3,
                matched_false_positive: 1,
                matched_confirmed: 1,
                examples: vec!["evt-1".into(); 3],
            }
        );
    }

    #[test]
    fn drafts_for_network_and_logon_alerts() {
        let network = Alert {
            source: "zeek".into(),
            fields: vec![
                field("destination.ip", "203.0.113.7"),
                field("destination.port", "4444"),
            ],
            ..Alert::default()
        };
        let yaml = draft(&network, &[], "C2 connection", "medium", "2025-01-15");
        assert_valid(&yaml);
        assert!(
            yaml.contains("category: network_connection") && yaml.contains("DestinationPort: 4444"),
            "{yaml}"
        );
        assert!(compiled(&yaml).matches(&network));

        let logon = Alert {
            source: "wineventlog".into(),
            fields: vec![
                field("winlog.event_id", "4625"),
                field("winlog.event_data.TargetUserName", "o'brien: #admin \"x\""),
            ],
            ..Alert::default()
        };
        let yaml = draft(
            &logon,
            &[("T1110".into(), "credential_access".into())],
            "",
            "bogus",
            "2025-01-15",
        );
        assert_valid(&yaml);
        assert!(
            yaml.contains("service: security") && yaml.contains("EventID: 4625"),
            "{yaml}"
        );
        assert!(
            yaml.contains("attack.credential-access") && yaml.contains("level: medium"),
            "{yaml}"
        );
        assert!(compiled(&yaml).matches(&logon));
    }

    #[test]
    fn hostile_values_round_trip() {
        for s in [
            "line one\nline two",
            "it's \"quoted\"",
            "key: value # not a comment",
            "- [x] {y} & *z ! % @ ` |",
            "tab\there\r\u{85}\u{2028}",
            "  padded  ",
            "",
            "null",
            "true",
            "0123",
            "~",
            r"C:\Temp\x.exe",
        ] {
            for rendered in [quote(s), scalar(s)] {
                let doc = format!("v: {rendered}\n");
                let parsed = YamlLoader::load_from_str(&doc).expect("parses");
                let back = match &parsed[0]["v"] {
                    Yaml::String(v) => v.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    other => panic!("{doc}: {other:?}"),
                };
                assert_eq!(back, s, "{doc}");
            }
        }
        let mut alert = powershell_alert();
        alert.description = "first line\nsecond: line # with 'quotes' and \"doubles\"".into();
        let yaml = draft(
            &alert,
            &[],
            "Title: with # and 'quotes'\nand a newline",
            "low",
            "2025-01-15",
        );
        assert_valid(&yaml);
        let docs = YamlLoader::load_from_str(&yaml).expect("draft parses");
        assert_eq!(
            docs[0]["title"].as_str(),
            Some("Title: with # and 'quotes' and a newline")
        );
        assert!(
            docs[0]["description"]
                .as_str()
                .is_some_and(|d| d.contains("second: line # with 'quotes' and \"doubles\""))
        );
    }

    #[test]
    fn wildcards_escape_and_parse_back() {
        for s in [r"a*b?c", r"\\server\share", r"ends\", r"\*", "plain"] {
            let parts = parse_wildcards(&sigma_escape(s));
            assert_eq!(literal(&parts).as_deref(), Some(s));
        }
    }

    #[test]
    fn validate_reports_the_checklist() {
        let good =
            rule("    selection:\n        Image|endswith: '\\cmd.exe'\n    condition: selection\n");
        assert_valid(&good);

        let no_title = good.replace("title: Test rule\n", "");
        assert!(has_problem(&validate(&no_title), "title", "required"));

        let no_logsource = good.replace(
            "logsource:\n    category: process_creation\n    product: windows\n",
            "",
        );
        assert!(has_problem(
            &validate(&no_logsource),
            "logsource",
            "required"
        ));

        let undefined = good.replace(
            "condition: selection",
            "condition: selection and not filter",
        );
        assert!(has_problem(
            &validate(&undefined),
            "detection.condition",
            "`filter`"
        ));

        let unknown = good.replace("Image|endswith", "Image|endswiths");
        assert!(has_problem(
            &validate(&unknown),
            "detection.selection.Image|endswiths",
            "unknown modifier"
        ));

        for tag in [
            "attack.t59",
            "attack.defense_evasion",
            "Attack.Execution",
            "foo.bar",
        ] {
            let tagged = good.replace(
                "status: test\n",
                &format!("status: test\ntags:\n    - {tag}\n"),
            );
            assert!(validate(&tagged).iter().any(|p| p.field == "tags"), "{tag}");
        }
        assert!(
            validate(&good.replace("condition: selection", "condition: (selection"))
                .iter()
                .any(|p| p.message.contains("parentheses"))
        );
        assert!(
            validate(&good.replace("condition: selection", "condition: selection)"))
                .iter()
                .any(|p| p.message.contains("parentheses"))
        );
        assert!(has_problem(
            &validate(&good.replace("condition: selection", "condition: selection | count() > 5")),
            "detection.condition",
            "pipe"
        ));
        assert!(has_problem(
            &validate(&good.replace("status: test", "status: done")),
            "status",
            "must be one of"
        ));
        assert!(has_problem(
            &validate(&good.replace("id: 5b3f", "id: zz3f")),
            "id",
            "UUID"
        ));
        assert!(has_problem(
            &validate(&good.replace("status: test", "status: test\ndate: 2025/01/15")),
            "date",
            "YYYY-MM-DD"
        ));
        assert!(has_problem(
            &validate(&good.replace(
                "    condition: selection\n",
                "    unused:\n        User: x\n    condition: selection\n"
            )),
            "detection.unused",
            "not used"
        ));
        assert!(has_problem(
            &validate(&good.replace("Image|endswith", "Image|i")),
            "detection.selection.Image|i",
            "follow `re`"
        ));
        assert!(has_problem(
            &validate(&good.replace("Image|endswith", "Image|contains|all")),
            "detection.selection.Image|contains|all",
            "two values"
        ));
        assert!(has_problem(&validate("title: [unclosed\n"), "yaml", ""));
        assert!(has_problem(
            &validate("title: a\ntitle: b\n"),
            "yaml",
            "duplicate"
        ));
    }

    #[test]
    fn condition_evaluation() {
        let cmd = process_alert(
            "a",
            r"C:\Windows\System32\cmd.exe",
            "cmd.exe /c whoami /all",
            r"C:\Windows\explorer.exe",
        );
        let from_office = process_alert(
            "b",
            r"C:\Windows\System32\cmd.exe",
            "cmd.exe /c whoami",
            r"C:\Office\WINWORD.EXE",
        );
        let sel_and_not_filter = compiled(&rule(
            "    sel1:\n        Image|endswith: '\\CMD.EXE'\n    filter:\n        ParentImage|endswith: '\\explorer.exe'\n    condition: sel1 and not filter\n",
        ));
        assert!(!sel_and_not_filter.matches(&cmd));
        assert!(sel_and_not_filter.matches(&from_office));

        let one_of = compiled(&rule(
            "    sel1:\n        CommandLine|contains: 'mimikatz'\n    sel2:\n        CommandLine|contains|windash: ' -all'\n    condition: 1 of sel*\n",
        ));
        assert!(one_of.matches(&cmd));
        assert!(!one_of.matches(&from_office));

        let all_of = compiled(&rule(
            "    sel1:\n        Image|endswith: '\\cmd.exe'\n    sel2:\n        - ParentImage|endswith: '\\winword.exe'\n        - ParentImage|endswith: '\\excel.exe'\n    condition: all of them\n",
        ));
        assert!(all_of.matches(&from_office));
        assert!(!all_of.matches(&cmd));

        let precedence = compiled(&rule(
            "    a:\n        CommandLine: '*whoami*'\n    b:\n        Image: 'nothing'\n    c:\n        Image|startswith: 'c:\\windows'\n    condition: b and a or not a or c\n",
        ));
        assert!(precedence.matches(&cmd));
        let keywords = compiled(&rule(
            "    keywords:\n        - 'WHOAMI /ALL'\n    condition: keywords\n",
        ));
        assert!(keywords.matches(&cmd) && !keywords.matches(&from_office));
    }

    #[test]
    fn cidr_endswith_numbers_and_base64() {
        let conn = |ip: &str| Alert {
            fields: vec![
                field("destination.ip", ip),
                field("destination.port", "8443"),
            ],
            ..Alert::default()
        };
        let private = compiled(&rule(
            "    selection:\n        DestinationIp|cidr:\n            - 10.0.0.0/8\n            - 'fd00::/8'\n        DestinationPort|gte: 8000\n    condition: selection\n",
        ));
        assert!(private.matches(&conn("10.20.30.40")));
        assert!(private.matches(&conn("fd12::1")));
        assert!(!private.matches(&conn("192.168.1.10")));
        assert!(has_problem(
            &validate(&rule(
                "    selection:\n        DestinationIp|cidr: 10.0.0.0/33\n    condition: selection\n"
            )),
            "detection.selection.DestinationIp|cidr",
            "CIDR"
        ));

        let encoded = compiled(&rule(
            "    selection:\n        CommandLine|wide|base64offset|contains: 'IEX ('\n    condition: selection\n",
        ));
        assert!(encoded.matches(&powershell_alert()));
        assert!(!encoded.matches(&notepad()));

        let exists = compiled(&rule(
            "    selection:\n        ParentImage|exists: true\n        Missing: null\n    condition: selection\n",
        ));
        assert!(exists.matches(&notepad()));
        assert!(!exists.matches(&conn("10.0.0.1")));

        assert!(
            Compiled::compile(&rule(
                "    selection:\n        User|expand: '%Admins%'\n    condition: selection\n"
            ))
            .is_err()
        );
    }

    #[test]
    fn rule_is_extracted_from_a_model_reply() {
        let body =
            rule("    selection:\n        Image|endswith: '\\cmd.exe'\n    condition: selection\n");
        let reply = format!("Here is the rule:\n\n```yaml\n{body}```\n\nIt catches cmd.exe.");
        assert_eq!(from_model_text(&reply).as_deref(), Some(body.as_str()));
        let unfenced = format!("\n{body}");
        assert_eq!(from_model_text(&unfenced).as_deref(), Some(body.as_str()));
        let with_other_block = format!("```text\nnot yaml\n```\n```\n{body}```");
        assert_eq!(
            from_model_text(&with_other_block).as_deref(),
            Some(body.as_str())
        );
        assert_eq!(from_model_text("I could not write a rule."), None);
    }
}
