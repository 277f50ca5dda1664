//! The pseudonym map: what was replaced before leaving the machine, kept only here.

use super::{Store, StoreError, args, now};

impl Store {
    /// Every stored mapping: (kind, value, token).
    pub fn pseudonyms(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.db()
            .query(
                "SELECT kind, value, token FROM pseudonyms ORDER BY rowid",
                args![],
            )?
            .iter()
            .map(|r| Ok::<_, StoreError>((r.get(0)?, r.get(1)?, r.get(2)?)))
            .collect()
    }

    /// Stores new mappings and returns the token each value finally has: the one already
    /// stored for it (another process learnt it first), the proposed one, or — when another
    /// value took the proposed token — the next free number of its prefix.
    pub fn save_pseudonyms(
        &mut self,
        fresh: &[(String, String, String)],
    ) -> Result<Vec<String>, StoreError> {
        let db = self.db();
        db.transaction(false, || {
            let mut out = Vec::with_capacity(fresh.len());
            for (kind, value, token) in fresh {
                let key = value.trim().to_lowercase();
                let stored: Option<String> = db
                    .query_opt(
                        "SELECT token FROM pseudonyms WHERE value_key = ?1",
                        args![key],
                    )?
                    .map(|r| r.get(0))
                    .transpose()?;
                if let Some(t) = stored {
                    out.push(t);
                    continue;
                }
                let taken = db
                    .query_opt("SELECT 1 FROM pseudonyms WHERE token = ?1", args![token])?
                    .is_some();
                let token = if taken {
                    let prefix = token.rsplit_once('_').map_or(token.as_str(), |(p, _)| p);
                    let max: i64 = db
                        .query_one(
                            "SELECT COALESCE(MAX(CAST(substr(token, length(?1) + 2) AS BIGINT)), 0)
                     FROM pseudonyms WHERE token LIKE ?1 || '\\_%' ESCAPE '\\'",
                            args![prefix],
                        )?
                        .get(0)?;
                    format!("{prefix}_{}", max + 1)
                } else {
                    token.clone()
                };
                db.execute(
                    "INSERT INTO pseudonyms (value_key, kind, token, value, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    args![key, kind, token, value.trim(), now()],
                )?;
                out.push(token);
            }
            Ok(out)
        })
    }
}
