//! The dense side of the index: one normalised vector per technique passage, stored in a
//! small binary file beside the tantivy index. Each row carries a key (a hash of the model
//! id and the passage text) so a re-ingest can reuse vectors it has already computed.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::document::ChunkKind;

const MAGIC: &[u8; 8] = b"SOCVEC01";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Position of the technique in the catalog.
    pub technique: u32,
    pub kind: ChunkKind,
    pub key: [u8; 16],
}

#[derive(Debug, Clone, Default)]
pub struct VectorStore {
    pub dim: usize,
    pub rows: Vec<Row>,
    data: Vec<f32>,
}

pub fn passage_key(model_id: &str, text: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(model_id.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    let digest = h.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

impl VectorStore {
    pub fn new(dim: usize) -> Self {
        VectorStore {
            dim,
            rows: Vec::new(),
            data: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Row, vector: &[f32]) {
        debug_assert_eq!(vector.len(), self.dim);
        self.rows.push(row);
        self.data.extend_from_slice(vector);
    }

    pub fn vector(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Vectors by key, for reuse at re-ingest.
    pub fn by_key(&self) -> HashMap<[u8; 16], &[f32]> {
        self.rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key, self.vector(i)))
            .collect()
    }

    /// Dot products of `query` with every row (vectors are normalised, so cosine).
    pub fn similarities(&self, query: &[f32]) -> Vec<f32> {
        self.data
            .chunks_exact(self.dim)
            .map(|v| dot(v, query))
            .collect()
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut w = BufWriter::new(std::fs::File::create(path)?);
        w.write_all(MAGIC)?;
        w.write_all(&(self.dim as u32).to_le_bytes())?;
        w.write_all(&(self.rows.len() as u32).to_le_bytes())?;
        for (i, r) in self.rows.iter().enumerate() {
            w.write_all(&r.technique.to_le_bytes())?;
            w.write_all(&[r.kind.as_u8()])?;
            w.write_all(&r.key)?;
            for x in self.vector(i) {
                w.write_all(&x.to_le_bytes())?;
            }
        }
        w.flush()
    }

    pub fn load(path: &Path) -> std::io::Result<VectorStore> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let mut r = BufReader::new(std::fs::File::open(path)?);
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(bad("not a soc-copilot vector file"));
        }
        let dim = read_u32(&mut r)? as usize;
        let count = read_u32(&mut r)? as usize;
        if dim == 0 || dim > 8192 || count > 10_000_000 {
            return Err(bad("implausible vector file header"));
        }
        let mut store = VectorStore::new(dim);
        store.rows.reserve(count);
        store.data.reserve(count * dim);
        let mut buf = vec![0u8; dim * 4];
        for _ in 0..count {
            let technique = read_u32(&mut r)?;
            let mut kind = [0u8; 1];
            r.read_exact(&mut kind)?;
            let kind = ChunkKind::from_u8(kind[0]).ok_or_else(|| bad("unknown passage kind"))?;
            let mut key = [0u8; 16];
            r.read_exact(&mut key)?;
            r.read_exact(&mut buf)?;
            store.rows.push(Row {
                technique,
                kind,
                key,
            });
            store.data.extend(
                buf.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
        Ok(store)
    }
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v.bin");
        let mut s = VectorStore::new(3);
        s.push(
            Row {
                technique: 7,
                kind: ChunkKind::Procedure,
                key: passage_key("m", "a"),
            },
            &[1.0, 0.0, 0.0],
        );
        s.push(
            Row {
                technique: 2,
                kind: ChunkKind::Summary,
                key: passage_key("m", "b"),
            },
            &[0.0, 0.6, 0.8],
        );
        s.save(&path).expect("save");
        let l = VectorStore::load(&path).expect("load");
        assert_eq!(l.rows, s.rows);
        assert_eq!(l.vector(1), &[0.0, 0.6, 0.8]);
        let sims = l.similarities(&[0.0, 1.0, 0.0]);
        assert!((sims[1] - 0.6).abs() < 1e-6);
    }

    #[test]
    fn truncated_file_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v.bin");
        std::fs::write(&path, b"SOCVEC01\x03\0\0\0\x05\0\0\0").expect("write");
        assert!(VectorStore::load(&path).is_err());
    }

    #[test]
    fn keys_depend_on_model_and_text() {
        assert_ne!(passage_key("m1", "x"), passage_key("m2", "x"));
        assert_eq!(passage_key("m1", "x"), passage_key("m1", "x"));
    }
}
