//! What is recorded with every triage so it can be audited or replayed later.

use serde::{Deserialize, Serialize};

use crate::search::Hit;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RetrievedTechnique {
    pub id: String,
    pub name: String,
    pub score: f32,
    pub why: Vec<String>,
    #[serde(default)]
    pub tactics: Vec<String>,
}

impl From<&Hit> for RetrievedTechnique {
    fn from(h: &Hit) -> Self {
        RetrievedTechnique {
            id: h.id.clone(),
            name: h.name.clone(),
            score: h.score,
            why: h.why.iter().map(ToString::to_string).collect(),
            tactics: h.tactics.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, utoipa::ToSchema)]
pub struct Provenance {
    pub engine: String,
    pub model: Option<String>,
    /// SHA-256 of the exact prompt (system + messages) sent, or of the offline rule set.
    pub prompt_hash: String,
    pub attack_version: String,
    pub retrieval: Vec<RetrievedTechnique>,
    /// How techniques were retrieved: `hybrid` (BM25 + embeddings) or `bm25-only`.
    #[serde(default)]
    pub retrieval_mode: String,
    /// What ran in a reduced form for this verdict, and why (empty when nothing did).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<String>,
    /// Alert keys of the similar reviewed cases shown to the engine.
    pub similar_cases: Vec<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub tool_version: String,
    /// The user message sent to the model (the system prompt is the embedded one the hash
    /// covers), kept so the analyst can see exactly what left the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The local investigation and intel lookups the engine saw, one line each naming the
    /// lookup (offline intel, IOC history, related alerts, each remote provider call with
    /// its outcome, latency or cache age).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub investigation: Vec<String>,
    /// `pipeline` or `agentic`.
    #[serde(default)]
    pub mode: String,
    /// Every tool the model called: arguments, output (as sent back), timing, cached or live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<super::tools::ToolRecord>,
    /// Model requests made for this verdict (tool turns, the answer, a repair).
    #[serde(default)]
    pub turns: u32,
    /// The evidence check of the model's claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<super::verdict::ClaimCheck>,
    /// The cheaper model that ran first when a tiered run escalated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_from: Option<String>,
}

pub fn sha256_hex(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}
