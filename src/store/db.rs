//! The store's two backends behind one small interface: SQLite (embedded, the default) and
//! PostgreSQL (team mode). SQL is written once, with `?N` placeholders, in the part of the
//! language both engines share; the few statements that cannot be are given per dialect
//! (`Db::pick`). Rows come back as plain values, so the store's code is the same for both.
//!
//! PostgreSQL is reached through the synchronous `postgres` client, which runs its own small
//! runtime: a call made from inside a tokio worker steps out of the runtime first
//! (`block_in_place`), as every store call is a blocking step.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::StoreError;

/// One SQL value, as both engines store it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real",
            Value::Text(_) => "text",
            Value::Blob(_) => "a blob",
        }
    }
}

/// A Rust value that binds as an SQL parameter.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}
impl ToValue for i32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for u32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// Parameters for a statement: `args![a, b, c]`.
macro_rules! args {
    () => { &[] as &[$crate::store::db::Value] };
    ($($x:expr),+ $(,)?) => {
        &[$($crate::store::db::ToValue::to_value(&$x)),+] as &[$crate::store::db::Value]
    };
}
pub(crate) use args;

/// A value read back from a column.
pub trait FromValue: Sized {
    const WANTS: &'static str;
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    const WANTS: &'static str = "an integer";
    fn from_value(v: &Value) -> Option<i64> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}
impl FromValue for f64 {
    const WANTS: &'static str = "a number";
    fn from_value(v: &Value) -> Option<f64> {
        match v {
            Value::Real(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}
impl FromValue for bool {
    const WANTS: &'static str = "a boolean";
    fn from_value(v: &Value) -> Option<bool> {
        match v {
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }
}
impl FromValue for String {
    const WANTS: &'static str = "text";
    fn from_value(v: &Value) -> Option<String> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl FromValue for Vec<u8> {
    const WANTS: &'static str = "a blob";
    fn from_value(v: &Value) -> Option<Vec<u8>> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    const WANTS: &'static str = T::WANTS;
    fn from_value(v: &Value) -> Option<Option<T>> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(Vec<Value>);

impl Row {
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, StoreError> {
        let v = self.0.get(i).unwrap_or(&Value::Null);
        T::from_value(v).ok_or_else(|| {
            StoreError::Type(format!(
                "column {i} holds {}, where {} was expected",
                v.kind(),
                T::WANTS
            ))
        })
    }

    /// A column's value as stored.
    pub fn value(&self, i: usize) -> Value {
        self.0.get(i).cloned().unwrap_or(Value::Null)
    }

    /// A text column without copying it.
    pub fn str(&self, i: usize) -> Option<&str> {
        match self.0.get(i) {
            Some(Value::Text(s)) => Some(s),
            _ => None,
        }
    }

    pub fn blob(&self, i: usize) -> Option<&[u8]> {
        match self.0.get(i) {
            Some(Value::Blob(b)) => Some(b),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

pub(crate) struct Pg {
    /// Always `Some` until dropped.
    client: RefCell<Option<postgres::Client>>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
}

/// Runs a blocking PostgreSQL call where it may block: as is outside a tokio runtime; on a
/// multi-thread runtime's thread after stepping out of it (`block_in_place`); on a
/// current-thread runtime on a thread of its own. The `postgres` client drives its own
/// runtime and panics when started inside another.
pub(crate) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match tokio::runtime::Handle::try_current() {
        Err(_) => f(),
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        Ok(_) => std::thread::scope(|s| s.spawn(f).join())
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Closing the connection blocks too.
        if let Some(client) = self.client.get_mut().take() {
            off_runtime(move || drop(client));
        }
    }
}

pub(crate) enum Backend {
    Sqlite(rusqlite::Connection),
    Postgres(Box<Pg>),
}

/// A connection to either engine, with transactions that nest (an inner one joins the outer).
pub(crate) struct Db {
    backend: Backend,
    depth: Cell<u32>,
}

/// `n` placeholders numbered from `first`: `?3, ?4, ?5`.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `?N` → `$N` outside quoted strings and identifiers.
pub fn to_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    out.push(c);
                }
                '?' if chars.peek().is_some_and(|n| n.is_ascii_digit()) => out.push('$'),
                _ => out.push(c),
            },
        }
    }
    out
}

impl Db {
    pub fn sqlite(conn: rusqlite::Connection) -> Db {
        conn.set_prepared_statement_cache_capacity(128);
        Db {
            backend: Backend::Sqlite(conn),
            depth: Cell::new(0),
        }
    }

    pub fn postgres(client: postgres::Client) -> Db {
        Db {
            backend: Backend::Postgres(Box::new(Pg {
                client: RefCell::new(Some(client)),
                statements: RefCell::new(HashMap::new()),
            })),
            depth: Cell::new(0),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The statement for this engine, where the two cannot share one.
    pub fn pick<'a>(&self, sqlite: &'a str, postgres: &'a str) -> &'a str {
        match self.dialect() {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    /// Whether the connection is gone (a PostgreSQL server restarted or the network broke):
    /// a pool drops such a store and opens a new one.
    pub fn is_closed(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(_) => false,
            Backend::Postgres(pg) => pg
                .client
                .try_borrow()
                .is_ok_and(|c| c.as_ref().is_none_or(postgres::Client::is_closed)),
        }
    }

    pub(crate) fn sqlite_conn(&self) -> Option<&rusqlite::Connection> {
        match &self.backend {
            Backend::Sqlite(c) => Some(c),
            Backend::Postgres(_) => None,
        }
    }

    /// Runs statements without parameters (migrations).
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Backend::Postgres(pg) => pg.run(|c| c.batch_execute(sql)),
        }
    }

    /// Runs one statement; returns how many rows it changed.
    pub fn execute(&self, sql: &str, args: &[Value]) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(args.iter()))?)
            }
            Backend::Postgres(pg) => {
                let stmt = pg.prepare(sql)?;
                let params = pg_params(args);
                let n = pg.run(|c| c.execute(&stmt, &params))?;
                Ok(n as usize)
            }
        }
    }

    /// Inserts many rows, a hundred per statement (one round trip each on PostgreSQL).
    pub fn insert_many(
        &self,
        table: &str,
        cols: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<usize, StoreError> {
        const CHUNK: usize = 100;
        let mut n = 0;
        for chunk in rows.chunks(CHUNK) {
            let tuples: Vec<String> = (0..chunk.len())
                .map(|r| format!("({})", placeholders(r * cols.len() + 1, cols.len())))
                .collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES {}",
                cols.join(", "),
                tuples.join(", ")
            );
            let args: Vec<Value> = chunk.iter().flatten().cloned().collect();
            n += self.execute(&sql, &args)?;
        }
        Ok(n)
    }

    /// Calls `f` on each row in turn.
    pub fn each(
        &self,
        sql: &str,
        args: &[Value],
        mut f: impl FnMut(&Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let n = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
                let mut row = Row(Vec::with_capacity(n));
                while let Some(r) = rows.next()? {
                    row.0.clear();
                    for i in 0..n {
                        row.0.push(sqlite_value(r.get_ref(i)?));
                    }
                    f(&row)?;
                }
                Ok(())
            }
            Backend::Postgres(pg) => {
                let stmt = pg.prepare(sql)?;
                let params = pg_params(args);
                let rows = pg.run(|c| c.query(&stmt, &params))?;
                for r in &rows {
                    f(&pg_row(r)?)?;
                }
                Ok(())
            }
        }
    }

    pub fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut out = Vec::new();
        self.each(sql, args, |r| {
            out.push(r.clone());
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row, if any.
    pub fn query_opt(&self, sql: &str, args: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first row; none is an error.
    pub fn query_one(&self, sql: &str, args: &[Value]) -> Result<Row, StoreError> {
        self.query_opt(sql, args)?
            .ok_or_else(|| StoreError::Type("a query that always answers returned no row".into()))
    }

    /// Runs `f` in a transaction: committed when it returns `Ok`, rolled back otherwise. With
    /// `exclusive`, writers are serialised from the start (SQLite `BEGIN IMMEDIATE`; on
    /// PostgreSQL a transaction-scoped advisory lock every exclusive transaction takes).
    /// A transaction inside another joins it.
    pub fn transaction<T>(
        &self,
        exclusive: bool,
        f: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.depth.get() > 0 {
            self.depth.set(self.depth.get() + 1);
            let out = f();
            self.depth.set(self.depth.get() - 1);
            return out;
        }
        match (&self.backend, exclusive) {
            (Backend::Sqlite(c), true) => super::while_busy(|| c.execute_batch("BEGIN IMMEDIATE"))?,
            (Backend::Sqlite(c), false) => c.execute_batch("BEGIN")?,
            (Backend::Postgres(pg), _) => {
                pg.run(|c| c.batch_execute("BEGIN"))?;
                if exclusive {
                    let lock = pg.run(|c| c.batch_execute("SELECT pg_advisory_xact_lock(5316)"));
                    if let Err(e) = lock {
                        let _ = pg.run(|c| c.batch_execute("ROLLBACK"));
                        return Err(e);
                    }
                }
            }
        }
        self.depth.set(1);
        let out = f();
        self.depth.set(0);
        let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = match &self.backend {
            Backend::Sqlite(c) => c.execute_batch(end).map_err(StoreError::from),
            Backend::Postgres(pg) => pg.run(|c| c.batch_execute(end)),
        };
        match (out, ended) {
            (Ok(v), Ok(())) => Ok(v),
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => {
                if let Backend::Sqlite(c) = &self.backend {
                    let _ = c.execute_batch("ROLLBACK");
                }
                Err(e)
            }
        }
    }
}

impl Pg {
    /// Runs a client call, stepping out of a tokio runtime when called from one.
    fn run<T: Send>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send,
    ) -> Result<T, StoreError> {
        let mut guard = self
            .client
            .try_borrow_mut()
            .map_err(|_| StoreError::Type("the PostgreSQL connection is already in use".into()))?;
        let client = guard
            .as_mut()
            .ok_or_else(|| StoreError::Type("the PostgreSQL connection was closed".into()))?;
        off_runtime(move || f(client)).map_err(StoreError::from)
    }

    fn prepare(&self, sql: &str) -> Result<postgres::Statement, StoreError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let translated = to_postgres(sql);
        let stmt = self.run(|c| c.prepare(&translated))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn pg_params(args: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    args.iter()
        .map(|a| a as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

fn pg_row(r: &postgres::Row) -> Result<Row, StoreError> {
    use postgres::types::Type;
    let mut out = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let ty = col.type_();
        let v = if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *ty == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *ty == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *ty == Type::FLOAT8 {
            r.try_get::<_, Option<f64>>(i)?.map(Value::Real)
        } else if *ty == Type::FLOAT4 {
            r.try_get::<_, Option<f32>>(i)?
                .map(|v| Value::Real(f64::from(v)))
        } else if *ty == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob)
        } else if [
            Type::TEXT,
            Type::VARCHAR,
            Type::BPCHAR,
            Type::NAME,
            Type::UNKNOWN,
        ]
        .contains(ty)
        {
            r.try_get::<_, Option<String>>(i)?.map(Value::Text)
        } else {
            return Err(StoreError::Type(format!(
                "column {} has the PostgreSQL type {ty}, which the store does not read; cast it in the query",
                col.name()
            )));
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => {
                if *ty == Type::INT8 {
                    i.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(*i)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*i)?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*i != 0).to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    (*i as f64).to_sql(ty, out)
                } else if *ty == Type::FLOAT4 {
                    (*i as f32).to_sql(ty, out)
                } else if [Type::TEXT, Type::VARCHAR].contains(ty) {
                    i.to_string().as_str().to_sql(ty, out)
                } else {
                    Err(format!("an integer cannot be bound to a {ty} parameter").into())
                }
            }
            Value::Real(f) => {
                if *ty == Type::FLOAT8 {
                    f.to_sql(ty, out)
                } else if *ty == Type::FLOAT4 {
                    (*f as f32).to_sql(ty, out)
                } else {
                    Err(format!("a real cannot be bound to a {ty} parameter").into())
                }
            }
            Value::Text(s) => {
                if *ty == Type::BYTEA {
                    s.as_bytes().to_sql(ty, out)
                } else {
                    // TEXT, VARCHAR, NAME, UNKNOWN: the text encoding is the same.
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
            }
            Value::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_quotes_only() {
        assert_eq!(
            to_postgres("SELECT ?1, '?2', \"a?3\" WHERE x = ?12 AND y LIKE ?1 || '\\_%'"),
            "SELECT $1, '?2', \"a?3\" WHERE x = $12 AND y LIKE $1 || '\\_%'"
        );
    }

    #[test]
    fn values_convert_both_ways() {
        let db = Db::sqlite(rusqlite::Connection::open_in_memory().expect("memory db"));
        let row = db
            .query_one(
                "SELECT ?1, ?2, ?3, ?4, ?5",
                args![7i64, 0.5f64, "x", Option::<String>::None, true],
            )
            .expect("row");
        assert_eq!(row.get::<i64>(0).expect("int"), 7);
        assert_eq!(row.get::<f64>(1).expect("real"), 0.5);
        assert_eq!(row.get::<String>(2).expect("text"), "x");
        assert_eq!(row.get::<Option<String>>(3).expect("null"), None);
        assert!(row.get::<bool>(4).expect("bool"));
        let err = row.get::<i64>(2).expect_err("text is not an integer");
        assert!(err.to_string().contains("column 2 holds text"), "{err}");
    }

    #[test]
    fn a_failed_transaction_leaves_nothing() {
        let db = Db::sqlite(rusqlite::Connection::open_in_memory().expect("memory db"));
        db.batch("CREATE TABLE t (x INTEGER)").expect("table");
        let r: Result<(), StoreError> = db.transaction(false, || {
            db.execute("INSERT INTO t VALUES (1)", args![])?;
            db.transaction(false, || db.execute("INSERT INTO t VALUES (2)", args![]))?;
            Err(StoreError::Type("stop".into()))
        });
        assert!(r.is_err());
        let n: i64 = db
            .query_one("SELECT COUNT(*) FROM t", args![])
            .and_then(|r| r.get(0))
            .expect("count");
        assert_eq!(n, 0);
    }
}
