//! What each technique looks like to the two retrievers: the texts of its BM25 fields,
//! and the short passages embedded for the dense retriever.

use serde::{Deserialize, Serialize};

use super::schema::DocField;
use crate::attack::Catalog;
use crate::attack::catalog::Technique;
use crate::attack::markup::{lead, truncate_words};

/// The text of one BM25 field of a technique.
pub fn field_text(technique: &Technique, catalog: &Catalog, field: DocField) -> String {
    match field {
        DocField::Name => technique.name.clone(),
        DocField::Artifacts => technique.artifacts.join("\n"),
        DocField::Description => technique.description.clone(),
        DocField::Detection => {
            let mut out = String::new();
            for d in &technique.detections {
                out.push_str(&d.name);
                out.push('\n');
                for a in &d.analytics {
                    out.push_str(&a.description);
                    out.push('\n');
                    for l in &a.log_sources {
                        out.push_str(&format!(
                            "{} {} {}\n",
                            l.name,
                            l.channel,
                            l.data_component.as_deref().unwrap_or_default()
                        ));
                    }
                }
            }
            out
        }
        DocField::Procedures => technique
            .procedures
            .iter()
            .map(|p| p.description.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        DocField::Context => {
            let mut parts = catalog.tactic_names(technique);
            parts.extend(technique.platforms.iter().cloned());
            if let Some(parent) = technique.parent.as_deref().and_then(|p| catalog.get(p)) {
                parts.push(parent.name.clone());
            }
            parts.join(", ")
        }
    }
}

/// What a dense passage was taken from, shown as the reason for a semantic match.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ChunkKind {
    Summary,
    Detection,
    Procedure,
}

impl ChunkKind {
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(v: u8) -> Option<ChunkKind> {
        [
            ChunkKind::Summary,
            ChunkKind::Detection,
            ChunkKind::Procedure,
        ]
        .get(v as usize)
        .copied()
    }

    pub fn label(self) -> &'static str {
        match self {
            ChunkKind::Summary => "summary",
            ChunkKind::Detection => "detection analytic",
            ChunkKind::Procedure => "procedure example",
        }
    }
}

/// How many passages of each kind a technique contributes to the dense index.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkPlan {
    pub detections: usize,
    pub procedures: usize,
}

impl Default for ChunkPlan {
    fn default() -> Self {
        ChunkPlan {
            detections: 2,
            procedures: 4,
        }
    }
}

/// The passages embedded for one technique: a summary (name, parent, lead of the
/// description), then a few detection analytics and procedure examples — concrete
/// descriptions of behaviour that read much like alerts do.
pub fn dense_chunks(
    technique: &Technique,
    catalog: &Catalog,
    plan: ChunkPlan,
) -> Vec<(ChunkKind, String)> {
    let parent = technique
        .parent
        .as_deref()
        .and_then(|p| catalog.get(p))
        .map(|p| p.name.as_str());
    let title = match parent {
        Some(p) => format!("{}: {}", p, technique.name),
        None => technique.name.clone(),
    };
    let mut out = vec![(
        ChunkKind::Summary,
        format!("{title}. {}", lead(&technique.description, 2, 320)),
    )];

    let mut analytics: Vec<&str> = technique
        .detections
        .iter()
        .flat_map(|d| d.analytics.iter().map(|a| a.description.as_str()))
        .filter(|d| !d.is_empty())
        .collect();
    analytics.dedup();
    for a in analytics.into_iter().take(plan.detections) {
        out.push((
            ChunkKind::Detection,
            format!("{title}. {}", truncate_words(a, 240)),
        ));
    }

    // Prefer informative procedure examples: long enough to say how, from distinct actors.
    let mut procs: Vec<&str> = technique
        .procedures
        .iter()
        .map(|p| p.description.as_str())
        .filter(|d| d.len() >= 40)
        .collect();
    procs.sort_by_key(|d| std::cmp::Reverse(d.len().min(240)));
    let mut taken: Vec<&str> = Vec::new();
    for p in procs {
        if taken.len() >= plan.procedures {
            break;
        }
        if !taken.iter().any(|t| similar_prefix(t, p)) {
            taken.push(p);
        }
    }
    for p in taken {
        out.push((ChunkKind::Procedure, truncate_words(p, 220)));
    }
    out
}

/// Procedure examples are often near-copies ("X has used cmd.exe to …"); skip those
/// that share the same opening after the actor name.
fn similar_prefix(a: &str, b: &str) -> bool {
    let tail = |s: &str| {
        s.split_once(' ')
            .map_or(s, |(_, r)| r)
            .chars()
            .take(40)
            .collect::<String>()
    };
    tail(a) == tail(b)
}
