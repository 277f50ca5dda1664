//! Past alerts like this one, with what analysts said about them: the feedback loop that
//! lets earlier verdicts inform new ones (in the prompt and in the offline engine).

use serde::Serialize;

use super::alerts::blob_embedding;
use super::{Store, StoreError, args};
use crate::search::vectors::dot;

/// The tool verdict of a reviewed case whose triage failed.
pub const NO_VERDICT: &str = "NONE";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SimilarCase {
    pub alert_key: String,
    pub title: String,
    pub similarity: f32,
    /// The tool's verdict on it.
    pub verdict: String,
    /// What the analyst settled on: their verdict, or the tool's if they agreed.
    pub analyst_verdict: String,
    pub agreed: bool,
    pub notes: Option<String>,
    /// The host of the reviewed alert, to weigh "same entity" above "similar text".
    pub host: Option<String>,
    /// Who gave the feedback: several analysts agreeing weigh more than one repeating.
    pub analyst: String,
}

impl Store {
    /// The `k` most similar alerts (by embedding) that an analyst has reviewed, most similar
    /// first, ignoring `exclude_key` (the alert itself) and anything below `min_similarity`.
    pub fn similar_reviewed(
        &self,
        embedding: &[f32],
        exclude_key: &str,
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<SimilarCase>, StoreError> {
        let mut out: Vec<SimilarCase> = Vec::new();
        self.db().each(
            "SELECT a.alert_key, a.title, a.embedding, f.verdict, f.thumbs, f.analyst_verdict, f.notes,
                    a.host, f.analyst
             FROM feedback f JOIN triages t ON t.id = f.triage_id JOIN alerts a ON a.id = t.alert_id
             WHERE f.superseded = 0 AND a.embedding IS NOT NULL AND (f.verdict IS NOT NULL OR f.analyst_verdict IS NOT NULL) AND a.alert_key != ?1",
            args![exclude_key],
            |r| {
                let v = blob_embedding(r.blob(2).unwrap_or_default());
                if v.len() != embedding.len() {
                    return Ok(());
                }
                let similarity = dot(&v, embedding);
                if similarity < min_similarity {
                    return Ok(());
                }
                // A failed run has no tool verdict; the analyst's own verdict is the case.
                let verdict: String = r
                    .get::<Option<String>>(3)?
                    .unwrap_or_else(|| NO_VERDICT.to_string());
                let up = r.str(4) == Some("up");
                let (analyst_verdict, agreed) = match r.str(5) {
                    Some(a) => {
                        let agreed = a.eq_ignore_ascii_case(&verdict);
                        (a.to_ascii_uppercase(), agreed)
                    }
                    None if up => (verdict.clone(), true),
                    // Thumbs down with no correction: the analyst disagreed but did not say how.
                    None => ("UNKNOWN".into(), false),
                };
                out.push(SimilarCase {
                    alert_key: r.get(0)?,
                    title: r.get(1)?,
                    similarity,
                    verdict,
                    analyst_verdict,
                    agreed,
                    notes: r.get(6)?,
                    host: r.get(7)?,
                    analyst: r.get(8)?,
                });
                Ok(())
            },
        )?;
        // One entry per alert: several triages of the same alert keep the most similar.
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        out.dedup_by(|a, b| a.alert_key == b.alert_key);
        out.truncate(k);
        Ok(out)
    }
}
