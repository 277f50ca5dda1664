//! Following the change feed: what other analysts and replicas record, as it happens. On
//! PostgreSQL a dedicated connection `LISTEN`s on `soc_events` and wakes at once; on SQLite
//! the feed is polled. Either way the events themselves are read from the store after a
//! watermark, so nothing is missed across a reconnect or a burst (a notification only says
//! "look now").

use std::time::{Duration, Instant};

use super::team::Event;
use super::{Store, StoreError, database_url, is_postgres_url, redact};

/// How often SQLite is polled (and PostgreSQL looked at even without a notification).
pub const POLL: Duration = Duration::from_millis(500);

pub struct Follower {
    store: Store,
    listener: Option<postgres::Client>,
    url: Option<String>,
    /// Events up to this id were handed out.
    pub watermark: i64,
}

impl Follower {
    /// Follows the store at `store`'s location from its newest event on (`since`: from that
    /// id on instead).
    pub fn new(store: Store, since: Option<i64>) -> Result<Follower, StoreError> {
        let watermark = match since {
            Some(s) => s,
            None => store.last_event()?,
        };
        let url = match store.dialect() {
            super::Dialect::Postgres => database_url().map(str::to_string),
            super::Dialect::Sqlite => None,
        };
        let mut f = Follower {
            store,
            listener: None,
            url,
            watermark,
        };
        f.listen();
        Ok(f)
    }

    /// Follows the team database at `url` (tests, tools that name it).
    pub fn team(url: &str, since: Option<i64>) -> Result<Follower, StoreError> {
        let mut f = Follower::new(Store::connect(url)?, since)?;
        f.url = Some(url.to_string());
        f.listen();
        Ok(f)
    }

    fn listen(&mut self) {
        let Some(url) = self.url.as_deref().filter(|u| is_postgres_url(u)) else {
            return;
        };
        let connected = postgres::Client::connect(url, postgres::NoTls)
            .and_then(|mut c| c.batch_execute("LISTEN soc_events").map(|()| c));
        match connected {
            Ok(c) => self.listener = Some(c),
            Err(e) => tracing::warn!(
                "cannot listen on {} ({e}); polling the event feed instead",
                redact(url)
            ),
        }
    }

    /// Waits up to `timeout` for new events and returns them (empty when none came).
    pub fn next(&mut self, timeout: Duration) -> Result<Vec<Event>, StoreError> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = match self.store.events_since(self.watermark, 500) {
                Ok(got) => got,
                Err(e) => {
                    // The server went away (a restart, a failover): the next call starts
                    // over on a new connection, from the same watermark.
                    self.reconnect();
                    return Err(e);
                }
            };
            if let Some(last) = got.last() {
                self.watermark = last.id;
                return Ok(got);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Vec::new());
            }
            self.wait(left.min(POLL));
        }
    }

    /// Opens a new connection when the old one is closed (PostgreSQL).
    fn reconnect(&mut self) {
        let Some(url) = self.url.clone().filter(|_| self.store.db().is_closed()) else {
            return;
        };
        match Store::connect(&url) {
            Ok(store) => {
                self.store = store;
                self.listener = None;
                self.listen();
            }
            Err(e) => tracing::warn!("the event feed cannot reconnect yet: {e}"),
        }
    }

    /// Sleeps until a notification arrives or `up_to` passes.
    fn wait(&mut self, up_to: Duration) {
        use postgres::fallible_iterator::FallibleIterator;
        let Some(listener) = self.listener.as_mut() else {
            std::thread::sleep(up_to);
            return;
        };
        let failed = {
            let mut notes = listener.notifications();
            let first = notes.timeout_iter(up_to).next();
            match first {
                Ok(_) => {
                    // Drain what else is pending: one read of the feed covers them all.
                    while let Ok(Some(_)) = notes.iter().next() {}
                    None
                }
                Err(e) => Some(e),
            }
        };
        if let Some(e) = failed {
            tracing::warn!("the event listener dropped ({e}); reconnecting");
            self.listener = None;
            std::thread::sleep(up_to);
            self.listen();
        }
    }
}
