//! Makes every failure under a dialect's scope answer in that dialect's shape: errors raised by
//! actix itself (bad query strings, oversized bodies, unknown methods) and panics included, and
//! request heads over Rosetta's limits.
//!
//! The limits sit below the HTTP parser's own (a 128 KiB head, 96 headers), so every head the parser
//! can read and a dialect would refuse is refused in the dialect's shape: a URI over
//! [`MAX_URI_BYTES`] is 414, headers over [`MAX_HEADER_BYTES`] in all or [`MAX_HEADERS`] in number
//! are 431. Heads beyond the parser's limits are dropped by actix with a bare 431/400 before any
//! route (and so any dialect) is known.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use futures_util::FutureExt;

/// The longest request target (path and query) a dialect reads.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) a dialect reads.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most headers a dialect reads.
pub const MAX_HEADERS: usize = 64;

/// The status a request head over Rosetta's limits is refused with, if it is.
pub fn oversized_head(req: &ServiceRequest) -> Option<StatusCode> {
    let uri = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri > MAX_URI_BYTES {
        return Some(StatusCode::URI_TOO_LONG);
    }
    let headers = req.headers();
    let bytes: usize = headers.iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
    (headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES).then_some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
}

/// Calls a dialect's service with `req`, unless its head is over the limits; a response of 400 or
/// more that is not JSON, an error, or a panic is replaced by `render`'s body for its status.
pub fn ensure_shape<S, B, R>(
    req: ServiceRequest,
    srv: &S,
    render: R,
) -> impl Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
    R: Fn(StatusCode) -> HttpResponse,
{
    let call = match oversized_head(&req) {
        Some(status) => Err((req, status)),
        None => Ok(srv.call(req)),
    };
    // Rendered inside the returned future, so a dialect that scopes it (kirim's request id) sees
    // the refusal in that scope too.
    async move {
        match call {
            Err((req, status)) => Ok(req.into_response(render(status))),
            Ok(call) => shape(call, render).await,
        }
    }
}

async fn shape<B, F, R>(call: F, render: R) -> Result<ServiceResponse<BoxBody>, actix_web::Error>
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
    use actix_web::{test, web, App};

    fn render(status: StatusCode) -> HttpResponse {
        HttpResponse::build(status).json(serde_json::json!({"shaped": status.as_u16()}))
    }

    #[actix_web::test]
    async fn panics_and_actix_errors_come_out_in_the_dialect_shape() {
        let app = test::init_service(
            App::new().service(
                web::scope("/x")
                    .wrap_fn(|req, srv| ensure_shape(req, srv, render))
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
        let long = format!("/x/ok?q={}", "a".repeat(MAX_URI_BYTES));
        assert_eq!(
            body(Box::leak(long.into_boxed_str())).await,
            (414, r#"{"shaped":414}"#.to_owned())
        );
        let resp = app
            .call(
                test::TestRequest::get()
                    .uri("/x/ok")
                    .insert_header(("x-big", "a".repeat(MAX_HEADER_BYTES)))
                    .to_request(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 431);
        assert_eq!(test::read_body(resp).await, r#"{"shaped":431}"#.as_bytes());
        let mut many = test::TestRequest::get().uri("/x/ok");
        for i in 0..=MAX_HEADERS {
            many = many.insert_header((format!("x-h{i}"), "1"));
        }
        assert_eq!(app.call(many.to_request()).await.unwrap().status().as_u16(), 431);
    }
}
