//! Team mode in the store: the intake work queue shared by API replicas (leases), the
//! alerts analysts hold (claims, takeovers recorded), and the change feed other consoles
//! follow (events; on PostgreSQL each one is also announced with `NOTIFY soc_events`).
//!
//! The same statements run on both backends: PostgreSQL locks the rows it hands out
//! (`FOR UPDATE SKIP LOCKED`, so replicas never wait on one another's picks), SQLite takes
//! the write lock for the whole pick (`BEGIN IMMEDIATE`), which serialises them the same way.

use serde::Serialize;

use super::db::{Dialect, Row};
use super::{Store, StoreError, args, now};

/// How long an intake lease lasts unless renewed; a replica renews its leases well before.
pub const LEASE_SECS: i64 = 30;

/// Why a run was closed when its lease ran out and another process took the alert.
pub const LEASE_LOST: &str =
    "abandoned: the process running it stopped renewing its lease; another process took the alert";

/// An RFC 3339 time `secs` from now, in the store's format (text comparisons order it).
pub fn after(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Who holds an alert.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Claim {
    pub analyst: String,
    pub at: String,
}

/// What asking for an alert did.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// Now held by the asker (it was free, or already theirs).
    Held,
    /// Another analyst holds it; nothing changed.
    HeldBy(Claim),
    /// Taken over from this analyst (recorded).
    TookOver(Claim),
}

/// One line of an alert's claim history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimLogEntry {
    pub analyst: String,
    /// `claim`, `takeover` or `release`.
    pub action: String,
    /// Whom a takeover took it from.
    pub previous: Option<String>,
    pub at: String,
}

/// One change other consoles show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: i64,
    /// `alert`, `triage`, `feedback`, `note`, `claim`, `takeover`, `release`.
    pub kind: String,
    pub alert_row: Option<i64>,
    pub triage_id: Option<String>,
    pub analyst: Option<String>,
    pub at: String,
}

impl Store {
    /// Records a change for the other consoles (and, on PostgreSQL, announces it).
    pub fn record_event(
        &self,
        kind: &str,
        alert_row: Option<i64>,
        triage_id: Option<&str>,
        analyst: Option<&str>,
    ) -> Result<i64, StoreError> {
        self.db()
            .query_one(
                "INSERT INTO events (kind, alert_id, triage_id, analyst, at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                args![kind, alert_row, triage_id, analyst, now()],
            )?
            .get(0)
    }

    /// Changes after event `after`, oldest first, at most `limit`.
    pub fn events_since(&self, after: i64, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.db()
            .query(
                "SELECT id, kind, alert_id, triage_id, analyst, at FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
                args![after, limit as i64],
            )?
            .iter()
            .map(|r| {
                Ok(Event {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    alert_row: r.get(2)?,
                    triage_id: r.get(3)?,
                    analyst: r.get(4)?,
                    at: r.get(5)?,
                })
            })
            .collect()
    }

    /// The newest event's id (0 when none): where a console starts following.
    pub fn last_event(&self) -> Result<i64, StoreError> {
        self.db()
            .query_one("SELECT COALESCE(MAX(id), 0) FROM events", args![])?
            .get(0)
    }

    /// Leases up to `n` intake alerts to `worker` for `LEASE_SECS`: queued ones nobody holds
    /// (or whose holder's lease ran out), oldest first; `key` narrows it to one alert. An
    /// alert that already has a complete triage is marked done instead (its worker stopped
    /// between recording the verdict and closing the intake), and a run left `running` by a
    /// holder whose lease ran out is closed as abandoned. Returns the leased alerts' rows.
    pub fn lease_intake(
        &mut self,
        worker: &str,
        key: Option<&str>,
        n: usize,
    ) -> Result<Vec<i64>, StoreError> {
        self.lease_intake_for(worker, key, n, LEASE_SECS)
    }

    /// `lease_intake` with a lease of `secs` seconds.
    pub fn lease_intake_for(
        &mut self,
        worker: &str,
        key: Option<&str>,
        n: usize,
        secs: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let db = self.db();
        let lock = match db.dialect() {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let pick = format!(
            "SELECT id FROM alerts WHERE intake = 'queued' AND (CAST(?3 AS TEXT) IS NULL OR alert_key = ?3)
               AND (lease_until IS NULL OR lease_until < ?1)
             ORDER BY id LIMIT ?2{lock}"
        );
        db.transaction(true, || {
            let at = now();
            let rows: Vec<i64> = db
                .query(&pick, args![at, n as i64, key])?
                .iter()
                .map(|r| r.get(0))
                .collect::<Result<_, _>>()?;
            let until = after(secs);
            let mut leased = Vec::with_capacity(rows.len());
            for row in rows {
                let done: bool = db
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM triages WHERE alert_id = ?1 AND status = 'complete')",
                        args![row],
                    )?
                    .get(0)?;
                if done {
                    db.execute(
                        "UPDATE alerts SET intake = 'done', lease_until = NULL WHERE id = ?1",
                        args![row],
                    )?;
                    continue;
                }
                db.execute(
                    "UPDATE triages SET status = 'abandoned', error = ?2, finished_at = ?3
                     WHERE alert_id = ?1 AND status = 'running'",
                    args![row, LEASE_LOST, at],
                )?;
                db.execute(
                    "UPDATE alerts SET claimed_by = ?2, lease_until = ?3 WHERE id = ?1",
                    args![row, worker, until],
                )?;
                leased.push(row);
            }
            Ok(leased)
        })
    }

    /// Extends every lease `worker` holds; returns how many.
    pub fn renew_leases(&mut self, worker: &str) -> Result<usize, StoreError> {
        self.db().execute(
            "UPDATE alerts SET lease_until = ?2 WHERE claimed_by = ?1 AND intake = 'queued'",
            args![worker, after(LEASE_SECS)],
        )
    }

    /// Gives back the leases `worker` holds on alerts it did not finish (a clean stop), so
    /// another replica takes them at once; returns how many.
    pub fn release_leases(&mut self, worker: &str) -> Result<usize, StoreError> {
        self.db().execute(
            "UPDATE alerts SET lease_until = NULL WHERE claimed_by = ?1 AND intake = 'queued'",
            args![worker],
        )
    }

    /// Takes a team-wide lock named by `key` if it is free (PostgreSQL advisory lock, held by
    /// this connection until `unlock`); `false` when another process holds it. SQLite has no
    /// such lock: always `true` (its writers queue on the file instead).
    pub fn try_lock(&self, key: i64) -> Result<bool, StoreError> {
        match self.db().dialect() {
            Dialect::Postgres => self
                .db()
                .query_one("SELECT pg_try_advisory_lock(?1)", args![key])?
                .get(0),
            Dialect::Sqlite => Ok(true),
        }
    }

    pub fn unlock(&self, key: i64) -> Result<(), StoreError> {
        if self.db().dialect() == Dialect::Postgres {
            self.db()
                .query_one("SELECT pg_advisory_unlock(?1)", args![key])?;
        }
        Ok(())
    }

    /// Intake alerts still waiting for a worker (queued, no live lease).
    pub fn intake_waiting(&self) -> Result<i64, StoreError> {
        self.db()
            .query_one(
                "SELECT COUNT(*) FROM alerts WHERE intake = 'queued' AND (lease_until IS NULL OR lease_until < ?1)",
                args![now()],
            )?
            .get(0)
    }

    /// Who holds an alert, if anyone.
    pub fn claim_of(&self, alert_row: i64) -> Result<Option<Claim>, StoreError> {
        self.db()
            .query_opt(
                "SELECT analyst, at FROM alert_claims WHERE alert_id = ?1",
                args![alert_row],
            )?
            .map(|r| claim(&r))
            .transpose()
    }

    /// Every held alert: (row, claim).
    pub fn claims(&self) -> Result<Vec<(i64, Claim)>, StoreError> {
        self.db()
            .query(
                "SELECT alert_id, analyst, at FROM alert_claims ORDER BY alert_id",
                args![],
            )?
            .iter()
            .map(|r| {
                Ok((
                    r.get(0)?,
                    Claim {
                        analyst: r.get(1)?,
                        at: r.get(2)?,
                    },
                ))
            })
            .collect()
    }

    /// `analyst` asks for an alert: held when free or theirs; with `takeover`, taken from
    /// whoever holds it (recorded in the claim log with the previous holder).
    pub fn claim_alert(
        &mut self,
        alert_row: i64,
        analyst: &str,
        takeover: bool,
    ) -> Result<ClaimOutcome, StoreError> {
        let db = self.db();
        db.transaction(true, || {
            let at = now();
            let held = db
                .query_opt(
                    "SELECT analyst, at FROM alert_claims WHERE alert_id = ?1",
                    args![alert_row],
                )?
                .map(|r| claim(&r))
                .transpose()?;
            match held {
                Some(c) if c.analyst == analyst => Ok(ClaimOutcome::Held),
                Some(c) if !takeover => Ok(ClaimOutcome::HeldBy(c)),
                Some(c) => {
                    db.execute(
                        "UPDATE alert_claims SET analyst = ?2, at = ?3 WHERE alert_id = ?1",
                        args![alert_row, analyst, at],
                    )?;
                    db.execute(
                        "INSERT INTO claim_log (alert_id, analyst, action, previous, at) VALUES (?1, ?2, 'takeover', ?3, ?4)",
                        args![alert_row, analyst, c.analyst, at],
                    )?;
                    self.record_event("takeover", Some(alert_row), None, Some(analyst))?;
                    Ok(ClaimOutcome::TookOver(c))
                }
                None => {
                    db.execute(
                        "INSERT INTO alert_claims (alert_id, analyst, at) VALUES (?1, ?2, ?3)",
                        args![alert_row, analyst, at],
                    )?;
                    db.execute(
                        "INSERT INTO claim_log (alert_id, analyst, action, at) VALUES (?1, ?2, 'claim', ?3)",
                        args![alert_row, analyst, at],
                    )?;
                    self.record_event("claim", Some(alert_row), None, Some(analyst))?;
                    Ok(ClaimOutcome::Held)
                }
            }
        })
    }

    /// Lets go of an alert `analyst` holds; `false` when they did not hold it.
    pub fn release_claim(&mut self, alert_row: i64, analyst: &str) -> Result<bool, StoreError> {
        let db = self.db();
        db.transaction(false, || {
            let n = db.execute(
                "DELETE FROM alert_claims WHERE alert_id = ?1 AND analyst = ?2",
                args![alert_row, analyst],
            )?;
            if n == 1 {
                db.execute(
                    "INSERT INTO claim_log (alert_id, analyst, action, at) VALUES (?1, ?2, 'release', ?3)",
                    args![alert_row, analyst, now()],
                )?;
                self.record_event("release", Some(alert_row), None, Some(analyst))?;
            }
            Ok(n == 1)
        })
    }

    /// Everything `analyst` holds is let go (their console closes); returns how many.
    pub fn release_all_claims(&mut self, analyst: &str) -> Result<usize, StoreError> {
        let rows: Vec<i64> = self
            .db()
            .query(
                "SELECT alert_id FROM alert_claims WHERE analyst = ?1",
                args![analyst],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect::<Result<_, _>>()?;
        let mut n = 0;
        for row in rows {
            n += usize::from(self.release_claim(row, analyst)?);
        }
        Ok(n)
    }

    /// The claim history of an alert, oldest first.
    pub fn claim_history(&self, alert_row: i64) -> Result<Vec<ClaimLogEntry>, StoreError> {
        self.db()
            .query(
                "SELECT analyst, action, previous, at FROM claim_log WHERE alert_id = ?1 ORDER BY id",
                args![alert_row],
            )?
            .iter()
            .map(|r| {
                Ok(ClaimLogEntry {
                    analyst: r.get(0)?,
                    action: r.get(1)?,
                    previous: r.get(2)?,
                    at: r.get(3)?,
                })
            })
            .collect()
    }

    /// Refuses a judgement of an alert another analyst holds.
    pub fn check_not_held_by_other(&self, alert_row: i64, analyst: &str) -> Result<(), StoreError> {
        match self.claim_of(alert_row)? {
            Some(c) if c.analyst != analyst => Err(StoreError::HeldBy {
                analyst: c.analyst,
                since: c.at,
            }),
            _ => Ok(()),
        }
    }
}

fn claim(r: &Row) -> Result<Claim, StoreError> {
    Ok(Claim {
        analyst: r.get(0)?,
        at: r.get(1)?,
    })
}
