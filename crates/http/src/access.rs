//! One log line a request served by a dialect (target `rosetta::access`, level `info`): its request
//! id, dialect, method, route template (never the raw path or query, which may carry what a client
//! should not see logged), status and duration. Nothing is measured or made when the line is
//! filtered out (`ROSETTA_LOG=warn`, as the benchmarks run).

use std::time::Instant;

use actix_web::dev::{ServiceRequest, ServiceResponse};

/// A request being timed for its access line.
#[derive(Debug)]
pub struct Access {
    dialect: &'static str,
    method: actix_web::http::Method,
    started: Instant,
    request_id: String,
}

impl Access {
    /// `None` when access lines are filtered out. Dialects without request ids get one for the
    /// log alone, so lines of one request can be found together.
    pub fn start(dialect: &'static str, req: &ServiceRequest, request_id: Option<&str>) -> Option<Access> {
        if !tracing::enabled!(target: "rosetta::access", tracing::Level::INFO) {
            return None;
        }
        Some(Access {
            dialect,
            method: req.method().clone(),
            started: Instant::now(),
            request_id: request_id.map_or_else(crate::request_id::generate, str::to_owned),
        })
    }

    pub fn finish<B>(self, response: &ServiceResponse<B>) {
        let route = response.request().match_pattern();
        tracing::info!(
            target: "rosetta::access",
            request_id = %self.request_id,
            dialect = self.dialect,
            method = %self.method,
            route = route.as_deref().unwrap_or("(no route)"),
            status = response.status().as_u16(),
            duration_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    }
}
