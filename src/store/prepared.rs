//! Hand-written statements the connection keeps prepared.
//!
//! diesel prepares an `UPDATE`, an upsert and any `sql_query` anew on every call (it cannot
//! tell whether their SQL text varies), and on SQLite preparing is where a money call spends
//! a fifth of its time: parsing, and coding the `RETURNING` clause and the triggers of the
//! table written. A statement here is fixed text known at compile time, so diesel's
//! statement cache may key it by its text and keep it prepared for the connection's life.
//! Used on both money paths: SQLite's statements (`ledger::sqlite`, `gate`, `rate`) and
//! PostgreSQL's one function call per operation (`ledger::ops::*::pg`), whose parse and
//! plan are then done once per connection (+12% transfers at the SQL floor, pgbench
//! `-M prepared` against `-M extended`, docs/PERFORMANCE.md).

use std::marker::PhantomData;

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Integer, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

use super::DbConn;

/// One bound value.
enum Param<'a> {
    Text(&'a str),
    BigInt(i64),
    Timestamp(NaiveDateTime),
    Integer(i32),
    Bool(bool),
    NullableText(Option<&'a str>),
    NullableBigInt(Option<i64>),
    NullableInteger(Option<i32>),
    NullableTimestamp(Option<NaiveDateTime>),
}

/// A statement of fixed text returning rows of SQL type `ST` (`()` when it returns none).
pub struct Prepared<'a, ST = ()> {
    sql: &'static str,
    params: Vec<Param<'a>>,
    keep_prepared: bool,
    returns: PhantomData<ST>,
}

/// Starts a statement; `sql` marks each parameter with `?` (and holds no other `?`); bind
/// one value per `?`, in order.
pub fn prepared<'a, ST>(sql: &'static str) -> Prepared<'a, ST> {
    Prepared { sql, params: Vec::with_capacity(8), keep_prepared: true, returns: PhantomData }
}

/// `prepared`, for a statement both backends run: kept prepared on SQLite, sent as text on
/// PostgreSQL (`unprepared_if`).
pub fn prepared_for<'a, ST>(conn: &DbConn, sql: &'static str) -> Prepared<'a, ST> {
    prepared(sql).unprepared_if(conn.backend() == super::Backend::Postgres)
}

impl<'a, ST> Prepared<'a, ST> {
    /// Sent as text every time, as `sql_query` is. For PostgreSQL, where preparing a
    /// statement is a round trip of its own (and its money path is one function call whose
    /// plans PL/pgSQL keeps): the round-trip counts stay what `tests/api/round_trips.rs` asserts.
    /// (The connection's backend is decided at run time, so the caller says which it is.)
    pub fn unprepared_if(mut self, postgres: bool) -> Self {
        self.keep_prepared = !postgres;
        self
    }

    pub fn text(mut self, value: &'a str) -> Self {
        self.params.push(Param::Text(value));
        self
    }

    pub fn bigint(mut self, value: i64) -> Self {
        self.params.push(Param::BigInt(value));
        self
    }

    pub fn timestamp(mut self, value: NaiveDateTime) -> Self {
        self.params.push(Param::Timestamp(value));
        self
    }

    pub fn integer(mut self, value: i32) -> Self {
        self.params.push(Param::Integer(value));
        self
    }

    pub fn bool(mut self, value: bool) -> Self {
        self.params.push(Param::Bool(value));
        self
    }

    pub fn nullable_text(mut self, value: Option<&'a str>) -> Self {
        self.params.push(Param::NullableText(value));
        self
    }

    pub fn nullable_bigint(mut self, value: Option<i64>) -> Self {
        self.params.push(Param::NullableBigInt(value));
        self
    }

    pub fn nullable_integer(mut self, value: Option<i32>) -> Self {
        self.params.push(Param::NullableInteger(value));
        self
    }

    pub fn nullable_timestamp(mut self, value: Option<NaiveDateTime>) -> Self {
        self.params.push(Param::NullableTimestamp(value));
        self
    }
}

impl<ST, DB> QueryFragment<DB> for Prepared<'_, ST>
where
    DB: Backend
        + HasSqlType<Text>
        + HasSqlType<BigInt>
        + HasSqlType<Integer>
        + HasSqlType<Bool>
        + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    i32: ToSql<Integer, DB>,
    bool: ToSql<Bool, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
    for<'v> Option<&'v str>: ToSql<Nullable<Text>, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    Option<i32>: ToSql<Nullable<Integer>, DB>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
{
    // The text is `'static`, so one text is one statement: safe to keep prepared, unless
    // the caller asked otherwise (`unprepared`).
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if !self.keep_prepared {
            out.unsafe_to_cache_prepared();
        }
        // Each `?` of the text is one parameter, in order; diesel writes each backend's own
        // placeholder (`?`, `$n`) in its place.
        let mut parts = self.sql.split('?');
        out.push_sql(parts.next().unwrap_or_default());
        let mut params = self.params.iter();
        for part in parts {
            let Some(param) = params.next() else { return Err(unbound(self.sql)) };
            match param {
                Param::Text(value) => out.push_bind_param::<Text, str>(value)?,
                Param::BigInt(value) => out.push_bind_param::<BigInt, i64>(value)?,
                Param::Timestamp(value) => out.push_bind_param::<Timestamp, NaiveDateTime>(value)?,
                Param::Integer(value) => out.push_bind_param::<Integer, i32>(value)?,
                Param::Bool(value) => out.push_bind_param::<Bool, bool>(value)?,
                Param::NullableText(value) => out.push_bind_param::<Nullable<Text>, Option<&str>>(value)?,
                Param::NullableBigInt(value) => out.push_bind_param::<Nullable<BigInt>, Option<i64>>(value)?,
                Param::NullableInteger(value) => out.push_bind_param::<Nullable<Integer>, Option<i32>>(value)?,
                Param::NullableTimestamp(value) => {
                    out.push_bind_param::<Nullable<Timestamp>, Option<NaiveDateTime>>(value)?
                }
            }
            out.push_sql(part);
        }
        match params.next() {
            Some(_) => Err(unbound(self.sql)),
            None => Ok(()),
        }
    }
}

/// A statement bound with more or fewer values than it has `?`: a bug in the caller.
fn unbound(sql: &str) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(format!("parameters do not match the placeholders of: {sql}").into())
}

impl<ST> QueryId for Prepared<'_, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST: 'static> Query for Prepared<'_, ST> {
    type SqlType = ST;
}

impl<ST, Conn> RunQueryDsl<Conn> for Prepared<'_, ST> {}

#[cfg(test)]
mod tests {
    use diesel::{Connection, SqliteConnection};

    use super::*;

    #[test]
    fn binds_one_value_per_placeholder_in_order() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let answer: (String, i64) = prepared::<(Text, BigInt)>("SELECT ? || 'b', ? - ?")
            .text("a")
            .bigint(10)
            .bigint(3)
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(answer, ("ab".to_owned(), 7));
        // The same text again is answered from the cached statement, with the new values.
        let again: (String, i64) = prepared::<(Text, BigInt)>("SELECT ? || 'b', ? - ?")
            .text("c")
            .bigint(1)
            .bigint(1)
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(again, ("cb".to_owned(), 0));
    }

    #[test]
    fn binds_a_bool_and_nulls() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let answer: (bool, Option<String>, Option<i64>) =
            prepared::<(Bool, Nullable<Text>, Nullable<BigInt>)>("SELECT NOT ?, ?, ?")
                .bool(false)
                .nullable_text(None)
                .nullable_bigint(Some(4))
                .get_result(&mut conn)
                .unwrap();
        assert_eq!(answer, (true, None, Some(4)));
    }

    #[test]
    fn a_missing_or_extra_value_is_an_error_not_a_wrong_statement() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let missing = prepared::<BigInt>("SELECT ? + ?").bigint(1).get_result::<i64>(&mut conn);
        assert!(matches!(missing, Err(diesel::result::Error::QueryBuilderError(_))), "{missing:?}");
        let extra = prepared::<BigInt>("SELECT ?").bigint(1).bigint(2).get_result::<i64>(&mut conn);
        assert!(matches!(extra, Err(diesel::result::Error::QueryBuilderError(_))), "{extra:?}");
    }
}
