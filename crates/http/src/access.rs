//! One log line a request served by a dialect (target `rosetta::access`, level `info`): its request
//! id, dialect, method, route template (never the raw path or query, which may carry what a client
//! should not see logged), status and duration; nothing is made for the line when it is filtered
//! out (`ROSETTA_LOG=warn`, as the benchmarks run). The same request counted in `metrics`.

use std::time::Instant;

use actix_web::dev::{ServiceRequest, ServiceResponse};

/// A request being timed for its access line and its metrics.
#[derive(Debug)]
pub struct Access {
    dialect: &'static str,
    method: actix_web::http::Method,
    started: Instant,
    /// Set when the access line is logged.
    request_id: Option<String>,
}

impl Access {
    /// Dialects without request ids get one for the log alone (when it is logged), so lines of one
    /// request can be found together.
    pub fn start(dialect: &'static str, req: &ServiceRequest, request_id: Option<&str>) -> Access {
        let logged = tracing::enabled!(target: "rosetta::access", tracing::Level::INFO);
        Access {
            dialect,
            method: req.method().clone(),
            started: Instant::now(),
            request_id: logged.then(|| request_id.map_or_else(crate::request_id::generate, str::to_owned)),
        }
    }

    pub fn finish<B>(self, response: &ServiceResponse<B>) {
        let took = self.started.elapsed();
        let route = response.request().match_pattern();
        let route = route.as_deref().unwrap_or("(no route)");
        let status = response.status().as_u16();
        if let Some(state) = response.request().app_data::<actix_web::web::Data<crate::AppState>>() {
            state.metrics.request(self.dialect, route, status, took);
        }
        if let Some(request_id) = &self.request_id {
            tracing::info!(
                target: "rosetta::access",
                request_id = %request_id,
                dialect = self.dialect,
                method = %self.method,
                route,
                status,
                duration_ms = took.as_secs_f64() * 1000.0,
                "request"
            );
        }
    }
}
