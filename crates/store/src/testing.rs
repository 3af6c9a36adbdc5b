//! Fresh databases for tests, in this workspace and in programs that embed the store: a new
//! SQLite file always, and a new PostgreSQL database whenever `ROSETTA_TEST_DATABASE_URL` names a
//! server (e.g. `postgres://postgres@127.0.0.1:5432/postgres`). Each is removed when dropped.
//!
//! Without that variable the PostgreSQL half of every test is skipped, and the run says so on the
//! terminal (once per test binary). With `ROSETTA_REQUIRE_POSTGRES=1` (CI sets it) a missing
//! variable or an unreachable server fails the test instead: PostgreSQL is never skipped quietly.

use std::path::PathBuf;

use diesel::{Connection, RunQueryDsl};
use rosetta_core::Id;

use crate::DieselStore;

pub const PG_ENV: &str = "ROSETTA_TEST_DATABASE_URL";
/// Set to `1` to make a missing or unreachable PostgreSQL a test failure rather than a skip.
pub const REQUIRE_PG_ENV: &str = "ROSETTA_REQUIRE_POSTGRES";

fn postgres_required() -> bool {
    std::env::var(REQUIRE_PG_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Says once per process, past the test harness's capture, that PostgreSQL was skipped.
fn say_postgres_skipped() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "note: PostgreSQL tests skipped ({PG_ENV} is not set; e.g. {PG_ENV}=postgres://postgres@127.0.0.1:5432/postgres)"
        );
    });
}

#[derive(Debug)]
enum Fresh {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

/// A store over a database made for one test.
#[derive(Debug)]
pub struct TestDb {
    pub store: DieselStore,
    pub url: String,
    /// Removes the database when dropped (after the store, declared before it).
    #[allow(dead_code)]
    fresh: Fresh,
    /// The secret key the store opened with (PostgreSQL; SQLite's is the key file beside it).
    secret_key: Option<crate::secrets::SecretKey>,
}

impl Fresh {
    /// A new SQLite file's URL (the file is made when opened).
    fn sqlite() -> (String, Fresh) {
        let dir = std::env::temp_dir().join(format!("rosetta-test-{}", Id::new().to_string().to_lowercase()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        (
            format!("sqlite://{}", dir.join("test.db").display()),
            Fresh::Sqlite(dir),
        )
    }

    /// A new, empty PostgreSQL database's URL; `None` unless `ROSETTA_TEST_DATABASE_URL` is set (a
    /// panic instead when `ROSETTA_REQUIRE_POSTGRES` is); a server that cannot be reached is always
    /// a panic.
    fn postgres() -> Option<(String, Fresh)> {
        let Some(admin_url) = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty()) else {
            assert!(
                !postgres_required(),
                "{REQUIRE_PG_ENV} is set but {PG_ENV} is not: PostgreSQL may not be skipped"
            );
            say_postgres_skipped();
            return None;
        };
        let name = format!("rosetta_t_{}", Id::new().to_string().to_lowercase());
        let mut admin = diesel::PgConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("cannot reach {PG_ENV} ({}): {e}", crate::db::redact(&admin_url)));
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create test database");
        let url = replace_database(&admin_url, &name);
        Some((url, Fresh::Postgres { admin_url, name }))
    }
}

/// A store over `url` as a test opens it: PostgreSQL has no key file, so each test database gets
/// a fresh secret key of its own.
fn open_fresh(url: &str) -> (DieselStore, Option<crate::secrets::SecretKey>) {
    if url.starts_with("sqlite://") {
        return (DieselStore::open(url).expect("open sqlite"), None);
    }
    let secret_key = crate::secrets::SecretKey::generate();
    let options = crate::StoreOptions {
        secret_key: Some(secret_key.clone()),
        ..Default::default()
    };
    (
        DieselStore::open_with(url, options).expect("open postgres"),
        Some(secret_key),
    )
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let (url, fresh) = Fresh::sqlite();
        let (store, secret_key) = open_fresh(&url);
        TestDb {
            store,
            url,
            fresh,
            secret_key,
        }
    }

    /// `None` unless `ROSETTA_TEST_DATABASE_URL` is set (a panic instead when
    /// `ROSETTA_REQUIRE_POSTGRES` is); a server that cannot be reached is always a panic.
    pub fn postgres() -> Option<TestDb> {
        let (url, fresh) = Fresh::postgres()?;
        let (store, secret_key) = open_fresh(&url);
        Some(TestDb {
            store,
            url,
            secret_key,
            fresh,
        })
    }

    /// SQLite, then PostgreSQL when configured.
    pub fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        dbs.extend(TestDb::postgres());
        dbs
    }

    pub fn backend(&self) -> &'static str {
        self.store.backend_name()
    }

    /// Another handle on the database, as another instance would open it (same secret key).
    pub fn instance(&self) -> DieselStore {
        let options = crate::StoreOptions {
            secret_key: self.secret_key.clone(),
            ..Default::default()
        };
        DieselStore::open_with(&self.url, options).expect("open the test database again")
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A new database with no schema yet, for upgrade tests: `migrate_first` applies the first
/// migrations, as an earlier release made them, `execute` writes that release's rows, and `open`
/// opens it as this release does (migrating the rest). Removed when dropped.
#[derive(Debug)]
pub struct BlankDb {
    pub url: String,
    fresh: Fresh,
}

impl BlankDb {
    /// SQLite, then PostgreSQL when configured.
    pub fn all() -> Vec<BlankDb> {
        let mut dbs = vec![Fresh::sqlite()];
        dbs.extend(Fresh::postgres());
        dbs.into_iter().map(|(url, fresh)| BlankDb { url, fresh }).collect()
    }

    pub fn backend(&self) -> &'static str {
        match self.fresh {
            Fresh::Sqlite(_) => "sqlite",
            Fresh::Postgres { .. } => "postgres",
        }
    }

    /// The names of this backend's migrations, oldest first (`2026-11-22-000001_initial`, ...).
    pub fn migrations(&self) -> Vec<String> {
        use diesel::migration::MigrationSource;
        let mut names: Vec<String> = match self.fresh {
            Fresh::Sqlite(_) => MigrationSource::<diesel::sqlite::Sqlite>::migrations(&crate::SQLITE_MIGRATIONS)
                .expect("migrations")
                .iter()
                .map(|m| m.name().to_string())
                .collect(),
            Fresh::Postgres { .. } => MigrationSource::<diesel::pg::Pg>::migrations(&crate::POSTGRES_MIGRATIONS)
                .expect("migrations")
                .iter()
                .map(|m| m.name().to_string())
                .collect(),
        };
        names.sort();
        names
    }

    fn connect(&self) -> crate::db::DbConnection {
        match &self.fresh {
            Fresh::Sqlite(dir) => crate::db::DbConnection::Sqlite(
                diesel::SqliteConnection::establish(&dir.join("test.db").to_string_lossy()).expect("open sqlite"),
            ),
            Fresh::Postgres { .. } => {
                crate::db::DbConnection::Pg(diesel::PgConnection::establish(&self.url).expect("open postgres"))
            }
        }
    }

    /// Applies the first `n` migrations (those not yet applied of them).
    pub fn migrate_first(&self, n: usize) {
        use diesel_migrations::MigrationHarness;
        let mut conn = self.connect();
        let pending = match &mut conn {
            crate::db::DbConnection::Sqlite(c) => c.pending_migrations(crate::SQLITE_MIGRATIONS).unwrap().len(),
            crate::db::DbConnection::Pg(c) => c.pending_migrations(crate::POSTGRES_MIGRATIONS).unwrap().len(),
        };
        let applied = self.migrations().len() - pending;
        for _ in applied..n {
            match &mut conn {
                crate::db::DbConnection::Sqlite(c) => c.run_next_migration(crate::SQLITE_MIGRATIONS).map(|_| ()),
                crate::db::DbConnection::Pg(c) => c.run_next_migration(crate::POSTGRES_MIGRATIONS).map(|_| ()),
            }
            .expect("migrate");
        }
    }

    /// Runs `sql` (several statements) on the database as it stands.
    pub fn execute(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        match &mut self.connect() {
            crate::db::DbConnection::Sqlite(c) => c.batch_execute(sql),
            crate::db::DbConnection::Pg(c) => c.batch_execute(sql),
        }
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
    }

    /// Opens it as this release opens a database: the remaining migrations are applied.
    pub fn open(&self) -> DieselStore {
        open_fresh(&self.url).0
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        match &self {
            Fresh::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Fresh::Postgres { admin_url, name } => {
                if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
                }
            }
        }
    }
}

/// Short spellings of common `Store::update_conversation` calls, for tests: each is that one
/// operation, returning the conversation.
pub trait Shortcuts {
    fn assign(&self, org: Id, conversation: Id, user: Option<Id>) -> rosetta_core::Result<rosetta_core::Conversation>;
    fn set_status(
        &self,
        org: Id,
        conversation: Id,
        status: rosetta_core::ConversationStatus,
        actor: Option<Id>,
    ) -> rosetta_core::Result<rosetta_core::Conversation>;
    fn close(
        &self,
        org: Id,
        conversation: Id,
        resolution: Option<&str>,
        actor: Option<Id>,
    ) -> rosetta_core::Result<rosetta_core::Conversation>;
}

impl<S: rosetta_core::Store + ?Sized> Shortcuts for S {
    fn assign(&self, org: Id, conversation: Id, user: Option<Id>) -> rosetta_core::Result<rosetta_core::Conversation> {
        self.update_conversation(org, conversation, rosetta_core::ConversationUpdate::assign(user))
            .map(|d| d.conversation)
    }

    fn set_status(
        &self,
        org: Id,
        conversation: Id,
        status: rosetta_core::ConversationStatus,
        actor: Option<Id>,
    ) -> rosetta_core::Result<rosetta_core::Conversation> {
        let update = rosetta_core::ConversationUpdate {
            status: Some(status),
            actor,
            ..Default::default()
        };
        self.update_conversation(org, conversation, update)
            .map(|d| d.conversation)
    }

    fn close(
        &self,
        org: Id,
        conversation: Id,
        resolution: Option<&str>,
        actor: Option<Id>,
    ) -> rosetta_core::Result<rosetta_core::Conversation> {
        let update = rosetta_core::ConversationUpdate::close(resolution.map(str::to_owned), actor);
        self.update_conversation(org, conversation, update)
            .map(|d| d.conversation)
    }
}

/// A text an agent sends to `to` (digits) on `conversation`, written at `at`, retried until
/// `deadline_at`: a queued send as the send endpoints make it, for tests.
pub fn text_send(
    conversation: Id,
    to: &str,
    text: &str,
    at: rosetta_core::Timestamp,
    deadline_at: rosetta_core::Timestamp,
) -> rosetta_core::NewSend {
    use rosetta_core::*;
    NewSend {
        message: NewMessage {
            conversation_id: conversation,
            wamid: None,
            direction: Direction::Outbound,
            sender_type: SenderType::Agent,
            sender_user_id: None,
            content_type: ContentType::Text,
            body: MessageBody {
                text: Some(text.into()),
                ..Default::default()
            },
            status: MessageStatus::Sending,
            created_at: at,
        },
        payload: serde_json::json!({"messaging_product": "whatsapp", "recipient_type": "individual",
                                    "to": to, "type": "text", "text": {"body": text}}),
        recipient: to.into(),
        deadline_at,
    }
}

/// A text the customer sent at `at` on `conversation`, as ingest records it, for tests.
pub fn inbound_text(
    conversation: Id,
    wamid: &str,
    text: &str,
    at: rosetta_core::Timestamp,
) -> rosetta_core::NewMessage {
    use rosetta_core::*;
    NewMessage {
        conversation_id: conversation,
        wamid: Some(wamid.into()),
        direction: Direction::Inbound,
        sender_type: SenderType::Customer,
        sender_user_id: None,
        content_type: ContentType::Text,
        body: MessageBody {
            text: Some(text.into()),
            ..Default::default()
        },
        status: MessageStatus::Received,
        created_at: at,
    }
}
