//! SQL pieces diesel lacks.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Binary, Bool};
use diesel::sqlite::Sqlite;
use diesel::QueryResult;

/// `column` is one of `values` (blobs), in the form each backend keeps prepared: on SQLite
/// `column IN (?, ?, …)`, padded to the next power of two with its last value (harmless in an IN
/// list), so a connection holds at most eight such statements for lists of up to 128; on
/// PostgreSQL `column = ANY($1)`, one array bind. diesel's own `eq_any` marks every statement it is
/// part of as never cacheable on SQLite, so it was prepared again on every call (~8% of a wacrm
/// list's CPU once went to preparing the tag lookup).
#[derive(Debug, Clone, Copy)]
pub struct BlobIn<'a, C> {
    column: C,
    values: &'a [Vec<u8>],
}

impl<'a, C> BlobIn<'a, C> {
    /// `values` must not be empty (`IN ()` is not SQL).
    pub fn new(column: C, values: &'a [Vec<u8>]) -> Self {
        assert!(!values.is_empty(), "BlobIn over no values");
        BlobIn { column, values }
    }
}

impl<C: Expression> Expression for BlobIn<'_, C> {
    type SqlType = Bool;
}

impl<C: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for BlobIn<'_, C> {}

impl<C: ValidGrouping<G>, G> ValidGrouping<G> for BlobIn<'_, C> {
    type IsAggregate = C::IsAggregate;
}

impl<C> QueryId for BlobIn<'_, C> {
    type QueryId = ();
    // The SQL depends on the list's length, so the type alone does not name the statement: diesel
    // keys the cache on the SQL text instead.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C: QueryFragment<Sqlite>> QueryFragment<Sqlite> for BlobIn<'_, C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (");
        let last = self.values.len() - 1;
        for i in 0..self.values.len().next_power_of_two() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_bind_param::<Binary, Vec<u8>>(&self.values[i.min(last)])?;
        }
        out.push_sql(")");
        Ok(())
    }
}

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for BlobIn<'_, C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" = ANY(");
        out.push_bind_param::<Array<Binary>, [Vec<u8>]>(self.values)?;
        out.push_sql(")");
        Ok(())
    }
}

/// The rows of `$table` whose `$id` is one of `$ids` (not empty), as `$row`s.
macro_rules! rows_by_id {
    ($c:expr, $table:path, $id:path, $row:ty, $ids:expr) => {
        crate::per_backend!($c, |conn| $table
            .filter(crate::sql::BlobIn::new($id, $ids))
            .select(crate::sql::Prerendered(<$row>::as_select()))
            .load::<$row>(conn))
        .map_err(crate::db::map_error)
    };
}
pub(crate) use rows_by_id;

/// `(sort, id) < (?, ?)`: the rows after a keyset position in a `sort DESC, id DESC` walk, as one
/// row-value comparison, which SQLite and PostgreSQL both use to seek an index on (…, sort, id)
/// straight to the position. The `sort <= ? AND (sort < ? OR id < ?)` spelling it replaces bounds
/// only `sort`, so a page inside a run of equal sort values scanned the run from its start: in the
/// benchmark, kirim's page 500,000 rows deep sat in the ~10,000 conversations without messages (all
/// sorting last, at one value) and took 2.6 ms against 0.7 ms for the first page.
#[derive(Debug, Clone)]
pub struct RowBefore<S, I> {
    sort: S,
    id: I,
    at_sort: i64,
    at_id: Vec<u8>,
}

impl<S, I> RowBefore<S, I> {
    pub fn new(sort: S, id: I, at_sort: i64, at_id: Vec<u8>) -> Self {
        RowBefore {
            sort,
            id,
            at_sort,
            at_id,
        }
    }
}

impl<S: Expression, I: Expression> Expression for RowBefore<S, I> {
    type SqlType = Bool;
}

impl<S: AppearsOnTable<QS>, I: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for RowBefore<S, I> {}

impl<S: ValidGrouping<G>, I, G> ValidGrouping<G> for RowBefore<S, I> {
    type IsAggregate = S::IsAggregate;
}

impl<S, I> QueryId for RowBefore<S, I> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<S, I, DB> QueryFragment<DB> for RowBefore<S, I>
where
    DB: Backend + diesel::sql_types::HasSqlType<Binary> + diesel::sql_types::HasSqlType<BigInt>,
    S: QueryFragment<DB>,
    I: QueryFragment<DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    Vec<u8>: diesel::serialize::ToSql<Binary, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        self.sort.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        self.id.walk_ast(out.reborrow())?;
        out.push_sql(") < (");
        out.push_bind_param::<BigInt, i64>(&self.at_sort)?;
        out.push_sql(", ");
        out.push_bind_param::<Binary, Vec<u8>>(&self.at_id)?;
        out.push_sql(")");
        Ok(())
    }
}

/// A select clause written to SQL once per type and backend, then pushed as that text. A query
/// that is boxed, or has a part whose SQL varies (`BlobIn`, `RowBefore`), is cached by diesel under
/// its SQL text, which diesel builds again on every execution to look the statement up: for a page
/// of conversations that meant ~30 columns quoted one by one (SQLite's identifier quoting is a
/// `str::replace` each), about a fifth of a one-row list's instructions. Wrapping the selection
/// keeps every type, and the statement's text, exactly as the plain selection makes them.
///
/// Only for bind-free expressions (columns, `as_select()`): binds of the inner expression are not
/// pushed.
#[derive(Debug, Clone, Copy)]
pub struct Prerendered<E>(pub E);

impl<E: Expression> Expression for Prerendered<E> {
    type SqlType = E::SqlType;
}

impl<E: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for Prerendered<E> {}

impl<E: SelectableExpression<QS>, QS> SelectableExpression<QS> for Prerendered<E> {}

impl<E: ValidGrouping<G>, G> ValidGrouping<G> for Prerendered<E> {
    type IsAggregate = E::IsAggregate;
}

impl<E: QueryId> QueryId for Prerendered<E> {
    // The same text as `E`'s, so the same statement.
    type QueryId = E::QueryId;
    const HAS_STATIC_QUERY_ID: bool = E::HAS_STATIC_QUERY_ID;
}

impl<E, DB> QueryFragment<DB> for Prerendered<E>
where
    DB: Backend + 'static,
    DB::QueryBuilder: Default,
    E: QueryFragment<DB> + 'static,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // One text per selection type and backend: a handful, kept for the process.
        static TEXTS: LazyLock<RwLock<HashMap<TypeId, &'static str>>> = LazyLock::new(Default::default);
        let key = TypeId::of::<(E, DB)>();
        let known = TEXTS.read().unwrap_or_else(|e| e.into_inner()).get(&key).copied();
        let text = match known {
            Some(text) => text,
            None => {
                // Rendered under the write lock, so only once.
                let mut texts = TEXTS.write().unwrap_or_else(|e| e.into_inner());
                match texts.get(&key) {
                    Some(text) => *text,
                    None => {
                        let mut builder = DB::QueryBuilder::default();
                        self.0.to_sql(&mut builder, out.backend())?;
                        let text: &'static str = diesel::query_builder::QueryBuilder::finish(builder).leak();
                        texts.insert(key, text);
                        text
                    }
                }
            }
        };
        out.push_sql(text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{ConversationRow, TagRow};
    use crate::schema::{contact_tags, conversations, tags};
    use diesel::debug_query;
    use diesel::prelude::*;

    /// The statement's text (diesel's key for its prepared statement) is the plain selection's, on
    /// both backends, the first time (rendered) and after (the kept text).
    #[test]
    fn a_prerendered_selection_writes_the_plain_selections_text() {
        for _ in 0..2 {
            let plain = conversations::table
                .filter(conversations::status.eq("open"))
                .select(ConversationRow::as_select())
                .into_boxed::<Sqlite>();
            let kept = conversations::table
                .filter(conversations::status.eq("open"))
                .select(Prerendered(ConversationRow::as_select()))
                .into_boxed::<Sqlite>();
            let text = debug_query::<Sqlite, _>(&plain).to_string();
            assert!(text.contains("`conversations`.`last_message_key`"), "{text}");
            assert_eq!(text, debug_query::<Sqlite, _>(&kept).to_string());

            let plain = contact_tags::table
                .inner_join(tags::table)
                .select((contact_tags::contact_id, TagRow::as_select()));
            let kept = contact_tags::table
                .inner_join(tags::table)
                .select(Prerendered((contact_tags::contact_id, TagRow::as_select())));
            assert_eq!(
                debug_query::<Pg, _>(&plain).to_string(),
                debug_query::<Pg, _>(&kept).to_string()
            );
        }
    }
}
