//! Rosetta's store: diesel over SQLite (the embedded default) and PostgreSQL, one schema and one
//! codebase for both (`DbConnection` is a diesel `MultiConnection`).
//!
//! It implements `rosetta_core::Store`. Every query is scoped to an organization; every write is
//! one transaction.

pub mod backup;
mod contacts;
mod conversations;
pub mod db;
mod deliveries;
mod directory;
mod events;
mod explain;
mod group_commit;
mod idempotency;
mod ingest;
pub mod media;
mod messages;
pub(crate) mod outbox;
mod page;
mod rows;
mod rules;
pub mod schema;
pub mod secrets;
pub mod seed;
mod sql;
pub mod testing;
mod uploads;
mod webhooks;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use rand::RngCore;
use rosetta_core::store::*;
use rosetta_core::*;

use db::{lock_writes, map_error, map_pool_error, write_transaction, Manager, Pool};
pub use db::{DatabaseUrl, DbConnection};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The backend type of `DbConnection`, for boxed queries.
pub(crate) type Backend = <DbConnection as diesel::Connection>::Backend;

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections in the pool.
    pub pool_size: u32,
    /// How long a caller waits for a free connection before `Error::Unavailable`.
    pub connection_timeout: Duration,
    /// Apply pending migrations when opening (default true).
    pub migrate: bool,
    /// The key access tokens are sealed with. `None`: `ROSETTA_SECRET_KEY` if set, else for
    /// SQLite the key file beside the database (made on first open), else none (tokens refused).
    pub secret_key: Option<secrets::SecretKey>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            pool_size: 16,
            connection_timeout: Duration::from_secs(5),
            migrate: true,
            secret_key: None,
        }
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Url(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("cannot apply migrations: {0}")]
    Migrate(String),
}

/// The diesel implementation of `rosetta_core::Store`. A clone is another handle on the same pool,
/// write turn, ingest writer and keys.
#[derive(Clone)]
pub struct DieselStore {
    pool: Pool,
    url: DatabaseUrl,
    /// SQLite has one writer: this process's writers queue here instead of in SQLite's busy loop.
    write_lock: Option<Arc<Mutex<()>>>,
    /// SQLite: deliveries are group-committed by one writer thread.
    ingest_queue: Option<Arc<group_commit::IngestQueue>>,
    cursors: CursorCodec,
    media_links: rosetta_core::media::MediaLinks,
    /// Seals and opens access tokens; `None` refuses to store one.
    secret_key: Option<secrets::SecretKey>,
    migrations_applied: usize,
    /// SQLite: whether the file is still in place, looked at (now and then) before the pool is
    /// asked, so a file gone is a 503 at once rather than after the pool's connection timeout.
    file_watch: Arc<db::FileWatch>,
    /// Checkouts that waited more than a millisecond for a connection, and their waits (µs).
    pool_waits: Arc<(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64)>,
}

impl std::fmt::Debug for DieselStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DieselStore")
            .field("backend", &self.backend_name())
            .finish()
    }
}

impl DieselStore {
    /// Opens `sqlite://PATH` or `postgres://…` with default options, applying migrations.
    pub fn open(url: &str) -> Result<Self, OpenError> {
        Self::open_with(url, StoreOptions::default())
    }

    pub fn open_with(url: &str, options: StoreOptions) -> Result<Self, OpenError> {
        let parsed = DatabaseUrl::parse(url).map_err(OpenError::Url)?;
        if let DatabaseUrl::Sqlite(path) = &parsed {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                if !parent.is_dir() {
                    return Err(OpenError::Connect(format!(
                        "directory {} does not exist",
                        parent.display()
                    )));
                }
            }
        }
        let secret_key = match options.secret_key {
            Some(key) => Some(key),
            None => match secrets::SecretKey::from_env().map_err(OpenError::Url)? {
                Some(key) => Some(key),
                None => match &parsed {
                    DatabaseUrl::Sqlite(path) => Some(
                        secrets::SecretKey::load_or_create(&secrets::SecretKey::file_beside(path))
                            .map_err(OpenError::Connect)?,
                    ),
                    DatabaseUrl::Postgres(_) => None,
                },
            },
        };
        let manager = Manager::for_pool(parsed.clone(), options.pool_size.max(1));
        let file_watch = manager.file_watch();
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(options.connection_timeout)
            .build(manager)
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        let write_lock = parsed.is_sqlite().then(|| Arc::new(Mutex::new(())));
        let ingest_queue = match &write_lock {
            Some(lock) => Some(Arc::new(
                group_commit::IngestQueue::start(pool.clone(), lock.clone())
                    .map_err(|e| OpenError::Connect(format!("cannot start the ingest writer: {e}")))?,
            )),
            None => None,
        };
        let mut store = DieselStore {
            pool,
            url: parsed,
            write_lock,
            ingest_queue,
            cursors: CursorCodec::new(b"unset"),
            media_links: rosetta_core::media::MediaLinks::new(b"unset"),
            secret_key,
            migrations_applied: 0,
            file_watch,
            pool_waits: Default::default(),
        };
        if options.migrate {
            store.migrations_applied = store.migrate()?;
        }
        let secret = store
            .cursor_secret()
            .map_err(|e| OpenError::Migrate(format!("{e:?}")))?;
        store.cursors = CursorCodec::new(&secret);
        store.media_links = rosetta_core::media::MediaLinks::new(&secret);
        Ok(store)
    }

    /// Applies every pending migration; returns how many ran. On PostgreSQL an advisory lock keeps
    /// instances that start together from migrating at once.
    pub fn migrate(&self) -> Result<usize, OpenError> {
        let mut conn = self.pool.get().map_err(|e| OpenError::Connect(e.to_string()))?;
        let ran = match &mut *conn {
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
            DbConnection::Pg(c) => {
                diesel::sql_query("SELECT pg_advisory_lock(1919903744)")
                    .execute(c)
                    .map_err(|e| OpenError::Migrate(e.to_string()))?;
                let ran = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len());
                let _ = diesel::sql_query("SELECT pg_advisory_unlock(1919903744)").execute(c);
                ran
            }
        };
        ran.map_err(|e| OpenError::Migrate(e.to_string()))
    }

    /// How many migrations opening this store applied.
    pub fn migrations_applied(&self) -> usize {
        self.migrations_applied
    }

    pub fn backend_name(&self) -> &'static str {
        match self.url {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }

    /// The cursor-signing key, made once per database so that every instance over it agrees.
    fn cursor_secret(&self) -> Result<Vec<u8>, Error> {
        use schema::settings::dsl::*;
        let read = |c: &mut DbConnection| {
            settings
                .filter(name.eq("cursor_key"))
                .select(value)
                .first::<Vec<u8>>(c)
                .optional()
                .map_err(map_error)
        };
        if let Some(existing) = self.read(read)? {
            return Ok(existing);
        }
        let mut fresh = vec![0u8; 32];
        rand::rng().fill_bytes(&mut fresh);
        let inserted = self.write(|c| {
            if let Some(existing) = read(c)? {
                return Ok(existing);
            }
            diesel::insert_into(settings)
                .values((name.eq("cursor_key"), value.eq(&fresh)))
                .execute(c)
                .map_err(map_error)?;
            Ok(fresh.clone())
        });
        match inserted {
            Err(Error::Conflict(_)) => self
                .read(read)?
                .ok_or_else(|| Error::Internal("cursor key vanished".into())),
            other => other,
        }
    }

    pub(crate) fn read<T>(&self, f: impl FnOnce(&mut DbConnection) -> Result<T>) -> Result<T> {
        self.file_in_place()?;
        let mut conn = self.checkout()?;
        f(&mut conn)
    }

    /// A pooled connection; a wait longer than a millisecond is counted (`Store::pool`).
    fn checkout(&self) -> Result<r2d2::PooledConnection<Manager>> {
        use std::sync::atomic::Ordering;
        let started = std::time::Instant::now();
        let conn = self.pool.get().map_err(map_pool_error);
        let waited = started.elapsed();
        if waited > Duration::from_millis(1) {
            self.pool_waits.0.fetch_add(1, Ordering::Relaxed);
            self.pool_waits
                .1
                .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
        }
        conn
    }

    /// SQLite: the file is still the one opened (`db::FileWatch`). Without this, a checkout with
    /// the file gone waited out the pool's connection timeout (5 s) for a connection that could
    /// not be made before answering 503.
    fn file_in_place(&self) -> Result<()> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => self
                .file_watch
                .check_now_and_then(path)
                .map_err(|e| Error::Unavailable(e.to_string())),
            DatabaseUrl::Postgres(_) => Ok(()),
        }
    }

    /// One write transaction. On SQLite this process's writers take their turn on the write lock
    /// first and only then a connection, so a burst of writes never holds the connections the
    /// readers (inline on the async workers) need.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut DbConnection) -> Result<T>) -> Result<T> {
        self.file_in_place()?;
        let _turn = lock_writes(self.write_lock.as_deref());
        let mut conn = self.checkout()?;
        write_transaction(&mut conn, f)
    }

    pub(crate) fn cursors(&self) -> &CursorCodec {
        &self.cursors
    }

    /// The organization of an account, found by the account's id alone (the operator's CLI names
    /// an account without its organization).
    pub fn account_org(&self, account: Id) -> Result<Id> {
        self.read(|c| directory::account_org(c, account))
    }

    /// `Store::create_account`, with the account's access token set in the same transaction (both
    /// are written, or neither).
    pub fn create_account_with_token(
        &self,
        org: Id,
        phone_number_id: &str,
        phone_number: &str,
        name: Option<&str>,
        token: Option<&AccessToken>,
    ) -> Result<WhatsAppAccount> {
        validate::check_phone_number_id("phone_number_id", phone_number_id)?;
        let phone = validate::normalize_phone("phone_number", phone_number)?;
        let name = name
            .map(|n| validate::check_name("name", n, validate::MAX_NAME_CHARS))
            .transpose()?;
        let key = token.map(|_| self.secret_key()).transpose()?;
        self.write(|c| {
            let account = directory::create_account(c, org, phone_number_id, &phone, name)?;
            if let (Some(key), Some(token)) = (key, token) {
                directory::set_account_token(c, org, account.id, &key.seal(account.id, token.expose()))?;
            }
            Ok(account)
        })
    }

    fn secret_key(&self) -> Result<&secrets::SecretKey> {
        self.secret_key.as_ref().ok_or_else(|| {
            Error::invalid(
                "secret_key",
                format!(
                    "{} is not set: access tokens cannot be stored or read",
                    secrets::SECRET_KEY_ENV
                ),
            )
        })
    }

    /// Runs `EXPLAIN` (SQLite: `EXPLAIN QUERY PLAN`) for the query a conversation list runs, for
    /// checking that every list is an index range scan.
    pub fn explain_conversation_list(
        &self,
        org: Id,
        filter: &ConversationFilter,
        order: ConversationOrder,
        deep: bool,
    ) -> Result<String> {
        self.read(|c| conversations::explain(c, org, filter, order, deep))
    }

    /// The plan of the query that finds due webhook deliveries (`claim_webhook_deliveries`), run
    /// in a transaction that is rolled back.
    pub fn explain_delivery_claim(&self) -> Result<String> {
        let key = self.secret_key()?.clone();
        self.read(|c| {
            let mut sql = None;
            let _ = c.transaction::<(), diesel::result::Error, _>(|c| {
                sql = crate::explain::capture_sql_where(
                    c,
                    |sql| sql.contains("due_at"),
                    |c| deliveries::claim(c, &key, Timestamp::now(), 1000, 10, 10, &[]).map(|_| ()),
                )
                .ok();
                Err(diesel::result::Error::RollbackTransaction)
            });
            let sql = sql.ok_or_else(|| Error::Internal("no claim statement".into()))?;
            crate::explain::plan(c, &sql)
        })
    }
}

impl Store for DieselStore {
    fn ping(&self) -> Result<()> {
        self.read(|c| diesel::sql_query("SELECT 1").execute(c).map(|_| ()).map_err(map_error))
    }

    fn create_organization(&self, name: &str) -> Result<Organization> {
        let name = validate::check_name("name", name, 200)?;
        self.write(|c| directory::create_organization(c, &name))
    }

    fn get_organization(&self, org: Id) -> Result<Organization> {
        self.read(|c| directory::get_organization(c, org))
    }

    fn create_account(
        &self,
        org: Id,
        phone_number_id: &str,
        phone_number: &str,
        name: Option<&str>,
    ) -> Result<WhatsAppAccount> {
        self.create_account_with_token(org, phone_number_id, phone_number, name, None)
    }

    fn list_accounts(&self, org: Id, connected_only: bool) -> Result<Vec<WhatsAppAccount>> {
        self.read(|c| directory::list_accounts(c, org, connected_only))
    }

    fn find_account(&self, org: Id, phone_number_id: &str) -> Result<WhatsAppAccount> {
        self.read(|c| directory::find_account(c, org, phone_number_id))
    }

    fn set_account_token(&self, org: Id, account: Id, token: &AccessToken) -> Result<()> {
        let sealed = self.secret_key()?.seal(account, token.expose());
        self.write(|c| directory::set_account_token(c, org, account, &sealed))
    }

    fn flag_account_token(&self, org: Id, account: Id) -> Result<()> {
        self.write(|c| directory::flag_account_token(c, org, account))
    }

    fn account_token(&self, org: Id, account: Id) -> Result<Option<AccessToken>> {
        let Some(sealed) = self.read(|c| directory::account_token(c, org, account))? else {
            return Ok(None);
        };
        let text = self.secret_key()?.open(account, &sealed)?;
        AccessToken::new(&text).map(Some)
    }

    fn create_user(&self, org: Id, name: &str, email: &str) -> Result<User> {
        let name = validate::check_name("name", name, 200)?;
        let email = email.trim().to_owned();
        validate::check_email("email", &email)?;
        self.write(|c| directory::create_user(c, org, &name, &email))
    }

    fn get_user(&self, org: Id, user: Id) -> Result<User> {
        self.read(|c| directory::get_user(c, org, user))
    }

    fn create_contact(&self, org: Id, contact: NewContact) -> Result<ContactCreated> {
        let checked = contacts::check_new(contact)?;
        match self.write(|c| contacts::create(c, org, &checked)) {
            // Another writer made the same phone between our read and our insert (PostgreSQL).
            Err(Error::Conflict(_)) => self.read(|c| {
                let existing =
                    contacts::find_by_phone(c, org, &checked.phone)?.ok_or(Error::NotFound(EntityKind::Contact))?;
                Ok(ContactCreated {
                    contact: contacts::with_tags(c, existing)?,
                    created: false,
                })
            }),
            other => other,
        }
    }

    fn update_contact(&self, org: Id, contact: Id, changes: ContactChanges) -> Result<ContactWithTags> {
        self.write(|c| contacts::update(c, org, contact, changes))
    }

    fn get_contact(&self, org: Id, contact: Id) -> Result<ContactWithTags> {
        self.read(|c| {
            let row = contacts::load(c, org, contact)?;
            contacts::with_tags(c, row)
        })
    }

    fn list_contacts(&self, org: Id, filter: &ContactFilter, page: &PageRequest) -> Result<Page<ContactWithTags>> {
        self.read(|c| contacts::list(c, self.cursors(), org, filter, page))
    }

    fn attach_tag(&self, org: Id, contact: Id, name: &str, color: Option<&str>) -> Result<Tag> {
        let name = validate::check_name("name", name, 64)?;
        let color = color.map(|col| validate::normalize_color("color", col)).transpose()?;
        self.write(|c| contacts::attach_tag(c, org, contact, &name, color.as_deref()))
    }

    fn detach_tag(&self, org: Id, contact: Id, tag: Id) -> Result<()> {
        self.write(|c| contacts::detach_tag(c, org, contact, tag))
    }

    fn open_conversation(&self, org: Id, account: Id, contact: Id) -> Result<Conversation> {
        self.write(|c| conversations::open(c, org, account, contact, Timestamp::now()))
    }

    fn list_conversations(
        &self,
        org: Id,
        filter: &ConversationFilter,
        order: ConversationOrder,
        page: &PageRequest,
    ) -> Result<Page<ConversationDetail>> {
        self.read(|c| conversations::list(c, self.cursors(), org, filter, order, page))
    }

    fn get_conversation(&self, org: Id, conversation: Id) -> Result<ConversationDetail> {
        self.read(|c| conversations::load_detail(c, org, conversation))
    }

    fn update_conversation(&self, org: Id, conversation: Id, update: ConversationUpdate) -> Result<ConversationDetail> {
        let mut update = update;
        update.resolution = update
            .resolution
            .as_deref()
            .map(|r| validate::check_name("resolution", r, validate::MAX_NAME_CHARS))
            .transpose()?;
        self.write(|c| {
            conversations::update(c, org, conversation, &update)?;
            conversations::load_detail(c, org, conversation)
        })
    }

    fn list_messages(&self, org: Id, conversation: Id, page: &PageRequest) -> Result<Page<Message>> {
        self.read(|c| messages::list(c, self.cursors(), org, conversation, page))
    }

    fn list_messages_before(&self, org: Id, conversation: Id, before: Option<Id>, limit: u32) -> Result<Page<Message>> {
        self.read(|c| messages::list_before(c, org, conversation, before, limit))
    }

    fn append_message(&self, org: Id, message: NewMessage) -> Result<Message> {
        self.write(|c| messages::append(c, org, message))
    }

    fn enqueue_send(&self, org: Id, send: NewSend) -> Result<Message> {
        if send.recipient.is_empty() || !send.recipient.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid("to", "the recipient must be a phone number's digits"));
        }
        self.write(|c| outbox::enqueue(c, org, send))
    }

    fn claim_dispatch(
        &self,
        now: Timestamp,
        lease_millis: i64,
        unknown_for_millis: i64,
        limit: u32,
    ) -> Result<Vec<DispatchJob>> {
        self.write(|c| outbox::claim(c, now, lease_millis, unknown_for_millis, limit.min(1000)))
    }

    fn finish_dispatch(&self, message: Id, outcome: DispatchOutcome) -> Result<()> {
        self.write(|c| outbox::finish(c, message, outcome))
    }

    fn finish_dispatches(&self, outcomes: &[(Id, DispatchOutcome)]) -> Result<()> {
        self.write(|c| {
            outcomes
                .iter()
                .try_for_each(|(message, outcome)| outbox::finish(c, *message, outcome.clone()))
        })
    }

    fn send(&self, org: Id, request: rosetta_core::SendRequest) -> Result<rosetta_core::SendResult> {
        // On PostgreSQL two sends racing on one new contact, or on one idempotency key, collide on
        // a unique index: the loser runs again and finds the winner's rows.
        let mut attempt = 0;
        loop {
            match self.write(|c| outbox::send(c, org, request.clone())) {
                Err(Error::Conflict(_)) if attempt < 3 => attempt += 1,
                other => return other,
            }
        }
    }

    fn get_message(&self, org: Id, message: Id) -> Result<Message> {
        self.read(|c| messages::load(c, org, message))
    }

    fn message_by_wamid(&self, org: Id, wamid: &str) -> Result<Message> {
        self.read(|c| {
            messages::find_by_wamid(c, org, wamid)?
                .ok_or(Error::NotFound(EntityKind::Message))?
                .try_into()
        })
    }

    fn mark_read(&self, org: Id, message: Id) -> Result<Message> {
        self.write(|c| messages::mark_read(c, org, message))
    }

    fn claim_media(&self, now: Timestamp, lease_millis: i64, limit: u32) -> Result<Vec<rosetta_core::media::MediaJob>> {
        self.write(|c| media::claim(c, now, lease_millis, limit.min(1000)))
    }

    fn finish_media(&self, message: Id, outcome: rosetta_core::media::MediaOutcome) -> Result<()> {
        self.write(|c| media::finish(c, message, outcome))
    }

    fn prune_media(&self, before: Timestamp, limit: u32) -> Result<(usize, Vec<String>)> {
        self.write(|c| {
            let (files, mut blobs) = media::prune(c, before, limit)?;
            let (uploads, uploaded) = uploads::prune(c, before, limit)?;
            blobs.extend(uploaded);
            Ok((files + uploads, media::unused(c, blobs)?))
        })
    }

    fn media_links(&self) -> rosetta_core::media::MediaLinks {
        self.media_links.clone()
    }

    fn media_file(&self, message: Id) -> Result<rosetta_core::media::MediaFileInfo> {
        self.read(|c| media::file(c, message))
    }

    fn events_after(&self, org: Id, pos: i64, limit: u32) -> Result<Vec<rosetta_core::events::Event>> {
        self.read(|c| events::after(c, org, pos, limit.min(1000)))
    }

    fn newest_event(&self, org: Id) -> Result<i64> {
        self.read(|c| events::newest(c, org))
    }

    fn sequence_events(&self) -> Result<usize> {
        self.write(events::sequence)
    }

    fn prune_events(&self, before: Timestamp, limit: u32) -> Result<usize> {
        self.write(|c| events::prune(c, before, limit))
    }

    fn fan_out_events(
        &self,
        render: &(dyn Fn(
            Dialect,
            &rosetta_core::events::Event,
            &rosetta_core::events::Subjects,
        ) -> Option<rosetta_core::events::Rendered>
              + Sync),
        limit: u32,
    ) -> Result<rosetta_core::webhooks::FanOut> {
        let mut done = rosetta_core::webhooks::FanOut::default();
        for subscription in self.read(|c| deliveries::behind(c, 1000))? {
            if let Some(one) = self.write(|c| deliveries::fan_out(c, render, subscription, limit))? {
                done.events += one.events;
                done.deliveries += one.deliveries;
            }
        }
        Ok(done)
    }

    fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_millis: i64,
        limit: u32,
        per_webhook: u32,
        busy: &[Id],
    ) -> Result<Vec<rosetta_core::webhooks::DeliveryJob>> {
        let key = self.secret_key()?.clone();
        self.write(|c| deliveries::claim(c, &key, now, lease_millis, limit, per_webhook, busy))
    }

    fn finish_webhook_deliveries(&self, outcomes: &[(Id, rosetta_core::webhooks::DeliveryOutcome)]) -> Result<()> {
        self.write(|c| deliveries::finish(c, outcomes))
    }

    fn list_webhook_deliveries(
        &self,
        org: Id,
        dialect: Dialect,
        filter: &rosetta_core::webhooks::DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<rosetta_core::webhooks::WebhookDelivery>> {
        self.read(|c| deliveries::list(c, self.cursors(), org, dialect, filter, page))
    }

    fn get_webhook_delivery(
        &self,
        org: Id,
        dialect: Dialect,
        id: Id,
    ) -> Result<rosetta_core::webhooks::DeliveryDetail> {
        self.read(|c| deliveries::get(c, org, dialect, id))
    }

    fn replay_webhook_deliveries(
        &self,
        org: Id,
        dialect: Dialect,
        which: &rosetta_core::webhooks::Replay,
    ) -> Result<Vec<rosetta_core::webhooks::WebhookDelivery>> {
        self.write(|c| deliveries::replay(c, org, dialect, which))
    }

    fn prune_webhook_deliveries(&self, before: Timestamp, limit: u32) -> Result<usize> {
        self.write(|c| deliveries::prune(c, before, limit))
    }

    fn org_version(&self, org: Id) -> Result<OrgVersion> {
        self.read(|c| {
            // Read before every GET: built per backend, skipping the MultiConnection's query
            // rewriting (a quarter of `/me`'s instructions went to it).
            let row: Option<(i64, i64)> = crate::per_backend!(c, |conn| schema::org_versions::table
                .find(rows::b(org))
                .select((schema::org_versions::inbox, schema::org_versions::hooks))
                .first(conn)
                .optional()
                .map_err(map_error))?;
            Ok(row.map_or(OrgVersion::default(), |(inbox, hooks)| OrgVersion { inbox, hooks }))
        })
    }

    fn reserve_rate(&self, bucket: &str, key: Id, minute: i64, want: u32) -> Result<i64> {
        use diesel::upsert::excluded;
        use schema::rate_windows as rw;
        let (want, id) = (i64::from(want), key.to_bytes());
        self.write(|c| {
            let added = diesel::insert_into(rw::table)
                .values((
                    rw::bucket.eq(bucket),
                    rw::key_id.eq(&id[..]),
                    rw::minute.eq(minute),
                    rw::asked.eq(want),
                ))
                .on_conflict((rw::bucket, rw::key_id, rw::minute))
                .do_update()
                .set(rw::asked.eq(rw::asked + excluded(rw::asked)));
            per_backend!(c, |conn| added.execute(conn)).map_err(map_error)?;
            // The row is this transaction's until it commits: the total read is the one it made.
            let asked: i64 = rw::table
                .find((bucket, &id[..], minute))
                .select(rw::asked)
                .first(c)
                .map_err(map_error)?;
            if asked == want {
                diesel::delete(
                    rw::table
                        .filter(rw::bucket.eq(bucket))
                        .filter(rw::key_id.eq(&id[..]))
                        .filter(rw::minute.lt(minute)),
                )
                .execute(c)
                .map_err(map_error)?;
            }
            Ok(asked)
        })
    }

    fn key_version(&self) -> Result<i64> {
        self.read(|c| {
            schema::key_changes::table
                .select(schema::key_changes::version)
                .first(c)
                .map_err(map_error)
        })
    }

    fn log_mark(&self) -> Result<rosetta_core::webhooks::LogMark> {
        self.read(events::mark)
    }

    fn queues(&self) -> Result<Queues> {
        use diesel::dsl::{count_star, min};
        use schema::{dispatch_jobs as dj, media_files as mf, webhook_deliveries as wd, webhook_subscriptions as ws};
        let backlog = |(depth, oldest): (i64, Option<i64>)| Backlog {
            depth: depth.max(0) as u64,
            oldest: oldest.map(Timestamp),
        };
        self.read(|c| {
            let sends = dj::table
                .filter(dj::state.eq(outbox::QUEUED).or(dj::state.eq(outbox::CLAIMED)))
                .select((count_star(), min(dj::created_at)))
                .first::<(i64, Option<i64>)>(c)
                .map_err(map_error)?;
            let event_deliveries = wd::table
                .filter(wd::state.eq(deliveries::PENDING).or(wd::state.eq(deliveries::CLAIMED)))
                .select((count_star(), min(wd::created_at)))
                .first::<(i64, Option<i64>)>(c)
                .map_err(map_error)?;
            let media_fetches = mf::table
                .filter(mf::job.eq(media::QUEUED).or(mf::job.eq(media::CLAIMED)))
                .select((count_star(), min(mf::created_at)))
                .first::<(i64, Option<i64>)>(c)
                .map_err(map_error)?;
            let disabled: i64 = ws::table
                .filter(ws::is_active.eq(false))
                .count()
                .get_result(c)
                .map_err(map_error)?;
            Ok(Queues {
                sends: backlog(sends),
                event_deliveries: backlog(event_deliveries),
                media_fetches: backlog(media_fetches),
                disabled_subscriptions: disabled.max(0) as u64,
            })
        })
    }

    fn pool(&self) -> Option<PoolState> {
        use std::sync::atomic::Ordering;
        let state = self.pool.state();
        Some(PoolState {
            size: state.connections,
            idle: state.idle_connections,
            waits: self.pool_waits.0.load(Ordering::Relaxed),
            waited_micros: self.pool_waits.1.load(Ordering::Relaxed),
        })
    }

    fn create_webhook(
        &self,
        org: Id,
        new: rosetta_core::webhooks::NewWebhook,
    ) -> Result<rosetta_core::webhooks::CreatedWebhook> {
        let key = self.secret_key()?.clone();
        self.write(|c| webhooks::create(c, &key, org, new))
    }

    fn list_webhooks(&self, org: Id, dialect: Dialect) -> Result<Vec<rosetta_core::webhooks::Webhook>> {
        self.read(|c| webhooks::list(c, org, dialect))
    }

    fn get_webhook(&self, org: Id, dialect: Dialect, id: Id) -> Result<rosetta_core::webhooks::Webhook> {
        self.read(|c| webhooks::get(c, org, dialect, id))
    }

    fn update_webhook(
        &self,
        org: Id,
        dialect: Dialect,
        id: Id,
        changes: rosetta_core::webhooks::WebhookChanges,
    ) -> Result<rosetta_core::webhooks::Webhook> {
        self.write(|c| webhooks::update(c, org, dialect, id, changes))
    }

    fn delete_webhook(&self, org: Id, dialect: Dialect, id: Id) -> Result<()> {
        self.write(|c| webhooks::delete(c, org, dialect, id))
    }

    fn rotate_webhook_secret(
        &self,
        org: Id,
        dialect: Dialect,
        id: Id,
        old_expire_at: Timestamp,
    ) -> Result<rosetta_core::webhooks::RotatedSecret> {
        let key = self.secret_key()?.clone();
        self.write(|c| webhooks::rotate(c, &key, org, dialect, id, old_expire_at))
    }

    fn create_upload(&self, org: Id, upload: rosetta_core::media::NewUpload) -> Result<rosetta_core::media::Upload> {
        self.write(|c| uploads::create(c, org, upload))
    }

    fn remember_meta_media(&self, message: Id, upload: Option<Id>, account: Id, media_id: &str) -> Result<()> {
        self.write(|c| uploads::remember(c, message, upload, account, media_id))
    }

    fn ingest(&self, events: &[IngestEvent]) -> Result<IngestReport> {
        if let Some(queue) = &self.ingest_queue {
            return queue.ingest(events);
        }
        // On PostgreSQL two deliveries for a new contact can race to create it: the loser's
        // transaction fails on the unique index and is run again, finding the winner's rows.
        let mut attempt = 0;
        loop {
            match self.write(|c| ingest::apply(c, events)) {
                Err(Error::Conflict(_)) if attempt < 3 => attempt += 1,
                other => return other,
            }
        }
    }

    fn claim_idempotency_key(&self, org: Id, key: &str, fingerprint: &str) -> Result<IdempotencyClaim> {
        // Two instances racing to claim one new key on PostgreSQL: the loser's insert breaks the
        // primary key, and its next attempt reads the winner's row.
        let mut attempt = 0;
        loop {
            match self.write(|c| idempotency::claim(c, org, key, fingerprint, Timestamp::now())) {
                Err(Error::Conflict(_)) if attempt < 3 => attempt += 1,
                other => return other,
            }
        }
    }

    fn complete_idempotency_key(&self, org: Id, key: &str, response: &StoredResponse) -> Result<()> {
        self.write(|c| idempotency::complete(c, org, key, response))
    }

    fn release_idempotency_key(&self, org: Id, key: &str) -> Result<()> {
        self.write(|c| idempotency::release(c, org, key))
    }

    fn create_api_key(&self, org: Id, key: NewApiKey) -> Result<CreatedApiKey> {
        let name = key
            .name
            .as_deref()
            .map(|n| validate::check_name("name", n, 200))
            .transpose()?;
        self.write(|c| directory::create_api_key(c, org, name, &key))
    }

    fn revoke_api_key(&self, key: Id) -> Result<ApiKey> {
        self.write(|c| directory::revoke_api_key(c, key))
    }

    fn touch_api_keys(&self, used: &[(Id, Timestamp)]) -> Result<()> {
        self.write(|c| directory::touch_api_keys(c, used))
    }

    fn authenticate(&self, secret: &str) -> Result<Option<ApiKey>> {
        self.read(|c| directory::authenticate(c, secret))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;

    /// Writers waiting their turn on SQLite hold no connection: with two connections, one writer
    /// inside its transaction and more queued behind it, a read still gets a connection at once.
    /// (Before the fix the queued writers held every connection and the read waited out the pool.)
    #[test]
    fn reads_keep_answering_during_a_write_burst() {
        let db = testing::TestDb::sqlite();
        let store = Arc::new(
            DieselStore::open_with(
                &db.url,
                StoreOptions {
                    pool_size: 2,
                    connection_timeout: Duration::from_millis(500),
                    migrate: false,
                    secret_key: None,
                },
            )
            .unwrap(),
        );
        let (inside, entered) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let holder = {
            let store = store.clone();
            std::thread::spawn(move || {
                store.write(|_| {
                    inside.send(()).unwrap();
                    released.recv().unwrap();
                    Ok(())
                })
            })
        };
        entered.recv().unwrap();
        let (started, starts) = mpsc::channel();
        let queued: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                let started = started.clone();
                std::thread::spawn(move || {
                    started.send(()).unwrap();
                    store.write(|_| Ok(()))
                })
            })
            .collect();
        for _ in 0..4 {
            starts.recv().unwrap();
        }
        // Give the queued writers the chance to take connections (they must not): poll the pool
        // until none is idle, or a bound.
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline && store.pool.state().idle_connections > 0 {
            std::thread::yield_now();
        }
        for _ in 0..10 {
            assert_eq!(store.ping(), Ok(()), "a read during the burst");
        }
        release.send(()).unwrap();
        assert_eq!(holder.join().unwrap(), Ok(()));
        for writer in queued {
            assert_eq!(writer.join().unwrap(), Ok(()));
        }
    }
}
