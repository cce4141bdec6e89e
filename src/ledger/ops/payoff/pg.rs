//! A payoff on PostgreSQL: one call of `vl_payoff` (`pg.sql` beside this file), its gate the
//! user argument.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::Untyped;
use uuid::Uuid;

use crate::ledger::answer::AnswerRow;
use crate::ledger::request::Call;
use crate::store::DbConn;
use crate::store::prepared::prepared;

pub(crate) fn call(
    conn: &mut DbConn,
    call: &Call,
    entry: &str,
    purchase: Uuid,
    x: i64,
) -> Result<AnswerRow, DieselError> {
    let (user, now) = (call.user_id.to_string(), call.now.naive_utc());
    let sql = "SELECT * FROM vl_payoff(vl_gate(?, ?, ?, ?), ?, ?, ?, ?, ?, ?)";
    call.gate
        .bind(prepared::<Untyped>(sql).text(&user))
        .text(&call.key)
        .text(&call.request_hash)
        .text(entry)
        .text(&purchase.to_string())
        .bigint(x)
        .timestamp(now)
        .get_result(conn)
}
