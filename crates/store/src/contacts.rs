//! Contacts and tags.

use std::collections::HashMap;

use diesel::prelude::*;
use rosetta_core::store::{ContactChanges, ContactCreated, NewContact};
use rosetta_core::*;

use crate::db::{map_error, DbConnection};
use crate::rows::*;
use crate::schema::*;
use crate::Backend;

diesel::define_sql_function! {
    /// Lower-cases text (SQLite: ASCII only; PostgreSQL: all of Unicode).
    fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// A `NewContact` whose fields passed the shared rules.
#[derive(Debug)]
pub struct CheckedContact {
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub avatar_url: Option<String>,
    pub metadata: Option<String>,
}

pub fn check_new(new: NewContact) -> Result<CheckedContact> {
    let phone = validate::normalize_phone("phone_number", &new.phone)?;
    let name = new
        .name
        .as_deref()
        .map(|n| validate::check_name("name", n, validate::MAX_NAME_CHARS))
        .transpose()?;
    let email = new.email.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
    if let Some(e) = &email {
        validate::check_email("email", e)?;
    }
    let company = new
        .company
        .as_deref()
        .map(|n| validate::check_name("company", n, validate::MAX_NAME_CHARS))
        .transpose()?;
    let metadata = match new.metadata {
        None | Some(serde_json::Value::Null) => None,
        Some(v @ serde_json::Value::Object(_)) => Some(v.to_string()),
        Some(_) => return Err(Error::invalid("metadata", "metadata must be a JSON object")),
    };
    Ok(CheckedContact {
        phone,
        name,
        email,
        company,
        avatar_url: new.avatar_url,
        metadata,
    })
}

pub fn find_by_phone(c: &mut DbConnection, org: Id, phone: &str) -> Result<Option<ContactRow>> {
    contacts::table
        .filter(contacts::org_id.eq(b(org)))
        .filter(contacts::phone.eq(phone))
        .select(ContactRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)
}

pub fn create(c: &mut DbConnection, org: Id, new: &CheckedContact) -> Result<ContactCreated> {
    crate::directory::require_organization(c, org)?;
    if let Some(existing) = find_by_phone(c, org, &new.phone)? {
        return Ok(ContactCreated {
            contact: with_tags(c, existing)?,
            created: false,
        });
    }
    let now = Timestamp::now().millis();
    let row = ContactRow {
        id: b(Id::new()),
        org_id: b(org),
        phone: new.phone.clone(),
        name: new.name.clone(),
        email: new.email.clone(),
        company: new.company.clone(),
        avatar_url: new.avatar_url.clone(),
        metadata: new.metadata.clone(),
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(contacts::table)
        .values(&row)
        .execute(c)
        .map_err(map_error)?;
    crate::events::contact_created(c, &row)?;
    Ok(ContactCreated {
        contact: ContactWithTags {
            contact: row.try_into()?,
            tags: Vec::new(),
        },
        created: true,
    })
}

pub fn load(c: &mut DbConnection, org: Id, contact: Id) -> Result<ContactRow> {
    contacts::table
        .find(b(contact))
        .filter(contacts::org_id.eq(b(org)))
        .select(ContactRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)?
        .ok_or(Error::NotFound(EntityKind::Contact))
}

pub fn with_tags(c: &mut DbConnection, row: ContactRow) -> Result<ContactWithTags> {
    let mut tags = tags_of(c, std::slice::from_ref(&row.id))?;
    let tags = tags.remove(&row.id).unwrap_or_default();
    Ok(ContactWithTags {
        contact: row.try_into()?,
        tags,
    })
}

/// The tags of each contact, by contact id, each list ordered by name.
pub fn tags_of(c: &mut DbConnection, contact_ids: &[Vec<u8>]) -> Result<HashMap<Vec<u8>, Vec<Tag>>> {
    let mut out: HashMap<Vec<u8>, Vec<Tag>> = HashMap::new();
    if contact_ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(Vec<u8>, TagRow)> = crate::per_backend!(c, |conn| contact_tags::table
        .inner_join(tags::table)
        .filter(crate::sql::BlobIn::new(contact_tags::contact_id, contact_ids))
        .select(crate::sql::Prerendered((contact_tags::contact_id, TagRow::as_select())))
        .load(conn))
    .map_err(map_error)?;
    for (contact, tag) in rows {
        out.entry(contact).or_default().push(tag.try_into()?);
    }
    // Ordered here rather than by the database: a contact has a few tags, and sorting each list
    // costs less than the statement's sorter over the whole page's.
    for tags in out.values_mut() {
        tags.sort_unstable_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    }
    Ok(out)
}

/// Contacts with their tags, in the order of `rows`.
pub fn hydrate(c: &mut DbConnection, rows: Vec<ContactRow>) -> Result<Vec<ContactWithTags>> {
    let ids: Vec<Vec<u8>> = rows.iter().map(|r| r.id.clone()).collect();
    let mut tags = tags_of(c, &ids)?;
    rows.into_iter()
        .map(|r| {
            let t = tags.remove(&r.id).unwrap_or_default();
            Ok(ContactWithTags {
                contact: r.try_into()?,
                tags: t,
            })
        })
        .collect()
}

fn filtered(org: Id, filter: &ContactFilter) -> contacts::BoxedQuery<'static, Backend> {
    let mut q = contacts::table.filter(contacts::org_id.eq(b(org))).into_boxed();
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        let digits: String = search.chars().filter(char::is_ascii_digit).collect();
        let phone_pattern = if digits.is_empty() {
            pattern.clone()
        } else {
            format!("%{digits}%")
        };
        q = q.filter(
            lower(contacts::name.nullable())
                .like(pattern)
                .escape('\\')
                .or(contacts::phone.like(phone_pattern).escape('\\')),
        );
    }
    if let Some(phone) = &filter.phone {
        q = q.filter(contacts::phone.eq(phone.clone()));
    }
    if let Some(tag) = filter.tag_id {
        q = q.filter(
            contacts::id.eq_any(
                contact_tags::table
                    .filter(contact_tags::tag_id.eq(b(tag)))
                    .select(contact_tags::contact_id),
            ),
        );
    }
    q
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

pub fn list(
    c: &mut DbConnection,
    cursors: &CursorCodec,
    org: Id,
    filter: &ContactFilter,
    page: &PageRequest,
) -> Result<Page<ContactWithTags>> {
    let found = list_unchecked(c, cursors, org, filter, page)?;
    // A tag of another organization is NotFound, like any of its ids; only an empty result can hide
    // one, so a page with rows costs no lookup.
    if let Some(tag) = filter
        .tag_id
        .filter(|_| found.items.is_empty() && found.total.unwrap_or(0) == 0)
    {
        let known: i64 = tags::table
            .filter(tags::id.eq(b(tag)))
            .filter(tags::org_id.eq(b(org)))
            .count()
            .get_result(c)
            .map_err(map_error)?;
        if known == 0 {
            return Err(Error::NotFound(EntityKind::Tag));
        }
    }
    Ok(found)
}

fn list_unchecked(
    c: &mut DbConnection,
    cursors: &CursorCodec,
    org: Id,
    filter: &ContactFilter,
    page: &PageRequest,
) -> Result<Page<ContactWithTags>> {
    let limit = page.limit() as i64;
    let order = (contacts::created_at.desc(), contacts::id.desc());
    match page {
        PageRequest::Keyset { cursor, .. } => {
            let fingerprint = filter.fingerprint(org);
            let after = crate::page::decode_cursor(cursors, &fingerprint, cursor.as_deref())?;
            let mut q = filtered(org, filter);
            if let Some(p) = after {
                q = q.filter(crate::sql::RowBefore::new(
                    contacts::created_at,
                    contacts::id,
                    p.sort,
                    b(p.id),
                ));
            }
            let rows: Vec<ContactRow> = q
                .order_by(order)
                .limit(limit + 1)
                .select(ContactRow::as_select())
                .load(c)
                .map_err(map_error)?;
            let (rows, next_cursor, has_more) = crate::page::finish_keyset(rows, limit, |r| {
                Ok(cursors.encode(
                    &fingerprint,
                    KeysetPosition {
                        sort: r.created_at,
                        id: id(&r.id)?,
                    },
                ))
            })?;
            Ok(Page {
                items: hydrate(c, rows)?,
                next_cursor,
                has_more,
                total: None,
            })
        }
        PageRequest::Offset { page: number, .. } => {
            let total = filtered(org, filter).count().get_result::<i64>(c).map_err(map_error)?;
            let offset = i64::from(number.saturating_sub(1)) * limit;
            let rows: Vec<ContactRow> = filtered(org, filter)
                .order_by(order)
                .offset(offset)
                .limit(limit)
                .select(ContactRow::as_select())
                .load(c)
                .map_err(map_error)?;
            let has_more = offset + (rows.len() as i64) < total;
            Ok(Page {
                items: hydrate(c, rows)?,
                next_cursor: None,
                has_more,
                total: Some(total as u64),
            })
        }
    }
}

pub fn attach_tag(c: &mut DbConnection, org: Id, contact: Id, name: &str, color: Option<&str>) -> Result<Tag> {
    load(c, org, contact)?;
    let existing: Option<TagRow> = tags::table
        .filter(tags::org_id.eq(b(org)))
        .filter(tags::name.eq(name))
        .select(TagRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)?;
    let tag = match existing {
        Some(mut tag) => {
            if let Some(color) = color.filter(|col| *col != tag.color) {
                diesel::update(tags::table.find(tag.id.clone()))
                    .set(tags::color.eq(color))
                    .execute(c)
                    .map_err(map_error)?;
                tag.color = color.to_owned();
            }
            tag
        }
        None => {
            let row = TagRow {
                id: b(Id::new()),
                org_id: b(org),
                name: name.to_owned(),
                color: color.unwrap_or(DEFAULT_TAG_COLOR).to_owned(),
                created_at: Timestamp::now().millis(),
            };
            diesel::insert_into(tags::table)
                .values(&row)
                .execute(c)
                .map_err(map_error)?;
            row
        }
    };
    let linked = contact_tags::table
        .find((b(contact), tag.id.clone()))
        .count()
        .get_result::<i64>(c)
        .map_err(map_error)?;
    if linked == 0 {
        diesel::insert_into(contact_tags::table)
            .values(&ContactTagRow {
                contact_id: b(contact),
                tag_id: tag.id.clone(),
            })
            .execute(c)
            .map_err(map_error)?;
        touch(c, contact)?;
    }
    tag.try_into()
}

pub fn detach_tag(c: &mut DbConnection, org: Id, contact: Id, tag: Id) -> Result<()> {
    load(c, org, contact)?;
    let tag_in_org = tags::table
        .find(b(tag))
        .filter(tags::org_id.eq(b(org)))
        .count()
        .get_result::<i64>(c)
        .map_err(map_error)?;
    if tag_in_org == 0 {
        return Err(Error::NotFound(EntityKind::Tag));
    }
    let removed = diesel::delete(contact_tags::table.find((b(contact), b(tag))))
        .execute(c)
        .map_err(map_error)?;
    if removed > 0 {
        touch(c, contact)?;
    }
    Ok(())
}

/// `Store::update_contact`: each given field checked by the new-contact rules, then written.
pub fn update(c: &mut DbConnection, org: Id, contact: Id, changes: ContactChanges) -> Result<ContactWithTags> {
    let mut row = load(c, org, contact)?;
    let fields = |r: &ContactRow| {
        (
            r.phone.clone(),
            r.name.clone(),
            r.email.clone(),
            r.company.clone(),
            r.metadata.clone(),
        )
    };
    let before = fields(&row);
    // The rules of a new contact, once: the changed fields over the current ones.
    let current = row.clone();
    let pick = |change: Option<Option<String>>, now: Option<String>| change.unwrap_or(now);
    let checked = check_new(NewContact {
        phone: changes.phone.unwrap_or(current.phone),
        name: pick(changes.name, current.name),
        email: pick(changes.email, current.email),
        company: pick(changes.company, current.company),
        avatar_url: current.avatar_url,
        metadata: match changes.metadata {
            Some(m) => m,
            None => current
                .metadata
                .as_deref()
                .map(|m| serde_json::from_str(m).map_err(|_| corrupt("contacts.metadata", m)))
                .transpose()?,
        },
    })?;
    if checked.phone != row.phone && find_by_phone(c, org, &checked.phone)?.is_some() {
        return Err(Error::Conflict("another contact has this phone number".into()));
    }
    row.phone = checked.phone;
    row.name = checked.name;
    row.email = checked.email;
    row.company = checked.company;
    row.metadata = checked.metadata;
    row.updated_at = Timestamp::now().millis();
    diesel::update(contacts::table.find(row.id.clone()))
        .set((
            contacts::phone.eq(&row.phone),
            contacts::name.eq(&row.name),
            contacts::email.eq(&row.email),
            contacts::company.eq(&row.company),
            contacts::metadata.eq(&row.metadata),
            contacts::updated_at.eq(row.updated_at),
        ))
        .execute(c)
        .map_err(map_error)?;
    if fields(&row) != before {
        crate::events::contact_updated(c, &row)?;
    }
    with_tags(c, row)
}

fn touch(c: &mut DbConnection, contact: Id) -> Result<()> {
    diesel::update(contacts::table.find(b(contact)))
        .set(contacts::updated_at.eq(Timestamp::now().millis()))
        .execute(c)
        .map(|_| ())
        .map_err(map_error)
}
