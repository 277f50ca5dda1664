//! Retrieval: the ATT&CK knowledge base as a hybrid BM25 + dense index.

pub mod document;
pub mod embed;
pub mod fuse;
pub mod indexer;
pub mod ingest;
pub mod kb;
pub mod query;
pub mod schema;
pub mod searcher;
pub mod slot;
pub mod vectors;

pub use kb::{Hit, KnowledgeBase, Mode, SearchParams, Why};
pub use query::build as build_query;
pub use slot::KbSlot;
