//! Connections: one `MultiConnection` over SQLite and PostgreSQL, an r2d2 manager that picks the
//! backend from the URL's scheme, SQLite's pragmas, and the transaction helpers.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::R2D2Connection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use rosetta_core::Error;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

impl std::fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DbConnection::Sqlite(_) => "DbConnection::Sqlite",
            DbConnection::Pg(_) => "DbConnection::Pg",
        })
    }
}

/// Runs a diesel query expression on the concrete backend connection, so that a hot query skips
/// the MultiConnection's generic row adapter. The expression is written once and compiled for both.
#[macro_export]
macro_rules! per_backend {
    ($c:expr, |$conn:ident| $body:expr) => {
        match $c {
            $crate::db::DbConnection::Sqlite($conn) => $body,
            $crate::db::DbConnection::Pg($conn) => $body,
        }
    };
}

/// Where the data lives, read from `sqlite://PATH` or `postgres://…` (`postgresql://` too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, like sqlite://rosetta.db".to_owned());
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else {
            Err(format!(
                "unsupported database URL {:?}: expected sqlite://PATH or postgres://…",
                redact(url)
            ))
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite(_))
    }
}

/// A URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// How long a statement waits for SQLite's write lock before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// KiB of page cache for all of a pool's SQLite connections together, shared out evenly (at least
/// 1 MiB and at most 8 MiB each). Each connection keeps its own cache, and a pool of 16 at 8 MiB
/// each walking deep pages of a 1,000,000-conversation database once grew the server to 105 MiB.
/// (`PRAGMA soft_heap_limit` did not hold the caches back in a measurement here.)
pub const SQLITE_CACHE_BUDGET_KIB: u32 = 24 * 1024;

/// One SQLite connection's page cache in a pool of `pool_size`, in KiB.
pub fn sqlite_cache_kib(pool_size: u32) -> u32 {
    (SQLITE_CACHE_BUDGET_KIB / pool_size.max(1)).clamp(1024, 8192)
}

/// How long a PostgreSQL statement waits for a row lock before giving up.
pub const PG_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a PostgreSQL statement may run.
pub const PG_STATEMENT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
    /// SQLite: whether the file opened is still in place (shared with the store, which looks
    /// before it asks the pool).
    file: Arc<FileWatch>,
    /// SQLite: each connection's page cache (`sqlite_cache_kib`).
    sqlite_cache_kib: u32,
}

/// SQLite: the (device, inode) of the file the first connection opened. A connection is only made,
/// or handed out, while that same file is at the path: a database file moved, deleted or replaced
/// under a running server makes requests fail with `Error::Unavailable` (503) instead of SQLite
/// quietly creating an empty database there, and service resumes when the file is back.
#[derive(Debug)]
pub struct FileWatch {
    identity: OnceLock<(u64, u64)>,
    /// When the file was last found in place (milliseconds since `started`); looked at again only
    /// after `SQLITE_FILE_CHECK_EVERY`, so a request does not pay a `stat`.
    checked_at: std::sync::atomic::AtomicU64,
    started: std::time::Instant,
}

impl Default for FileWatch {
    fn default() -> Self {
        FileWatch {
            identity: OnceLock::new(),
            checked_at: std::sync::atomic::AtomicU64::new(0),
            started: std::time::Instant::now(),
        }
    }
}

impl FileWatch {
    /// Whether the file first opened is still the one at `path`.
    pub fn check(&self, path: &std::path::Path) -> Result<(), diesel::r2d2::Error> {
        let Some(expected) = self.identity.get() else {
            return Ok(());
        };
        let gone = |why: &str| {
            Err(diesel::r2d2::Error::ConnectionError(
                diesel::ConnectionError::BadConnection(format!("database file {}: {why}", path.display())),
            ))
        };
        match std::fs::metadata(path) {
            Ok(meta) if file_identity(&meta) == *expected => Ok(()),
            Ok(_) => gone("replaced by another file; restart to serve it"),
            Err(e) => gone(&e.to_string()),
        }
    }

    /// `check`, at most once every `SQLITE_FILE_CHECK_EVERY` while the file is in place (every
    /// time while it is not).
    pub fn check_now_and_then(&self, path: &std::path::Path) -> Result<(), diesel::r2d2::Error> {
        use std::sync::atomic::Ordering;
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.checked_at.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < SQLITE_FILE_CHECK_EVERY.as_millis() as u64 {
            return Ok(());
        }
        self.check(path)?;
        self.checked_at.store(now, Ordering::Relaxed);
        Ok(())
    }

    fn opened(&self, path: &std::path::Path) {
        if self.identity.get().is_none() {
            if let Ok(meta) = std::fs::metadata(path) {
                let _ = self.identity.set(file_identity(&meta));
            }
        }
    }
}

/// How often a checkout looks at whether the SQLite file is still in place: a file moved away is
/// answered with 503 within this bound.
pub const SQLITE_FILE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl Manager {
    pub fn new(url: DatabaseUrl) -> Self {
        Manager {
            url,
            file: Arc::default(),
            sqlite_cache_kib: 8192,
        }
    }

    /// A manager for a pool of `pool_size` connections: SQLite's page caches share
    /// `SQLITE_CACHE_BUDGET_KIB` among them.
    pub fn for_pool(url: DatabaseUrl, pool_size: u32) -> Self {
        Manager {
            sqlite_cache_kib: sqlite_cache_kib(pool_size),
            ..Manager::new(url)
        }
    }

    /// What tells whether the SQLite file is still in place.
    pub fn file_watch(&self) -> Arc<FileWatch> {
        self.file.clone()
    }
}

#[cfg(unix)]
fn file_identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Elsewhere only the file's presence is checked (its length would change as it grows).
#[cfg(not(unix))]
fn file_identity(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                self.file.check(path)?;
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // A page cache of the pool's share of `SQLITE_CACHE_BUDGET_KIB`: hot index and row
                // pages stay in it, the rest comes from the OS page cache. (At 64 MiB a connection,
                // a walk through a 1,000,000-conversation database grew the server to 129 MiB.)
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA temp_store = MEMORY;
                     PRAGMA cache_size = -{};",
                    SQLITE_BUSY_TIMEOUT.as_millis(),
                    self.sqlite_cache_kib
                ))
                .map_err(diesel::r2d2::Error::QueryError)?;
                self.file.opened(path);
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(url).map_err(diesel::r2d2::Error::ConnectionError)?;
                // Bounded waits, like SQLite's busy timeout: a row lock held elsewhere or a runaway
                // statement ends in `Error::Unavailable` (503), never a request that hangs.
                conn.batch_execute(&format!(
                    "SET lock_timeout = {}; SET statement_timeout = {};",
                    PG_LOCK_TIMEOUT.as_millis(),
                    PG_STATEMENT_TIMEOUT.as_millis()
                ))
                .map_err(diesel::r2d2::Error::QueryError)?;
                warn_unless_english_messages(&mut conn);
                Ok(DbConnection::Pg(conn))
            }
        }
    }

    /// SQLite: the file is still the one opened, looked at no more often than
    /// `SQLITE_FILE_CHECK_EVERY` (an open SQLite connection does not break by itself, so it is not
    /// pinged). PostgreSQL: a ping, since the server or the network may have closed the connection.
    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        if let DatabaseUrl::Sqlite(path) = &self.url {
            return self.file.check_now_and_then(path);
        }
        conn.ping().map(|_| ()).map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// `is_busy` reads PostgreSQL's primary messages for the few SQLSTATEs diesel does not surface;
/// they are in the server's `lc_messages` language. Says so (once) if that is not English.
fn warn_unless_english_messages(conn: &mut PgConnection) {
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        lc_messages: String,
    }
    // Asked once per process (by its first connection), not on every connection.
    static CHECKED: std::sync::Once = std::sync::Once::new();
    use diesel::RunQueryDsl;
    CHECKED.call_once(|| {
        if let Ok(setting) = diesel::sql_query("SHOW lc_messages").get_result::<Setting>(conn) {
            let value = setting.lc_messages;
            let english =
                value.is_empty() || value.starts_with('C') || value.starts_with("POSIX") || value.starts_with("en");
            if !english {
                tracing::warn!(
                    lc_messages = %value,
                    "PostgreSQL reports errors in another language: statement and lock timeouts will be answered as 500 instead of 503; set lc_messages = 'C' for this database"
                );
            }
        }
    });
}

pub type Pool = r2d2::Pool<Manager>;

/// Takes this process's SQLite write lock (`None` on PostgreSQL): writers queue here rather than
/// spinning in SQLite's busy handler. Taken *before* a pool connection, so writers waiting their
/// turn hold no connection and readers always find one.
pub fn lock_writes(lock: Option<&Mutex<()>>) -> Option<MutexGuard<'_, ()>> {
    lock.map(|l| l.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Runs `f` in one write transaction. On SQLite the transaction starts `IMMEDIATE` (it takes the
/// write lock first, so it never fails half-way on a lock upgrade); the caller holds
/// `lock_writes`. Nested `conn.transaction` calls inside `f` become savepoints.
pub fn write_transaction<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, Error>,
) -> Result<T, Error> {
    match conn {
        DbConnection::Sqlite(_) => sqlite_transaction(conn, "BEGIN IMMEDIATE", f),
        DbConnection::Pg(_) => {
            let mut outcome: Option<Error> = None;
            let result = conn.transaction::<T, DieselError, _>(|c| {
                f(c).map_err(|e| {
                    outcome = Some(e);
                    DieselError::RollbackTransaction
                })
            });
            match (result, outcome) {
                (Ok(v), _) => Ok(v),
                (Err(_), Some(domain)) => Err(domain),
                (Err(e), None) => Err(map_error(e)),
            }
        }
    }
}

/// Runs a read of several statements (a page, then its tags, accounts and assignees) as one
/// snapshot. On SQLite that is one deferred read transaction: each statement on its own took and
/// released WAL's read lock (a mutex and `fcntl`s on the `-shm` file), which cost more than the
/// `BEGIN`/`COMMIT`, and the page and its tags now come from one version of the database. On
/// PostgreSQL the statements run as before: a transaction would add two round trips. Inside a
/// transaction already (a write reading back what it wrote), `f` simply runs in it.
pub fn read_snapshot<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, Error>,
) -> Result<T, Error> {
    let DbConnection::Sqlite(c) = conn else {
        return f(conn);
    };
    if AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth() != Ok(None) {
        return f(conn);
    }
    sqlite_transaction(conn, "BEGIN", f)
}

/// `f` in a transaction of a SQLite connection, begun by `begin`: committed when `f` succeeds,
/// rolled back when it fails or the commit does (for a read, either ends it).
fn sqlite_transaction<T>(
    conn: &mut DbConnection,
    begin: &str,
    f: impl FnOnce(&mut DbConnection) -> Result<T, Error>,
) -> Result<T, Error> {
    let DbConnection::Sqlite(c) = conn else {
        unreachable!("called for SQLite connections only")
    };
    AnsiTransactionManager::begin_transaction_sql(c, begin).map_err(map_error)?;
    let result = f(conn);
    let DbConnection::Sqlite(c) = conn else {
        unreachable!("a SQLite connection stays one")
    };
    match result {
        Ok(value) => match AnsiTransactionManager::commit_transaction(c) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = AnsiTransactionManager::rollback_transaction(c);
                Err(map_error(e))
            }
        },
        Err(e) => {
            let _ = AnsiTransactionManager::rollback_transaction(c);
            Err(e)
        }
    }
}

/// Maps a database error to a domain error. Internals go to the log, never to a caller: the
/// messages an `Error` carries out of here are either Rosetta's own words (`Conflict`) or only ever
/// logged (`Unavailable`, `Internal`).
pub fn map_error(e: DieselError) -> Error {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            tracing::debug!(error = info.message(), "unique violation");
            Error::Conflict(CONFLICT.to_owned())
        }
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::SerializationFailure,
            info,
        ) => Error::Unavailable(info.message().to_owned()),
        DieselError::DatabaseError(_, info) if is_busy(info.message()) => Error::Unavailable(info.message().to_owned()),
        // The connection's transaction state is lost (it broke mid-transaction).
        DieselError::BrokenTransactionManager => Error::Unavailable("broken transaction manager".into()),
        other => Error::Internal(other.to_string()),
    }
}

/// What a caller is told when a unique rule is broken by a racing writer.
pub const CONFLICT: &str = "A record with these values already exists";

/// Busy, locked or gone, by the database's error code. diesel classes PostgreSQL's connection
/// failures (SQLSTATE class 08) and serialization failures (40001) itself (above); it surfaces no
/// other code, so this reads the one fixed text each remaining code has:
/// - SQLite: `sqlite3_errstr` of the code, the library's own constant (not localised);
/// - PostgreSQL: the primary message of each SQLSTATE below (English server messages;
///   `lc_messages` is the server's setting).
fn is_busy(message: &str) -> bool {
    const SQLITE: [&str; 7] = [
        "database is locked",               // SQLITE_BUSY (5)
        "database table is locked",         // SQLITE_LOCKED (6)
        "disk I/O error",                   // SQLITE_IOERR (10): the file went away under us
        "database disk image is malformed", // SQLITE_CORRUPT (11)
        "unable to open database file",     // SQLITE_CANTOPEN (14)
        "file is not a database",           // SQLITE_NOTADB (26)
        "database is busy",                 // SQLITE_BUSY_* extended codes
    ];
    const POSTGRES: [&str; 6] = [
        "canceling statement due to statement timeout", // 57014 query_canceled
        "canceling statement due to lock timeout",      // 55P03 lock_not_available
        "canceling statement due to user request",      // 57014 (pg_cancel_backend)
        "deadlock detected",                            // 40P01 deadlock_detected
        "terminating connection",                       // 57P01 admin_shutdown, 57P02, 57P03
        "the database system is",                       // 57P03 cannot_connect_now (starting up, shutting down)
    ];
    SQLITE.contains(&message) || POSTGRES.iter().any(|m| message.starts_with(m))
}

pub fn map_pool_error(e: r2d2::Error) -> Error {
    Error::Unavailable(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read snapshot is one transaction that always ends, sees one version of the file while
    /// another connection commits, and runs inside a write transaction as it is.
    #[test]
    fn a_read_snapshot_is_one_version_and_always_ends() {
        let dir = std::env::temp_dir().join(format!("rosetta-snapshot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.db");
        let _ = std::fs::remove_file(&path);
        let open = || DbConnection::Sqlite(SqliteConnection::establish(path.to_str().unwrap()).unwrap());
        let (mut reader, mut writer) = (open(), open());
        writer
            .batch_execute("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
        fn depth(c: &mut DbConnection) -> Option<u32> {
            let DbConnection::Sqlite(s) = c else { unreachable!() };
            let status = AnsiTransactionManager::transaction_manager_status_mut(s);
            status.transaction_depth().unwrap().map(|d| d.get())
        }
        fn count(c: &mut DbConnection) -> i64 {
            use diesel::RunQueryDsl;
            diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT count(*) FROM t)",
            ))
            .get_result(c)
            .unwrap()
        }
        let (before, during, after_commit, inside) = read_snapshot(&mut reader, |c| {
            let before = count(c);
            writer.batch_execute("INSERT INTO t VALUES (2)").unwrap();
            Ok((before, count(c), count(&mut writer), depth(c)))
        })
        .unwrap();
        assert_eq!((before, during, after_commit, inside), (1, 1, 2, Some(1)));
        assert_eq!(depth(&mut reader), None);
        assert_eq!(count(&mut reader), 2, "the next snapshot sees the commit");
        let refused = read_snapshot(&mut reader, |_| Err::<(), _>(Error::Conflict("no".into())));
        assert!(matches!(refused, Err(Error::Conflict(_))));
        assert_eq!(depth(&mut reader), None, "an error still ends the transaction");
        write_transaction(&mut reader, |c| {
            assert_eq!(
                read_snapshot(c, |c| Ok(depth(c)))?,
                Some(1),
                "no savepoint inside a write"
            );
            Ok(())
        })
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://rosetta.db"),
            Ok(DatabaseUrl::Sqlite("rosetta.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/r.db"),
            Ok(DatabaseUrl::Sqlite("/var/lib/r.db".into()))
        );
        assert!(DatabaseUrl::parse("postgres://u@h/db")
            .unwrap()
            .eq(&DatabaseUrl::Postgres("postgres://u@h/db".into())));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert_eq!(redact("postgres://u:hunter2@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn no_database_text_reaches_a_conflict() {
        for text in [
            "UNIQUE constraint failed: contacts.org_id, contacts.phone",
            "duplicate key value violates unique constraint \"contacts_org_id_phone_key\"",
        ] {
            let e = map_error(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                Box::new(text.to_owned()),
            ));
            assert_eq!(e, Error::Conflict(CONFLICT.to_owned()));
        }
    }

    #[test]
    fn busy_is_told_by_code_not_by_any_mention() {
        let kind = |kind, text: &str| map_error(DieselError::DatabaseError(kind, Box::new(text.to_owned())));
        assert!(matches!(
            kind(DatabaseErrorKind::ClosedConnection, "whatever the server said"),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            kind(DatabaseErrorKind::SerializationFailure, "could not serialize access"),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            kind(DatabaseErrorKind::Unknown, "database is locked"),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            kind(DatabaseErrorKind::Unknown, "canceling statement due to lock timeout"),
            Error::Unavailable(_)
        ));
        // A message that merely mentions a busy condition is a bug, not an outage.
        assert!(matches!(
            kind(DatabaseErrorKind::Unknown, "no such column: database is locked"),
            Error::Internal(_)
        ));
        assert!(matches!(map_error(DieselError::NotFound), Error::Internal(_)));
    }
}
