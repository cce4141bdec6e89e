//! A transfer on PostgreSQL: one call of `vl_transfer` (`pg.sql` beside this file), its gate
//! the user argument.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::Untyped;

use crate::domain::movement::Note;
use crate::domain::user::Username;
use crate::ledger::answer::AnswerRow;
use crate::ledger::request::Call;
use crate::store::DbConn;
use crate::store::prepared::prepared;

pub(crate) fn call(
    conn: &mut DbConn,
    call: &Call,
    entry: &str,
    to: &Username,
    note: Option<&Note>,
    x: i64,
) -> Result<AnswerRow, DieselError> {
    let (user, now) = (call.user_id.to_string(), call.now.naive_utc());
    let sql = "SELECT * FROM vl_transfer(vl_gate(?, ?, ?, ?), ?, ?, ?, ?, ?, ?, ?, ?)";
    call.gate
        .bind(prepared::<Untyped>(sql).text(&user))
        .text(&call.key)
        .text(&call.request_hash)
        .text(entry)
        .text(to.as_str())
        .bigint(x)
        .nullable_text(note.map(|n| n.as_str()))
        .timestamp(now)
        .nullable_bigint(call.limits.outflow_24h_minor)
        .get_result(conn)
}
