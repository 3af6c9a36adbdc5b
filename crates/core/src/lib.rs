//! Rosetta's domain, protocol-agnostic: ids and their spellings, entities, the canonical status
//! model, filters, orderings, pages, keyset cursors, domain errors and the store's interface.
//!
//! No actix, no diesel, no dialect JSON here (ARCHITECTURE.md).

pub mod cursor;
pub mod error;
pub mod events;
pub mod id;
pub mod idempotency;
pub mod ingest;
pub mod key;
pub mod media;
pub mod model;
pub mod outbox;
pub mod query;
pub mod send;
pub mod status;
pub mod store;
pub mod time;
pub mod token;
pub mod validate;
pub mod webhooks;

pub use cursor::{CursorCodec, KeysetPosition};
pub use error::{CursorError, Error, Result};
pub use id::{EntityKind, Id, IdError, Rendered, Spelling};
pub use idempotency::{IdempotencyClaim, RequestKey, StoredResponse};
pub use ingest::{InboundMessage, IngestEvent, IngestReport, StatusUpdate};
pub use model::*;
pub use outbox::{DispatchJob, DispatchOutcome, NewSend};
pub use query::*;
pub use send::{Content, MediaSource, Recipient, ReplyTo, SendRequest, SendResult, Sent};
pub use status::{ConversationStatus, Dialect};
pub use store::*;
pub use time::{Rfc3339, Timestamp};
pub use token::AccessToken;
