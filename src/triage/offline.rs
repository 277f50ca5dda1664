//! The offline engine: a deterministic triage from retrieval and explicit rules, used with
//! no API key or when asked for. It fills the same verdict schema as a model, explains each
//! factor it weighed, and says plainly that it is not a model.

use crate::alert::{Alert, Severity};
use crate::attack::Catalog;
use crate::intel::Verdict as IntelVerdict;
use crate::intel::enrich::Enrichment;
use crate::search::Hit;
use crate::store::similar::SimilarCase;

use super::cite;
use super::rules::{self, RULESET_VERSION};
use super::verdict::{
    ChainStep, Escalation, Evidence, InvestigationQuery, Level, MatchedTechnique, Verdict,
};

pub const ENGINE: &str = "offline";

pub struct OfflineInput<'a> {
    pub alert: &'a Alert,
    pub hits: &'a [Hit],
    pub similar: &'a [SimilarCase],
    pub catalog: &'a Catalog,
    pub injection_flags: &'a [String],
    /// The local investigation (offline intel, IOC history); empty when none was run.
    pub enrichment: &'a Enrichment,
}

/// How much a retrieved technique's tactic says about the stakes.
fn tactic_weight(tactic: &str) -> f64 {
    match tactic {
        "impact" => 2.5,
        "credential-access" | "exfiltration" => 2.0,
        "lateral-movement" | "command-and-control" => 1.5,
        "privilege-escalation"
        | "defense-evasion"
        | "persistence"
        | "initial-access"
        | "execution" => 1.0,
        "collection" => 0.8,
        "discovery" => 0.4,
        _ => 0.2,
    }
}

fn severity_weight(s: Option<Severity>) -> f64 {
    match s {
        Some(Severity::Critical) => 2.0,
        Some(Severity::High) => 1.0,
        Some(Severity::Medium) | None => 0.0,
        Some(Severity::Low) => -0.75,
        Some(Severity::Informational) => -1.5,
    }
}

fn level_for(score: f64) -> Level {
    match score {
        s if s >= 7.0 => Level::Critical,
        s if s >= 4.0 => Level::High,
        s if s >= 2.0 => Level::Medium,
        s if s >= 0.75 => Level::Low,
        _ => Level::Benign,
    }
}

pub fn triage(input: &OfflineInput<'_>) -> Verdict {
    let alert = input.alert;
    let text = format!(
        "{}\n{}",
        alert.full_text(),
        alert.iocs.command_lines.join("\n")
    );
    let fired = rules::evaluate(&text);

    let mut factors: Vec<String> = Vec::new();
    let mut evidence: Vec<Evidence> = Vec::new();
    let mut score = 0.0;

    for h in &fired {
        score += h.rule.weight;
        factors.push(format!(
            "{:+.1} rule \"{}\" matched `{}`",
            h.rule.weight, h.rule.name, h.matched
        ));
        evidence.push(Evidence::new(
            format!("{} (`{}`)", h.rule.name, h.matched),
            "alert_field",
            field_containing(alert, &h.matched),
        ));
    }

    // Techniques the evidence supports citing: rule-named ones, then corroborated retrieved
    // ones (see `cite`). Only cited retrieved techniques speak for the stakes.
    let platforms = cite::alert_platforms(alert);
    let (matched, cited_hits) = matched_techniques(input, &fired, &platforms);
    let mut tactic_score: f64 = 0.0;
    let mut tactic_from = None;
    for (rank, hit) in cited_hits.iter().enumerate() {
        let Some(t) = input.catalog.get(&hit.id) else {
            continue;
        };
        let w = t
            .tactics
            .iter()
            .map(|s| tactic_weight(s))
            .fold(0.0, f64::max)
            * [1.0, 0.7, 0.5][rank.min(2)];
        if w > tactic_score {
            tactic_score = w;
            tactic_from = Some((
                t.id.clone(),
                t.name.clone(),
                input.catalog.tactic_names(t).join("/"),
            ));
        }
    }
    if let Some((id, name, tactics)) = &tactic_from {
        score += tactic_score;
        factors.push(format!(
            "{tactic_score:+.1} cited technique {id} {name} belongs to {tactics}"
        ));
    }
    let candidates = input.hits.len().saturating_sub(cited_hits.len());
    if candidates > 0 {
        factors.push(format!(
            "{candidates} other retrieved technique(s) are candidates only: the alert's evidence does not single them out"
        ));
    }

    let sev = severity_weight(alert.severity);
    if sev != 0.0 {
        score += sev;
        factors.push(format!(
            "{sev:+.1} the source rated the alert {}",
            alert.severity.map_or("unknown", Severity::as_str)
        ));
    }
    let external = alert.iocs.public_ips.len() + alert.iocs.domains.len() + alert.iocs.urls.len();
    if external > 0 {
        score += 0.5;
        factors.push(format!(
            "+0.5 {external} external indicator(s) (public IPs, domains, URLs)"
        ));
    }
    if !input.injection_flags.is_empty() {
        score += 1.0;
        factors
            .push("+1.0 the alert contains text that tries to instruct an AI triage tool".into());
        evidence.push(Evidence::new(
            format!(
                "prompt-injection-like content: {}",
                input.injection_flags.join("; ")
            ),
            "alert_field",
            "alert text".into(),
        ));
    }

    score += intel_factors(input.enrichment, &mut factors, &mut evidence);

    let mut level = level_for(score);
    let mut confidence: f64 = (0.45
        + 0.1 * fired.iter().filter(|h| h.rule.weight > 0.0).count() as f64
        + if tactic_from.is_some() { 0.05 } else { 0.0 })
    .min(0.85);
    if fired.iter().any(|h| h.rule.weight < 0.0) && fired.iter().any(|h| h.rule.weight > 0.0) {
        confidence -= 0.15;
        factors.push("signals point both ways (suspicious behaviour and known-benign tooling): confidence lowered".into());
    }

    // Analyst precedent weighs in; it does not override (see `precedent`).
    let rule_evidence: f64 = fired
        .iter()
        .map(|h| h.rule.weight)
        .filter(|w| *w > 0.0)
        .sum();
    if let Some(p) = super::precedent::pull(alert, input.similar, score, rule_evidence, level_for) {
        factors.push(p.explanation.clone());
        if p.level == level {
            confidence = (confidence + 0.1 * p.weight).min(0.9);
        } else {
            factors.push(format!(
                "precedent moved the verdict from {level} to {}",
                p.level
            ));
        }
        level = p.level;
        score = p.score;
        evidence.push(Evidence::new(
            format!(
                "{} similar reviewed alert(s) judged {} by {} analyst(s); the closest (\"{}\") weighed {:.2}",
                p.cases, p.best.analyst_verdict, p.agreeing_analysts, p.best.title, p.weight
            ),
            "similar_case",
            p.best.alert_key.clone(),
        ));
    }

    for m in &matched {
        evidence.push(Evidence::new(
            format!("{} {}: {}", m.id, m.name, m.rationale),
            "technique",
            m.id.clone(),
        ));
    }

    let mut reasoning = format!(
        "Offline engine ({RULESET_VERSION}; no language model was used). Score {score:.1} → {level}.\n"
    );
    for f in &factors {
        reasoning.push_str("- ");
        reasoning.push_str(f);
        reasoning.push('\n');
    }
    if factors.is_empty() {
        reasoning.push_str("- no rule fired and no retrieved technique raised the stakes\n");
    }
    reasoning.push_str(&format!(
        "Missing evidence: {}; a model or an analyst should weigh these.",
        missing_evidence(alert, &platforms)
    ));

    let escalate = level >= Level::High;
    Verdict {
        triage_id: String::new(),
        verdict: level,
        confidence: (confidence.max(0.2) * 100.0).round() / 100.0,
        // A benign verdict describes no attack.
        attack_chain: if level == Level::Benign {
            Vec::new()
        } else {
            attack_chain(input.catalog, &matched)
        },
        recommended_actions: recommended_actions(input.catalog, &matched, level, alert),
        false_positive_indicators: fired
            .iter()
            .filter(|h| !h.rule.false_positive.is_empty())
            .map(|h| h.rule.false_positive.to_string())
            .collect(),
        investigation_queries: investigation_queries(alert),
        escalation: Escalation {
            recommended: escalate,
            draft: if escalate {
                escalation_draft(alert, level, &matched)
            } else {
                String::new()
            },
        },
        matched_techniques: matched,
        reasoning,
        evidence,
        injection_flags: input.injection_flags.to_vec(),
        warnings: Vec::new(),
        engine: ENGINE.into(),
        claims: None,
    }
}

/// What the local investigation adds to the score, each factor naming the lookup that made
/// it: offline intel that calls an indicator malicious (or suspicious) raises it; intel that
/// calls every external indicator benign (a known scanner, a CDN) lowers it; an indicator
/// analysts already judged HIGH or CRITICAL in an earlier alert raises it.
fn intel_factors(e: &Enrichment, factors: &mut Vec<String>, evidence: &mut Vec<Evidence>) -> f64 {
    let mut score = 0.0;
    let describe = |r: &crate::intel::IntelRecord| {
        format!(
            "{} is {} per {}{}",
            r.indicator,
            r.verdict.as_str(),
            r.source,
            r.threat
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default()
        )
    };
    let bad = e.with_verdict(IntelVerdict::Malicious);
    let mut distinct: Vec<&crate::intel::Indicator> = bad.iter().map(|r| &r.indicator).collect();
    distinct.sort();
    distinct.dedup();
    if !bad.is_empty() {
        let w: f64 = (2.0 + 0.5 * (distinct.len() as f64 - 1.0)).min(3.0);
        score += w;
        factors.push(format!(
            "{w:+.1} intel lookup: {}",
            bad.iter()
                .take(3)
                .map(&describe)
                .collect::<Vec<_>>()
                .join("; ")
        ));
        for r in bad.iter().take(5) {
            evidence.push(Evidence::new(
                describe(r),
                "intel",
                format!("{}: {}", r.source, r.indicator.value),
            ));
        }
    } else if let Some(r) = e.with_verdict(IntelVerdict::Suspicious).first() {
        score += 1.0;
        factors.push(format!("+1.0 intel lookup: {}", describe(r)));
        evidence.push(Evidence::new(
            describe(r),
            "intel",
            format!("{}: {}", r.source, r.indicator.value),
        ));
    }
    let external: Vec<&crate::intel::Indicator> = e
        .indicators
        .iter()
        .filter(|i| {
            matches!(i.kind, crate::intel::Kind::Domain | crate::intel::Kind::Url)
                || (i.kind == crate::intel::Kind::Ip && !is_private(&i.value))
        })
        .collect();
    let benign = e.with_verdict(IntelVerdict::Benign);
    if bad.is_empty()
        && !external.is_empty()
        && external
            .iter()
            .all(|i| benign.iter().any(|r| &r.indicator == *i))
    {
        score -= 2.0;
        factors.push(format!(
            "-2.0 intel lookup: every external indicator is known benign ({})",
            benign
                .iter()
                .take(3)
                .map(&describe)
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let judged_bad = e.history.iter().find_map(|h| {
        h.sightings.iter().find_map(|s| {
            let v = s.analyst_verdict.as_deref().and_then(Level::parse)?;
            (v >= Level::High).then_some((h, s, v))
        })
    });
    if let Some((h, s, v)) = judged_bad {
        score += 1.0;
        factors.push(format!(
            "+1.0 IOC history lookup: {} was in “{}” ({}), which an analyst judged {v}",
            h.indicator, s.title, s.alert_key
        ));
        evidence.push(Evidence::new(
            format!("{} was seen before in an alert judged {v}", h.indicator),
            "ioc_history",
            s.alert_key.clone(),
        ));
    }
    score
}

fn is_private(ip: &str) -> bool {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v)) => v.is_private() || v.is_loopback() || v.is_link_local(),
        Ok(std::net::IpAddr::V6(v)) => v.is_loopback() || (v.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}

/// The first field whose value contains `needle`, for citing evidence.
fn field_containing(alert: &Alert, needle: &str) -> String {
    let n = needle.to_ascii_lowercase();
    alert
        .fields
        .iter()
        .find(|f| f.value.to_ascii_lowercase().contains(&n))
        .map(|f| f.path.clone())
        .unwrap_or_else(|| {
            if alert.title.to_ascii_lowercase().contains(&n) {
                "title".into()
            } else {
                "description".into()
            }
        })
}

/// Techniques from fired rules first (they are direct behavioural evidence), then the
/// retrieved ones the evidence corroborates (`cite::decide`); also the cited hits, in order.
fn matched_techniques<'h>(
    input: &OfflineInput<'h>,
    fired: &[rules::Hit],
    platforms: &[String],
) -> (Vec<MatchedTechnique>, Vec<&'h crate::search::Hit>) {
    let mut out: Vec<MatchedTechnique> = Vec::new();
    let context: Vec<&str> = input.hits.iter().map(|h| h.id.as_str()).collect();
    for h in fired {
        for id in h.rule.techniques {
            if let Some(t) = input.catalog.resolve(id).technique()
                && !out.iter().any(|m| m.id == t.id)
            {
                out.push(MatchedTechnique {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    rationale: format!("rule \"{}\" matched", h.rule.name),
                    in_context: context.contains(&t.id.as_str()),
                });
            }
        }
    }
    let supports = cite::support(input.alert, input.hits, input.catalog, platforms);
    let mut cited = Vec::new();
    for (i, reason) in cite::decide(&supports) {
        let hit = &input.hits[i];
        cited.push(hit);
        if !out.iter().any(|m| m.id == hit.id) {
            let why: Vec<String> = hit.why.iter().take(3).map(ToString::to_string).collect();
            out.push(MatchedTechnique {
                id: hit.id.clone(),
                name: hit.name.clone(),
                rationale: format!(
                    "retrieved (score {:.2}), cited: {reason}; {}",
                    hit.score,
                    why.join("; ")
                ),
                in_context: true,
            });
        }
    }
    (out, cited)
}

/// What the alert cannot show, by its kind: process lineage for endpoint alerts, the
/// identity's activity for cloud and sign-in alerts, flows for network alerts.
fn missing_evidence(alert: &Alert, platforms: &[String]) -> &'static str {
    let text = alert.full_text().to_ascii_lowercase();
    let cloud = platforms.iter().any(|p| {
        matches!(
            p.as_str(),
            "IaaS" | "SaaS" | "Office Suite" | "Identity Provider" | "Containers"
        )
    });
    let endpoint = !alert.iocs.command_lines.is_empty()
        || !alert.iocs.processes.is_empty()
        || platforms
            .iter()
            .any(|p| matches!(p.as_str(), "Windows" | "Linux" | "macOS"));
    let sign_in = [
        "logon",
        "login",
        "sign-in",
        "signin",
        "authentication",
        "password",
    ]
    .iter()
    .any(|w| text.contains(w));
    let network = [
        "dns",
        "firewall",
        "netflow",
        "connection",
        "traffic",
        "port ",
        "dst_port",
        "dest_port",
        "beacon",
    ]
    .iter()
    .any(|w| text.contains(w));
    if cloud {
        "the identity's other API calls and sign-ins around the event, where the source address is and \
         whether it is known, and whether the change was approved"
    } else if endpoint {
        "process lineage beyond what the alert carries, the user's recent activity, and network \
         connections around the event"
    } else if sign_in {
        "the account's other sign-ins and their sources, MFA results, and whether the account is a \
         service or a person"
    } else if network {
        "which host and process made the traffic, its volume and timing around the event, and what \
         is known of the remote end"
    } else {
        "the activity around the event on the entities it names, and whether it was expected"
    }
}

fn attack_chain(catalog: &Catalog, matched: &[MatchedTechnique]) -> Vec<ChainStep> {
    let mut steps: Vec<(usize, ChainStep)> = Vec::new();
    for m in matched {
        let Some(t) = catalog.get(&m.id) else {
            continue;
        };
        let Some(tactic) = t.tactics.first() else {
            continue;
        };
        let order = catalog
            .tactics
            .iter()
            .position(|x| &x.shortname == tactic)
            .unwrap_or(usize::MAX);
        let name = catalog
            .tactic(tactic)
            .map_or(tactic.clone(), |x| x.name.clone());
        steps.push((
            order,
            ChainStep {
                tactic: name,
                technique: Some(t.id.clone()),
                description: t.name.clone(),
            },
        ));
    }
    steps.sort_by_key(|(o, _)| *o);
    steps.into_iter().map(|(_, s)| s).collect()
}

fn recommended_actions(
    catalog: &Catalog,
    matched: &[MatchedTechnique],
    level: Level,
    alert: &Alert,
) -> Vec<String> {
    let mut out = Vec::new();
    if level >= Level::High {
        if let Some(h) = &alert.host {
            out.push(format!(
                "Isolate {h} from the network pending investigation"
            ));
        }
        if let Some(u) = &alert.user {
            out.push(format!("Review recent activity of {u} and reset their credentials if compromise is confirmed"));
        }
    }
    for m in matched.iter().take(3) {
        let Some(t) = catalog.get(&m.id) else {
            continue;
        };
        for mit in t.mitigations.iter().take(2) {
            let how = crate::attack::markup::truncate_words(&mit.how, 180);
            let line = format!("{} ({}, for {}): {how}", mit.name, mit.id, t.id);
            if !out.contains(&line) {
                out.push(line);
            }
        }
    }
    if out.is_empty() {
        out.push("No action beyond documenting the review; close if the context confirms benign activity".into());
    }
    out
}

/// Queries templated from the alert's indicators, in the languages SOCs use.
fn investigation_queries(alert: &Alert) -> Vec<InvestigationQuery> {
    let mut out = Vec::new();
    let q = |language: &str, query: String, purpose: String| InvestigationQuery {
        language: language.into(),
        query,
        purpose,
    };
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    if let Some(host) = &alert.host {
        out.push(q(
            "SPL",
            format!(
                "index=* host=\"{}\" earliest=-24h | stats count by sourcetype, source",
                esc(host)
            ),
            format!("all telemetry from {host} in the last day"),
        ));
        out.push(q("KQL", format!("DeviceProcessEvents | where DeviceName =~ \"{}\" and Timestamp > ago(24h) | project Timestamp, FileName, ProcessCommandLine, InitiatingProcessFileName", esc(host)), format!("process activity on {host}")));
    }
    if let Some(user) = &alert.user {
        out.push(q("KQL", format!("SigninLogs | where UserPrincipalName has \"{}\" and TimeGenerated > ago(7d) | summarize count() by IPAddress, Location, ResultType", esc(user)), format!("sign-ins of {user} this week")));
    }
    for ip in alert.iocs.public_ips.iter().take(3) {
        out.push(q("SPL", format!("index=* (src=\"{ip}\" OR dest=\"{ip}\" OR src_ip=\"{ip}\" OR dest_ip=\"{ip}\") earliest=-7d | stats count by host, sourcetype"), format!("every host that talked to {ip}")));
    }
    for d in alert.iocs.domains.iter().take(3) {
        out.push(q("ES|QL", format!("FROM logs-* | WHERE dns.question.name == \"{}\" OR url.domain == \"{}\" | STATS count = COUNT(*) BY host.name", esc(d), esc(d)), format!("hosts resolving or visiting {d}")));
    }
    for h in alert
        .iocs
        .sha256
        .iter()
        .chain(&alert.iocs.sha1)
        .chain(&alert.iocs.md5)
        .take(2)
    {
        out.push(q(
            "KQL",
            format!(
                "DeviceFileEvents | where SHA256 == \"{h}\" or SHA1 == \"{h}\" or MD5 == \"{h}\""
            ),
            "other devices with this file".into(),
        ));
    }
    for p in alert.iocs.processes.iter().take(2) {
        out.push(q(
            "EQL",
            format!(
                "process where process.name : \"{}\" and process.parent.name != null",
                esc(p)
            ),
            format!("lineage of {p} across the fleet"),
        ));
    }
    out
}

fn escalation_draft(alert: &Alert, level: Level, matched: &[MatchedTechnique]) -> String {
    let techniques: Vec<String> = matched
        .iter()
        .take(4)
        .map(|m| format!("{} {}", m.id, m.name))
        .collect();
    format!(
        "{level} — {}\nHost: {} · User: {}\nTechniques: {}\nTriaged by the offline engine (rules + ATT&CK retrieval); please review the evidence and confirm.",
        alert.title,
        alert.host.as_deref().unwrap_or("unknown"),
        alert.user.as_deref().unwrap_or("unknown"),
        if techniques.is_empty() {
            "none identified".into()
        } else {
            techniques.join(", ")
        }
    )
}
