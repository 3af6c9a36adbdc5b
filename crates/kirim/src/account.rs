//! `GET /v1/accounts`, `GET /v1/me` and the public `GET /v1/health`.

use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::*;
use rosetta_http::auth::Cost;
use rosetta_http::dialect;

use crate::dto::*;
use crate::error::{ErrorBody, KirimError};
use crate::params::ListAccounts;
use crate::Access;
use crate::Kirim;
use rosetta_http::dialect::current_request_id;

/// The organization's WhatsApp accounts.
#[utoipa::path(
    get,
    path = "/v1/accounts",
    tag = "Account",
    params(ListAccounts),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The accounts (never more than one page)", body = AccountList),
        (status = 400, description = "Validation failure", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn accounts(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    query: web::Query<ListAccounts>,
) -> Result<HttpResponse, KirimError> {
    let params = match query.status.as_deref() {
        None | Some("connected") => Ok(true),
        Some("all") => Ok(false),
        Some(_) => Err(KirimError::invalid_field("status", "status must be connected or all")),
    };
    let accounts = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Read, Cost::BoundedRead)?,
        params,
        |store, p, connected| Ok(store.list_accounts(p.org, connected)?),
    )
    .await?;
    Ok(rosetta_http::ok_json(AccountList {
        data: accounts.into_iter().map(AccountDto::from).collect(),
        has_more: false,
        next_cursor: None,
        request_id: current_request_id(),
    }))
}

/// The organization, the key making the request, and the organization's rate limits.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "Account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Who is calling", body = MeData),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn me(req: HttpRequest, kirim: web::Data<Kirim>) -> Result<HttpResponse, KirimError> {
    let (org, key) = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Read, Cost::BoundedRead)?,
        Ok(()),
        |store, p, ()| {
            Ok((
                store.get_organization(p.org)?,
                p.key().cloned().ok_or(Error::NotFound(EntityKind::ApiKey))?,
            ))
        },
    )
    .await?;
    let per_minute = |n: u32| (n > 0).then_some(n);
    Ok(rosetta_http::ok_json(MeData {
        data: Me {
            organization: OrganizationDto {
                id: kirim_id(EntityKind::Organization, org.id),
                name: org.name,
            },
            api_key: ApiKeyDto {
                id: kirim_id(EntityKind::ApiKey, key.id),
                label: key.name,
                last4: key.last4,
            },
            rate_limits: RateLimits {
                read_per_minute: per_minute(kirim.reads.per_minute()),
                write_per_minute: per_minute(kirim.writes.per_minute()),
            },
        },
        request_id: current_request_id(),
    }))
}

/// Liveness, public: 200 while the process serves and its database answers.
#[utoipa::path(
    get,
    path = "/v1/health",
    tag = "Account",
    responses(
        (status = 200, description = "Serving", body = Health),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn health(kirim: web::Data<Kirim>) -> Result<HttpResponse, KirimError> {
    kirim.state.read(|store| store.ping()).await?;
    Ok(rosetta_http::ok_json(Health {
        status: "ok",
        request_id: current_request_id(),
    }))
}
