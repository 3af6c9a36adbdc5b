//! Serves your app with kirim mounted in it:
//!
//!   cargo run -p rosetta-example-embed-actix -- sqlite://embed.db 127.0.0.1:8090
//!   curl -s 127.0.0.1:8090/my/stats
//!   curl -s 127.0.0.1:8090/v1/health

use std::sync::Arc;

use rosetta_store::DieselStore;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "sqlite://embed.db".into());
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:8090".into());
    let store = Arc::new(DieselStore::open(&url).map_err(std::io::Error::other)?);
    let mounted = rosetta_example_embed_actix::Mounted::new(store, None);
    println!("serving /my/stats and kirim's /v1/… on http://{bind}");
    actix_web::HttpServer::new(move || actix_web::App::new().configure(mounted.configure()))
        .bind(bind)?
        .run()
        .await
}
