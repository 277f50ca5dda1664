//! Builds the `Case` every exporter renders, from the store: one alert with its latest
//! verdict, or one incident with its alerts, links and verdict.

use super::{Case, CaseAlert, CaseIndicator, CaseTechnique};
use crate::alert::Alert;
use crate::store::{Store, StoreError};
use crate::triage::Verdict;

/// `Credential Access` → `credential-access`.
pub fn tactic_slug(t: &str) -> String {
    t.trim().to_ascii_lowercase().replace([' ', '_'], "-")
}

fn case_alert(a: &Alert, created_at: &str) -> CaseAlert {
    CaseAlert {
        key: a.id.clone(),
        title: a.title.clone(),
        source: a.source.clone(),
        at: crate::incident::rfc3339(crate::incident::event_secs(
            a.timestamp.as_deref(),
            created_at,
        )),
        host: a.host.clone(),
        user: a.user.clone(),
        description: a.description.chars().take(2_000).collect(),
    }
}

fn indicators(a: &Alert, into: &mut Vec<CaseIndicator>) {
    let i = &a.iocs;
    for (kind, list) in [
        ("ip", &i.public_ips),
        ("domain", &i.domains),
        ("url", &i.urls),
        ("md5", &i.md5),
        ("sha1", &i.sha1),
        ("sha256", &i.sha256),
        ("email", &i.emails),
    ] {
        for v in list {
            let c = CaseIndicator {
                kind: kind.into(),
                value: v.clone(),
            };
            if !into.contains(&c) {
                into.push(c);
            }
        }
    }
}

fn add_techniques(v: &Verdict, into: &mut Vec<CaseTechnique>) {
    for m in &v.matched_techniques {
        if into.iter().any(|t| t.id == m.id) {
            continue;
        }
        let tactic = v
            .attack_chain
            .iter()
            .find(|s| s.technique.as_deref() == Some(m.id.as_str()))
            .map(|s| tactic_slug(&s.tactic));
        into.push(CaseTechnique {
            id: m.id.clone(),
            name: m.name.clone(),
            tactic,
        });
    }
}

fn sort_by_tactic(t: &mut [CaseTechnique]) {
    t.sort_by_key(|t| {
        t.tactic
            .as_deref()
            .and_then(crate::incident::correlate::tactic_rank)
            .unwrap_or(usize::MAX)
    });
}

fn verdict_of(store: &Store, triage_id: Option<&str>) -> Result<Option<Verdict>, StoreError> {
    let Some(id) = triage_id else { return Ok(None) };
    Ok(store
        .triage(id)?
        .and_then(|r| r.verdict_json)
        .and_then(|j| serde_json::from_str(&j).ok()))
}

/// Position of a level from BENIGN (0) to CRITICAL (4).
fn level(v: &str) -> Option<usize> {
    ["BENIGN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
        .iter()
        .position(|l| l.eq_ignore_ascii_case(v.trim()))
}

fn push_unique(v: &mut Vec<String>, s: &Option<String>) {
    if let Some(s) = s
        && !v.contains(s)
    {
        v.push(s.clone());
    }
}

/// The case for `reference`: an incident id (`INC-…`) or an alert id. `None` when neither
/// is stored.
pub fn load(store: &Store, reference: &str) -> Result<Option<Case>, StoreError> {
    if let Some(inc) = store.incident(reference)? {
        let members = store.incident_members(reference)?;
        let mut case = Case {
            kind: "incident".into(),
            reference: inc.id.clone(),
            title: inc.title.clone(),
            verdict: None,
            judged_by: None,
            tool_verdict: None,
            confidence: None,
            summary: String::new(),
            first_seen: inc.first_at.clone(),
            last_seen: inc.last_at.clone(),
            alerts: Vec::new(),
            hosts: Vec::new(),
            users: Vec::new(),
            indicators: Vec::new(),
            techniques: Vec::new(),
            actions: Vec::new(),
            links: members
                .iter()
                .filter(|m| !m.why.is_empty())
                .map(|m| format!("{}: {}", m.title, m.why))
                .collect(),
            triage_id: inc.triage_id.clone(),
        };
        let mut worst: Option<Verdict> = None;
        // The highest standing analyst verdict among the members, and whose it is.
        let mut judged: Option<(usize, String, String)> = None;
        for m in &members {
            if let Some((label, who)) = store.analyst_label(m.row)?
                && let Some(r) = level(&label)
                && judged.as_ref().is_none_or(|(best, _, _)| r > *best)
            {
                judged = Some((r, label, who));
            }
            let Some(stored) = store.alert_by_row(m.row)? else {
                continue;
            };
            case.alerts
                .push(case_alert(&stored.alert, &stored.created_at));
            push_unique(&mut case.hosts, &stored.alert.host);
            push_unique(&mut case.users, &stored.alert.user);
            indicators(&stored.alert, &mut case.indicators);
            if let Some(t) = store.latest_complete_triage_for(m.row)?
                && let Some(v) = verdict_of(store, Some(&t.id))?
            {
                add_techniques(&v, &mut case.techniques);
                if worst.as_ref().is_none_or(|w| v.verdict > w.verdict) {
                    worst = Some(v);
                }
            }
        }
        let own = verdict_of(store, inc.triage_id.as_deref())?;
        if let Some(v) = &own {
            add_techniques(v, &mut case.techniques);
        }
        if let Some(v) = own.or(worst) {
            case.verdict = Some(v.verdict.to_string());
            case.confidence = Some(v.confidence);
            case.summary = v.reasoning.clone();
            case.actions = v.recommended_actions.clone();
        }
        // An analyst's verdict on the incident-level triage is the incident's. Otherwise an
        // analyst who judged a member worse than the tool judged the group raises it; a
        // member judged benign does not lower the group.
        let on_incident = match inc.triage_id.as_deref() {
            Some(id) => match store.triage(id)? {
                Some(t) => store.analyst_label(t.alert_row)?,
                None => None,
            },
            None => None,
        };
        if let Some((label, who)) = on_incident {
            case.tool_verdict = case.verdict.take();
            case.verdict = Some(label);
            case.judged_by = Some(who);
        } else if let Some((r, label, who)) = judged
            && case
                .verdict
                .as_deref()
                .and_then(level)
                .is_none_or(|t| r > t)
        {
            case.tool_verdict = case.verdict.take();
            case.verdict = Some(label);
            case.judged_by = Some(who);
        }
        sort_by_tactic(&mut case.techniques);
        return Ok(Some(case));
    }
    let Some(stored) = store.alert_by_key(reference)? else {
        return Ok(None);
    };
    let a = &stored.alert;
    let triage = store.latest_complete_triage_for(stored.row)?;
    let v = verdict_of(store, triage.as_ref().map(|t| t.id.as_str()))?;
    let ca = case_alert(a, &stored.created_at);
    let judged = store.analyst_label(stored.row)?;
    let tool = v.as_ref().map(|v| v.verdict.to_string());
    let mut case = Case {
        kind: "alert".into(),
        reference: a.id.clone(),
        title: a.title.clone(),
        verdict: judged.as_ref().map(|(l, _)| l.clone()).or(tool.clone()),
        judged_by: judged.as_ref().map(|(_, who)| who.clone()),
        tool_verdict: judged.as_ref().and(tool),
        confidence: v.as_ref().map(|v| v.confidence),
        summary: v
            .as_ref()
            .map_or_else(|| a.description.clone(), |v| v.reasoning.clone()),
        first_seen: ca.at.clone(),
        last_seen: ca.at.clone(),
        alerts: vec![ca],
        hosts: a.host.iter().cloned().collect(),
        users: a.user.iter().cloned().collect(),
        indicators: Vec::new(),
        techniques: Vec::new(),
        actions: v
            .as_ref()
            .map(|v| v.recommended_actions.clone())
            .unwrap_or_default(),
        links: Vec::new(),
        triage_id: triage.map(|t| t.id),
    };
    indicators(a, &mut case.indicators);
    if let Some(v) = &v {
        add_techniques(v, &mut case.techniques);
    }
    sort_by_tactic(&mut case.techniques);
    Ok(Some(case))
}
