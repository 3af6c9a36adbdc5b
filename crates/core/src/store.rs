//! The store's interface: every operation a dialect, the CLI or an embedding program calls.
//!
//! Every operation that touches tenant data takes the organization first and can reach no row of
//! another organization: a foreign id is `Error::NotFound`, exactly like an unknown one.
//! Operations are synchronous (the store is diesel); async callers run them on a blocking pool.

use crate::error::Result;
use crate::id::Id;
use crate::idempotency::{IdempotencyClaim, StoredResponse};
use crate::key::KeyStyle;
use crate::model::*;
use crate::query::*;
use crate::status::ConversationStatus;
use crate::time::Timestamp;
use crate::token::AccessToken;

#[derive(Debug, Clone, Default)]
pub struct NewContact {
    /// Any common spelling; stored as E.164.
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub avatar_url: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: Id,
    pub wamid: Option<String>,
    pub direction: Direction,
    pub sender_type: SenderType,
    pub sender_user_id: Option<Id>,
    pub content_type: ContentType,
    pub body: MessageBody,
    pub status: MessageStatus,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: Option<String>,
    pub style: KeyStyle,
    /// Checked with `key::parse_scopes`.
    pub scopes: Vec<String>,
    pub expires_at: Option<Timestamp>,
}

/// A key just made: its metadata and the secret, which is never shown again.
#[derive(Debug, Clone)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

/// A change to a conversation's status and assignee, applied together or not at all: the one way
/// either changes (`Store::update_conversation`).
///
/// - Moving to `closed` records `closed_at` (now), `closed_by` (the actor) and `resolution`
///   (default "resolved"); closing a closed conversation keeps its first close.
/// - Leaving `closed` clears those three.
/// - A status the conversation already has, or (with `asked_in`) already shows as in that dialect,
///   changes nothing.
#[derive(Debug, Clone, Default)]
pub struct ConversationUpdate {
    pub status: Option<ConversationStatus>,
    /// With a move to `closed`: why (at most 200 characters; default "resolved").
    pub resolution: Option<String>,
    /// The dialect that asked: a conversation whose status it already shows as the asked word keeps
    /// its canonical status (kirim `open` on an `ai_handling` conversation changes nothing).
    pub asked_in: Option<crate::status::Dialect>,
    /// `Some(Some(user))` assigns (the user must belong to the organization), `Some(None)` unassigns.
    pub assignee: Option<Option<Id>>,
    /// The user making the change, when the caller acts as one (must belong to the organization:
    /// else `Error::NotMember`); a close records them as `closed_by`.
    pub actor: Option<Id>,
}

impl ConversationUpdate {
    /// Close, as `actor` when given, with an optional resolution.
    pub fn close(resolution: Option<String>, actor: Option<Id>) -> Self {
        ConversationUpdate {
            status: Some(ConversationStatus::Closed),
            resolution,
            actor,
            ..Default::default()
        }
    }

    /// Move to `status`.
    pub fn status(status: ConversationStatus) -> Self {
        ConversationUpdate {
            status: Some(status),
            ..Default::default()
        }
    }

    /// Assign to `user`, or unassign with `None`.
    pub fn assign(user: Option<Id>) -> Self {
        ConversationUpdate {
            assignee: Some(user),
            ..Default::default()
        }
    }
}

/// A change to a contact: a field left `None` keeps its value; `Some(None)` clears it (the phone
/// number cannot be cleared). The same rules as a new contact's fields.
#[derive(Debug, Clone, Default)]
pub struct ContactChanges {
    pub phone: Option<String>,
    pub name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub company: Option<Option<String>>,
    /// A JSON object, replacing the old one.
    pub metadata: Option<Option<serde_json::Value>>,
}

/// The outcome of `create_contact`: the contact, and whether this call made it.
#[derive(Debug, Clone)]
pub struct ContactCreated {
    pub contact: ContactWithTags,
    pub created: bool,
}

/// An organization's change versions: `inbox` moves with every write to its accounts, users,
/// contacts, tags, conversations, messages, the organization and its keys (not their last use);
/// `hooks` with every write to its webhook subscriptions and deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgVersion {
    pub inbox: i64,
    pub hooks: i64,
}

pub trait Store: Send + Sync + 'static {
    /// The database answers (readiness).
    fn ping(&self) -> Result<()>;

    // Organizations, accounts, users
    fn create_organization(&self, name: &str) -> Result<Organization>;
    fn get_organization(&self, org: Id) -> Result<Organization>;
    fn create_account(
        &self,
        org: Id,
        phone_number_id: &str,
        phone_number: &str,
        name: Option<&str>,
    ) -> Result<WhatsAppAccount>;
    fn list_accounts(&self, org: Id, connected_only: bool) -> Result<Vec<WhatsAppAccount>>;
    /// The account with this `phone_number_id` in this organization.
    fn find_account(&self, org: Id, phone_number_id: &str) -> Result<WhatsAppAccount>;
    /// Stores the account's access token, encrypted (replacing any earlier one). Without a secret
    /// key configured it is refused (`Error::Invalid` on `secret_key`).
    fn set_account_token(&self, org: Id, account: Id, token: &AccessToken) -> Result<()>;
    /// Meta refused the account's token (190): sends are refused (`Error::NotConfigured`) until
    /// a new one is set.
    fn flag_account_token(&self, org: Id, account: Id) -> Result<()>;
    /// The account's access token, decrypted; `None` when none was set.
    fn account_token(&self, org: Id, account: Id) -> Result<Option<AccessToken>>;
    fn create_user(&self, org: Id, name: &str, email: &str) -> Result<User>;
    fn get_user(&self, org: Id, user: Id) -> Result<User>;

    // Contacts and tags
    /// Creates the contact, or returns the existing one with that phone (`created: false`).
    fn create_contact(&self, org: Id, contact: NewContact) -> Result<ContactCreated>;
    fn get_contact(&self, org: Id, contact: Id) -> Result<ContactWithTags>;
    /// Changes a contact's fields (`ContactChanges`); a phone number another contact has is
    /// `Error::Conflict`.
    fn update_contact(&self, org: Id, contact: Id, changes: ContactChanges) -> Result<ContactWithTags>;
    fn list_contacts(&self, org: Id, filter: &ContactFilter, page: &PageRequest) -> Result<Page<ContactWithTags>>;
    /// Creates the tag `name` if the organization has none, then attaches it (idempotent).
    /// A colour given for an existing tag updates it.
    fn attach_tag(&self, org: Id, contact: Id, name: &str, color: Option<&str>) -> Result<Tag>;
    fn detach_tag(&self, org: Id, contact: Id, tag: Id) -> Result<()>;

    // Conversations
    /// The conversation of this account and contact, created open if there is none (the same
    /// find-or-open ingest uses).
    fn open_conversation(&self, org: Id, account: Id, contact: Id) -> Result<Conversation>;
    fn list_conversations(
        &self,
        org: Id,
        filter: &ConversationFilter,
        order: ConversationOrder,
        page: &PageRequest,
    ) -> Result<Page<ConversationDetail>>;
    fn get_conversation(&self, org: Id, conversation: Id) -> Result<ConversationDetail>;
    /// Changes status and assignee together (`ConversationUpdate` has the rules), in one
    /// transaction; returns the conversation as lists show it.
    fn update_conversation(&self, org: Id, conversation: Id, update: ConversationUpdate) -> Result<ConversationDetail>;

    // Messages
    /// Newest first, keyset paged.
    fn list_messages(&self, org: Id, conversation: Id, page: &PageRequest) -> Result<Page<Message>>;
    /// Newest first, the messages older than `before` (a message of this conversation; another id
    /// is `NotFound`), at most `limit`; `total` is the conversation's message count (envelope).
    fn list_messages_before(&self, org: Id, conversation: Id, before: Option<Id>, limit: u32) -> Result<Page<Message>>;
    /// Stores a message and moves its conversation along by the one rule every path shares
    /// (`store::rules`): last message, `unread_count` (+1 per inbound; an outbound reply, the newest
    /// message, clears it), `last_inbound_at`, and reopening a closed conversation on an inbound
    /// message; in one transaction. A wamid already stored changes nothing.
    fn append_message(&self, org: Id, message: NewMessage) -> Result<Message>;

    // Sending (the outbox)
    /// Queues a send: the outbound message (status `sending`) and its dispatch job, in one
    /// transaction; the conversation moves along by the same rule as any message. Returns the
    /// message as stored. A non-template message outside the 24-hour customer-service window
    /// (`outbox::window_open`) is `Error::WindowClosed`, and nothing is written.
    fn enqueue_send(&self, org: Id, send: crate::outbox::NewSend) -> Result<Message>;
    /// Claims up to `limit` dispatch jobs due at `now`, for `lease_millis`; each job is claimed by
    /// one caller only, across every instance over the database. First, a claimed job whose lease
    /// ran out (its worker died mid-attempt) becomes "outcome unknown" for `unknown_for_millis`
    /// (never resent blindly), and an unknown one past that fails with `outbox::OUTCOME_UNKNOWN`.
    fn claim_dispatch(
        &self,
        now: Timestamp,
        lease_millis: i64,
        unknown_for_millis: i64,
        limit: u32,
    ) -> Result<Vec<crate::outbox::DispatchJob>>;
    /// Records what came of a claimed job's attempt.
    fn finish_dispatch(&self, message: Id, outcome: crate::outbox::DispatchOutcome) -> Result<()>;
    /// `finish_dispatch` for several jobs, in one transaction.
    fn finish_dispatches(&self, outcomes: &[(Id, crate::outbox::DispatchOutcome)]) -> Result<()>;
    /// A send as a dialect asks for it (`send::SendRequest`), in one transaction: the idempotency
    /// key looked up (a key already bound answers `Replay`, `Earlier` or `KeyReused` and sends
    /// nothing), the contact and conversation found or made, the reply resolved, the account's token
    /// present (else `Error::NotConfigured`), then `enqueue_send`'s rules; the key is bound to the
    /// message in the same transaction. Any error writes nothing.
    fn send(&self, org: Id, request: crate::send::SendRequest) -> Result<crate::send::SendResult>;
    /// One message of the organization.
    fn get_message(&self, org: Id, message: Id) -> Result<Message>;
    /// The organization's message with this wamid.
    fn message_by_wamid(&self, org: Id, wamid: &str) -> Result<Message>;
    /// The business read the customer's messages up to `message` (inbound; Meta was told): its
    /// conversation's `unread_count` becomes 0. Returns the message.
    fn mark_read(&self, org: Id, message: Id) -> Result<Message>;

    // Media
    /// Claims up to `limit` media fetch jobs due at `now`, for `lease_millis` (a claim whose
    /// worker died is due again when its lease runs out: a fetch is safe to repeat).
    fn claim_media(&self, now: Timestamp, lease_millis: i64, limit: u32) -> Result<Vec<crate::media::MediaJob>>;
    /// Records what came of a fetch, on its job and its message.
    fn finish_media(&self, message: Id, outcome: crate::media::MediaOutcome) -> Result<()>;
    /// Retention: every kept file received before `before` is marked pruned (its message then says
    /// so); returns how many it pruned and the blobs no kept file uses any more, for the caller to
    /// delete from the blob store. At most `limit` files a call.
    fn prune_media(&self, before: Timestamp, limit: u32) -> Result<(usize, Vec<String>)>;
    /// The signer of media links, under this database's key (every instance over it agrees).
    fn media_links(&self) -> crate::media::MediaLinks;
    /// A message's file, by the message a signed media link names (the link is the permission;
    /// `NotFound` when the message has no file).
    fn media_file(&self, message: Id) -> Result<crate::media::MediaFileInfo>;
    /// Records a file a client uploaded to send (already in the blob store); `NotFound` for an
    /// account not the organization's.
    fn create_upload(&self, org: Id, upload: crate::media::NewUpload) -> Result<crate::media::Upload>;
    /// After the dispatcher uploaded a send's file to Meta through `account`: Meta's id, on the
    /// message's file and (for reuse while Meta keeps it) on the upload it came from.
    fn remember_meta_media(&self, message: Id, upload: Option<Id>, account: Id, media_id: &str) -> Result<()>;

    // Events out
    /// The organization's events after position `pos` (0: from the start), in order, at most
    /// `limit`: what changed, written with each change (`events`), once the sequencer gave them
    /// their positions.
    fn events_after(&self, org: Id, pos: i64, limit: u32) -> Result<Vec<crate::events::Event>>;
    /// The newest position of the organization's log (0 when empty).
    fn newest_event(&self, org: Id) -> Result<i64>;
    /// The sequencer: gives committed events their positions in the log (`Event::pos`), in an order
    /// no later commit can precede; how many. Run by `serve` a few times a second; safe on several
    /// instances at once (one sequences, the others find nothing to do).
    fn sequence_events(&self) -> Result<usize>;
    /// Retention: removes up to `limit` events made before `before`, every organization's; how many.
    fn prune_events(&self, before: Timestamp, limit: u32) -> Result<usize>;

    // Webhook subscriptions (each dialect sees its own)
    /// Fans the log out to webhook subscriptions: each active subscription with events after its
    /// cursor gets a delivery of each (up to `limit` a subscription a call) that `render` gives in
    /// its dialect and that it subscribed to, in the transaction that moves its cursor past them.
    /// What it passed over and made.
    fn fan_out_events(
        &self,
        render: &(dyn Fn(
            crate::status::Dialect,
            &crate::events::Event,
            &crate::events::Subjects,
        ) -> Option<crate::events::Rendered>
              + Sync),
        limit: u32,
    ) -> Result<crate::webhooks::FanOut>;
    /// Claims up to `limit` due webhook deliveries until `now + lease_millis` (one claimer each; an
    /// expired claim is due again), at most `per_webhook` of one subscription and none of `busy`.
    fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_millis: i64,
        limit: u32,
        per_webhook: u32,
        busy: &[Id],
    ) -> Result<Vec<crate::webhooks::DeliveryJob>>;
    /// Logs attempts and records what follows each (delivered, due again, failed), and the
    /// subscriptions' consecutive failures (disabling one past its bound).
    fn finish_webhook_deliveries(&self, outcomes: &[(Id, crate::webhooks::DeliveryOutcome)]) -> Result<()>;
    /// An organization's deliveries to its subscriptions in `dialect`, newest first.
    fn list_webhook_deliveries(
        &self,
        org: Id,
        dialect: crate::status::Dialect,
        filter: &crate::webhooks::DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<crate::webhooks::WebhookDelivery>>;
    /// One delivery with its attempts.
    fn get_webhook_delivery(
        &self,
        org: Id,
        dialect: crate::status::Dialect,
        id: Id,
    ) -> Result<crate::webhooks::DeliveryDetail>;
    /// Queues deliveries again, due now.
    fn replay_webhook_deliveries(
        &self,
        org: Id,
        dialect: crate::status::Dialect,
        which: &crate::webhooks::Replay,
    ) -> Result<Vec<crate::webhooks::WebhookDelivery>>;
    /// Retention: finished deliveries made before `before` and their attempts, at most `limit`.
    fn prune_webhook_deliveries(&self, before: Timestamp, limit: u32) -> Result<usize>;
    /// The log's newest position across organizations, and whether events wait for the sequencer.
    fn log_mark(&self) -> Result<crate::webhooks::LogMark>;
    /// The work waiting in each queue, for an operator's metrics (read when they are scraped).
    fn queues(&self) -> Result<Queues> {
        Err(crate::Error::Unavailable(
            "this store does not report its queues".into(),
        ))
    }
    /// The connection pool, for an operator's metrics; `None` where there is none.
    fn pool(&self) -> Option<PoolState> {
        None
    }
    /// The organization's change versions (conditional GETs): each moves in the transaction of
    /// every write to what a GET shows, whichever path made it. `(0, 0)` for one never written to.
    fn org_version(&self, org: Id) -> Result<OrgVersion>;
    /// A rate-limit reservation shared by every instance over this store: adds `want` requests of
    /// `key` under the limit `bucket` names in `minute` (unix minutes) to what the deployment has
    /// asked for in it, and answers the total asked, this request's included (the caller grants
    /// itself what fits under its limit). The first reservation of a minute removes the key's
    /// earlier minutes.
    fn reserve_rate(&self, bucket: &str, key: Id, minute: i64, want: u32) -> Result<i64> {
        let _ = (bucket, key, minute, want);
        Err(crate::Error::Unavailable(
            "this store does not share rate limits".into(),
        ))
    }
    /// The version of every key's usability: it moves whenever a key is revoked, removed, or its
    /// expiry, scopes or secret change (what instances' key caches watch).
    fn key_version(&self) -> Result<i64>;
    /// Makes a subscription, active, receiving the events made from now on; its secret is in the
    /// answer only.
    fn create_webhook(&self, org: Id, new: crate::webhooks::NewWebhook) -> Result<crate::webhooks::CreatedWebhook>;
    /// The organization's subscriptions of `dialect`, newest first.
    fn list_webhooks(&self, org: Id, dialect: crate::status::Dialect) -> Result<Vec<crate::webhooks::Webhook>>;
    /// One of them; another organization's or dialect's is `NotFound(Webhook)`.
    fn get_webhook(&self, org: Id, dialect: crate::status::Dialect, id: Id) -> Result<crate::webhooks::Webhook>;
    fn update_webhook(
        &self,
        org: Id,
        dialect: crate::status::Dialect,
        id: Id,
        changes: crate::webhooks::WebhookChanges,
    ) -> Result<crate::webhooks::Webhook>;
    fn delete_webhook(&self, org: Id, dialect: crate::status::Dialect, id: Id) -> Result<()>;
    /// Adds a new signing secret; the ones before it expire at `old_expire_at` (until then every
    /// unexpired secret signs, so receivers can switch over).
    fn rotate_webhook_secret(
        &self,
        org: Id,
        dialect: crate::status::Dialect,
        id: Id,
        old_expire_at: Timestamp,
    ) -> Result<crate::webhooks::RotatedSecret>;

    // Ingest
    /// Applies one webhook delivery's events in one transaction: all of them, or none and an error.
    /// Accounts are found by `phone_number_id` across organizations (Meta names only the number);
    /// events of a number no organization has are skipped and reported.
    fn ingest(&self, events: &[crate::ingest::IngestEvent]) -> Result<crate::ingest::IngestReport>;

    // Idempotency keys
    /// Claims `key` for a request with this fingerprint (`idempotency::request_fingerprint`).
    fn claim_idempotency_key(&self, org: Id, key: &str, fingerprint: &str) -> Result<IdempotencyClaim>;
    /// Stores the response to replay for a claimed key.
    fn complete_idempotency_key(&self, org: Id, key: &str, response: &StoredResponse) -> Result<()>;
    /// Gives a claimed key up (the request failed before doing anything): the next request may run.
    fn release_idempotency_key(&self, org: Id, key: &str) -> Result<()>;

    // API keys
    fn create_api_key(&self, org: Id, key: NewApiKey) -> Result<CreatedApiKey>;
    /// Revokes a key by id; revoking twice keeps the first time.
    fn revoke_api_key(&self, key: Id) -> Result<ApiKey>;
    /// Records when keys were last used (batched by the HTTP layer, so requests never wait on it).
    fn touch_api_keys(&self, used: &[(Id, Timestamp)]) -> Result<()>;
    /// The usable key with this secret (not revoked, not expired), compared by hash in constant time.
    fn authenticate(&self, secret: &str) -> Result<Option<ApiKey>>;
}

/// Work waiting in one queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Items not finished: due, waiting for a retry, or claimed by a worker.
    pub depth: u64,
    /// When the oldest of them was made.
    pub oldest: Option<Timestamp>,
}

/// What waits in the queues that leave the process (`Store::queues`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queues {
    /// Sends not yet handed to Meta (or waiting to be retried).
    pub sends: Backlog,
    /// Event deliveries to customers' webhook endpoints not yet delivered.
    pub event_deliveries: Backlog,
    /// Received files not yet fetched from Meta.
    pub media_fetches: Backlog,
    /// Webhook subscriptions turned off (by failures or by their owner).
    pub disabled_subscriptions: u64,
}

/// A connection pool's state (`Store::pool`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolState {
    pub size: u32,
    pub idle: u32,
    /// Checkouts that waited for a connection (more than a millisecond), and their waits in all.
    pub waits: u64,
    pub waited_micros: u64,
}
