//! Shared renderings: identical GETs of one organization within one change version are answered
//! from one rendering, so 50 agents polling the same first page cost one query per change, not 50.
//!
//! The key is the conditional tag's (`conditional::Conditional`: method, path and query, host and
//! scheme, `x-org-id`, the organization, its change version and the media links' half hour) without
//! the caller: a page of conversations is the same for every key and user of the organization that
//! passed the route's checks (which run before the lookup: authentication, rate limit, membership,
//! scope). A response that depends on who asks (`/me`, kirim's account) is found out when it is
//! made, because the operation read the caller from its `Principal`; it is kept for that caller
//! alone. Only `200` responses with a whole body are kept, with their headers; kirim's request id
//! inside the body is rewritten for each request that reuses it.
//!
//! Correctness rests on the version being read before the data (as for 304s): a rendering kept
//! under version `v` shows data at least as new as `v`, and any write moves the version, so nothing
//! kept is served after a change is committed and its version read.
//!
//! Memory is bounded by a byte budget (`--shared-render-mib`, 0 turns sharing off); the oldest
//! renderings go first. Hits and misses are counted (`hits`, `misses`), and logged at shutdown.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::body::BoxBody;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use rosetta_core::Id;

/// The default budget: a few hundred first pages.
pub const DEFAULT_BUDGET_BYTES: usize = 8 << 20;

/// One kept response.
#[derive(Debug)]
pub struct Rendering {
    /// `Some(caller)` when the response showed who asked: served to that caller only (kept under
    /// the request's key mixed with the caller, and the request's key marks the route as such).
    caller: Option<Option<Id>>,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    /// Where the request id the body names starts (kirim), rewritten on every reuse.
    request_id_at: Option<usize>,
}

impl Rendering {
    /// The response for a request that reuses this rendering, naming `request_id` where the body
    /// named the first request's.
    pub fn response(&self, request_id: Option<&str>) -> HttpResponse {
        let body = match (self.request_id_at, request_id) {
            (Some(at), Some(id)) if at + id.len() <= self.body.len() => {
                let mut body = self.body.to_vec();
                body[at..at + id.len()].copy_from_slice(id.as_bytes());
                Bytes::from(body)
            }
            _ => self.body.clone(),
        };
        let mut response = HttpResponse::with_body(StatusCode::OK, BoxBody::new(body));
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response
    }

    fn size(&self) -> usize {
        self.body.len() + 256
    }
}

#[derive(Debug, Default)]
struct Kept {
    map: HashMap<u64, Arc<Rendering>>,
    order: VecDeque<u64>,
    bytes: usize,
}

/// The renderings of this process.
#[derive(Debug)]
pub struct Renders {
    budget: usize,
    kept: Mutex<Kept>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Default for Renders {
    fn default() -> Self {
        Renders::new(DEFAULT_BUDGET_BYTES)
    }
}

impl Renders {
    /// Keeps up to `budget` bytes of renderings; 0 keeps none (every request renders its own).
    pub fn new(budget: usize) -> Self {
        Renders {
            budget,
            kept: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    /// The rendering kept under `key` that `caller` may be given.
    pub fn get(&self, key: u64, caller: Option<Id>) -> Option<Arc<Rendering>> {
        if !self.enabled() {
            return None;
        }
        let found = {
            let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            match kept.map.get(&key) {
                // The route shows who asks: this caller's own, if there is one.
                Some(r) if r.caller.is_some() => kept.map.get(&per_caller(key, caller)),
                found => found,
            }
            .filter(|r| r.caller.is_none_or(|c| c == caller))
            .cloned()
        };
        match found {
            Some(r) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(r)
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Keeps a `200` response made for `key`: its headers and `body`; `caller` when the response
    /// showed who asked; `request_id` when the body may name the request's id.
    pub fn keep(
        &self,
        key: u64,
        caller: Option<Option<Id>>,
        headers: &actix_web::http::header::HeaderMap,
        body: Bytes,
        request_id: Option<&str>,
    ) {
        let request_id_at = request_id.and_then(|id| find(&body, id.as_bytes()).map(|at| (at, id)));
        if let Some((at, id)) = request_id_at {
            if find(&body[at + 1..], id.as_bytes()).is_some() {
                return; // named twice: not one place to rewrite
            }
        }
        let request_id_at = request_id_at.map(|(at, _)| at);
        let rendering = Rendering {
            caller,
            headers: headers.iter().map(|(n, v)| (n.clone(), v.clone())).collect(),
            body,
            request_id_at,
        };
        let size = rendering.size();
        if !self.enabled() || size > self.budget / 8 {
            return;
        }
        let rendering = Arc::new(rendering);
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let mut put = |key: u64, rendering: Arc<Rendering>| {
            let size = rendering.size();
            if let Some(old) = kept.map.insert(key, rendering) {
                kept.bytes -= old.size();
            } else {
                kept.order.push_back(key);
            }
            kept.bytes += size;
        };
        if let Some(c) = caller {
            // The route's key says "per caller" (and holds its rendering for anyone to skip);
            // the rendering itself is under the key mixed with the caller.
            put(key, rendering.clone());
            put(per_caller(key, c), rendering);
        } else {
            put(key, rendering);
        }
        while kept.bytes > self.budget {
            let Some(oldest) = kept.order.pop_front() else { break };
            if let Some(gone) = kept.map.remove(&oldest) {
                kept.bytes -= gone.size();
            }
        }
    }

    /// Requests answered from a kept rendering.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Requests that looked and found none.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Bytes kept now.
    pub fn bytes(&self) -> usize {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }
}

fn per_caller(key: u64, caller: Option<Id>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (key, caller).hash(&mut h);
    h.finish()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> actix_web::http::header::HeaderMap {
        let mut h = actix_web::http::header::HeaderMap::new();
        h.insert(
            actix_web::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h
    }

    async fn body_of(r: HttpResponse) -> Bytes {
        actix_web::body::to_bytes(r.into_body()).await.unwrap()
    }

    #[actix_web::test]
    async fn kept_for_everyone_or_for_its_caller() {
        let renders = Renders::new(1 << 20);
        let (a, b) = (Id::new(), Id::new());
        renders.keep(1, None, &headers(), Bytes::from_static(b"{\"data\":[]}"), None);
        renders.keep(2, Some(Some(a)), &headers(), Bytes::from_static(b"{\"me\":1}"), None);
        let hit = renders.get(1, Some(b)).expect("shared");
        assert_eq!(body_of(hit.response(None)).await, "{\"data\":[]}");
        assert!(renders.get(2, Some(b)).is_none(), "another caller's /me");
        assert!(renders.get(2, Some(a)).is_some());
        assert!(renders.get(3, Some(a)).is_none());
        assert_eq!((renders.hits(), renders.misses()), (2, 2));
        // Another caller's own rendering of the same request does not displace the first's.
        renders.keep(2, Some(Some(b)), &headers(), Bytes::from_static(b"{\"me\":2}"), None);
        assert_eq!(
            body_of(renders.get(2, Some(a)).unwrap().response(None)).await,
            "{\"me\":1}"
        );
        assert_eq!(
            body_of(renders.get(2, Some(b)).unwrap().response(None)).await,
            "{\"me\":2}"
        );
        assert!(Renders::new(0).get(1, None).is_none());
    }

    #[actix_web::test]
    async fn the_request_id_is_each_requests_own() {
        let renders = Renders::new(1 << 20);
        let first = "req_01J0000000000000000000000A";
        let body = format!("{{\"data\":[],\"request_id\":\"{first}\"}}");
        renders.keep(1, None, &headers(), Bytes::from(body), Some(first));
        let second = "req_01J0000000000000000000000B";
        let r = renders.get(1, None).unwrap().response(Some(second));
        assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
        assert_eq!(body_of(r).await, format!("{{\"data\":[],\"request_id\":\"{second}\"}}"));
    }

    #[test]
    fn the_budget_bounds_what_is_kept() {
        let renders = Renders::new(64 * 1024);
        for key in 0..100 {
            renders.keep(key, None, &headers(), Bytes::from(vec![b'x'; 1000]), None);
        }
        assert!(renders.bytes() <= 64 * 1024);
        assert!(renders.get(99, None).is_some(), "the newest stays");
        assert!(renders.get(0, None).is_none(), "the oldest went");
        renders.keep(1000, None, &headers(), Bytes::from(vec![b'x'; 20_000]), None);
        assert!(renders.get(1000, None).is_none(), "larger than an eighth of the budget");
    }
}
