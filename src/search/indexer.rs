//! The only code that writes the tantivy index: one writer, used once per ingest.

use std::path::Path;

use tantivy::{Index, IndexWriter, TantivyDocument};

use super::document::field_text;
use super::schema::{self, DocField};
use crate::attack::Catalog;

/// Writer heap; the whole of ATT&CK fits in one segment with room to spare.
const WRITER_HEAP: usize = 64 * 1024 * 1024;

pub fn build(dir: &Path, catalog: &Catalog) -> tantivy::Result<()> {
    std::fs::create_dir_all(dir)?;
    let (schema, fields) = schema::schema();
    let index = Index::create_in_dir(dir, schema)?;
    schema::register(&index);
    let mut writer: IndexWriter = index.writer_with_num_threads(1, WRITER_HEAP)?;
    for t in &catalog.techniques {
        let mut doc = TantivyDocument::default();
        doc.add_text(fields.id, &t.id);
        for f in DocField::ALL {
            doc.add_text(fields.text(f), field_text(t, catalog, f));
        }
        writer.add_document(doc)?;
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(())
}
