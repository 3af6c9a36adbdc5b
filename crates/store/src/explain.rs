//! Query plans, for tests and docs that show each list is an index range scan.

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use rosetta_core::{Error, Result};

use crate::db::{map_error, DbConnection};

#[derive(QueryableByName)]
struct SqlitePlanRow {
    #[diesel(sql_type = Integer)]
    #[allow(dead_code)]
    id: i32,
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlanRow {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// Runs `f` and returns the SQL (with diesel's printed binds) of the first statement it ran.
pub fn capture_sql(c: &mut DbConnection, f: impl FnOnce(&mut DbConnection) -> Result<()>) -> Result<String> {
    capture_sql_where(c, |_| true, f)
}

/// Runs `f` and returns the SQL (with diesel's printed binds) of the first statement it ran that
/// `pick` accepts.
pub fn capture_sql_where(
    c: &mut DbConnection,
    pick: impl Fn(&str) -> bool + Send + Sync + 'static,
    f: impl FnOnce(&mut DbConnection) -> Result<()>,
) -> Result<String> {
    use diesel::connection::{Instrumentation, InstrumentationEvent};
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let sink = seen.clone();
    c.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            let text = query.to_string();
            if slot.is_none() && pick(&text) {
                *slot = Some(text);
            }
        }
    });
    let outcome = f(c);
    c.set_instrumentation(None::<Box<dyn Instrumentation>>);
    outcome?;
    let sql = seen.lock().unwrap_or_else(|p| p.into_inner()).take();
    sql.ok_or_else(|| Error::Internal("no statement ran".into()))
}

/// The plan of `sql` (a statement whose binds diesel printed after `-- binds:`), one step a line.
pub fn plan(c: &mut DbConnection, debug_sql: &str) -> Result<String> {
    let (sql, binds) = debug_sql.split_once(" -- binds: ").unwrap_or((debug_sql, "[]"));
    let sql = inline_binds(sql, binds)?;
    match c {
        DbConnection::Sqlite(c) => {
            let rows: Vec<SqlitePlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load(c)
                .map_err(map_error)?;
            Ok(rows.into_iter().map(|r| r.detail).collect::<Vec<_>>().join("\n"))
        }
        DbConnection::Pg(c) => {
            let rows: Vec<PgPlanRow> = diesel::sql_query(format!("EXPLAIN {sql}")).load(c).map_err(map_error)?;
            Ok(rows.into_iter().map(|r| r.line).collect::<Vec<_>>().join("\n"))
        }
    }
}

/// Replaces `?` / `$n` placeholders with literals taken from diesel's printed bind list. Only the
/// shapes the list queries bind (byte ids, integers, strings) are understood.
fn inline_binds(sql: &str, binds: &str) -> Result<String> {
    let list = binds.trim().trim_start_matches('[').trim_end_matches(']');
    let mut values: Vec<String> = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for ch in list.chars() {
        match ch {
            '[' => {
                depth += 1;
                current.push(ch);
            }
            ']' => {
                depth -= 1;
                current.push(ch);
            }
            ',' if depth == 0 => {
                values.push(current.trim().to_owned());
                current.clear();
            }
            _ => current.push(ch),
        }
    }
    if !current.trim().is_empty() {
        values.push(current.trim().to_owned());
    }
    let literal = |v: &str| -> String {
        if let Some(bytes) = v.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let hex: String = bytes
                .split(',')
                .filter_map(|n| n.trim().parse::<u8>().ok())
                .map(|n| format!("{n:02x}"))
                .collect();
            format!("X'{hex}'")
        } else if v.starts_with('"') {
            format!("'{}'", v.trim_matches('"').replace('\'', "''"))
        } else {
            v.to_owned()
        }
    };
    let mut out = String::new();
    let mut index = 0;
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '?' || (ch == '$' && chars.peek().is_some_and(char::is_ascii_digit)) {
            if ch == '$' {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
            }
            let value = values
                .get(index)
                .ok_or_else(|| Error::Internal("fewer binds than placeholders".into()))?;
            out.push_str(&literal(value));
            index += 1;
        } else {
            out.push(ch);
        }
    }
    Ok(out)
}
