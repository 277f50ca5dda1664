//! BM25 over the technique documents, with the evidence for each hit: which query words
//! matched which fields.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, DocSet, Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use super::query::Segment;
use super::schema::{self, DocField, Fields};

/// Words that say nothing about which technique an alert is: English function words and
/// the boilerplate of detection-rule prose ("detects suspicious…").
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "for",
    "with",
    "by",
    "from",
    "is",
    "are",
    "be",
    "this",
    "that",
    "it",
    "as",
    "at",
    "which",
    "its",
    "was",
    "were",
    "has",
    "have",
    "not",
    "can",
    "will",
    "such",
    "into",
    "other",
    "these",
    "those",
    "than",
    "then",
    "there",
    "if",
    "when",
    "also",
    "any",
    "all",
    "some",
    "e",
    "g",
    "etc",
    "been",
    "being",
    "but",
    "do",
    "does",
    "via",
    "using",
    "use",
    "used",
    "may",
    "could",
    "might",
    "detect",
    "detects",
    "detected",
    "detection",
    "suspicious",
    "potential",
    "potentially",
    "possible",
    "possibly",
    "attempt",
    "attempts",
    "rule",
    "alert",
    "indicate",
    "indicates",
    "indicator",
    "activity",
    "malicious",
    "observed",
    "c",
    "exe",
    "windows",
    "system32",
    "program",
    "files",
    "true",
    "false",
    "null",
    "1",
    "0",
];

/// Most distinct words one query keeps; long command lines otherwise swamp the rest.
const MAX_TERMS: usize = 96;

pub struct Bm25 {
    reader: IndexReader,
    fields: Fields,
    analyzer: tantivy::tokenizer::TextAnalyzer,
    stop: HashSet<String>,
}

/// One analysed query word with its weight and the form the alert wrote it in.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryTerm {
    pub stem: String,
    pub surface: String,
    pub weight: f32,
    sum: f32,
}

/// A BM25 hit: the technique's id and its score, and where to find it again for evidence.
#[derive(Debug, Clone)]
pub struct Bm25Hit {
    pub id: String,
    pub score: f32,
    address: DocAddress,
}

impl Bm25 {
    pub fn open(dir: &Path) -> tantivy::Result<Bm25> {
        let index = Index::open_in_dir(dir)?;
        schema::register(&index);
        let (_, fields) = schema::schema();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let mut analyzer = schema::analyzer();
        let stop = STOPWORDS
            .iter()
            .flat_map(|w| schema::tokens(&mut analyzer, w))
            .collect();
        Ok(Bm25 {
            reader,
            fields,
            analyzer,
            stop,
        })
    }

    /// Every segment file's checksum and the document count: the problems found, empty
    /// when the index is sound.
    pub fn verify(dir: &Path) -> Vec<String> {
        let index = match Index::open_in_dir(dir) {
            Ok(i) => i,
            Err(e) => return vec![format!("the full-text index cannot be opened: {e}")],
        };
        let mut problems = Vec::new();
        match index.validate_checksum() {
            Ok(bad) => {
                for f in bad {
                    problems.push(format!(
                        "full-text index file {} is damaged (checksum mismatch)",
                        f.display()
                    ));
                }
            }
            Err(e) => problems.push(format!("the full-text index cannot be checked: {e}")),
        }
        match index.reader() {
            Ok(r) if r.searcher().num_docs() == 0 => {
                problems.push("the full-text index holds no documents".into())
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("the full-text index cannot be read: {e}")),
        }
        problems
    }

    /// Weighted, analysed query words: a word's weight is its strongest source plus a
    /// little for each further source that repeats it.
    pub fn weighted_terms(&self, segments: &[Segment]) -> Vec<QueryTerm> {
        let mut analyzer = self.analyzer.clone();
        let mut plain = schema::surface_analyzer();
        let mut acc: HashMap<String, QueryTerm> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for seg in segments {
            let mut seen = HashSet::new();
            let stems = schema::tokens(&mut analyzer, &seg.text);
            // Both analyzers split and drop identically; only the stemming differs.
            let words = schema::tokens(&mut plain, &seg.text);
            for (i, stem) in stems.into_iter().enumerate() {
                if self.stop.contains(&stem) || stem.len() < 2 || !seen.insert(stem.clone()) {
                    continue;
                }
                let e = acc.entry(stem.clone()).or_insert_with(|| {
                    order.push(stem.clone());
                    QueryTerm {
                        surface: words.get(i).cloned().unwrap_or_else(|| stem.clone()),
                        stem,
                        weight: 0.0,
                        sum: 0.0,
                    }
                });
                e.weight = e.weight.max(seg.weight);
                e.sum += seg.weight;
            }
        }
        let mut terms: Vec<QueryTerm> = order
            .into_iter()
            .filter_map(|t| acc.remove(&t))
            .map(|mut t| {
                t.weight = (t.weight + 0.25 * (t.sum - t.weight)).min(3.0);
                t
            })
            .collect();
        // Keep the strongest words; the stable sort keeps earlier words first among equals.
        terms.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        terms.truncate(MAX_TERMS);
        terms
    }

    pub fn search(&self, terms: &[QueryTerm], limit: usize) -> tantivy::Result<Vec<Bm25Hit>> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            Vec::with_capacity(terms.len() * DocField::ALL.len());
        for t in terms {
            let (term, weight) = (&t.stem, t.weight);
            for f in DocField::ALL {
                let q = TermQuery::new(
                    Term::from_field_text(self.fields.text(f), term),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(q), weight * f.boost())),
                ));
            }
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &tantivy::collector::TopDocs::with_limit(limit))?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let id = doc
                .get_first(self.fields.id)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            hits.push(Bm25Hit { id, score, address });
        }
        Ok(hits)
    }

    /// For each hit, the query words found in each of its fields (field order, then query
    /// order), found through the postings lists.
    pub fn matched_terms(
        &self,
        hits: &[&Bm25Hit],
        terms: &[QueryTerm],
    ) -> tantivy::Result<Vec<BTreeMap<DocField, Vec<String>>>> {
        let searcher = self.reader.searcher();
        let mut out = vec![BTreeMap::new(); hits.len()];
        for f in DocField::ALL {
            let field = self.fields.text(f);
            for qt in terms {
                let t = Term::from_field_text(field, &qt.stem);
                for (seg_ord, segment) in searcher.segment_readers().iter().enumerate() {
                    let mut targets: Vec<(u32, usize)> = hits
                        .iter()
                        .enumerate()
                        .filter(|(_, h)| h.address.segment_ord as usize == seg_ord)
                        .map(|(i, h)| (h.address.doc_id, i))
                        .collect();
                    if targets.is_empty() {
                        continue;
                    }
                    targets.sort_unstable();
                    let inverted = segment.inverted_index(field)?;
                    let Some(mut postings) =
                        inverted.read_postings(&t, IndexRecordOption::Basic)?
                    else {
                        continue;
                    };
                    for (doc, i) in targets {
                        if postings.doc() <= doc && postings.seek(doc) == doc {
                            out[i]
                                .entry(f)
                                .or_insert_with(Vec::new)
                                .push(qt.surface.clone());
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}
