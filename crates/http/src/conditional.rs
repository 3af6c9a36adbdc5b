//! Conditional GETs, once for every dialect: every authenticated GET of a list or a resource answers
//! with an `ETag`, and `If-None-Match` with a current tag answers `304 Not Modified` without reading
//! the data.
//!
//! The tag is a hash of what the response is of (the method, path and query, the host and scheme its
//! links name, the caller's organization and key or user) and of the organization's change version
//! (`Store::org_version`: moved in the transaction of every write to what a GET shows, on every path,
//! process and instance), read *before* the data, so a tag never names data newer than it: a write
//! committed in between makes the next request's tag differ. Routes under `/webhook…` follow the
//! organization's `hooks` version (subscriptions and deliveries, which change with every delivery),
//! all others its `inbox` version. The tag also names the half hour it was made in, because the
//! signed media links a response carries are good for 30 to 60 minutes from then
//! (`media::MediaUrls`): a client never keeps a link past its expiry on a 304. Tags are weak
//! (`W/"…"`): equal tags mean the same content, not byte for byte (gzip, request ids).

use std::hash::{Hash, Hasher};

use actix_web::http::header::{HeaderValue, ETAG, IF_NONE_MATCH};
use actix_web::http::Method;
use actix_web::HttpRequest;
use rosetta_core::store::OrgVersion;
use rosetta_core::{Id, Timestamp};

/// The span a tag (and a response's media links) is made for, in seconds.
pub const WINDOW_SECS: i64 = 1800;

/// The current window's number.
pub fn window(now: Timestamp) -> i64 {
    now.millis().div_euclid(1000 * WINDOW_SECS)
}

/// What a request's tag is of, beside the organization's version: known before authentication.
#[derive(Debug, Clone)]
pub struct Conditional {
    fingerprint: u64,
    hooks: bool,
    /// The tags `If-None-Match` names.
    wanted: Vec<String>,
}

/// What `dialect::call` leaves on the request for the dialect's scope to answer with.
#[derive(Debug, Clone)]
pub struct Tagged {
    pub etag: String,
    pub not_modified: bool,
    /// The key of the shared rendering (`renders`): the tag's, without the caller.
    pub share: u64,
    /// The caller the tag names.
    pub caller: Option<Id>,
    /// A kept rendering this request is answered with.
    pub hit: Option<std::sync::Arc<crate::renders::Rendering>>,
    /// Whether the response showed who asked (the operation read the caller).
    pub caller_specific: bool,
}

impl Conditional {
    /// For a GET (the only method tagged; a live stream is not), `None` otherwise.
    pub fn of(req: &HttpRequest) -> Option<Conditional> {
        if req.method() != Method::GET || req.path().ends_with("/events/stream") {
            return None;
        }
        let info = req.connection_info();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            req.path(),
            req.query_string(),
            info.scheme(),
            info.host(),
            req.headers().get("x-org-id").and_then(|v| v.to_str().ok()),
        )
            .hash(&mut h);
        let wanted = req
            .headers()
            .get_all(IF_NONE_MATCH)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().trim_start_matches("W/").to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        Some(Conditional {
            fingerprint: h.finish(),
            hooks: req.path().contains("/webhook"),
            wanted,
        })
    }

    /// The tag for the caller (`org`, and its key or user) at `version`, and whether the request
    /// already holds it.
    pub fn tag(&self, org: Id, caller: Option<Id>, version: OrgVersion, now: Timestamp) -> Tagged {
        let v = if self.hooks { version.hooks } else { version.inbox };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.fingerprint, org, self.hooks, v, window(now)).hash(&mut h);
        let share = h.finish();
        caller.hash(&mut h);
        let opaque = format!("\"{:016x}\"", h.finish());
        // Only a tag this route answered: `*` ("any current representation") is not honoured,
        // because whether the resource exists is known only by reading it (a 304 for `*` would
        // answer for a resource that is not there).
        let not_modified = self.wanted.contains(&opaque);
        Tagged {
            etag: format!("W/{opaque}"),
            not_modified,
            share,
            caller,
            hit: None,
            caller_specific: false,
        }
    }
}

/// Sets the `ETag` header.
pub fn set_etag(headers: &mut actix_web::http::header::HeaderMap, etag: &str) {
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(ETAG, value);
    }
}

/// Documents conditional GETs in a dialect's OpenAPI document: every secured GET (streams aside)
/// takes `If-None-Match`, answers 200 with an `ETag`, and 304 when the tag is current.
pub fn document(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, RefOr, Required, ResponseBuilder, Type};
    for (path, item) in doc.paths.paths.iter_mut() {
        if path.ends_with("/events/stream") {
            continue;
        }
        let Some(op) = item.get.as_mut() else { continue };
        if op.security.as_ref().is_none_or(|s| s.is_empty()) {
            continue; // public: health
        }
        let text = || ObjectBuilder::new().schema_type(Type::String).build();
        op.parameters.get_or_insert_with(Vec::new).push(
            ParameterBuilder::new()
                .name("If-None-Match")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "An ETag this route answered: 304 Not Modified, without the data, while it is current",
                ))
                .schema(Some(text()))
                .build(),
        );
        if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
            ok.headers.insert(
                "ETag".into(),
                HeaderBuilder::new()
                    .schema(text())
                    .description(Some(
                        "A weak tag of this representation; it changes whenever anything the response shows changes",
                    ))
                    .build(),
            );
        }
        op.responses.responses.insert(
            "304".into(),
            RefOr::T(
                ResponseBuilder::new()
                    .description("Not Modified: the If-None-Match tag is current (no body)")
                    .header("ETag", HeaderBuilder::new().schema(text()).build())
                    .build(),
            ),
        );
    }
}
