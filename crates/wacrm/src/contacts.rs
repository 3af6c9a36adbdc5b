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
    Ok(rosetta_http::ok_json(ContactList {
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
    Ok(rosetta_http::ok_json(ContactData { data: contact.into() }))
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
            let key = p.key().cloned().ok_or(Error::NotFound(EntityKind::ApiKey))?;
            Ok((s.get_organization(p.org)?, key))
        },
    )
    .await?;
    Ok(rosetta_http::ok_json(MeData {
        data: Me {
            account: MeAccount {
                id: org.id.rendered(EntityKind::Organization, Spelling::Uuid),
                name: org.name,
            },
            key: MeKey {
                id: key.id.rendered(EntityKind::ApiKey, Spelling::Uuid),
                scopes: key.scopes.clone(),
            },
        },
    }))
}

/// The body of `POST /api/v1/contacts`.
#[derive(utoipa::ToSchema, Debug)]
#[allow(dead_code)]
pub struct CreateContact {
    /// Any common spelling; stored in E.164.
    #[schema(example = "+14155550123")]
    phone: String,
    name: Option<String>,
    email: Option<String>,
    company: Option<String>,
}

/// The body of `PATCH /api/v1/contacts/{id}`: the fields to change (null clears one).
#[derive(utoipa::ToSchema, Debug)]
#[allow(dead_code)]
pub struct UpdateContact {
    phone: Option<String>,
    name: Option<String>,
    email: Option<String>,
    company: Option<String>,
}

fn field(map: &serde_json::Map<String, serde_json::Value>, name: &str) -> Result<Option<Option<String>>, WacrmError> {
    match map.get(name) {
        None => Ok(None),
        Some(serde_json::Value::Null) => Ok(Some(None)),
        Some(serde_json::Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(WacrmError::BadRequest(format!("'{name}' must be a string or null"))),
    }
}

/// Create a contact. A phone number that is already a contact answers 200 with that contact
/// (nothing is changed); a new one 201.
#[utoipa::path(
    post,
    path = "/api/v1/contacts",
    tag = "Contacts",
    request_body = CreateContact,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Created", body = ContactData),
        (status = 200, description = "The phone number was already a contact: that contact", body = ContactData),
        (status = 400, description = "A missing or malformed field", body = ErrorBody),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks contacts:write", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn create(req: HttpRequest, wacrm: web::Data<Wacrm>, body: web::Bytes) -> Result<HttpResponse, WacrmError> {
    let params = (|| {
        let map = dialect::json_object::<WacrmError>(&body)?;
        let phone = field(&map, "phone")?
            .flatten()
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| WacrmError::BadRequest("'phone' is required".into()))?;
        Ok(NewContact {
            phone,
            name: field(&map, "name")?.flatten(),
            email: field(&map, "email")?.flatten(),
            company: field(&map, "company")?.flatten(),
            ..Default::default()
        })
    })();
    let created = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, Some("contacts:write"), Cost::Blocking)?,
        params,
        |s, p, new| Ok(s.create_contact(p.org, new)?),
    )
    .await?;
    let status = if created.created {
        actix_web::http::StatusCode::CREATED
    } else {
        actix_web::http::StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(ContactData {
        data: created.contact.into(),
    }))
}

/// Change a contact's phone, name, email or company (a field left out is kept; null clears it).
#[utoipa::path(
    patch,
    path = "/api/v1/contacts/{id}",
    tag = "Contacts",
    params(("id" = String, Path, format = Uuid, description = "Contact UUID")),
    request_body = UpdateContact,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The contact", body = ContactData),
        (status = 400, description = "A malformed field, or a phone number another contact has", body = ErrorBody),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks contacts:write", body = ErrorBody),
        (status = 404, description = "No such contact in this account (also a malformed id)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn update(
    req: HttpRequest,
    wacrm: web::Data<Wacrm>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WacrmError> {
    let id = params::uuid(EntityKind::Contact, &id);
    let params = (|| {
        let map = dialect::json_object::<WacrmError>(&body)?;
        let phone = match field(&map, "phone")? {
            Some(None) => return Err(WacrmError::BadRequest("'phone' cannot be cleared".into())),
            other => other.flatten(),
        };
        Ok(ContactChanges {
            phone,
            name: field(&map, "name")?,
            email: field(&map, "email")?,
            company: field(&map, "company")?,
            metadata: None,
        })
    })();
    let contact = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, Some("contacts:write"), Cost::Blocking)?,
        params,
        move |s, p, changes| {
            let id = id.ok_or(Error::NotFound(EntityKind::Contact))?;
            Ok(s.update_contact(p.org, id, changes)?)
        },
    )
    .await?;
    Ok(rosetta_http::ok_json(ContactData { data: contact.into() }))
}
