//! `GET` and `POST /v1/{phone_number_id}/contacts`; POST honours `Idempotency-Key`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::*;
use rosetta_http::auth::Cost;
use rosetta_http::dialect;

use crate::dto::*;
use crate::error::{ErrorBody, KirimError};
use crate::params::{self, ListContacts};
use crate::Access;
use crate::{json_object, Kirim};
use rosetta_http::dialect::current_request_id;

/// List the organization's contacts, newest first (`created_at` desc, then id).
#[utoipa::path(
    get,
    path = "/v1/{phone_number_id}/contacts",
    tag = "Contacts",
    params(
        ("phone_number_id" = String, Path, pattern = r"^\d{6,20}$", example = "106540352242922"),
        ListContacts,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Contact list", body = ContactList),
        (status = 400, description = "Validation failure", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "Resource not found", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    path: web::Path<String>,
    query: web::Query<ListContacts>,
) -> Result<HttpResponse, KirimError> {
    let query = query.into_inner();
    let params = (|| {
        let pnid = params::phone_number_id(&path)?;
        let phone = match query.phone.as_deref() {
            Some(raw) => Some(validate::normalize_phone("phone", raw).map_err(KirimError::from)?),
            None => None,
        };
        let search = validate::search_text("search", query.search)?;
        let page = PageRequest::Keyset {
            limit: params::limit(query.limit.as_deref())?,
            cursor: params::cursor(query.cursor)?,
        };
        let filter = ContactFilter {
            search,
            phone,
            tag_id: None,
        };
        Ok((pnid, filter, page))
    })();
    // A search may scan: it goes to the blocking pool.
    let cost = if params.as_ref().is_ok_and(|(_, f, _)| f.search.is_some()) {
        Cost::Blocking
    } else {
        Cost::BoundedRead
    };
    let (account, page) = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Read, cost)?,
        params,
        |store, p, (pnid, filter, page)| {
            let account = store.find_account(p.org, &pnid)?;
            let page = store.list_contacts(p.org, &filter, &page)?;
            Ok((account, page))
        },
    )
    .await?;
    Ok(rosetta_http::ok_json(ContactList {
        has_more: page.has_more,
        next_cursor: page.next_cursor,
        data: page
            .items
            .into_iter()
            .map(|c| ContactDto::new(c.contact, &account))
            .collect(),
        request_id: current_request_id(),
    }))
}

fn optional_string(
    map: &serde_json::Map<String, serde_json::Value>,
    field: &str,
) -> Result<Option<String>, KirimError> {
    match map.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(KirimError::invalid_field(field, format!("{field} must be a string"))),
    }
}

fn contact_body(body: &[u8]) -> Result<NewContact, KirimError> {
    let map = json_object(body)?;
    let phone = match map.get("phone_number") {
        None | Some(serde_json::Value::Null) => {
            return Err(KirimError::missing_field("phone_number", "phone_number is required"))
        }
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(KirimError::invalid_field(
                "phone_number",
                "phone_number must be a string",
            ))
        }
    };
    let metadata = match map.get("metadata") {
        None | Some(serde_json::Value::Null) => None,
        Some(v @ serde_json::Value::Object(_)) => Some(v.clone()),
        Some(_) => return Err(KirimError::invalid_field("metadata", "metadata must be a JSON object")),
    };
    Ok(NewContact {
        phone,
        name: optional_string(&map, "name")?,
        email: optional_string(&map, "email")?,
        metadata,
        ..Default::default()
    })
}

fn idempotency_key(req: &HttpRequest, body: &[u8]) -> Result<Option<RequestKey>, KirimError> {
    rosetta_http::sending::idempotency_key(req, body)
        .map_err(|e| KirimError::invalid_request(e.to_string()).param("Idempotency-Key"))
}

enum Created {
    Fresh { status: u16, body: String },
    Replay(StoredResponse),
}

/// Create a contact; an already known phone number answers 200 with the existing contact.
/// With `Idempotency-Key`, the first response is replayed for the same request for 24 hours.
#[utoipa::path(
    post,
    path = "/v1/{phone_number_id}/contacts",
    tag = "Contacts",
    params(
        ("phone_number_id" = String, Path, pattern = r"^\d{6,20}$", example = "106540352242922"),
        ("Idempotency-Key" = Option<String>, Header, max_length = 255, description = "Replays the first response for the same request, per organization, for 24 hours"),
    ),
    request_body = CreateContact,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = ContactData),
        (status = 200, description = "The phone number was already a contact: that contact", body = ContactData),
        (status = 400, description = "Validation failure", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "Resource not found", body = ErrorBody),
        (status = 409, description = "A request with this Idempotency-Key is still running", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Semantic failure (e.g. idempotency key reuse)", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn create(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, KirimError> {
    let params = (|| {
        let pnid = params::phone_number_id(&path)?;
        let new = contact_body(&body)?;
        Ok((pnid, new, idempotency_key(&req, &body)?))
    })();
    let request_id = current_request_id();
    let outcome = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Write, Cost::Blocking)?,
        params,
        move |store, p, (pnid, new, idempotency)| {
            let org = p.org;
            let account = store.find_account(org, &pnid)?;
            if let Some(k) = &idempotency {
                match store.claim_idempotency_key(org, &k.key, &k.fingerprint)? {
                    IdempotencyClaim::Claimed => {}
                    IdempotencyClaim::Replay(stored) => return Ok(Created::Replay(stored)),
                    IdempotencyClaim::InProgress => return Err(KirimError::idempotency_in_progress()),
                    IdempotencyClaim::Mismatch => return Err(KirimError::idempotency_key_reuse()),
                }
            }
            let created = match store.create_contact(org, new) {
                Ok(created) => created,
                Err(e) => {
                    if let Some(k) = &idempotency {
                        if let Err(e) = store.release_idempotency_key(org, &k.key) {
                            tracing::warn!(error = %e, "could not release an idempotency key");
                        }
                    }
                    return Err(e.into());
                }
            };
            let status = if created.created { 201 } else { 200 };
            let body = serde_json::to_string(&ContactData {
                data: ContactDto::new(created.contact.contact, &account),
                request_id,
            })
            .map_err(|e| KirimError::from(Error::Internal(e.to_string())))?;
            if let Some(k) = &idempotency {
                let stored = StoredResponse {
                    status,
                    body: body.clone(),
                };
                // The contact exists either way; a key left unrecorded is taken over after a minute,
                // and creating the same phone again answers the same contact.
                if let Err(e) = store.complete_idempotency_key(org, &k.key, &stored) {
                    tracing::warn!(error = %e, "could not record an idempotent response");
                }
            }
            Ok(Created::Fresh { status, body })
        },
    )
    .await?;
    let (status, body, replayed) = match outcome {
        Created::Fresh { status, body } => (status, body, false),
        Created::Replay(stored) => (stored.status, stored.body, true),
    };
    let mut response = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    response.content_type("application/json");
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.body(body))
}

/// One contact of the organization, with `whatsapp_account` the account of the path.
#[utoipa::path(
    get,
    path = "/v1/{phone_number_id}/contacts/{id}",
    tag = "Contacts",
    params(
        ("phone_number_id" = String, Path, pattern = r"^\d{6,20}$", example = "106540352242922"),
        ("id" = String, Path, pattern = "^ctc_[0-9A-HJKMNP-TV-Z]{26}$", description = "Contact id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The contact", body = ContactData),
        (status = 400, description = "Validation failure", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "Resource not found", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn get(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, KirimError> {
    let (pnid, id) = path.into_inner();
    let params =
        params::phone_number_id(&pnid).and_then(|pnid| Ok((pnid, params::id(EntityKind::Contact, "id", &id)?)));
    let (account, contact) = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Read, Cost::BoundedRead)?,
        params,
        |store, p, (pnid, id)| Ok((store.find_account(p.org, &pnid)?, store.get_contact(p.org, id)?)),
    )
    .await?;
    Ok(rosetta_http::ok_json(ContactData {
        data: ContactDto::new(contact.contact, &account),
        request_id: current_request_id(),
    }))
}

/// `{phone_number?, name?, email?, metadata?}`: the fields to change; null clears one (not the
/// phone number). Fields it does not know are ignored.
fn changes_body(body: &[u8]) -> Result<ContactChanges, KirimError> {
    let map = json_object(body)?;
    let field = |name: &str| -> Result<Option<Option<String>>, KirimError> {
        match map.get(name) {
            None => Ok(None),
            Some(serde_json::Value::Null) => Ok(Some(None)),
            Some(serde_json::Value::String(s)) => Ok(Some(Some(s.clone()))),
            Some(_) => Err(KirimError::invalid_field(
                name,
                format!("{name} must be a string or null"),
            )),
        }
    };
    let phone = match field("phone_number")? {
        Some(None) => {
            return Err(KirimError::invalid_field(
                "phone_number",
                "phone_number cannot be cleared",
            ))
        }
        other => other.flatten(),
    };
    let metadata = match map.get("metadata") {
        None => None,
        Some(serde_json::Value::Null) => Some(None),
        Some(v @ serde_json::Value::Object(_)) => Some(Some(v.clone())),
        Some(_) => return Err(KirimError::invalid_field("metadata", "metadata must be a JSON object")),
    };
    Ok(ContactChanges {
        phone,
        name: field("name")?,
        email: field("email")?,
        company: None,
        metadata,
    })
}

/// Change a contact's phone number, name, email or metadata.
#[utoipa::path(
    patch,
    path = "/v1/{phone_number_id}/contacts/{id}",
    tag = "Contacts",
    params(
        ("phone_number_id" = String, Path, pattern = r"^\d{6,20}$", example = "106540352242922"),
        ("id" = String, Path, pattern = "^ctc_[0-9A-HJKMNP-TV-Z]{26}$", description = "Contact id"),
    ),
    request_body = CreateContact,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The contact", body = ContactData),
        (status = 400, description = "Validation failure", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "Resource not found", body = ErrorBody),
        (status = 409, description = "Another contact has this phone number", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn update(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, KirimError> {
    let (pnid, id) = path.into_inner();
    let params = (|| {
        let pnid = params::phone_number_id(&pnid)?;
        let id = params::id(EntityKind::Contact, "id", &id)?;
        Ok((pnid, id, changes_body(&body)?))
    })();
    let (account, contact) = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Write, Cost::Blocking)?,
        params,
        |store, p, (pnid, id, changes)| {
            let account = store.find_account(p.org, &pnid)?;
            Ok((account, store.update_contact(p.org, id, changes)?))
        },
    )
    .await?;
    Ok(rosetta_http::ok_json(ContactData {
        data: ContactDto::new(contact.contact, &account),
        request_id: current_request_id(),
    }))
}
