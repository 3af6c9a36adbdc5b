//! Conversations: loading, saving a change (the rules themselves are in `rules.rs`), and lists in
//! every ordering, keyset paged (`page.rs`) or by page and limit (`buckets.rs`).

use diesel::prelude::*;
use rosetta_core::store::ConversationUpdate;
use rosetta_core::*;

use crate::contacts as contact_ops;
use crate::db::{map_error, DbConnection};
use crate::directory;
use crate::page::{decode_cursor, finish_keyset};
use crate::rows::*;
use crate::schema::*;
use crate::Backend;

pub fn load(c: &mut DbConnection, org: Id, conversation: Id) -> Result<ConversationRow> {
    conversations::table
        .find(b(conversation))
        .filter(conversations::org_id.eq(b(org)))
        .select(ConversationRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)?
        .ok_or(Error::NotFound(EntityKind::Conversation))
}

/// Loads a conversation to change it. The row is locked first (a no-op UPDATE takes PostgreSQL's
/// row lock until commit, and the SELECT after it sees every earlier commit), so two writers never
/// both read the old counters; SQLite's single writer needs no more.
pub fn load_for_update(c: &mut DbConnection, org: Id, conversation: Id) -> Result<ConversationRow> {
    diesel::update(
        conversations::table
            .find(b(conversation))
            .filter(conversations::org_id.eq(b(org))),
    )
    .set(conversations::updated_at.eq(conversations::updated_at))
    .execute(c)
    .map_err(map_error)?;
    load(c, org, conversation)
}

pub fn save(c: &mut DbConnection, row: &ConversationRow) -> Result<()> {
    diesel::update(conversations::table.find(row.id.clone()))
        .set(row)
        .execute(c)
        .map(|_| ())
        .map_err(map_error)
}

pub fn open(c: &mut DbConnection, org: Id, account: Id, contact: Id, now: Timestamp) -> Result<Conversation> {
    directory::load_account(c, org, account)?;
    contact_ops::load(c, org, contact)?;
    crate::rules::find_or_open(c, org, account, contact, None, now)?.try_into()
}

/// Applies a filter to any boxed query over `conversations` (alone or joined).
macro_rules! filter_conversations {
    ($q:expr, $org:expr, $filter:expr) => {{
        let filter: &ConversationFilter = $filter;
        let mut q = $q.filter(conversations::org_id.eq(b($org)));
        if let Some(statuses) = &filter.statuses {
            // A chain of `=` rather than `eq_any`: diesel never caches a statement with an IN list,
            // and preparing this join again costs more than running it. One statement per set size.
            let s: Vec<&'static str> = statuses.iter().map(|s| s.as_str()).collect();
            let st = conversations::status;
            q = match s.as_slice() {
                [] => q.filter(st.ne(st)),
                [a] => q.filter(st.eq(*a)),
                [a, b] => q.filter(st.eq(*a).or(st.eq(*b))),
                [a, b, c] => q.filter(st.eq(*a).or(st.eq(*b)).or(st.eq(*c))),
                [a, b, c, d] => q.filter(st.eq(*a).or(st.eq(*b)).or(st.eq(*c)).or(st.eq(*d))),
                _ => q.filter(st.eq_any(s)),
            };
        }
        if let Some(contact) = filter.contact_id {
            q = q.filter(conversations::contact_id.eq(b(contact)));
        }
        if let Some(user) = filter.assignee_id {
            q = q.filter(conversations::assignee_id.eq(b(user)));
        }
        if let Some(account) = filter.account_id {
            q = q.filter(conversations::account_id.eq(b(account)));
        }
        q
    }};
}

/// Orders any boxed query over `conversations` by `order`, then id, both descending, starting
/// after `after` (a row-value comparison, `sql::RowBefore`, which both planners seek an index to).
macro_rules! order_conversations {
    ($q:expr, $order:expr, $after:expr) => {{
        let after: Option<KeysetPosition> = $after;
        let q = $q;
        macro_rules! by {
            ($col:expr) => {{
                let mut q = q;
                if let Some(p) = after {
                    q = q.filter(crate::sql::RowBefore::new(
                        $col,
                        conversations::id,
                        p.sort,
                        b(p.id),
                    ));
                }
                q.order_by(($col.desc(), conversations::id.desc()))
            }};
        }
        match $order {
            ConversationOrder::CreatedDesc => by!(conversations::created_at),
            ConversationOrder::LastMessageDesc => by!(conversations::last_message_key),
            ConversationOrder::LastActivityDesc => by!(conversations::last_activity_at),
        }
    }};
}

type JoinedRow = (ConversationRow, Option<ContactRow>);

/// Conversations LEFT JOINed with their contact, boxed for the backend of the connection in scope
/// (used inside `per_backend!`). Accounts and assignees are not joined: a page names a few of
/// each, so `assemble` reads each once instead of once a row (~100 fewer primary-key lookups and
/// 12 fewer columns decoded a row for a page of 50).
macro_rules! joined {
    () => {
        conversations::table
            .left_join(contacts::table.on(contacts::id.eq(conversations::contact_id)))
            .into_boxed()
    };
}

macro_rules! joined_columns {
    () => {
        crate::sql::Prerendered((ConversationRow::as_select(), Option::<ContactRow>::as_select()))
    };
}

/// A page of conversations with their contact, in one statement. A LEFT JOIN keeps SQLite's join
/// order: it walks the conversations index in list order and looks the contact up by primary key.
fn page_rows(
    c: &mut DbConnection,
    org: Id,
    filter: &ConversationFilter,
    order: ConversationOrder,
    after: Option<KeysetPosition>,
    offset: i64,
    limit: i64,
) -> Result<Vec<JoinedRow>> {
    // Built once per backend rather than through the MultiConnection: the hottest query skips the
    // generic row adapter (one boxed value per field).
    crate::per_backend!(c, |conn| {
        let q = filter_conversations!(joined!(), org, filter);
        let q = order_conversations!(q, order, after);
        let q = if offset > 0 { q.offset(offset) } else { q };
        // Into a vector sized for the page: `load` grows one from empty, copying the rows (~600
        // bytes each) five times over for a page of 50.
        let mut rows = Vec::with_capacity(limit.clamp(0, 1_000) as usize);
        for row in q
            .limit(limit)
            .select(joined_columns!())
            .load_iter::<JoinedRow, diesel::connection::DefaultLoadingMode>(conn)
            .map_err(map_error)?
        {
            rows.push(row.map_err(map_error)?);
        }
        Ok(rows)
    })
}

/// One conversation of `org` with its contact, account, assignee and tags: the page query's join,
/// for one id.
pub fn load_detail(c: &mut DbConnection, org: Id, conversation: Id) -> Result<ConversationDetail> {
    crate::db::read_snapshot(c, |c| {
        let row: Option<JoinedRow> = crate::per_backend!(c, |conn| joined!()
            .filter(conversations::id.eq(b(conversation)))
            .filter(conversations::org_id.eq(b(org)))
            .select(joined_columns!())
            .first::<JoinedRow>(conn)
            .optional()
            .map_err(map_error))?;
        let row = row.ok_or(Error::NotFound(EntityKind::Conversation))?;
        assemble(c, vec![row]).map(|mut details| details.remove(0))
    })
}

/// The conversations a filter selects (for counting).
fn filtered(org: Id, filter: &ConversationFilter) -> conversations::BoxedQuery<'static, Backend> {
    filter_conversations!(conversations::table.into_boxed(), org, filter)
}

pub fn list(
    c: &mut DbConnection,
    cursors: &CursorCodec,
    org: Id,
    filter: &ConversationFilter,
    order: ConversationOrder,
    page: &PageRequest,
) -> Result<Page<ConversationDetail>> {
    let found = list_unchecked(c, cursors, org, filter, order, page)?;
    // A filter naming another organization's row is that row's NotFound, like any of its ids. Only
    // an empty result can hide one (a row found proves the rows it names are the organization's),
    // so a page with rows costs no lookup.
    if found.items.is_empty() && found.total.unwrap_or(0) == 0 {
        if let Some(contact) = filter.contact_id {
            contact_ops::load(c, org, contact)?;
        }
        if let Some(user) = filter.assignee_id {
            directory::get_user(c, org, user)?;
        }
        if let Some(account) = filter.account_id {
            directory::load_account(c, org, account)?;
        }
    }
    Ok(found)
}

fn list_unchecked(
    c: &mut DbConnection,
    cursors: &CursorCodec,
    org: Id,
    filter: &ConversationFilter,
    order: ConversationOrder,
    page: &PageRequest,
) -> Result<Page<ConversationDetail>> {
    let limit = page.limit() as i64;
    match page {
        PageRequest::Keyset { cursor, .. } => {
            let fingerprint = filter.fingerprint(org, order);
            let after = decode_cursor(cursors, &fingerprint, cursor.as_deref())?;
            if filter.is_empty_set() {
                return Ok(Page::empty());
            }
            crate::db::read_snapshot(c, |c| {
                let rows = page_rows(c, org, filter, order, after, 0, limit + 1)?;
                let (rows, next_cursor, has_more) = finish_keyset(rows, limit, |r| {
                    Ok(cursors.encode(
                        &fingerprint,
                        KeysetPosition {
                            sort: r.0.sort_key(order),
                            id: id(&r.0.id)?,
                        },
                    ))
                })?;
                Ok(Page {
                    items: assemble(c, rows)?,
                    next_cursor,
                    has_more,
                    total: None,
                })
            })
        }
        PageRequest::Offset { page: number, .. } => {
            if filter.is_empty_set() {
                return Ok(Page {
                    total: Some(0),
                    ..Page::empty()
                });
            }
            let offset = i64::from(number.saturating_sub(1)) * limit;
            if order == ConversationOrder::LastActivityDesc {
                if let Some(families) = bucket_families(filter) {
                    // One snapshot for the counts and the rows (SQLite: a deferred read transaction).
                    let mut page = None;
                    c.transaction::<_, diesel::result::Error, _>(|c| {
                        page = Some(counted_page(c, org, filter, &families, offset, limit));
                        Ok(())
                    })
                    .map_err(map_error)?;
                    return page.unwrap_or_else(|| Err(Error::Internal("read transaction ran nothing".into())));
                }
            }
            let total = filtered(org, filter).count().get_result::<i64>(c).map_err(map_error)?;
            offset_page(c, org, filter, order, offset, limit, total, None)
        }
    }
}

/// Joined rows plus their contacts' tags (one more query for the whole page).
fn assemble(c: &mut DbConnection, rows: Vec<JoinedRow>) -> Result<Vec<ConversationDetail>> {
    let distinct = |ids: &mut Vec<Vec<u8>>| {
        ids.sort_unstable();
        ids.dedup();
    };
    let mut contact_ids: Vec<Vec<u8>> = rows.iter().map(|r| r.0.contact_id.clone()).collect();
    distinct(&mut contact_ids);
    let mut account_ids: Vec<Vec<u8>> = rows.iter().map(|r| r.0.account_id.clone()).collect();
    distinct(&mut account_ids);
    let mut user_ids: Vec<Vec<u8>> = rows.iter().filter_map(|r| r.0.assignee_id.clone()).collect();
    distinct(&mut user_ids);
    // Each contact's tags are moved into its row, or copied when the page shows the contact twice.
    let contacts_repeat = contact_ids.len() < rows.len();
    let mut tags = contact_ops::tags_of(c, &contact_ids)?;
    let accounts = directory::accounts_by_id(c, &account_ids)?;
    let users = directory::users_by_id(c, &user_ids)?;
    rows.into_iter()
        .map(|(conversation, contact)| {
            let contact = contact.ok_or_else(|| Error::Internal("conversation without its contact".into()))?;
            let account_id = id(&conversation.account_id)?;
            let account = accounts
                .iter()
                .find(|a| a.id == account_id)
                .cloned()
                .ok_or_else(|| Error::Internal("conversation without its account".into()))?;
            // An assignee always exists (users are never deleted); one missing reads as unassigned,
            // as the LEFT JOIN this replaces did.
            let assignee = conversation
                .assignee_id
                .as_deref()
                .map(id)
                .transpose()?
                .and_then(|user| users.iter().find(|u| u.id == user).cloned());
            let contact_tags = if contacts_repeat {
                tags.get(&contact.id).cloned()
            } else {
                tags.remove(&contact.id)
            }
            .unwrap_or_default();
            Ok(ConversationDetail {
                conversation: conversation.try_into()?,
                contact: ContactWithTags {
                    contact: contact.try_into()?,
                    tags: contact_tags,
                },
                assignee,
                account,
            })
        })
        .collect()
}

/// The one way a conversation's status and assignee change: the row is locked once, every user
/// named is checked once, and the row is saved once, only if something changed.
pub fn update(c: &mut DbConnection, org: Id, conversation: Id, update: &ConversationUpdate) -> Result<()> {
    let mut row = load_for_update(c, org, conversation)?;
    for user in [update.actor, update.assignee.flatten()].into_iter().flatten() {
        directory::member(c, org, user)?;
    }
    let before = row.clone();
    if row.apply_update(update, Timestamp::now().millis())? {
        save(c, &row)?;
        crate::events::conversation_changed(c, &before, &row)?;
    }
    Ok(())
}

mod buckets;
use buckets::{bucket_families, counted_page, offset_page};

/// The query plan of a conversation list page (first page, or one after a cursor when `deep`).
pub fn explain(
    c: &mut DbConnection,
    org: Id,
    filter: &ConversationFilter,
    order: ConversationOrder,
    deep: bool,
) -> Result<String> {
    let after = deep.then(|| KeysetPosition {
        sort: i64::MAX / 2,
        id: Id::from_bytes([0x7f; 16]),
    });
    let sql = crate::explain::capture_sql(c, |c| page_rows(c, org, filter, order, after, 0, 51).map(|_| ()))?;
    crate::explain::plan(c, &sql)
}
