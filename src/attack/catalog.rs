//! The ATT&CK knowledge base as the rest of the program sees it: techniques with their
//! tactics, mitigations, detection content and procedure examples; tactics; groups and
//! software; and a map from revoked technique ids to their replacements.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Technique {
    pub id: String,
    pub name: String,
    /// Cleaned description (no citations or markdown links).
    pub description: String,
    /// Tactic short names in kill-chain order (`execution`, `credential-access`…).
    pub tactics: Vec<String>,
    pub platforms: Vec<String>,
    pub parent: Option<String>,
    pub url: String,
    /// Tools, commands, paths and keys quoted as code in the description, detection text
    /// and procedure examples.
    pub artifacts: Vec<String>,
    pub mitigations: Vec<MitigationUse>,
    pub detections: Vec<Detection>,
    pub procedures: Vec<Procedure>,
}

impl Technique {
    pub fn is_subtechnique(&self) -> bool {
        self.parent.is_some()
    }

    /// The parent id for a sub-technique, the id itself otherwise.
    pub fn family(&self) -> &str {
        family_of(&self.id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MitigationUse {
    pub id: String,
    pub name: String,
    /// How the mitigation applies to this technique (the `mitigates` relationship text).
    pub how: String,
}

/// A v18 detection strategy with its analytics.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Detection {
    pub id: String,
    pub name: String,
    pub analytics: Vec<Analytic>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Analytic {
    pub id: String,
    pub description: String,
    pub platforms: Vec<String>,
    pub log_sources: Vec<LogSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogSource {
    /// e.g. `WinEventLog:Security`, `auditd:SYSCALL`.
    pub name: String,
    /// e.g. `EventCode=4688`.
    pub channel: String,
    /// The data component's name (`Process Creation`…), when the reference resolves.
    pub data_component: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    Group,
    Malware,
    Tool,
    Campaign,
}

/// One procedure example: how a group, piece of software or campaign used the technique.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Procedure {
    pub actor_id: String,
    pub actor_name: String,
    pub kind: ActorKind,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tactic {
    pub id: String,
    pub shortname: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mitigation {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// A group (intrusion set) or piece of software, with the techniques it is known to use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Actor {
    pub id: String,
    pub name: String,
    pub kind: ActorKind,
    pub aliases: Vec<String>,
    pub description: String,
    pub techniques: Vec<String>,
}

/// The result of looking up a technique id that may be old, lower-case or unknown.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved<'a> {
    Active(&'a Technique),
    /// A revoked id and the technique that replaced it.
    Revoked {
        from: String,
        to: &'a Technique,
    },
    Unknown(String),
}

impl<'a> Resolved<'a> {
    pub fn technique(&self) -> Option<&'a Technique> {
        match self {
            Resolved::Active(t) | Resolved::Revoked { to: t, .. } => Some(t),
            Resolved::Unknown(_) => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    /// ATT&CK release (`18.1`) when the bundle says so, otherwise derived; see `build`.
    pub attack_version: String,
    pub spec_version: String,
    pub techniques: Vec<Technique>,
    pub tactics: Vec<Tactic>,
    pub mitigations: Vec<Mitigation>,
    pub actors: Vec<Actor>,
    /// Revoked technique id → current id (transitively resolved).
    pub revoked: BTreeMap<String, String>,
    #[serde(skip)]
    by_id: HashMap<String, usize>,
}

static TECHNIQUE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^T(\d{4})(?:[./_-]?(\d{3}))?$").expect("static regex"));

/// `t1059/001`, `T1059_001`, `T1059001` → `T1059.001`; `None` when not shaped like an id.
pub fn normalize_id(raw: &str) -> Option<String> {
    let caps = TECHNIQUE_ID.captures(raw.trim())?;
    Some(match caps.get(2) {
        Some(sub) => format!("T{}.{}", &caps[1], sub.as_str()),
        None => format!("T{}", &caps[1]),
    })
}

/// The parent technique id of an id (`T1059.001` → `T1059`).
pub fn family_of(id: &str) -> &str {
    id.split('.').next().unwrap_or(id)
}

impl Catalog {
    pub fn new(
        attack_version: String,
        spec_version: String,
        techniques: Vec<Technique>,
        tactics: Vec<Tactic>,
        mitigations: Vec<Mitigation>,
        actors: Vec<Actor>,
        revoked: BTreeMap<String, String>,
    ) -> Self {
        let mut catalog = Catalog {
            attack_version,
            spec_version,
            techniques,
            tactics,
            mitigations,
            actors,
            revoked,
            by_id: HashMap::new(),
        };
        catalog.reindex();
        catalog
    }

    /// A catalog with no techniques (for tests and tools that need one).
    pub fn empty(attack_version: &str) -> Self {
        Catalog::new(
            attack_version.into(),
            "2.1".into(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            BTreeMap::new(),
        )
    }

    /// Rebuilds the id lookup; needed after deserialising.
    pub fn reindex(&mut self) {
        self.by_id = self
            .techniques
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), i))
            .collect();
    }

    pub fn get(&self, id: &str) -> Option<&Technique> {
        self.by_id.get(id).map(|&i| &self.techniques[i])
    }

    pub fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Resolves any spelling of a technique id, following revocations to the current one.
    pub fn resolve(&self, raw: &str) -> Resolved<'_> {
        let Some(id) = normalize_id(raw) else {
            return Resolved::Unknown(raw.to_string());
        };
        if let Some(t) = self.get(&id) {
            return Resolved::Active(t);
        }
        if let Some(t) = self.revoked.get(&id).and_then(|to| self.get(to)) {
            return Resolved::Revoked { from: id, to: t };
        }
        Resolved::Unknown(id)
    }

    pub fn tactic(&self, shortname: &str) -> Option<&Tactic> {
        self.tactics.iter().find(|t| t.shortname == shortname)
    }

    /// Display names of a technique's tactics.
    pub fn tactic_names(&self, technique: &Technique) -> Vec<String> {
        technique
            .tactics
            .iter()
            .map(|s| self.tactic(s).map_or_else(|| s.clone(), |t| t.name.clone()))
            .collect()
    }

    pub fn mitigation(&self, id: &str) -> Option<&Mitigation> {
        self.mitigations.iter().find(|m| m.id == id)
    }

    /// Groups (not software or campaigns) known to use a technique, by name.
    pub fn groups_using(&self, technique_id: &str) -> Vec<&Actor> {
        self.actors
            .iter()
            .filter(|a| {
                a.kind == ActorKind::Group && a.techniques.iter().any(|t| t == technique_id)
            })
            .collect()
    }

    pub fn counts(&self) -> CatalogCounts {
        let count = |k: ActorKind| self.actors.iter().filter(|a| a.kind == k).count();
        CatalogCounts {
            techniques: self
                .techniques
                .iter()
                .filter(|t| !t.is_subtechnique())
                .count(),
            subtechniques: self
                .techniques
                .iter()
                .filter(|t| t.is_subtechnique())
                .count(),
            tactics: self.tactics.len(),
            mitigations: self.mitigations.len(),
            groups: count(ActorKind::Group),
            software: count(ActorKind::Malware) + count(ActorKind::Tool),
            campaigns: count(ActorKind::Campaign),
            procedures: self.techniques.iter().map(|t| t.procedures.len()).sum(),
            analytics: self
                .techniques
                .iter()
                .flat_map(|t| &t.detections)
                .map(|d| d.analytics.len())
                .sum(),
            revoked: self.revoked.len(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CatalogCounts {
    pub techniques: usize,
    pub subtechniques: usize,
    pub tactics: usize,
    pub mitigations: usize,
    pub groups: usize,
    pub software: usize,
    pub campaigns: usize,
    pub procedures: usize,
    pub analytics: usize,
    pub revoked: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_accepts_common_spellings() {
        assert_eq!(normalize_id("t1059.001").as_deref(), Some("T1059.001"));
        assert_eq!(normalize_id("T1059/001").as_deref(), Some("T1059.001"));
        assert_eq!(normalize_id("T1059_001").as_deref(), Some("T1059.001"));
        assert_eq!(normalize_id("T1059001").as_deref(), Some("T1059.001"));
        assert_eq!(normalize_id(" T1003 ").as_deref(), Some("T1003"));
        assert_eq!(normalize_id("T10590"), None);
        assert_eq!(normalize_id("TA0002"), None);
    }

    #[test]
    fn family_is_parent_part() {
        assert_eq!(family_of("T1059.001"), "T1059");
        assert_eq!(family_of("T1003"), "T1003");
    }
}
