//! Serving a dialect's OpenAPI document (public) and an interactive docs page whose assets are
//! compiled into the binary (Swagger UI, vendored): it works on a machine with no internet.

use actix_web::web;
use utoipa_swagger_ui::SwaggerUi;

/// Mounts `{prefix}/openapi.json` and the docs page at `{prefix}/docs/`.
pub fn routes(prefix: &'static str, document: utoipa::openapi::OpenApi) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            SwaggerUi::new(format!("{prefix}/docs/{{_:.*}}"))
                .url(format!("{prefix}/openapi.json"), document)
                .config(page_config(prefix)),
        )
        .route(
            &format!("{prefix}/docs"),
            web::get().to(move || async move {
                actix_web::HttpResponse::MovedPermanently()
                    .insert_header(("Location", format!("{prefix}/docs/")))
                    .finish()
            }),
        );
    }
}

/// The same, registered inside the dialect's own `web::scope(prefix)` (so the dialect's middleware
/// answers for them too): `/openapi.json` and `/docs/` relative to the scope.
pub fn scoped_routes(prefix: &'static str, document: utoipa::openapi::OpenApi) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            SwaggerUi::new("/docs/{_:.*}")
                .url("/openapi.json", document)
                .config(page_config(prefix)),
        )
        .route(
            "/docs",
            web::get().to(move || async move {
                actix_web::HttpResponse::MovedPermanently()
                    .insert_header(("Location", format!("{prefix}/docs/")))
                    .finish()
            }),
        );
    }
}

/// The docs page: the dialect's document, every operation expanded with its try-it form.
fn page_config(prefix: &str) -> utoipa_swagger_ui::Config<'static> {
    utoipa_swagger_ui::Config::new([format!("{prefix}/openapi.json")]).doc_expansion("full")
}

/// A document as it is committed under `openapi/`: pretty JSON, one trailing newline.
pub fn committed_text(document: &utoipa::openapi::OpenApi) -> String {
    let mut text = document.to_pretty_json().expect("an OpenAPI document serializes");
    text.push('\n');
    text
}
