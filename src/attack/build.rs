//! Turning a STIX bundle into a `Catalog`: techniques with their relationships resolved.

use std::collections::{BTreeMap, HashMap};

use super::catalog::{
    Actor, ActorKind, Analytic, Catalog, Detection, LogSource, Mitigation, MitigationUse,
    Procedure, Tactic, Technique,
};
use super::markup::{clean, code_spans};
use super::stix::{Bundle, StixError, StixObject};

const KILL_CHAIN: &str = "mitre-attack";
/// Artifacts per technique are capped so one very popular technique cannot flood its document.
const MAX_ARTIFACTS: usize = 80;

/// Builds the catalog; fails when the bundle holds no active technique.
pub fn build_catalog(bundle: &Bundle) -> Result<Catalog, StixError> {
    let by_stix: HashMap<&str, &StixObject> =
        bundle.objects.iter().map(|o| (o.id.as_str(), o)).collect();
    let relationships: Vec<&StixObject> = bundle
        .objects
        .iter()
        .filter(|o| o.kind == "relationship" && o.is_active())
        .collect();
    let rel = |kind: &'static str| {
        relationships
            .iter()
            .filter(move |r| r.relationship_type.as_deref() == Some(kind))
            .filter_map(|r| Some((r.source_ref.as_deref()?, r.target_ref.as_deref()?, *r)))
    };

    let technique_objs: Vec<&StixObject> = bundle
        .objects
        .iter()
        .filter(|o| o.kind == "attack-pattern" && o.is_active() && o.attack_id().is_some())
        .collect();
    if technique_objs.is_empty() {
        return Err(StixError::NoTechniques {
            path: bundle.path.clone(),
        });
    }

    let attack_id_of = |stix: &str| {
        by_stix
            .get(stix)
            .and_then(|o| o.attack_id())
            .map(str::to_string)
    };

    // Parents come from `subtechnique-of`; the id prefix is the fallback.
    let mut parent_of: HashMap<&str, String> = HashMap::new();
    for (src, dst, _) in rel("subtechnique-of") {
        if let Some(parent) = attack_id_of(dst) {
            parent_of.insert(src, parent);
        }
    }

    let mitigations: Vec<Mitigation> = bundle
        .objects
        .iter()
        .filter(|o| o.kind == "course-of-action" && o.is_active())
        .filter_map(|o| {
            Some(Mitigation {
                id: o.attack_id()?.to_string(),
                name: o.name.clone().unwrap_or_default(),
                description: clean(o.description.as_deref().unwrap_or_default()),
            })
        })
        .collect();

    let mut mitigations_of: HashMap<&str, Vec<MitigationUse>> = HashMap::new();
    for (src, dst, r) in rel("mitigates") {
        let Some(coa) = by_stix.get(src).filter(|o| o.is_active()) else {
            continue;
        };
        let Some(id) = coa.attack_id() else { continue };
        mitigations_of.entry(dst).or_default().push(MitigationUse {
            id: id.to_string(),
            name: coa.name.clone().unwrap_or_default(),
            how: clean(r.description.as_deref().unwrap_or_default()),
        });
    }

    let data_component_name = |stix: &str| by_stix.get(stix).and_then(|o| o.name.clone());
    let mut detections_of: HashMap<&str, Vec<Detection>> = HashMap::new();
    let mut raw_detection_text: HashMap<&str, Vec<&str>> = HashMap::new();
    for (src, dst, _) in rel("detects") {
        let Some(strategy) = by_stix.get(src).filter(|o| o.is_active()) else {
            continue;
        };
        let analytics = strategy
            .x_mitre_analytic_refs
            .iter()
            .filter_map(|a| by_stix.get(a.as_str()))
            .filter(|a| a.is_active())
            .map(|a| {
                if let Some(d) = a.description.as_deref() {
                    raw_detection_text.entry(dst).or_default().push(d);
                }
                Analytic {
                    id: a.attack_id().unwrap_or(&a.id).to_string(),
                    description: clean(a.description.as_deref().unwrap_or_default()),
                    platforms: a.x_mitre_platforms.clone(),
                    log_sources: a
                        .x_mitre_log_source_references
                        .iter()
                        .map(|l| LogSource {
                            name: l.name.clone().unwrap_or_default(),
                            channel: l.channel.clone().unwrap_or_default(),
                            data_component: l
                                .x_mitre_data_component_ref
                                .as_deref()
                                .and_then(data_component_name),
                        })
                        .collect(),
                }
            })
            .collect();
        detections_of.entry(dst).or_default().push(Detection {
            id: strategy.attack_id().unwrap_or(&strategy.id).to_string(),
            name: strategy.name.clone().unwrap_or_default(),
            analytics,
        });
    }

    // Procedure examples and the actors behind them.
    let actor_kind = |kind: &str| match kind {
        "intrusion-set" => Some(ActorKind::Group),
        "malware" => Some(ActorKind::Malware),
        "tool" => Some(ActorKind::Tool),
        "campaign" => Some(ActorKind::Campaign),
        _ => None,
    };
    let mut procedures_of: HashMap<&str, Vec<Procedure>> = HashMap::new();
    let mut raw_procedure_text: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut actor_techniques: HashMap<&str, Vec<String>> = HashMap::new();
    for (src, dst, r) in rel("uses") {
        let Some(actor) = by_stix.get(src).filter(|o| o.is_active()) else {
            continue;
        };
        let Some(kind) = actor_kind(&actor.kind) else {
            continue;
        };
        let Some(target) = by_stix.get(dst).filter(|o| o.kind == "attack-pattern") else {
            continue;
        };
        if let Some(tid) = target.attack_id() {
            actor_techniques
                .entry(src)
                .or_default()
                .push(tid.to_string());
        }
        let raw = r.description.as_deref().unwrap_or_default();
        raw_procedure_text.entry(dst).or_default().push(raw);
        let description = clean(raw);
        if description.is_empty() {
            continue;
        }
        procedures_of.entry(dst).or_default().push(Procedure {
            actor_id: actor.attack_id().unwrap_or(&actor.id).to_string(),
            actor_name: actor.name.clone().unwrap_or_default(),
            kind,
            description,
        });
    }

    let mut techniques: Vec<Technique> = technique_objs
        .iter()
        .filter_map(|o| {
            let id = o.attack_id()?.to_string();
            let raw_description = o.description.as_deref().unwrap_or_default();
            let mut artifacts = code_spans(raw_description);
            let extra = raw_detection_text
                .get(o.id.as_str())
                .into_iter()
                .chain(raw_procedure_text.get(o.id.as_str()))
                .flatten();
            for text in extra {
                for span in code_spans(text) {
                    if artifacts.len() >= MAX_ARTIFACTS {
                        break;
                    }
                    if !artifacts.contains(&span) {
                        artifacts.push(span);
                    }
                }
            }
            let parent = if o.x_mitre_is_subtechnique || id.contains('.') {
                parent_of
                    .get(o.id.as_str())
                    .cloned()
                    .or_else(|| id.split_once('.').map(|(p, _)| p.to_string()))
            } else {
                None
            };
            let mut procedures = procedures_of.remove(o.id.as_str()).unwrap_or_default();
            procedures.sort_by(|a, b| a.actor_name.cmp(&b.actor_name));
            Some(Technique {
                url: o.attack_url().map(str::to_string).unwrap_or_else(|| {
                    format!(
                        "https://attack.mitre.org/techniques/{}/",
                        id.replace('.', "/")
                    )
                }),
                name: o.name.clone().unwrap_or_default(),
                description: clean(raw_description),
                tactics: o
                    .kill_chain_phases
                    .iter()
                    .filter(|k| k.kill_chain_name == KILL_CHAIN)
                    .map(|k| k.phase_name.clone())
                    .collect(),
                platforms: o.x_mitre_platforms.clone(),
                parent,
                artifacts,
                mitigations: mitigations_of.remove(o.id.as_str()).unwrap_or_default(),
                detections: detections_of.remove(o.id.as_str()).unwrap_or_default(),
                procedures,
                id,
            })
        })
        .collect();
    techniques.sort_by(|a, b| a.id.cmp(&b.id));

    let tactics = ordered_tactics(bundle);

    let actors: Vec<Actor> = bundle
        .objects
        .iter()
        .filter(|o| o.is_active())
        .filter_map(|o| {
            let kind = actor_kind(&o.kind)?;
            let mut used = actor_techniques.remove(o.id.as_str()).unwrap_or_default();
            used.sort();
            used.dedup();
            let mut aliases: Vec<String> = o
                .aliases
                .iter()
                .chain(&o.x_mitre_aliases)
                .cloned()
                .collect();
            aliases.retain(|a| Some(a) != o.name.as_ref());
            aliases.dedup();
            Some(Actor {
                id: o.attack_id().unwrap_or(&o.id).to_string(),
                name: o.name.clone().unwrap_or_default(),
                kind,
                aliases,
                description: clean(o.description.as_deref().unwrap_or_default()),
                techniques: used,
            })
        })
        .collect();

    Ok(Catalog::new(
        attack_version(bundle),
        bundle.spec_version.clone(),
        techniques,
        tactics,
        mitigations,
        actors,
        revocations(bundle, &by_stix),
    ))
}

/// Tactics in matrix order (the order analysts read the kill chain in).
fn ordered_tactics(bundle: &Bundle) -> Vec<Tactic> {
    let mut tactics: Vec<(usize, Tactic)> = bundle
        .objects
        .iter()
        .filter(|o| o.kind == "x-mitre-tactic" && o.is_active())
        .filter_map(|o| {
            Some(Tactic {
                id: o.attack_id()?.to_string(),
                shortname: o.x_mitre_shortname.clone()?,
                name: o.name.clone().unwrap_or_default(),
                description: clean(o.description.as_deref().unwrap_or_default()),
            })
        })
        .map(|t| (usize::MAX, t))
        .collect();
    if let Some(matrix) = bundle.objects.iter().find(|o| o.kind == "x-mitre-matrix") {
        let stix_to_attack: HashMap<&str, &str> = bundle
            .objects
            .iter()
            .filter(|o| o.kind == "x-mitre-tactic")
            .filter_map(|o| Some((o.id.as_str(), o.attack_id()?)))
            .collect();
        for (pos, r) in matrix.tactic_refs.iter().enumerate() {
            if let Some(aid) = stix_to_attack.get(r.as_str())
                && let Some(entry) = tactics.iter_mut().find(|(_, t)| t.id == *aid)
            {
                entry.0 = pos;
            }
        }
    }
    tactics.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
    tactics.into_iter().map(|(_, t)| t).collect()
}

/// Revoked technique id → current id, following chains of revocations.
fn revocations(bundle: &Bundle, by_stix: &HashMap<&str, &StixObject>) -> BTreeMap<String, String> {
    let mut next: HashMap<&str, &str> = HashMap::new();
    for r in &bundle.objects {
        if r.kind == "relationship"
            && r.relationship_type.as_deref() == Some("revoked-by")
            && let (Some(s), Some(t)) = (r.source_ref.as_deref(), r.target_ref.as_deref())
            && s.starts_with("attack-pattern--")
            && t.starts_with("attack-pattern--")
        {
            next.insert(s, t);
        }
    }
    let mut out = BTreeMap::new();
    for &start in next.keys() {
        let mut current = start;
        let mut hops = 0;
        while let Some(&n) = next.get(current) {
            current = n;
            hops += 1;
            if hops > 16 {
                break; // a cycle in the data; give up on this chain
            }
        }
        let (Some(from), Some(to)) = (by_stix.get(start), by_stix.get(current)) else {
            continue;
        };
        if !to.is_active() {
            continue;
        }
        if let (Some(f), Some(t)) = (from.attack_id(), to.attack_id())
            && f != t
        {
            out.insert(f.to_string(), t.to_string());
        }
    }
    out
}

/// The ATT&CK release: from the collection object (STIX 2.1 bundles from attack-stix-data),
/// else from a version in the file name, else the newest `modified` date in the bundle.
fn attack_version(bundle: &Bundle) -> String {
    if let Some(v) = bundle
        .objects
        .iter()
        .find(|o| o.kind == "x-mitre-collection")
        .and_then(|o| o.x_mitre_version.clone())
    {
        return v;
    }
    let name = bundle
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if let Some(caps) = regex::Regex::new(r"(\d{1,2}\.\d{1,2})")
        .ok()
        .and_then(|re| re.captures(name).map(|c| c[1].to_string()))
    {
        return caps;
    }
    let newest = bundle
        .objects
        .iter()
        .filter_map(|o| o.modified.as_deref())
        .max();
    match newest {
        Some(m) => format!("unknown (newest object modified {})", &m[..m.len().min(10)]),
        None => "unknown".into(),
    }
}
