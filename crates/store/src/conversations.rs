//! Conversations: lists in every ordering and paging, and the status, assignment and read rules.

use diesel::prelude::*;
use rosetta_core::*;

use crate::contacts as contact_ops;
use crate::db::{map_error, DbConnection};
use crate::directory;
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

fn save(c: &mut DbConnection, row: &ConversationRow) -> Result<()> {
    diesel::update(conversations::table.find(row.id.clone()))
        .set(row)
        .execute(c)
        .map(|_| ())
        .map_err(map_error)
}

pub fn open(c: &mut DbConnection, org: Id, account: Id, contact: Id, now: Timestamp) -> Result<Conversation> {
    directory::load_account(c, org, account)?;
    contact_ops::load(c, org, contact)?;
    let existing: Option<ConversationRow> = conversations::table
        .filter(conversations::account_id.eq(b(account)))
        .filter(conversations::contact_id.eq(b(contact)))
        .select(ConversationRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)?;
    if let Some(row) = existing {
        return row.try_into();
    }
    let conversation = new_conversation(org, account, contact, now);
    diesel::insert_into(conversations::table)
        .values(&ConversationRow::from_domain(&conversation))
        .execute(c)
        .map_err(map_error)?;
    Ok(conversation)
}

/// A new, open conversation with no message yet.
pub fn new_conversation(org: Id, account: Id, contact: Id, now: Timestamp) -> Conversation {
    Conversation {
        id: Id::new(),
        org_id: org,
        account_id: account,
        contact_id: contact,
        status: ConversationStatus::Open,
        assignee_id: None,
        unread_count: 0,
        last_message_text: None,
        last_message_direction: None,
        last_message_at: None,
        last_inbound_at: None,
        source: None,
        first_message_at: None,
        resolution: None,
        closed_at: None,
        closed_by: None,
        created_at: now,
        updated_at: now,
    }
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
        (ConversationRow::as_select(), Option::<ContactRow>::as_select())
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
        q.limit(limit)
            .select(joined_columns!())
            .load::<JoinedRow>(conn)
            .map_err(map_error)
    })
}

/// One conversation of `org` with its contact, account, assignee and tags: the page query's join,
/// for one id.
pub fn load_detail(c: &mut DbConnection, org: Id, conversation: Id) -> Result<ConversationDetail> {
    let row: Option<JoinedRow> = crate::per_backend!(c, |conn| joined!()
        .filter(conversations::id.eq(b(conversation)))
        .filter(conversations::org_id.eq(b(org)))
        .select(joined_columns!())
        .first::<JoinedRow>(conn)
        .optional()
        .map_err(map_error))?;
    let row = row.ok_or(Error::NotFound(EntityKind::Conversation))?;
    assemble(c, vec![row]).map(|mut details| details.remove(0))
}

/// The conversations a filter selects (for counting).
fn filtered(org: Id, filter: &ConversationFilter) -> conversations::BoxedQuery<'static, Backend> {
    filter_conversations!(conversations::table.into_boxed(), org, filter)
}

pub fn decode_cursor(cursors: &CursorCodec, fingerprint: &str, cursor: Option<&str>) -> Result<Option<KeysetPosition>> {
    cursor
        .map(|text| cursors.decode(fingerprint, text))
        .transpose()
        .map_err(Error::InvalidCursor)
}

/// Cuts the extra row read to learn whether another page exists, and makes the next cursor.
pub fn finish_keyset<R>(
    mut rows: Vec<R>,
    limit: i64,
    cursor_of: impl Fn(&R) -> Result<String>,
) -> Result<(Vec<R>, Option<String>, bool)> {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if has_more {
        rows.last().map(cursor_of).transpose()?
    } else {
        None
    };
    Ok((rows, next, has_more))
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

/// A page at `offset` of `total` rows: by OFFSET, or from `anchor` (the page's first row) when known.
#[allow(clippy::too_many_arguments)]
fn offset_page(
    c: &mut DbConnection,
    org: Id,
    filter: &ConversationFilter,
    order: ConversationOrder,
    offset: i64,
    limit: i64,
    total: i64,
    anchor: Option<KeysetPosition>,
) -> Result<Page<ConversationDetail>> {
    let rows = if offset >= total {
        Vec::new()
    } else if let Some(anchor) = anchor {
        page_rows(c, org, filter, order, Some(anchor), 0, limit)?
    } else {
        page_rows(c, org, filter, order, None, offset, limit)?
    };
    let has_more = offset + (rows.len() as i64) < total;
    Ok(Page {
        items: assemble(c, rows)?,
        next_cursor: None,
        has_more,
        total: Some(total as u64),
    })
}

/// Last activity is counted in buckets of 2^26 ms (about 18.6 hours): migration 4.
pub const BUCKET_SHIFT: u32 = 26;

/// The counter families a filter's rows are counted under (migration 4), or `None` when the
/// filter narrows by something not counted (contact, account).
pub fn bucket_families(filter: &ConversationFilter) -> Option<Vec<String>> {
    if filter.contact_id.is_some() || filter.account_id.is_some() {
        return None;
    }
    let hex = |id: Id| id.to_bytes().iter().map(|b| format!("{b:02X}")).collect::<String>();
    Some(match (&filter.statuses, filter.assignee_id) {
        (None, None) => vec![String::new()],
        (Some(s), None) => s.iter().map(|s| format!("s:{}", s.as_str())).collect(),
        (None, Some(a)) => vec![format!("a:{}", hex(a))],
        (Some(s), Some(a)) => s.iter().map(|s| format!("sa:{}:{}", s.as_str(), hex(a))).collect(),
    })
}

/// The bucket counts of `families`, newest bucket first, summed across families.
fn bucket_counts(c: &mut DbConnection, org: Id, families: &[String]) -> Result<Vec<(i64, i64)>> {
    use crate::schema::conversation_buckets as k;
    let q = k::table.filter(k::org_id.eq(b(org))).into_boxed();
    let f = k::family;
    // A chain of `=` for the usual one or two families keeps the statement cacheable.
    let q = match families {
        [a] => q.filter(f.eq(a.clone())),
        [a, b2] => q.filter(f.eq(a.clone()).or(f.eq(b2.clone()))),
        more => q.filter(f.eq_any(more.to_vec())),
    };
    let rows: Vec<(i64, i64)> = q.select((k::bucket, k::n)).load(c).map_err(map_error)?;
    let mut summed = std::collections::BTreeMap::<i64, i64>::new();
    for (bucket, n) in rows {
        *summed.entry(bucket).or_default() += n;
    }
    Ok(summed.into_iter().rev().filter(|(_, n)| *n > 0).collect())
}

/// A page by the bucket counts: the total is their sum; the page's first row is found by walking
/// to the bucket it falls in and skipping, on the index, only the rows of that bucket before it.
fn counted_page(
    c: &mut DbConnection,
    org: Id,
    filter: &ConversationFilter,
    families: &[String],
    offset: i64,
    limit: i64,
) -> Result<Page<ConversationDetail>> {
    let order = ConversationOrder::LastActivityDesc;
    let buckets = bucket_counts(c, org, families)?;
    let total: i64 = buckets.iter().map(|(_, n)| n).sum();
    if offset == 0 || offset >= total {
        return offset_page(c, org, filter, order, offset, limit, total, None);
    }
    let mut before = 0;
    let mut start = None;
    for (bucket, n) in &buckets {
        if before + n > offset {
            start = Some(*bucket);
            break;
        }
        before += n;
    }
    let Some(bucket) = start else {
        return offset_page(c, org, filter, order, offset, limit, total, None);
    };
    let end = (bucket + 1) << BUCKET_SHIFT;
    let anchor: Option<(i64, Vec<u8>)> = crate::per_backend!(c, |conn| filter_conversations!(
        conversations::table.into_boxed(),
        org,
        filter
    )
    .filter(conversations::last_activity_at.lt(end))
    .order_by((conversations::last_activity_at.desc(), conversations::id.desc()))
    .offset(offset - before)
    .select((conversations::last_activity_at, conversations::id))
    .first(conn)
    .optional()
    .map_err(map_error))?;
    // Counts that disagree with the rows (they never should) fall back to OFFSET.
    let anchor = anchor
        .map(|(sort, row_id)| -> Result<KeysetPosition> {
            Ok(KeysetPosition {
                sort,
                // "After" the row's successor is "from" the row itself: ids compare as big-endian bytes.
                id: Id::from_bytes((u128::from_be_bytes(id(&row_id)?.to_bytes()) + 1).to_be_bytes()),
            })
        })
        .transpose()?;
    offset_page(c, org, filter, order, offset, limit, total, anchor)
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
    let tags = contact_ops::tags_of(c, &contact_ids)?;
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
            let contact_tags = tags.get(&contact.id).cloned().unwrap_or_default();
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

pub fn close(
    c: &mut DbConnection,
    org: Id,
    conversation: Id,
    resolution: Option<String>,
    closed_by: Option<Id>,
) -> Result<Conversation> {
    let mut row = load_for_update(c, org, conversation)?;
    if let Some(user) = closed_by {
        directory::member(c, org, user)?;
    }
    if row.status == ConversationStatus::Closed.as_str() {
        return row.try_into();
    }
    let now = Timestamp::now().millis();
    row.status = ConversationStatus::Closed.as_str().to_owned();
    row.resolution = resolution.or_else(|| Some("resolved".to_owned()));
    row.closed_at = Some(now);
    row.closed_by = closed_by.map(b);
    row.updated_at = now;
    save(c, &row)?;
    row.try_into()
}

/// Moves to `status`. Entering `closed` records when and by whom; leaving it clears that.
/// `only_if_closed` is `reopen`: an open conversation stays as it is.
pub fn set_status(
    c: &mut DbConnection,
    org: Id,
    conversation: Id,
    status: ConversationStatus,
    actor: Option<Id>,
    only_if_closed: bool,
) -> Result<Conversation> {
    let mut row = load_for_update(c, org, conversation)?;
    if let Some(user) = actor {
        directory::member(c, org, user)?;
    }
    let current: ConversationStatus = row.status.parse().unwrap_or(ConversationStatus::Open);
    if current == status || (only_if_closed && current != ConversationStatus::Closed) {
        return row.try_into();
    }
    if status == ConversationStatus::Closed {
        return close(c, org, conversation, None, actor);
    }
    let now = Timestamp::now().millis();
    row.status = status.as_str().to_owned();
    if current == ConversationStatus::Closed {
        row.resolution = None;
        row.closed_at = None;
        row.closed_by = None;
    }
    row.updated_at = now;
    save(c, &row)?;
    row.try_into()
}

pub fn assign(c: &mut DbConnection, org: Id, conversation: Id, user: Option<Id>) -> Result<Conversation> {
    let mut row = load_for_update(c, org, conversation)?;
    if let Some(user) = user {
        directory::member(c, org, user)?;
    }
    let wanted = user.map(b);
    if row.assignee_id == wanted {
        return row.try_into();
    }
    row.assignee_id = wanted;
    row.updated_at = Timestamp::now().millis();
    save(c, &row)?;
    row.try_into()
}

/// A status change and an assignment together (kirim's PATCH, envelope's close-and-assign).
pub fn update(c: &mut DbConnection, org: Id, conversation: Id, update: &ConversationUpdate) -> Result<()> {
    if let Some(status) = update.status {
        let current = load_for_update(c, org, conversation)?
            .status
            .parse()
            .unwrap_or(ConversationStatus::Open);
        let already = update.asked_in.is_some_and(|d| current.project(d) == status.project(d));
        if !already {
            set_status(c, org, conversation, status, update.actor, false)?;
        }
    }
    if let Some(assignee) = update.assignee {
        assign(c, org, conversation, assignee)?;
    }
    if update.status.is_none() && update.assignee.is_none() {
        load(c, org, conversation)?;
    }
    Ok(())
}

pub fn mark_read(c: &mut DbConnection, org: Id, conversation: Id) -> Result<Conversation> {
    let mut row = load_for_update(c, org, conversation)?;
    if row.unread_count != 0 {
        row.unread_count = 0;
        row.updated_at = Timestamp::now().millis();
        save(c, &row)?;
    }
    row.try_into()
}

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
