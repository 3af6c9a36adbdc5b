//! Serving a dialect's OpenAPI document (public) and an interactive docs page whose assets are
//! compiled into the binary (Swagger UI, vendored): it works on a machine with no internet.

use actix_web::web;
use utoipa_swagger_ui::SwaggerUi;

/// Mounts `{prefix}/openapi.json` and the docs page at `{prefix}/docs/`.
pub fn routes(prefix: &'static str, document: utoipa::openapi::OpenApi) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(SwaggerUi::new(format!("{prefix}/docs/{{_:.*}}")).url(format!("{prefix}/openapi.json"), document))
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
