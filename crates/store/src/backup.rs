//! Backups of a SQLite database while it is served, and putting one back into a stopped
//! deployment. (PostgreSQL: `pg_dump`/`pg_restore`, README "Deployment".)
//!
//! A backup is `VACUUM INTO`: one read transaction, so the copy holds exactly the writes committed
//! before it began, whatever runs meanwhile (WAL readers do not block writers). The key file
//! access tokens are sealed with is copied beside it (`<backup>.secret-key`, mode 0600): without
//! it the stored tokens cannot be read. Received media are not in the database (their directory or
//! bucket is backed up on its own).

use std::path::{Path, PathBuf};

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::MigrationHarness;

use crate::db::DatabaseUrl;
use crate::secrets::SecretKey;
use crate::DieselStore;

/// What a backup or a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub path: PathBuf,
    pub bytes: u64,
    /// The newest migration the database has.
    pub schema_version: String,
    /// The key file copied beside it, if the database had one.
    pub key_file: Option<PathBuf>,
}

fn sqlite_path(url: &DatabaseUrl) -> Result<&Path, String> {
    match url {
        DatabaseUrl::Sqlite(path) => Ok(path),
        DatabaseUrl::Postgres(_) => Err(
            "backup and restore are for SQLite databases; for PostgreSQL use pg_dump and pg_restore (README, Deployment)"
                .into(),
        ),
    }
}

/// A string as an SQL literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Checks a database file: SQLite's integrity check passes and every migration it has is one this
/// build knows (a database from a newer release is not put under an older one). Returns the newest.
fn check(path: &Path) -> Result<String, String> {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())
        .map_err(|e| format!("{}: cannot open: {e}", path.display()))?;
    #[derive(QueryableByName)]
    struct Integrity {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let verdict: Vec<Integrity> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .map_err(|e| format!("{}: not a database Rosetta can read: {e}", path.display()))?;
    if verdict.first().map(|v| v.integrity_check.as_str()) != Some("ok") {
        let found: Vec<String> = verdict.into_iter().take(5).map(|v| v.integrity_check).collect();
        return Err(format!(
            "{}: integrity check failed: {}",
            path.display(),
            found.join("; ")
        ));
    }
    let applied = conn
        .applied_migrations()
        .map_err(|e| format!("{}: not a Rosetta database (no migrations): {e}", path.display()))?;
    let names: Vec<String> =
        diesel::migration::MigrationSource::<diesel::sqlite::Sqlite>::migrations(&crate::SQLITE_MIGRATIONS)
            .map_err(|e| e.to_string())?
            .iter()
            .map(|m| m.name().version().to_string())
            .collect();
    if applied.is_empty() {
        return Err(format!(
            "{}: not a Rosetta database (no migrations applied)",
            path.display()
        ));
    }
    if let Some(unknown) = applied.iter().map(|v| v.to_string()).find(|v| !names.contains(v)) {
        return Err(format!(
            "{}: made by a newer Rosetta (migration {unknown} is unknown to this build); restore it with that release",
            path.display()
        ));
    }
    Ok(applied.iter().map(|v| v.to_string()).max().unwrap_or_default())
}

/// Fails if any connection has the database at `path` open: an exclusive lock is taken without
/// waiting (a server's connections, even idle, keep it from being taken). Closing the lock's
/// connection writes a log an unclean stop left back into the database first.
fn ensure_unused(path: &Path) -> Result<(), String> {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())
        .map_err(|e| format!("{}: cannot open: {e}", path.display()))?;
    diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        "PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; ROLLBACK;",
    )
    .map_err(|e| {
        format!(
            "{} is in use ({e}): stop every server and command on it first",
            path.display()
        )
    })
}

/// Copies a key file to `to` (mode 0600), never over an existing file.
fn copy_key(from: &Path, to: &Path) -> Result<(), String> {
    let key = std::fs::read_to_string(from).map_err(|e| format!("key file {}: {e}", from.display()))?;
    SecretKey::parse(&key).map_err(|e| format!("key file {}: {e}", from.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(to).map_err(|e| format!("{}: {e}", to.display()))?;
    std::io::Write::write_all(&mut file, key.as_bytes()).map_err(|e| format!("{}: {e}", to.display()))?;
    file.sync_all().map_err(|e| format!("{}: {e}", to.display()))
}

/// A consistent copy of the store's SQLite database at `to` (which must not exist), checked, with
/// its key file beside it.
pub fn backup(store: &DieselStore, to: &Path) -> Result<Report, String> {
    let from = sqlite_path(&store.url)?.to_owned();
    if to.exists() {
        return Err(format!("{} exists; a backup never overwrites a file", to.display()));
    }
    let key_to = SecretKey::file_beside(to);
    if key_to.exists() {
        return Err(format!("{} exists; a backup never overwrites a file", key_to.display()));
    }
    store
        .read(|c| {
            diesel::sql_query(format!("VACUUM INTO {}", literal(&to.to_string_lossy())))
                .execute(c)
                .map_err(crate::db::map_error)
        })
        .map_err(|e| format!("backup into {}: {e}", to.display()))?;
    let schema_version = check(to)?;
    with_key(&from, to, schema_version, |_| Ok(()))
}

/// The key file beside `from` copied beside `to` (after `make_room` clears its place), and what
/// was done.
fn with_key(
    from: &Path,
    to: &Path,
    schema_version: String,
    make_room: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<Report, String> {
    let (key_from, key_to) = (SecretKey::file_beside(from), SecretKey::file_beside(to));
    let key_file = if key_from.exists() {
        make_room(&key_to)?;
        copy_key(&key_from, &key_to)?;
        Some(key_to)
    } else {
        None
    };
    Ok(Report {
        bytes: std::fs::metadata(to).map(|m| m.len()).unwrap_or(0),
        path: to.to_owned(),
        schema_version,
        key_file,
    })
}

/// Puts the backup at `from` in place of the SQLite database at `url`, which no server may be
/// using: the backup is checked first (on a copy; the backup itself is never changed), then moved
/// in at once. A database already there is kept as `<db>.before-restore-<unix seconds>` (its key
/// file likewise), never deleted.
pub fn restore(from: &Path, url: &str) -> Result<Report, String> {
    let url = DatabaseUrl::parse(url)?;
    let to = sqlite_path(&url)?;
    if !from.is_file() {
        return Err(format!("{}: no such backup", from.display()));
    }
    if to.exists() {
        ensure_unused(to)?;
    }
    let staging = {
        let mut name = to.as_os_str().to_owned();
        name.push(".restoring");
        PathBuf::from(name)
    };
    let _ = std::fs::remove_file(&staging);
    std::fs::copy(from, &staging).map_err(|e| format!("copying {} to {}: {e}", from.display(), staging.display()))?;
    let checked = check(&staging).and_then(|version| {
        std::fs::File::open(&staging)
            .and_then(|f| f.sync_all())
            .map_err(|e| e.to_string())?;
        Ok(version)
    });
    let schema_version = match checked {
        Ok(version) => version,
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            return Err(e);
        }
    };
    let stamp = rosetta_core::Timestamp::now().millis() / 1000;
    let aside = |path: &Path| -> Result<(), String> {
        if path.exists() {
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".before-restore-{stamp}"));
            std::fs::rename(path, &name).map_err(|e| format!("moving {} aside: {e}", path.display()))?;
        }
        Ok(())
    };
    aside(to)?;
    // A log left beside the old database would be replayed into the new one.
    for suffix in ["-wal", "-shm"] {
        let mut side = to.as_os_str().to_owned();
        side.push(suffix);
        aside(Path::new(&side))?;
    }
    std::fs::rename(&staging, to).map_err(|e| format!("moving the restored database into {}: {e}", to.display()))?;
    with_key(from, to, schema_version, aside)
}
