//! `GET /api/v1/contacts`, `/contacts/{id}`, `/me`.

use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::*;

use crate::dto::*;
use crate::error::{ErrorBody, WacrmError};
use crate::params::{self, ListContacts};
use crate::Wacrm;
use rosetta_http::auth::Cost;
use rosetta_http::dialect;

/// List contacts, newest first; `search` matches the name or the phone number.
#[utoipa::path(
    get,
    path = "/api/v1/contacts",
    tag = "Contacts",
    params(ListContacts),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "One page of contacts", body = ContactList),
        (status = 400, description = "Bad cursor or malformed tag id", body = ErrorBody),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks contacts:read", body = ErrorBody),
        (status = 404, description = "tag names no tag of this account, or the cursor is another account's", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    req: HttpRequest,
    wacrm: web::Data<Wacrm>,
    query: web::Query<ListContacts>,
) -> Result<HttpResponse, WacrmError> {
    let query = query.into_inner();
    let params = (|| {
        let tag_id = match query.tag.as_deref() {
            Some(raw) => Some(
                params::uuid(EntityKind::Tag, raw)
                    .ok_or_else(|| WacrmError::BadRequest("tag must be a UUID".into()))?,
            ),
            None => None,
        };
        let search = rosetta_core::validate::search_text("search", query.search)?;
        let page = PageRequest::Keyset {
            limit: params::limit(query.limit.as_deref()),
            cursor: params::cursor(query.cursor)?,
        };
        Ok((
            ContactFilter {
                search,
                phone: None,
                tag_id,
            },
            page,
        ))
    })();
    // A text search or a tag filter may scan many contacts: keep it off the workers.
    let cost = match &params {
        Ok((filter, _)) if filter.search.is_some() || filter.tag_id.is_some() => Cost::Blocking,
        _ => Cost::BoundedRead,
    };
    let page = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, Some("contacts:read"), cost)?,
        params,
        |s, p, (filter, page)| Ok(s.list_contacts(p.org, &filter, &page)?),
    )
    .await?;
    Ok(HttpResponse::Ok().json(ContactList {
        meta: Meta {
            next_cursor: page.next_cursor,
        },
        data: page.items.into_iter().map(ContactDto::from).collect(),
    }))
}

/// One contact with its tags.
#[utoipa::path(
    get,
    path = "/api/v1/contacts/{id}",
    tag = "Contacts",
    params(("id" = String, Path, format = Uuid, description = "Contact UUID")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The contact", body = ContactData),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks contacts:read", body = ErrorBody),
        (status = 404, description = "No such contact in this account (also a malformed id)", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn get(req: HttpRequest, wacrm: web::Data<Wacrm>, id: web::Path<String>) -> Result<HttpResponse, WacrmError> {
    let id = params::uuid(EntityKind::Contact, &id);
    let contact = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, Some("contacts:read"), Cost::BoundedRead)?,
        Ok(id),
        |s, p, id| Ok(s.get_contact(p.org, id.ok_or(Error::NotFound(EntityKind::Contact))?)?),
    )
    .await?;
    Ok(HttpResponse::Ok().json(ContactData { data: contact.into() }))
}

/// The account (organization) and the key making the request. Needs no scope.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "Account",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The account and the key", body = MeData),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn me(req: HttpRequest, wacrm: web::Data<Wacrm>) -> Result<HttpResponse, WacrmError> {
    let (org, key) = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, None, Cost::BoundedRead)?,
        Ok(()),
        |s, p, ()| {
            let key = p.key.clone().ok_or(Error::NotFound(EntityKind::ApiKey))?;
            Ok((s.get_organization(p.org)?, key))
        },
    )
    .await?;
    let uuid = |id: Id| id.render(EntityKind::Organization, Spelling::Uuid);
    Ok(HttpResponse::Ok().json(MeData {
        data: Me {
            account: MeAccount {
                id: uuid(org.id),
                name: org.name,
            },
            key: MeKey {
                id: uuid(key.id),
                scopes: key.scopes.clone(),
            },
        },
    }))
}
