//! Mounting a Rosetta dialect inside your own actix-web app: your routes and kirim's `/v1/…` side by
//! side, over a store you opened. `src/main.rs` serves it; `tests/run.rs` calls both kinds of route.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use rosetta_core::Store;
use rosetta_http::AppState;

/// Your own route: it can reach the same store.
async fn stats(state: web::Data<AppState>) -> HttpResponse {
    let orgs = state.run(|s| s.ping()).await.is_ok();
    HttpResponse::Ok().json(serde_json::json!({"app": "my-dashboard", "database": orgs}))
}

/// Rosetta's part of your app, made once (the dialect's rate-limit counters are shared by every
/// worker) and cloned into each worker's `App`.
#[derive(Clone, Debug)]
pub struct Mounted {
    state: AppState,
    kirim: web::Data<rosetta_kirim::Kirim>,
}

impl Mounted {
    /// `rate_limit_per_minute`: `None` for kirim's defaults, `Some(0)` for none.
    pub fn new(store: Arc<dyn Store>, rate_limit_per_minute: Option<u32>) -> Self {
        let state = AppState::new(store);
        let kirim = rosetta_kirim::Kirim::shared(state.clone(), rate_limit_per_minute, None);
        Mounted { state, kirim }
    }

    /// Everything the app serves: `/my/stats` (yours) and the kirim dialect (Rosetta's), with its
    /// docs at `/v1/docs/`.
    pub fn configure(&self) -> impl FnOnce(&mut web::ServiceConfig) {
        let (state, kirim) = (self.state.clone(), self.kirim.clone());
        move |cfg| {
            cfg.app_data(web::Data::new(state))
                .route("/my/stats", web::get().to(stats))
                .configure(rosetta_kirim::routes(kirim));
        }
    }
}
