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

/// Renders a status as a dialect's error body.
pub type Renderer = fn(StatusCode) -> HttpResponse;

/// Awaits a dialect's service; a response of 400 or more that is not JSON, an error, or a panic is
/// replaced by `render`'s body for its status.
pub async fn ensure_shape<B, F>(
    call: F,
    render: Renderer,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error>
where
    B: MessageBody + 'static,
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
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
            Err(InternalError::from_response(
                "handler panicked",
                render(StatusCode::INTERNAL_SERVER_ERROR),
            )
            .into())
        }
    }
}
