//! Request ids (`req_<ULID>`): one per request, made by Rosetta, carried through the request's
//! task so that any error rendered while serving it (a handler's, an extractor's, a panic's) can
//! name it. A client's own `X-Request-Id` is logged beside it, never echoed.

use std::future::Future;

use actix_web::dev::ServiceRequest;
use rosetta_core::{EntityKind, Id, Spelling};

tokio::task_local! {
    static REQUEST_ID: String;
}

pub const HEADER: &str = "X-Request-Id";

/// A fresh `req_<ULID>`.
pub fn generate() -> String {
    Id::new().render(EntityKind::Request, Spelling::Kirim)
}

/// The id of the request being served on this task, if a dialect gave it one.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Logs the client's own `X-Request-Id`, if it sent one, beside Rosetta's.
pub fn log_client_id(req: &ServiceRequest, id: &str) {
    if let Some(theirs) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        tracing::info!(request_id = %id, client_request_id = %theirs, method = %req.method(), path = %req.path(), "request");
    }
}

/// Runs `fut` (a request's service future) with `id` as its request id.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn ids_are_kirim_request_ids_and_follow_the_task() {
        let id = generate();
        assert!(id.starts_with("req_") && id.len() == 30, "{id}");
        assert_eq!(current(), None);
        let seen = scope(id.clone(), async { current() }).await;
        assert_eq!(seen, Some(id));
    }
}
