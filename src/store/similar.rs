//! Past alerts like this one, with what analysts said about them: the feedback loop that
//! lets earlier verdicts inform new ones (in the prompt and in the offline engine).

use serde::Serialize;

use super::alerts::blob_embedding;
use super::db::Row;
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
    /// A store with few reviewed alerts is scanned whole; a larger one asks the approximate
    /// index (`precedent`) for candidates and scores those exactly.
    pub fn similar_reviewed(
        &self,
        embedding: &[f32],
        exclude_key: &str,
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<SimilarCase>, StoreError> {
        match super::precedent::candidates(self, embedding, k)? {
            Some(rows) => self.similar_among(&rows, embedding, exclude_key, k, min_similarity),
            None => self.similar_reviewed_exact(embedding, exclude_key, k, min_similarity),
        }
    }

    /// `similar_reviewed` by scanning every reviewed alert's vector.
    pub fn similar_reviewed_exact(
        &self,
        embedding: &[f32],
        exclude_key: &str,
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<SimilarCase>, StoreError> {
        let mut out: Vec<SimilarCase> = Vec::new();
        self.db().each(
            &format!("{CASES} AND a.alert_key != ?1"),
            args![exclude_key],
            |r| {
                if let Some(c) = case(r, embedding, min_similarity)? {
                    out.push(c);
                }
                Ok(())
            },
        )?;
        Ok(best(out, k))
    }

    /// Scores the reviewed cases among alert `rows` (an index's candidates).
    fn similar_among(
        &self,
        rows: &[i64],
        embedding: &[f32],
        exclude_key: &str,
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<SimilarCase>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // A fixed number of parameters (the list padded with its last row) keeps one
        // prepared statement.
        let n = rows.len().next_power_of_two().max(8);
        let sql = format!(
            "{CASES} AND a.alert_key != ?1 AND a.id IN ({})",
            super::db::placeholders(2, n)
        );
        let mut params = vec![super::db::Value::Text(exclude_key.to_string())];
        params.extend((0..n).map(|i| super::db::Value::Int(rows[i.min(rows.len() - 1)])));
        let mut out = Vec::new();
        self.db().each(&sql, &params, |r| {
            if let Some(c) = case(r, embedding, min_similarity)? {
                out.push(c);
            }
            Ok(())
        })?;
        Ok(best(out, k))
    }
}

const CASES: &str = "SELECT a.alert_key, a.title, a.embedding, f.verdict, f.thumbs, f.analyst_verdict, f.notes,
        a.host, f.analyst
 FROM feedback f JOIN triages t ON t.id = f.triage_id JOIN alerts a ON a.id = t.alert_id
 WHERE f.superseded = 0 AND a.embedding IS NOT NULL AND (f.verdict IS NOT NULL OR f.analyst_verdict IS NOT NULL)";

/// One reviewed case from a `CASES` row, if it is similar enough.
fn case(
    r: &Row,
    embedding: &[f32],
    min_similarity: f32,
) -> Result<Option<SimilarCase>, StoreError> {
    let v = blob_embedding(r.blob(2).unwrap_or_default());
    if v.len() != embedding.len() {
        return Ok(None);
    }
    let similarity = dot(&v, embedding);
    if similarity < min_similarity {
        return Ok(None);
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
    Ok(Some(SimilarCase {
        alert_key: r.get(0)?,
        title: r.get(1)?,
        similarity,
        verdict,
        analyst_verdict,
        agreed,
        notes: r.get(6)?,
        host: r.get(7)?,
        analyst: r.get(8)?,
    }))
}

/// The `k` most similar, one entry per alert (several triages of the same alert keep the
/// most similar).
fn best(mut out: Vec<SimilarCase>, k: usize) -> Vec<SimilarCase> {
    out.sort_by(|a, b| {
        b.similarity
            .total_cmp(&a.similarity)
            .then_with(|| a.alert_key.cmp(&b.alert_key))
    });
    out.dedup_by(|a, b| a.alert_key == b.alert_key);
    out.truncate(k);
    out
}
