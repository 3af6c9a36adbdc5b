//! A webhook receiver over real HTTP, for tests, the demo and the benchmark: it records every
//! request (when, headers, body) and answers as told: 200 by default, or a script of answers (a
//! status, a redirect, a 429 with `Retry-After`, a hang), one per request in order. Tests wait on
//! it (`wait_for`), never sleep.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// This status, with a short body.
    Status(u16),
    /// 302 to this location.
    Redirect(String),
    /// 429 with `Retry-After` seconds.
    TooMany(u64),
    /// No answer for this long, then 200.
    Hang(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What it was answered (a hang is answered 200 after it).
    pub reply: Reply,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Debug, Default)]
struct Shared {
    received: Vec<Received>,
    script: VecDeque<Reply>,
    default: Option<Reply>,
}

type State = Arc<(Mutex<Shared>, Condvar)>;

/// A running receiver; stopped when dropped.
pub struct Receiver {
    url: String,
    state: State,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("url", &self.url).finish()
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let reply = {
        let (lock, _) = &**state.get_ref();
        let mut shared = lock.lock().unwrap_or_else(|p| p.into_inner());
        shared
            .script
            .pop_front()
            .or_else(|| shared.default.clone())
            .unwrap_or(Reply::Status(200))
    };
    if let Reply::Hang(d) = &reply {
        actix_web::rt::time::sleep(*d).await;
    }
    {
        let (lock, ready) = &**state.get_ref();
        let mut shared = lock.lock().unwrap_or_else(|p| p.into_inner());
        shared.received.push(Received {
            at: Instant::now(),
            path: req.path().to_owned(),
            headers: req
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                .collect(),
            body: body.to_vec(),
            reply: reply.clone(),
        });
        ready.notify_all();
    }
    match reply {
        Reply::Status(code) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap_or(actix_web::http::StatusCode::OK))
                .body(format!("{{\"received\":true,\"status\":{code}}}"))
        }
        Reply::Redirect(to) => HttpResponse::Found().insert_header(("Location", to)).finish(),
        Reply::TooMany(secs) => HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", secs.to_string()))
            .body("slow down"),
        Reply::Hang(_) => HttpResponse::Ok().body("late"),
    }
}

impl Receiver {
    /// Starts one on `bind` (`127.0.0.1:0` for any free port) in a thread of its own.
    pub fn start(bind: &str) -> std::io::Result<Receiver> {
        let state: State = Arc::default();
        let data = web::Data::new(state.clone());
        let listener = std::net::TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("webhook-receiver".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(1024 * 1024))
                            .default_service(web::to(receive))
                    })
                    .workers(1)
                    .backlog(4096)
                    .max_connection_rate(4096)
                    .disable_signals()
                    .shutdown_timeout(0)
                    .listen(listener);
                    match server {
                        Ok(server) => {
                            let server = server.run();
                            let _ = tx.send(Ok(server.handle()));
                            let _ = server.await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        let handle = rx
            .recv()
            .map_err(|_| std::io::Error::other("the receiver did not start"))??;
        Ok(Receiver {
            url: format!("http://{addr}"),
            state,
            handle,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.state.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next requests get these answers, one each, in order (then the default).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared().script.extend(replies);
    }

    /// What every request gets once the script is spent (200 unless set).
    pub fn answer_with(&self, reply: Reply) {
        self.shared().default = Some(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared().received.clone()
    }

    pub fn count(&self) -> usize {
        self.shared().received.len()
    }

    /// Waits until at least `n` requests have arrived (true), or `timeout` passed (false).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, ready) = &*self.state;
        let mut shared = lock.lock().unwrap_or_else(|p| p.into_inner());
        while shared.received.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            shared = ready.wait_timeout(shared, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        true
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let stop = self.handle.stop(false);
        if let Some(thread) = self.thread.take() {
            // The server's own thread drives the stop; wait for it to end.
            drop(stop);
            let _ = thread.join();
        }
    }
}
