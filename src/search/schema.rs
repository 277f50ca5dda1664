//! The tantivy schema: one document per technique, one text field per kind of evidence,
//! each with its own weight in BM25.

use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer};

/// The analyzer every text field and every query goes through.
pub const ANALYZER: &str = "soc";

/// The searchable parts of a technique document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocField {
    Name,
    Artifacts,
    Description,
    Detection,
    Procedures,
    Context,
}

impl DocField {
    pub const ALL: [DocField; 6] = [
        DocField::Name,
        DocField::Artifacts,
        DocField::Description,
        DocField::Detection,
        DocField::Procedures,
        DocField::Context,
    ];

    pub fn key(self) -> &'static str {
        match self {
            DocField::Name => "name",
            DocField::Artifacts => "artifacts",
            DocField::Description => "description",
            DocField::Detection => "detection",
            DocField::Procedures => "procedures",
            DocField::Context => "context",
        }
    }

    /// Relative BM25 weight: a query word in the technique's name or among the tools and
    /// commands ATT&CK quotes is stronger evidence than the same word in prose.
    pub fn boost(self) -> f32 {
        match self {
            DocField::Name => 3.0,
            DocField::Artifacts => 1.5,
            DocField::Description => 1.0,
            DocField::Detection => 0.6,
            DocField::Procedures => 0.5,
            DocField::Context => 0.4,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub id: Field,
    text: [Field; 6],
}

impl Fields {
    pub fn text(&self, f: DocField) -> Field {
        self.text[f as usize]
    }
}

pub fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let id = builder.add_text_field("id", STRING | STORED);
    let options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let text = DocField::ALL.map(|f| builder.add_text_field(f.key(), options.clone()));
    (builder.build(), Fields { id, text })
}

pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(Stemmer::new(tantivy::tokenizer::Language::English))
        .build()
}

/// The same analyzer without stemming: the words as the alert wrote them (lower-cased).
pub fn surface_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .build()
}

pub fn register(index: &tantivy::Index) {
    index.tokenizers().register(ANALYZER, analyzer());
}

/// The analysed tokens of `text`, in order.
pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}
