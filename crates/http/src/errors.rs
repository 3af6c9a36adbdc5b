//! Makes every failure under a dialect's scope answer in that dialect's shape: errors raised by
//! actix itself (bad query strings, oversized bodies, unknown methods) and panics included.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::InternalError;
use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use futures_util::FutureExt;

/// Awaits a dialect's service; a response of 400 or more that is not JSON, an error, or a panic is
/// replaced by `render`'s body for its status.
pub async fn ensure_shape<B, F, R>(call: F, render: R) -> Result<ServiceResponse<BoxBody>, actix_web::Error>
where
    B: MessageBody + 'static,
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    R: Fn(StatusCode) -> HttpResponse,
{
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(Ok(response)) => {
            let status = response.status();
            let json = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            if status.as_u16() >= 400 && !json {
                let (req, _) = response.into_parts();
                Ok(ServiceResponse::new(req, render(status)))
            } else {
                Ok(response.map_into_boxed_body())
            }
        }
        Ok(Err(e)) => {
            let status = e.as_response_error().status_code();
            Err(InternalError::from_response(e, render(status)).into())
        }
        Err(_) => {
            tracing::error!("a handler panicked");
            Err(InternalError::from_response("handler panicked", render(StatusCode::INTERNAL_SERVER_ERROR)).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::dev::Service;
    use actix_web::{test, web, App};

    fn render(status: StatusCode) -> HttpResponse {
        HttpResponse::build(status).json(serde_json::json!({"shaped": status.as_u16()}))
    }

    #[actix_web::test]
    async fn panics_and_actix_errors_come_out_in_the_dialect_shape() {
        let app = test::init_service(
            App::new().service(
                web::scope("/x")
                    .wrap_fn(|req, srv| ensure_shape(srv.call(req), render))
                    .route("/panic", web::get().to(|| async { panic!("boom") as HttpResponse }))
                    .route("/ok", web::get().to(|| async { HttpResponse::Ok().body("fine") }))
                    .route(
                        "/typed/{n}",
                        web::get().to(|n: web::Path<u32>| async move { HttpResponse::Ok().body(n.to_string()) }),
                    ),
            ),
        )
        .await;
        let body = |uri: &'static str| {
            let app = &app;
            async move {
                let resp = app.call(test::TestRequest::get().uri(uri).to_request()).await;
                let resp = match resp {
                    Ok(r) => r,
                    Err(e) => {
                        return (
                            e.as_response_error().status_code().as_u16(),
                            String::from_utf8(
                                test::read_body(ServiceResponse::new(
                                    test::TestRequest::default().to_http_request(),
                                    e.error_response(),
                                ))
                                .await
                                .to_vec(),
                            )
                            .unwrap(),
                        )
                    }
                };
                let status = resp.status().as_u16();
                (status, String::from_utf8(test::read_body(resp).await.to_vec()).unwrap())
            }
        };
        assert_eq!(body("/x/panic").await, (500, r#"{"shaped":500}"#.to_owned()));
        assert_eq!(body("/x/typed/abc").await, (404, r#"{"shaped":404}"#.to_owned()));
        assert_eq!(body("/x/ok").await, (200, "fine".to_owned()));
    }
}
