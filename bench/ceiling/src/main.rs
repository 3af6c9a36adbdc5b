//! The benchmark suite's ceiling: the least an actix-web server can do to answer a request, so
//! Rosetta's figures can be read as a fraction of what the machine, the load generator and the HTTP
//! stack allow. It answers each configured path with bytes held in memory: the very response
//! Rosetta gave for that path, captured by `bench/run.py`.
//!
//! ```text
//! rosetta-bench-ceiling --bind 127.0.0.1:18090 --workers 2 /api/v1/conversations=list.json ...
//! ```
//!
//! The query string is ignored; any other path is 404.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};

fn usage() -> ! {
    eprintln!("usage: rosetta-bench-ceiling --bind ADDR [--workers N] PATH=FILE...");
    std::process::exit(2)
}

fn main() -> std::io::Result<()> {
    let mut bind = None;
    let mut workers = 2;
    let mut bodies: HashMap<String, Bytes> = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => bind = Some(args.next().unwrap_or_else(|| usage())),
            "--workers" => workers = args.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| usage()),
            pair => {
                let (path, file) = pair.split_once('=').unwrap_or_else(|| usage());
                bodies.insert(path.to_owned(), Bytes::from(std::fs::read(file)?));
            }
        }
    }
    let bind = bind.unwrap_or_else(|| usage());
    let bodies = Arc::new(bodies);
    actix_web::rt::System::new().block_on(
        HttpServer::new(move || {
            let bodies = bodies.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let body = bodies.get(req.path()).cloned();
                async move {
                    match body {
                        Some(body) => HttpResponse::Ok().content_type("application/json").body(body),
                        None => HttpResponse::NotFound().finish(),
                    }
                }
            }))
        })
        .workers(workers)
        .bind(bind)?
        .run(),
    )
}
