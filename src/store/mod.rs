//! The store: the source of truth for alerts, triages, chat and analyst feedback. SQLite in
//! the data directory by default (WAL mode and a busy timeout let the console and the server
//! write at the same time); a PostgreSQL team database when one is chosen (`use_database`).

pub mod accuracy;
pub mod alerts;
pub mod chats;
pub mod closures;
pub mod copy;
pub mod db;
pub mod exports;
pub mod feedback;
pub mod follow;
pub mod incidents;
pub mod intake;
pub mod iocs;
pub mod notes;
pub mod owner;
pub mod pool;
pub mod precedent;
pub mod pseudonyms;
pub mod similar;
pub mod team;
pub mod triages;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use rusqlite::Connection;

use db::Db;
pub use db::Dialect;
pub(crate) use db::args;

pub use accuracy::Accuracy;
pub use alerts::StoredAlert;
pub use feedback::{Feedback, Thumbs};
pub use pool::{Pooled, StorePool};
pub use triages::{NewTriage, TriageRecord, TriageStatus};

pub const DB_FILE: &str = "soc-copilot.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the database {path} is from a newer soc-copilot (schema {found}, this build knows {known}); upgrade soc-copilot"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("no triage with id {0}; `soc-copilot history` lists recent ones")]
    UnknownTriage(String),
    #[error(
        "triage {id} is {status}, not finished: feedback judges a complete or failed run; wait for it to end, or re-triage the alert and judge the new run"
    )]
    NotComplete { id: String, status: String },
    #[error("cannot upgrade the database: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("PostgreSQL error: {0}")]
    Pg(#[from] postgres::Error),
    #[error(
        "cannot connect to the team database {target}: {source}; check that the server runs and the URL (`--database`, SOC_COPILOT_DATABASE_URL or [store] url) is right"
    )]
    Connect {
        target: String,
        source: postgres::Error,
    },
    #[error("bad database URL {0}")]
    Url(String),
    #[error("the store read a value it did not expect: {0}")]
    Type(String),
    #[error(
        "{analyst} holds this alert (since {since}): take it over first (T in the console) to triage or judge it"
    )]
    HeldBy { analyst: String, since: String },
    #[error("stored JSON is damaged: {0}")]
    Json(#[from] serde_json::Error),
}

/// Numbered migrations; `PRAGMA user_version` records how many have run. PostgreSQL runs
/// the same steps (`PG_MIGRATIONS`, one per number) and records the count in a table.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE alerts (
        id          INTEGER PRIMARY KEY,
        alert_key   TEXT NOT NULL UNIQUE,
        format      TEXT NOT NULL,
        source      TEXT NOT NULL DEFAULT '',
        severity    TEXT,
        title       TEXT NOT NULL,
        host        TEXT,
        user_name   TEXT,
        normalized  TEXT NOT NULL,
        raw         TEXT NOT NULL,
        embedding   BLOB,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE triages (
        id              TEXT PRIMARY KEY,
        alert_id        INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        status          TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed', 'cancelled')),
        engine          TEXT NOT NULL,
        model           TEXT,
        verdict         TEXT,
        confidence      REAL,
        verdict_json    TEXT,
        raw_output      TEXT,
        error           TEXT,
        provenance_json TEXT,
        input_tokens    INTEGER NOT NULL DEFAULT 0,
        output_tokens   INTEGER NOT NULL DEFAULT 0,
        cost_usd        REAL NOT NULL DEFAULT 0,
        latency_ms      INTEGER,
        ttft_ms         INTEGER,
        created_at      TEXT NOT NULL,
        finished_at     TEXT
    );
    CREATE INDEX triages_alert ON triages(alert_id, created_at);
    CREATE TABLE feedback (
        id              INTEGER PRIMARY KEY,
        triage_id       TEXT NOT NULL REFERENCES triages(id) ON DELETE CASCADE,
        thumbs          TEXT NOT NULL CHECK (thumbs IN ('up', 'down')),
        reason          TEXT,
        analyst_verdict TEXT,
        notes           TEXT,
        analyst         TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        -- Copied from the triage when the feedback is given, so accuracy is one table scan.
        verdict         TEXT,
        confidence      REAL,
        engine          TEXT,
        -- Set when newer feedback on the same triage arrives; only the latest counts.
        superseded      INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX feedback_triage ON feedback(triage_id, id);
    CREATE TABLE chat_messages (
        id            INTEGER PRIMARY KEY,
        alert_id      INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        role          TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content       TEXT NOT NULL,
        engine        TEXT,
        model         TEXT,
        input_tokens  INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        created_at    TEXT NOT NULL
    );
    CREATE INDEX chat_alert ON chat_messages(alert_id, id);
    "#,
    // 2: analyst notes on an alert, independent of any verdict judgement.
    r#"
    CREATE TABLE notes (
        id          INTEGER PRIMARY KEY,
        alert_id    INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        triage_id   TEXT REFERENCES triages(id) ON DELETE SET NULL,
        text        TEXT NOT NULL,
        analyst     TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX notes_alert ON notes(alert_id, id);
    "#,
    // 3: webhook intake: alerts accepted for triage by `serve` ('queued' until a worker has
    // run them, then 'done'), or stored only ('held'). Queued ones survive a restart.
    r#"
    ALTER TABLE alerts ADD COLUMN intake TEXT CHECK (intake IN ('queued', 'held', 'done'));
    CREATE INDEX alerts_intake ON alerts(intake) WHERE intake = 'queued';
    "#,
    // 4: a run left by a process that died is 'abandoned'; `owner` names the process that
    // runs it (host, pid, process start time), so a later process can tell a dead owner from
    // a live one. SQLite cannot change a CHECK constraint in place: the table is rebuilt
    // (foreign keys are off while migrations run, so feedback and notes keep their rows).
    r#"
    CREATE TABLE triages_new (
        id              TEXT PRIMARY KEY,
        alert_id        INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        status          TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed', 'cancelled', 'abandoned')),
        engine          TEXT NOT NULL,
        model           TEXT,
        verdict         TEXT,
        confidence      REAL,
        verdict_json    TEXT,
        raw_output      TEXT,
        error           TEXT,
        provenance_json TEXT,
        input_tokens    INTEGER NOT NULL DEFAULT 0,
        output_tokens   INTEGER NOT NULL DEFAULT 0,
        cost_usd        REAL NOT NULL DEFAULT 0,
        latency_ms      INTEGER,
        ttft_ms         INTEGER,
        created_at      TEXT NOT NULL,
        finished_at     TEXT,
        owner           TEXT
    );
    INSERT INTO triages_new (id, alert_id, status, engine, model, verdict, confidence, verdict_json, raw_output,
        error, provenance_json, input_tokens, output_tokens, cost_usd, latency_ms, ttft_ms, created_at, finished_at)
      SELECT id, alert_id, status, engine, model, verdict, confidence, verdict_json, raw_output,
        error, provenance_json, input_tokens, output_tokens, cost_usd, latency_ms, ttft_ms, created_at, finished_at
      FROM triages;
    DROP TABLE triages;
    ALTER TABLE triages_new RENAME TO triages;
    CREATE INDEX triages_alert ON triages(alert_id, created_at);
    CREATE INDEX triages_running ON triages(status) WHERE status = 'running';
    -- One row `/health` rewrites to prove the store takes writes.
    CREATE TABLE health_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
    "#,
    // 5: the investigation's memory. `alert_iocs` indexes every stored alert by the
    // indicators in it (IOC history: "was this hash seen before, and judged how?"), filled
    // for new alerts and backfilled here from the stored alerts' extracted indicators.
    // `intel_indicators` holds offline threat intelligence imported for air-gapped use.
    r#"
    CREATE TABLE alert_iocs (
        kind     TEXT NOT NULL,
        value    TEXT NOT NULL,
        alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        PRIMARY KEY (kind, value, alert_id)
    ) WITHOUT ROWID;
    CREATE INDEX alert_iocs_alert ON alert_iocs(alert_id);
    -- Related alerts are found within a time window of the alert's arrival.
    CREATE INDEX alerts_created ON alerts(created_at);
    INSERT OR IGNORE INTO alert_iocs (kind, value, alert_id)
      SELECT 'ip', lower(j.value), a.id FROM alerts a, json_each(a.normalized, '$.iocs.public_ips') j;
    INSERT OR IGNORE INTO alert_iocs (kind, value, alert_id)
      SELECT 'ip', lower(j.value), a.id FROM alerts a, json_each(a.normalized, '$.iocs.private_ips') j;
    INSERT OR IGNORE INTO alert_iocs (kind, value, alert_id)
      SELECT 'domain', lower(j.value), a.id FROM alerts a, json_each(a.normalized, '$.iocs.domains') j;
    INSERT OR IGNORE INTO alert_iocs (kind, value, alert_id)
      SELECT 'url', lower(j.value), a.id FROM alerts a, json_each(a.normalized, '$.iocs.urls') j;
    INSERT OR IGNORE INTO alert_iocs (kind, value, alert_id)
      SELECT 'md5', lower(j.value), a.id FROM alerts a, json_each(a.normalized, '$.iocs.md5') j;
    INSERT OR IGNORE INTO alert_iocs (kind, value, alert_id)
      SELECT 'sha1', lower(j.value), a.id FROM alerts a, json_each(a.normalized, '$.iocs.sha1') j;
    INSERT OR IGNORE INTO alert_iocs (kind, value, alert_id)
      SELECT 'sha256', lower(j.value), a.id FROM alerts a, json_each(a.normalized, '$.iocs.sha256') j;
    INSERT OR IGNORE INTO alert_iocs (kind, value, alert_id)
      SELECT 'email', lower(j.value), a.id FROM alerts a, json_each(a.normalized, '$.iocs.emails') j;
    CREATE TABLE intel_indicators (
        kind        TEXT NOT NULL,
        value       TEXT NOT NULL,
        source      TEXT NOT NULL,
        -- malicious | suspicious | benign (a known scanner, a CDN)
        verdict     TEXT NOT NULL CHECK (verdict IN ('malicious', 'suspicious', 'benign')),
        threat      TEXT,
        first_seen  TEXT,
        reference   TEXT,
        imported_at TEXT NOT NULL,
        PRIMARY KEY (kind, value, source)
    ) WITHOUT ROWID;
    -- Remote intel answers, negative ones too, kept per provider for its TTL.
    CREATE TABLE intel_cache (
        provider   TEXT NOT NULL,
        kind       TEXT NOT NULL,
        value      TEXT NOT NULL,
        outcome    TEXT NOT NULL,
        raw        TEXT,
        fetched_at TEXT NOT NULL,
        PRIMARY KEY (provider, kind, value)
    ) WITHOUT ROWID;
    "#,
    // 6: incidents and hand-off. `incident_alerts` is rebuilt by correlation (one incident
    // per alert at most); `incident_pairs` keeps the analyst's merges and splits, which
    // correlation obeys. `exports` records every hand-off with the id the remote system
    // gave; `pseudonyms` is the local-only map of what was pseudonymised before leaving;
    // `closures` records every autonomous closure and its reversal.
    r#"
    CREATE TABLE incidents (
        id          TEXT PRIMARY KEY,
        title       TEXT NOT NULL,
        first_at    TEXT NOT NULL,
        last_at     TEXT NOT NULL,
        alert_count INTEGER NOT NULL,
        -- the incident-level triage (its synthetic alert's latest run)
        triage_id   TEXT REFERENCES triages(id) ON DELETE SET NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE TABLE incident_alerts (
        alert_id    INTEGER PRIMARY KEY REFERENCES alerts(id) ON DELETE CASCADE,
        incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        -- why it joined: the link that brought it in (empty for the first alert)
        why         TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX incident_alerts_incident ON incident_alerts(incident_id, position);
    CREATE TABLE incident_pairs (
        a        INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        b        INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        decision TEXT NOT NULL CHECK (decision IN ('merge', 'split')),
        analyst  TEXT NOT NULL,
        at       TEXT NOT NULL,
        PRIMARY KEY (a, b),
        CHECK (a < b)
    );
    CREATE TABLE exports (
        id          INTEGER PRIMARY KEY,
        target      TEXT NOT NULL,
        object_kind TEXT NOT NULL CHECK (object_kind IN ('alert', 'incident')),
        reference   TEXT NOT NULL,
        triage_id   TEXT REFERENCES triages(id) ON DELETE SET NULL,
        remote_id   TEXT,
        destination TEXT NOT NULL,
        analyst     TEXT NOT NULL,
        at          TEXT NOT NULL
    );
    CREATE INDEX exports_reference ON exports(reference, id);
    CREATE TABLE pseudonyms (
        value_key  TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        token      TEXT NOT NULL UNIQUE,
        value      TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE closures (
        id            INTEGER PRIMARY KEY,
        alert_id      INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        triage_id     TEXT NOT NULL REFERENCES triages(id) ON DELETE CASCADE,
        justification TEXT NOT NULL,
        at            TEXT NOT NULL,
        reversed_at   TEXT,
        reversed_by   TEXT
    );
    CREATE INDEX closures_alert ON closures(alert_id, id);
    "#,
    // 7: team mode. Intake alerts are leased to the process triaging them (`claimed_by`,
    // `lease_until`): a lease that runs out lets another replica take the alert. An analyst
    // holds the alert they work on (`alert_claims`); taking one over from another analyst is
    // recorded (`claim_log`). `events` lists what changed, for the other consoles.
    r#"
    ALTER TABLE alerts ADD COLUMN claimed_by TEXT;
    ALTER TABLE alerts ADD COLUMN lease_until TEXT;
    CREATE TABLE alert_claims (
        alert_id INTEGER PRIMARY KEY REFERENCES alerts(id) ON DELETE CASCADE,
        analyst  TEXT NOT NULL,
        at       TEXT NOT NULL
    );
    CREATE TABLE claim_log (
        id       INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        analyst  TEXT NOT NULL,
        action   TEXT NOT NULL CHECK (action IN ('claim', 'takeover', 'release')),
        previous TEXT,
        at       TEXT NOT NULL
    );
    CREATE INDEX claim_log_alert ON claim_log(alert_id, id);
    CREATE TABLE events (
        id        INTEGER PRIMARY KEY,
        kind      TEXT NOT NULL,
        alert_id  INTEGER,
        triage_id TEXT,
        analyst   TEXT,
        at        TEXT NOT NULL
    );
    "#,
];

/// The same numbered steps for PostgreSQL: `BIGINT` and `DOUBLE PRECISION` where SQLite has
/// `INTEGER` and `REAL`, identity columns for row ids, and a `rowid` column on the tables
/// whose SQLite row order the store reads (triages, pseudonyms).
const PG_MIGRATIONS: &[&str] = &[
    // 1
    r#"
    CREATE TABLE alerts (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        alert_key   TEXT NOT NULL UNIQUE,
        format      TEXT NOT NULL,
        source      TEXT NOT NULL DEFAULT '',
        severity    TEXT,
        title       TEXT NOT NULL,
        host        TEXT,
        user_name   TEXT,
        normalized  TEXT NOT NULL,
        raw         TEXT NOT NULL,
        embedding   BYTEA,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE triages (
        id              TEXT PRIMARY KEY,
        rowid           BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        alert_id        BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        status          TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed', 'cancelled')),
        engine          TEXT NOT NULL,
        model           TEXT,
        verdict         TEXT,
        confidence      DOUBLE PRECISION,
        verdict_json    TEXT,
        raw_output      TEXT,
        error           TEXT,
        provenance_json TEXT,
        input_tokens    BIGINT NOT NULL DEFAULT 0,
        output_tokens   BIGINT NOT NULL DEFAULT 0,
        cost_usd        DOUBLE PRECISION NOT NULL DEFAULT 0,
        latency_ms      BIGINT,
        ttft_ms         BIGINT,
        created_at      TEXT NOT NULL,
        finished_at     TEXT
    );
    CREATE INDEX triages_alert ON triages(alert_id, created_at);
    CREATE TABLE feedback (
        id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        triage_id       TEXT NOT NULL REFERENCES triages(id) ON DELETE CASCADE,
        thumbs          TEXT NOT NULL CHECK (thumbs IN ('up', 'down')),
        reason          TEXT,
        analyst_verdict TEXT,
        notes           TEXT,
        analyst         TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        verdict         TEXT,
        confidence      DOUBLE PRECISION,
        engine          TEXT,
        superseded      BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX feedback_triage ON feedback(triage_id, id);
    CREATE TABLE chat_messages (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        alert_id      BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        role          TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content       TEXT NOT NULL,
        engine        TEXT,
        model         TEXT,
        input_tokens  BIGINT NOT NULL DEFAULT 0,
        output_tokens BIGINT NOT NULL DEFAULT 0,
        created_at    TEXT NOT NULL
    );
    CREATE INDEX chat_alert ON chat_messages(alert_id, id);
    "#,
    // 2
    r#"
    CREATE TABLE notes (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        alert_id    BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        triage_id   TEXT REFERENCES triages(id) ON DELETE SET NULL,
        text        TEXT NOT NULL,
        analyst     TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX notes_alert ON notes(alert_id, id);
    "#,
    // 3
    r#"
    ALTER TABLE alerts ADD COLUMN intake TEXT CHECK (intake IN ('queued', 'held', 'done'));
    CREATE INDEX alerts_intake ON alerts(intake) WHERE intake = 'queued';
    "#,
    // 4: PostgreSQL changes a CHECK in place.
    r#"
    ALTER TABLE triages DROP CONSTRAINT triages_status_check;
    ALTER TABLE triages ADD CONSTRAINT triages_status_check
        CHECK (status IN ('running', 'complete', 'failed', 'cancelled', 'abandoned'));
    ALTER TABLE triages ADD COLUMN owner TEXT;
    CREATE INDEX triages_running ON triages(status) WHERE status = 'running';
    CREATE TABLE health_probe (id BIGINT PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
    "#,
    // 5
    r#"
    CREATE TABLE alert_iocs (
        kind     TEXT NOT NULL,
        value    TEXT NOT NULL,
        alert_id BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        PRIMARY KEY (kind, value, alert_id)
    );
    CREATE INDEX alert_iocs_alert ON alert_iocs(alert_id);
    CREATE INDEX alerts_created ON alerts(created_at);
    INSERT INTO alert_iocs (kind, value, alert_id)
      SELECT DISTINCT k.kind, lower(j.value), a.id
      FROM alerts a,
           (VALUES ('ip', 'public_ips'), ('ip', 'private_ips'), ('domain', 'domains'), ('url', 'urls'),
                   ('md5', 'md5'), ('sha1', 'sha1'), ('sha256', 'sha256'), ('email', 'emails')) AS k(kind, field),
           jsonb_array_elements_text(COALESCE(a.normalized::jsonb -> 'iocs' -> k.field, '[]'::jsonb)) AS j(value)
    ON CONFLICT DO NOTHING;
    CREATE TABLE intel_indicators (
        kind        TEXT NOT NULL,
        value       TEXT NOT NULL,
        source      TEXT NOT NULL,
        verdict     TEXT NOT NULL CHECK (verdict IN ('malicious', 'suspicious', 'benign')),
        threat      TEXT,
        first_seen  TEXT,
        reference   TEXT,
        imported_at TEXT NOT NULL,
        PRIMARY KEY (kind, value, source)
    );
    CREATE TABLE intel_cache (
        provider   TEXT NOT NULL,
        kind       TEXT NOT NULL,
        value      TEXT NOT NULL,
        outcome    TEXT NOT NULL,
        raw        TEXT,
        fetched_at TEXT NOT NULL,
        PRIMARY KEY (provider, kind, value)
    );
    "#,
    // 6
    r#"
    CREATE TABLE incidents (
        id          TEXT PRIMARY KEY,
        title       TEXT NOT NULL,
        first_at    TEXT NOT NULL,
        last_at     TEXT NOT NULL,
        alert_count BIGINT NOT NULL,
        triage_id   TEXT REFERENCES triages(id) ON DELETE SET NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE TABLE incident_alerts (
        alert_id    BIGINT PRIMARY KEY REFERENCES alerts(id) ON DELETE CASCADE,
        incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
        position    BIGINT NOT NULL,
        why         TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX incident_alerts_incident ON incident_alerts(incident_id, position);
    CREATE TABLE incident_pairs (
        a        BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        b        BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        decision TEXT NOT NULL CHECK (decision IN ('merge', 'split')),
        analyst  TEXT NOT NULL,
        at       TEXT NOT NULL,
        PRIMARY KEY (a, b),
        CHECK (a < b)
    );
    CREATE TABLE exports (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        target      TEXT NOT NULL,
        object_kind TEXT NOT NULL CHECK (object_kind IN ('alert', 'incident')),
        reference   TEXT NOT NULL,
        triage_id   TEXT REFERENCES triages(id) ON DELETE SET NULL,
        remote_id   TEXT,
        destination TEXT NOT NULL,
        analyst     TEXT NOT NULL,
        at          TEXT NOT NULL
    );
    CREATE INDEX exports_reference ON exports(reference, id);
    CREATE TABLE pseudonyms (
        value_key  TEXT PRIMARY KEY,
        rowid      BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        kind       TEXT NOT NULL,
        token      TEXT NOT NULL UNIQUE,
        value      TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE closures (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        alert_id      BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        triage_id     TEXT NOT NULL REFERENCES triages(id) ON DELETE CASCADE,
        justification TEXT NOT NULL,
        at            TEXT NOT NULL,
        reversed_at   TEXT,
        reversed_by   TEXT
    );
    CREATE INDEX closures_alert ON closures(alert_id, id);
    "#,
    // 7: every insert into `events` is announced on the `soc_events` channel (its id).
    r#"
    ALTER TABLE alerts ADD COLUMN claimed_by TEXT;
    ALTER TABLE alerts ADD COLUMN lease_until TEXT;
    CREATE TABLE alert_claims (
        alert_id BIGINT PRIMARY KEY REFERENCES alerts(id) ON DELETE CASCADE,
        analyst  TEXT NOT NULL,
        at       TEXT NOT NULL
    );
    CREATE TABLE claim_log (
        id       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        alert_id BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        analyst  TEXT NOT NULL,
        action   TEXT NOT NULL CHECK (action IN ('claim', 'takeover', 'release')),
        previous TEXT,
        at       TEXT NOT NULL
    );
    CREATE INDEX claim_log_alert ON claim_log(alert_id, id);
    CREATE TABLE events (
        id        BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        kind      TEXT NOT NULL,
        alert_id  BIGINT,
        triage_id TEXT,
        analyst   TEXT,
        at        TEXT NOT NULL
    );
    CREATE FUNCTION soc_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('soc_events', NEW.id::text);
        RETURN NULL;
    END $$;
    CREATE TRIGGER events_notify AFTER INSERT ON events
        FOR EACH ROW EXECUTE FUNCTION soc_events_notify();
    "#,
];

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `f` again while SQLite reports the database busy or locked, up to `BUSY_TIMEOUT`.
fn while_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

pub struct Store {
    db: Db,
    /// The SQLite file, or the PostgreSQL server's address (never its password).
    path: PathBuf,
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The team database chosen for this process (`--database`, `SOC_COPILOT_DATABASE_URL`,
/// `[store] url`): every store opened for a data directory goes there instead of the data
/// directory's SQLite file.
static DATABASE_URL: OnceLock<String> = OnceLock::new();

/// Chooses the database for every store this process opens by data directory. A URL that is
/// not `postgres://` or `postgresql://` is an error that says what is accepted.
pub fn use_database(url: &str) -> Result<(), StoreError> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(());
    }
    if !is_postgres_url(url) {
        return Err(StoreError::Url(format!(
            "`{}` is not a PostgreSQL URL: give postgres://user@host:port/database (or leave it unset for the SQLite file in the data directory)",
            redact(url)
        )));
    }
    postgres::Config::from_str(url)
        .map_err(|e| StoreError::Url(format!("{}: {e}", redact(url))))?;
    let _ = DATABASE_URL.set(url.to_string());
    Ok(())
}

/// The team database URL this process uses, if one was chosen.
pub fn database_url() -> Option<&'static str> {
    DATABASE_URL.get().map(String::as_str)
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A database URL fit to show: the password (in the URL or a `password=` parameter) is
/// replaced by `***`.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail: Vec<String> = match tail.split_once('?') {
        Some((path, query)) => {
            let q: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            vec![path.to_string(), "?".into(), q.join("&")]
        }
        None => vec![tail.to_string()],
    };
    let sep = if scheme.is_empty() { "" } else { "://" };
    format!("{scheme}{sep}{authority}{}", tail.concat())
}

impl Store {
    /// Opens the store for a data directory: the team database when one was chosen
    /// (`use_database`), otherwise `<data_dir>/soc-copilot.db`, created if needed, with its
    /// schema brought up to date.
    pub fn open_in(data_dir: &Path) -> Result<Store, StoreError> {
        if let Some(url) = database_url() {
            return Store::connect(url);
        }
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Open {
            path: data_dir.to_path_buf(),
            source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
        })?;
        Store::open(&data_dir.join(DB_FILE))
    }

    /// The SQLite file at `path` — or the team database when one was chosen, which then
    /// holds what that file would.
    pub fn open_or_team(path: &Path) -> Result<Store, StoreError> {
        match database_url() {
            Some(url) => Store::connect(url),
            None => Store::open(path),
        }
    }

    /// Whether a store exists to read: the team database when one was chosen, else the
    /// data directory's SQLite file.
    pub fn exists_in(data_dir: &Path) -> bool {
        database_url().is_some() || data_dir.join(DB_FILE).exists()
    }

    /// The store of a data directory opened to read only (`open_read_only`); the team
    /// database when one was chosen.
    pub fn read_only_in(data_dir: &Path) -> Result<Store, StoreError> {
        match database_url() {
            Some(url) => Store::connect(url),
            None => Store::open_read_only(&data_dir.join(DB_FILE)),
        }
    }

    /// Connects to a PostgreSQL team store and brings its schema up to date.
    pub fn connect(url: &str) -> Result<Store, StoreError> {
        let shown = redact(url);
        let mut config = postgres::Config::from_str(url)
            .map_err(|e| StoreError::Url(format!("{shown}: {e}")))?;
        if config.get_application_name().is_none() {
            config.application_name("soc-copilot");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let client = db::off_runtime(|| config.connect(postgres::NoTls)).map_err(|source| {
            StoreError::Connect {
                target: shown.clone(),
                source,
            }
        })?;
        let mut store = Store {
            db: Db::postgres(client),
            path: PathBuf::from(shown),
        };
        store.migrate()?;
        store.reap_abandoned()?;
        Ok(store)
    }

    /// Opens an existing database only to read it: no journal-mode switch, no migration, no
    /// clean-up of abandoned runs — nothing is written (a backtest reads the history this way).
    /// A schema older or newer than this build's is an error that says what to do.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        let store = Store {
            db: Db::sqlite(conn),
            path: path.to_path_buf(),
        };
        let (found, known) = (store.schema_version()?, Store::known_schema());
        if found > known {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found,
                known,
            });
        }
        if found < known {
            return Err(StoreError::Migration(format!(
                "{} has schema {found}, this build reads {known}: open it once with any other command (the console, `history`) to upgrade it, then run this again",
                path.display()
            )));
        }
        Ok(store)
    }

    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Switching to WAL takes an exclusive lock, and SQLite answers "locked" at once
        // (without the busy handler) when another connection — in this process or another —
        // is opening the same new database: wait and retry like any other busy wait.
        while_busy(|| conn.pragma_update(None, "journal_mode", "WAL")).map_err(open_err)?;
        while_busy(|| conn.pragma_update(None, "synchronous", "NORMAL")).map_err(open_err)?;
        let mut store = Store {
            db: Db::sqlite(conn),
            path: path.to_path_buf(),
        };
        // Foreign keys stay off while migrations run: a migration that rebuilds a table must
        // not cascade-delete the rows that point at it.
        store.migrate()?;
        if let Some(conn) = store.db.sqlite_conn() {
            while_busy(|| conn.pragma_update(None, "foreign_keys", "ON")).map_err(open_err)?;
        }
        store.reap_abandoned()?;
        Ok(store)
    }

    /// The SQLite file, or the PostgreSQL server's address without its password.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which engine holds this store.
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// A trivial query: the database answers.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.db.query_one("SELECT 1", args![])?;
        Ok(())
    }

    /// A real write (one row rewritten): the store takes writes, not only reads.
    pub fn probe_write(&self) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO health_probe (id, at) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET at = excluded.at",
            args![now()],
        )?;
        Ok(())
    }

    /// `PRAGMA quick_check` (or the full `integrity_check`): the problems SQLite reports,
    /// empty when the file is sound. A PostgreSQL server checks its own pages (`amcheck`);
    /// nothing is reported for it here.
    pub fn check_integrity(&self, full: bool) -> Result<Vec<String>, StoreError> {
        if self.db.dialect() == Dialect::Postgres {
            return Ok(Vec::new());
        }
        let pragma = if full {
            "PRAGMA integrity_check"
        } else {
            "PRAGMA quick_check"
        };
        let rows = self.db.query(pragma, args![])?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get::<String>(0).ok())
            .filter(|r| r != "ok")
            .collect())
    }

    /// The schema version this build writes.
    pub fn known_schema() -> i64 {
        MIGRATIONS.len() as i64
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        match self.db.dialect() {
            Dialect::Sqlite => self.db.query_one("PRAGMA user_version", args![])?.get(0),
            Dialect::Postgres => Ok(self
                .db
                .query_opt("SELECT version FROM soc_copilot_schema", args![])?
                .map(|r| r.get(0))
                .transpose()?
                .unwrap_or(0)),
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        let path = self.path.clone();
        let db = &self.db;
        let pg = db.dialect() == Dialect::Postgres;
        // The exclusive transaction takes the write lock first (on PostgreSQL an advisory
        // lock, before anything else — even creating the version table races otherwise), so
        // two processes starting together do not both run the same migration.
        db.transaction(true, || {
            if pg {
                db.batch("CREATE TABLE IF NOT EXISTS soc_copilot_schema (version BIGINT NOT NULL)")?;
            }
            let current = if pg {
                match db.query_opt("SELECT version FROM soc_copilot_schema", args![])? {
                    Some(r) => r.get(0)?,
                    None => {
                        db.execute("INSERT INTO soc_copilot_schema (version) VALUES (0)", args![])?;
                        0
                    }
                }
            } else {
                db.query_one("PRAGMA user_version", args![])?.get(0)?
            };
            if current > known {
                return Err(StoreError::TooNew {
                    path: path.clone(),
                    found: current,
                    known,
                });
            }
            let steps = if pg { PG_MIGRATIONS } else { MIGRATIONS };
            for (i, sql) in steps.iter().enumerate().skip(current as usize) {
                db.batch(sql)?;
                let v = (i + 1) as i64;
                if pg {
                    db.execute("UPDATE soc_copilot_schema SET version = ?1", args![v])?;
                } else {
                    db.batch(&format!("PRAGMA user_version = {v}"))?;
                }
            }
            if !pg
                && let Some(r) = db.query_opt("PRAGMA foreign_key_check", args![])?
            {
                let table: String = r.get(0)?;
                return Err(StoreError::Migration(format!(
                    "a migration left rows in {table} pointing at nothing; the database was not changed"
                )));
            }
            Ok(())
        })
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }
}

/// A random RFC 4122 version-4 id.
pub fn new_id() -> String {
    let b: [u8; 16] = rand::random();
    let mut b = b;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
