//! Page/limit lists in last-activity order (envelope) by the bucket counts of migration 4:
//! conversations counted per organization, filter family and 2^26 ms bucket of last activity, kept
//! exact by triggers. A total is a sum over one family's buckets; page N walks the buckets to the one
//! its first row falls in and skips, on the index, only that bucket's rows before it. Other filters
//! fall back to OFFSET.

use diesel::prelude::*;
use rosetta_core::*;

use super::*;

/// A page at `offset` of `total` rows: by OFFSET, or from `anchor` (the page's first row) when known.
#[allow(clippy::too_many_arguments)]
pub(super) fn offset_page(
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
pub(super) fn counted_page(
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
