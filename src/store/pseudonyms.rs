//! The pseudonym map: what was replaced before leaving the machine, kept only here.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, now};

impl Store {
    /// Every stored mapping: (kind, value, token).
    pub fn pseudonyms(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT kind, value, token FROM pseudonyms ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores new mappings and returns the token each value finally has: the one already
    /// stored for it (another process learnt it first), the proposed one, or — when another
    /// value took the proposed token — the next free number of its prefix.
    pub fn save_pseudonyms(
        &mut self,
        fresh: &[(String, String, String)],
    ) -> Result<Vec<String>, StoreError> {
        let tx = self.conn_mut().transaction()?;
        let mut out = Vec::with_capacity(fresh.len());
        for (kind, value, token) in fresh {
            let key = value.trim().to_lowercase();
            let stored: Option<String> = tx
                .query_row(
                    "SELECT token FROM pseudonyms WHERE value_key = ?1",
                    [&key],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(t) = stored {
                out.push(t);
                continue;
            }
            let taken: bool = tx
                .query_row("SELECT 1 FROM pseudonyms WHERE token = ?1", [token], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
            let token = if taken {
                let prefix = token.rsplit_once('_').map_or(token.as_str(), |(p, _)| p);
                let max: i64 = tx.query_row(
                    "SELECT COALESCE(MAX(CAST(substr(token, length(?1) + 2) AS INTEGER)), 0)
                     FROM pseudonyms WHERE token LIKE ?1 || '\\_%' ESCAPE '\\'",
                    [prefix],
                    |r| r.get(0),
                )?;
                format!("{prefix}_{}", max + 1)
            } else {
                token.clone()
            };
            tx.execute(
                "INSERT INTO pseudonyms (value_key, kind, token, value, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key, kind, token, value.trim(), now()],
            )?;
            out.push(token);
        }
        tx.commit()?;
        Ok(out)
    }
}
