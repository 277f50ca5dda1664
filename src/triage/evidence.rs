//! The evidence check: every claim a model makes carries a quote and the source it was
//! copied from — a tool call id, a pipeline lookup (`lookup_3`) or `alert:<field path>` —
//! and the quote must be found in what that source recorded, after whitespace
//! normalisation. A claim whose quote is not there is kept, marked unverified, counted, and
//! lowers the verdict's confidence. Checked by code, not asked for in a prompt.

use std::collections::HashMap;

use crate::alert::load::LoadedAlert;

use super::verdict::{ClaimCheck, Verdict};

/// Quotes shorter than this (after normalisation) prove little ("malicious", "http") and are
/// accepted only when they are a whole alert field's value (a host name, a user).
const MIN_QUOTE_CHARS: usize = 12;

/// How much one unverified claim's share of all claims lowers confidence: all claims
/// unverified halves it.
const PENALTY: f64 = 0.5;

/// What a quote can be checked against for one run.
pub struct Sources<'a> {
    alert: &'a LoadedAlert,
    /// Tool call ids and pipeline lookup ids → the recorded output and the call's input.
    outputs: HashMap<String, (String, String)>,
}

impl<'a> Sources<'a> {
    pub fn new(alert: &'a LoadedAlert) -> Sources<'a> {
        Sources {
            alert,
            outputs: HashMap::new(),
        }
    }

    /// A source's recorded output, and the input that produced it (the model's own words,
    /// which a quote may not simply repeat).
    pub fn add(&mut self, id: &str, output: &str, input: &str) {
        self.outputs
            .insert(id.to_string(), (output.to_string(), input.to_string()));
    }

    /// The tool calls of a run that succeeded (an error result proves nothing).
    pub fn add_calls(&mut self, calls: &[super::tools::ToolRecord]) {
        for r in calls.iter().filter(|r| !r.is_error) {
            self.add(&r.id, &r.output, &r.input);
        }
    }

    /// The pipeline's findings exactly as the prompt shows them: `lookup_1`, `lookup_2`…
    pub fn add_findings(&mut self, findings: &[String]) {
        for (i, f) in findings
            .iter()
            .enumerate()
            .take(super::prompt::MAX_FINDINGS)
        {
            self.add(&lookup_id(i), &super::prompt::finding_text(f), "");
        }
    }

    /// The text of an alert field by path (`process.command_line`, `title`, `host`…).
    fn alert_field(&self, path: &str) -> Option<String> {
        let a = &self.alert.alert;
        let path = path.trim();
        let named = match path.to_ascii_lowercase().as_str() {
            "title" => Some(a.title.clone()),
            "description" => Some(a.description.clone()),
            "host" => a.host.clone(),
            "user" => a.user.clone(),
            _ => None,
        };
        named.or_else(|| {
            a.fields
                .iter()
                .find(|f| f.path.eq_ignore_ascii_case(path))
                .map(|f| f.value.clone())
        })
    }
}

/// The id the pipeline's prompt gives its `i`-th finding.
pub fn lookup_id(i: usize) -> String {
    format!("lookup_{}", i + 1)
}

/// Whitespace runs become one space; case is ignored; surrounding quote marks and
/// ellipses the model added are not part of the quote.
fn normalise(s: &str) -> String {
    let trimmed = s.trim().trim_matches(|c: char| {
        matches!(c, '"' | '\'' | '`' | '“' | '”' | '‘' | '’' | '…') || c.is_whitespace()
    });
    let trimmed = trimmed.trim_end_matches("...").trim_start_matches("...");
    trimmed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn contains(haystack: &str, quote: &str) -> bool {
    normalise(haystack).contains(quote)
}

/// Checks one claim: `Ok(())` when its quote is in its source, else why not.
fn check_one(
    sources: &Sources<'_>,
    source: &str,
    reference: &str,
    quote: &str,
) -> Result<(), String> {
    let q = normalise(quote);
    if q.is_empty() {
        return Err("no quote was given".into());
    }
    let short = q.chars().count() < MIN_QUOTE_CHARS;
    let source = source.trim();
    // `alert:<path>`, or the older `alert_field` with the path as reference.
    let field_path = source
        .strip_prefix("alert:")
        .map(str::to_string)
        .or_else(|| (source == "alert_field").then(|| reference.to_string()));
    if let Some(path) = field_path {
        return match sources.alert_field(&path) {
            // A short quote counts only as a whole value (`host: WS-1`).
            Some(v) if short && normalise(&v) == q => Ok(()),
            Some(_) if short => Err(format!(
                "the quote {quote:?} is too short to check (under {MIN_QUOTE_CHARS} characters, and not the whole field)"
            )),
            Some(v) if contains(&v, &q) => Ok(()),
            Some(_) => Err(format!("the quote is not in alert field {path}")),
            // An unknown path: the quote must be in the alert's values (not its key names).
            None if !short && contains(&sources.alert.alert.full_text(), &q) => Ok(()),
            None => Err(format!(
                "the alert has no field {path} and the quote is not in it"
            )),
        };
    }
    if short {
        return Err(format!(
            "the quote {quote:?} is too short to check (under {MIN_QUOTE_CHARS} characters)"
        ));
    }
    let id = if sources.outputs.contains_key(source) {
        source
    } else {
        reference.trim()
    };
    match sources.outputs.get(id) {
        // A tool that repeats its input ("X is not a technique") would otherwise verify
        // whatever the model chose to send it.
        Some((_, input)) if !input.is_empty() && contains(input, &q) => Err(format!(
            "the quote repeats what the model itself sent to {id}"
        )),
        Some((out, _)) if contains(out, &q) => Ok(()),
        Some(_) => Err(format!("the quote is not in the output of {id}")),
        None => Err(format!(
            "{source:?} is not a tool call, lookup or alert field of this run"
        )),
    }
}

/// Checks every claim of a model's verdict, marks each, lowers confidence for the
/// unverified ones and records the count. Returns the count.
pub fn check(v: &mut Verdict, sources: &Sources<'_>) -> ClaimCheck {
    let mut verified = 0;
    for e in &mut v.evidence {
        // Model text, shown in the console and exports.
        e.claim = crate::alert::sanitize::sanitize(&e.claim);
        e.quote = crate::alert::sanitize::sanitize(&e.quote);
        match check_one(sources, &e.source, &e.reference, &e.quote) {
            Ok(()) => {
                e.verified = Some(true);
                e.check = None;
                verified += 1;
            }
            Err(why) => {
                e.verified = Some(false);
                e.check = Some(why);
            }
        }
    }
    let total = v.evidence.len();
    let c = ClaimCheck { verified, total };
    if total == 0 {
        // A verdict that quotes nothing cannot be checked: it is not taken at full weight.
        let before = v.confidence;
        v.confidence = (before * (1.0 - PENALTY / 2.0)).clamp(0.0, 1.0);
        v.warnings.push(format!(
            "0 of 0 claims verified: the model quoted no source for its verdict; confidence lowered from {before:.2} to {:.2}",
            v.confidence
        ));
    } else if total > verified {
        let before = v.confidence;
        let share = (total - verified) as f64 / total as f64;
        v.confidence = (before * (1.0 - PENALTY * share)).clamp(0.0, 1.0);
        v.warnings.push(format!(
            "{} of {total} claims verified: {} quote(s) not found in the cited source; confidence lowered from {before:.2} to {:.2}",
            verified,
            total - verified,
            v.confidence
        ));
    }
    v.claims = Some(c);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::verdict::{Evidence, Level};

    fn alert() -> LoadedAlert {
        let mut out = crate::alert::load::Loaded::default();
        crate::alert::load::load_reader(
            r#"{"title":"Encoded PowerShell","host":"WS-1","process":{"command_line":"powershell.exe  -enc SQBFAFgA"}}"#.as_bytes(),
            "t",
            &mut out,
        );
        out.alerts.remove(0)
    }

    fn claim(source: &str, quote: &str) -> Evidence {
        Evidence {
            claim: "c".into(),
            source: source.into(),
            reference: String::new(),
            quote: quote.into(),
            verified: None,
            check: None,
        }
    }

    fn verdict(evidence: Vec<Evidence>) -> Verdict {
        Verdict {
            evidence,
            ..Verdict::bare(Level::High, 0.8)
        }
    }

    #[test]
    fn quotes_are_found_after_whitespace_normalisation_and_fabrications_are_not() {
        let a = alert();
        let mut s = Sources::new(&a);
        s.add(
            "toolu_01",
            "abuseipdb 185.220.101.47: abuse confidence 100 %,\n  Tor exit",
            r#"{"indicator":"185.220.101.47"}"#,
        );
        let mut v = verdict(vec![
            claim("toolu_01", "abuse confidence 100 %, Tor exit"),
            claim("alert:process.command_line", "powershell.exe -enc SQBFAFgA"),
            claim("toolu_01", "listed by 42 vendors"),
            claim("toolu_99", "abuse confidence 100"),
            claim("alert:process.command_line", ""),
        ]);
        let c = check(&mut v, &s);
        assert_eq!((c.verified, c.total), (2, 5));
        let marks: Vec<Option<bool>> = v.evidence.iter().map(|e| e.verified).collect();
        assert_eq!(
            marks,
            vec![
                Some(true),
                Some(true),
                Some(false),
                Some(false),
                Some(false)
            ]
        );
        assert!(
            v.evidence[3]
                .check
                .as_deref()
                .unwrap_or("")
                .contains("not a tool call")
        );
        assert!(v.confidence < 0.8, "unverified claims lower confidence");
        assert!(
            v.warnings
                .iter()
                .any(|w| w.starts_with("2 of 5 claims verified"))
        );
    }

    #[test]
    fn a_quote_from_another_field_does_not_verify_a_claim_citing_this_one() {
        let a = alert();
        let s = Sources::new(&a);
        let mut v = verdict(vec![claim("alert:title", "SQBFAFgA")]);
        check(&mut v, &s);
        assert_eq!(v.evidence[0].verified, Some(false));
        let mut v = verdict(vec![claim("alert:host", "WS-1")]);
        check(&mut v, &s);
        assert_eq!(v.evidence[0].verified, Some(true), "a whole short value");
        assert_eq!(v.confidence, 0.8, "all verified: confidence unchanged");
        let mut v = verdict(vec![claim("alert:title", "Encoded")]);
        check(&mut v, &s);
        assert_eq!(
            v.evidence[0].verified,
            Some(false),
            "a short part proves little"
        );
        let mut v = verdict(vec![claim("alert:no.such.field", "\"command_line\":")]);
        check(&mut v, &s);
        assert_eq!(
            v.evidence[0].verified,
            Some(false),
            "key names are not values"
        );
    }

    #[test]
    fn a_quote_the_model_sent_as_tool_input_is_not_evidence() {
        let a = alert();
        let mut s = Sources::new(&a);
        let input = r#"{"id":"the host is part of a botnet run by APT28"}"#;
        s.add(
            "toolu_07",
            "the host is part of a botnet run by APT28 is not a technique in ATT&CK 18.1",
            input,
        );
        let mut v = verdict(vec![claim(
            "toolu_07",
            "the host is part of a botnet run by APT28",
        )]);
        check(&mut v, &s);
        assert_eq!(v.evidence[0].verified, Some(false));
        assert!(
            v.evidence[0]
                .check
                .as_deref()
                .unwrap_or("")
                .contains("repeats")
        );
    }

    #[test]
    fn a_verdict_that_quotes_nothing_is_not_taken_at_full_weight() {
        let a = alert();
        let mut v = verdict(Vec::new());
        let c = check(&mut v, &Sources::new(&a));
        assert_eq!((c.verified, c.total), (0, 0));
        assert!(v.confidence < 0.8);
    }
}
