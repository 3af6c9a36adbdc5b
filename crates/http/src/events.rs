//! Events out, live: the sequencer `serve` runs, and the Server-Sent Events stream every dialect
//! mounts (`…/events/stream`), each rendering the one event log in its own words.
//!
//! A stream sends `id: <position>`, `event: <the dialect's event name>` and `data: <its body>` for
//! each of the organization's events the dialect announces, in log order. A client that reconnects
//! with `Last-Event-ID` (EventSource does) resumes after that position with no gap and no repeat:
//! positions are given after commit by the sequencer, in an order no later commit can precede
//! (`Store::sequence_events`). Without it a stream starts at the log's end (only what happens next).
//! Events reach a stream within a poll (`POLL`) of being sequenced, at once in the process that
//! sequenced them; so a change made through another instance over the same PostgreSQL database
//! shows within a second. A stream holds at most one page of events; a reader that falls more than
//! `MAX_LAG` events behind the log is told so (`event: error`) and closed, to resume later.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::events::{Event, Rendered, Subjects};
use rosetta_core::{Error, Id};
use tokio::sync::Notify;

use crate::AppState;

/// How often a stream looks for new events when nothing woke it.
pub const POLL: Duration = Duration::from_millis(250);
/// A comment line this often keeps proxies from closing an idle stream.
pub const KEEPALIVE: Duration = Duration::from_secs(15);
/// Events read at once.
const PAGE: u32 = 100;
/// A reader further behind than this is closed (it resumes with `Last-Event-ID`).
pub const MAX_LAG: i64 = 10_000;
/// How often `serve`'s watcher reads the log's end (and places waiting events).
pub const SEQUENCE_EVERY: Duration = Duration::from_millis(10);

/// The in-process signals of the log's end moving: the streams wait on `sequenced` (all of them
/// woken), the webhook fan-out on `fan_out` (a wake-up is kept until it looks).
#[derive(Debug, Default)]
pub struct Live {
    pub sequenced: Notify,
    pub fan_out: Notify,
}

impl Live {
    fn moved(&self) {
        self.sequenced.notify_waiters();
        self.fan_out.notify_one();
    }
}

/// Runs the log's watcher until the process stops: every `SEQUENCE_EVERY` it reads the log's end
/// (an index probe), places waiting events when there are any (PostgreSQL; SQLite places each as
/// it is written), and wakes this process's streams and fan-out when the end moved, whichever
/// process or instance wrote the events.
pub async fn sequencer(state: AppState) {
    let mut seen = None;
    loop {
        match state.read(|s| s.log_mark()).await {
            Ok(mark) => {
                if seen.is_some_and(|newest| mark.newest > newest) {
                    state.live.moved();
                }
                seen = Some(mark.newest);
                if mark.unsequenced {
                    match state.run(|s| s.sequence_events()).await {
                        // Placed: read the end again at once.
                        Ok(n) if n > 0 => continue,
                        // Another instance holds the sequencer.
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = ?e, "event sequencing failed"),
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = ?e, "could not read the event log's end");
                // The database is unwell: look again in a second, not a hundred times.
                actix_web::rt::time::sleep(Duration::from_secs(1)).await;
            }
        }
        actix_web::rt::time::sleep(SEQUENCE_EVERY).await;
    }
}

/// One attempt of a webhook delivery, as a dialect's headers see it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub webhook_id: Id,
    pub delivery_id: Id,
    pub event_name: &'a str,
    pub dedupe_key: &'a str,
    pub source: &'a str,
    /// From 1.
    pub number: u32,
    /// When it is sent, in Unix seconds (the signature's `t`).
    pub timestamp: i64,
    pub body: &'a [u8],
    /// Every unexpired secret, newest last.
    pub secrets: &'a [String],
}

/// A dialect's events out: how it renders an event, and the headers (signature included) of a
/// delivery attempt, besides `Content-Type: application/json`.
#[derive(Debug, Clone, Copy)]
pub struct Outbound {
    pub render: Renderer,
    pub headers: fn(&Attempt<'_>) -> Vec<(&'static str, String)>,
}

/// A dialect's renderer.
pub type Renderer = fn(&Event, &Subjects) -> Option<Rendered>;

/// Where a stream resumes: `Last-Event-ID` (a position), or `last_event_id` in the query; `None`
/// starts at the log's end. `Err` for one that is not a position.
pub fn resume_from(req: &HttpRequest) -> Result<Option<i64>, Error> {
    let header = req
        .headers()
        .get("Last-Event-ID")
        .map(|v| v.to_str().unwrap_or("x").to_owned());
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("last_event_id").cloned());
    match header.or(query) {
        None => Ok(None),
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|p| *p >= 0)
            .map(Some)
            .ok_or_else(|| Error::invalid("Last-Event-ID", "Last-Event-ID must be an event's id from this stream")),
    }
}

/// What a stream keeps between reads.
struct Reader {
    state: AppState,
    org: Id,
    pos: i64,
    render: Renderer,
    ready: std::collections::VecDeque<web::Bytes>,
    accounts: HashMap<Id, (String, String)>,
    contacts: HashMap<Id, (String, Option<String>)>,
    idle_since: std::time::Instant,
    done: bool,
}

impl Reader {
    fn subjects(&mut self, event: &Event) -> Subjects {
        let account = event.account_id.and_then(|a| self.accounts.get(&a).cloned());
        let contact = event.contact_id.and_then(|c| self.contacts.get(&c).cloned());
        Subjects {
            phone_number_id: account.as_ref().map(|a| a.0.clone()),
            display_phone_number: account.map(|a| a.1),
            contact_phone: contact.as_ref().map(|c| c.0.clone()),
            contact_name: contact.and_then(|c| c.1),
        }
    }

    /// Reads the next page into `ready`; whether there was anything.
    async fn read(&mut self) -> Result<bool, Error> {
        let (org, pos) = (self.org, self.pos);
        let events = self.state.read(move |s| s.events_after(org, pos, PAGE)).await?;
        if events.is_empty() {
            return Ok(false);
        }
        // The numbers and customers these events name, looked up once per stream.
        let accounts: Vec<Id> = events.iter().filter_map(|e| e.account_id).collect();
        if accounts.iter().any(|a| !self.accounts.contains_key(a)) {
            let all = self.state.read(move |s| s.list_accounts(org, false)).await?;
            self.accounts = all
                .into_iter()
                .map(|a| (a.id, (a.phone_number_id, a.phone_number)))
                .collect();
        }
        let mut missing: Vec<Id> = events
            .iter()
            .filter_map(|e| e.contact_id)
            .filter(|c| !self.contacts.contains_key(c))
            .collect();
        missing.sort();
        missing.dedup();
        for contact in missing {
            match self.state.read(move |s| s.get_contact(org, contact)).await {
                Ok(found) => {
                    self.contacts.insert(contact, (found.contact.phone, found.contact.name));
                }
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let full = events.len() as u32 == PAGE;
        let last = events.last().map_or(pos, |e| e.pos);
        for event in &events {
            let subjects = self.subjects(event);
            if let Some(rendered) = (self.render)(event, &subjects) {
                self.ready.push_back(web::Bytes::from(format!(
                    "id: {}\nevent: {}\ndata: {}\n\n",
                    event.pos, rendered.name, rendered.body
                )));
            }
        }
        self.pos = last;
        if full {
            let newest = self.state.read(move |s| s.newest_event(org)).await?;
            if newest - last > MAX_LAG {
                self.ready.push_back(web::Bytes::from(format!(
                    "event: error\ndata: {{\"reason\":\"this stream is more than {MAX_LAG} events behind: reconnect with Last-Event-ID {last} to go on\"}}\n\n"
                )));
                self.done = true;
            }
        }
        Ok(true)
    }
}

/// A dialect's stream route, once: `Last-Event-ID` read (a bad one is the dialect's 400 once its
/// checks pass), the dialect's checks, then the stream of the caller's organization.
pub async fn route<E>(
    req: &HttpRequest,
    state: &AppState,
    checks: crate::dialect::Checks<E>,
    render: Renderer,
) -> Result<HttpResponse, E>
where
    E: crate::dialect::DialectError + From<Error>,
{
    let from = resume_from(req).map_err(crate::dialect::from_core::<E>);
    let (org, from) =
        crate::dialect::call(req, state, checks, from, |_, principal, from| Ok((principal.org, from))).await?;
    stream(state.clone(), org, from, render)
        .await
        .map_err(crate::dialect::from_core)
}

/// The stream of `org`'s events from `from` (see `resume_from`; without it, from the log's end as
/// the request is answered), rendered by `render`.
pub async fn stream(state: AppState, org: Id, from: Option<i64>, render: Renderer) -> Result<HttpResponse, Error> {
    let from = match from {
        Some(from) => from,
        None => state.read(move |s| s.newest_event(org)).await?,
    };
    let reader = Reader {
        state,
        org,
        pos: from,
        render,
        ready: Default::default(),
        accounts: HashMap::new(),
        contacts: HashMap::new(),
        idle_since: std::time::Instant::now(),
        done: false,
    };
    let body = futures_util::stream::unfold(reader, |mut r| async move {
        loop {
            if let Some(frame) = r.ready.pop_front() {
                return Some((Ok::<_, actix_web::Error>(frame), r));
            }
            if r.done {
                return None;
            }
            match r.read().await {
                Ok(true) => r.idle_since = std::time::Instant::now(),
                Ok(false) => {
                    if r.idle_since.elapsed() >= KEEPALIVE {
                        r.idle_since = std::time::Instant::now();
                        return Some((Ok(web::Bytes::from_static(b": keepalive\n\n")), r));
                    }
                    let woken = r.state.live.clone();
                    let _ = actix_web::rt::time::timeout(POLL, woken.sequenced.notified()).await;
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "an event stream could not read the log");
                    r.ready.push_back(web::Bytes::from_static(
                        b"event: error\ndata: {\"reason\":\"the event log is unavailable: reconnect with Last-Event-ID\"}\n\n",
                    ));
                    r.done = true;
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
