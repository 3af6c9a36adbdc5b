//! Your route and the mounted dialect answer from one app.

use std::sync::Arc;

use actix_web::{test, App};
use rosetta_core::Store;

#[actix_web::test]
async fn own_routes_and_kirim_side_by_side() {
    let dir = std::env::temp_dir().join(format!("rosetta-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("embed.db").display());
    let store: Arc<dyn Store> = Arc::new(rosetta_store::DieselStore::open(&url).unwrap());
    let app =
        test::init_service(App::new().configure(rosetta_example_embed_actix::Mounted::new(store, Some(0)).configure()))
            .await;

    let mine = test::call_service(&app, test::TestRequest::get().uri("/my/stats").to_request()).await;
    assert_eq!(mine.status(), 200);
    let body: serde_json::Value = test::read_body_json(mine).await;
    assert_eq!(body, serde_json::json!({"app": "my-dashboard", "database": true}));

    let health = test::call_service(&app, test::TestRequest::get().uri("/v1/health").to_request()).await;
    assert_eq!(health.status(), 200);
    assert!(health.headers().get("x-request-id").is_some());
    let refused = test::call_service(&app, test::TestRequest::get().uri("/v1/me").to_request()).await;
    assert_eq!(refused.status(), 401);
    std::fs::remove_dir_all(dir).ok();
}
