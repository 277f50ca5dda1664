//! Store connections reused across requests and runs (opening one runs the migration check).
//! A `Store` is `Send` but not `Sync`; each caller borrows one for a blocking step.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Store, StoreError};

pub struct StorePool {
    dir: PathBuf,
    /// A team database named for this pool alone (tests, tools); otherwise the process's
    /// choice (`use_database`) or the data directory's file.
    url: Option<String>,
    idle: Mutex<Vec<Store>>,
}

/// A borrowed connection; it goes back to the pool when dropped.
pub struct Pooled<'a> {
    pool: &'a StorePool,
    store: Option<Store>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        // Present from creation until drop.
        #[allow(clippy::expect_used)]
        self.store.as_ref().expect("pooled store")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        #[allow(clippy::expect_used)]
        self.store.as_mut().expect("pooled store")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let (Some(s), Ok(mut idle)) = (self.store.take(), self.pool.idle.lock()) {
            idle.push(s);
        }
    }
}

impl StorePool {
    pub fn new(dir: PathBuf) -> StorePool {
        StorePool {
            dir,
            url: None,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A pool on the PostgreSQL database at `url`; `dir` still holds the index and logs.
    pub fn team(dir: PathBuf, url: &str) -> StorePool {
        StorePool {
            dir,
            url: Some(url.to_string()),
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let reused = self
            .idle
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .filter(|s| !s.db().is_closed());
        let store = match reused {
            Some(s) => s,
            None => match &self.url {
                Some(url) => Store::connect(url)?,
                None => Store::open_in(&self.dir)?,
            },
        };
        Ok(Pooled {
            pool: self,
            store: Some(store),
        })
    }
}
