//! Deposits, withdrawals, vault locks and unlocks on PostgreSQL: one call of `vl_move`
//! (`pg.sql` beside this file), its gate the user argument.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::Untyped;

use crate::ledger::answer::AnswerRow;
use crate::ledger::request::Call;
use crate::store::DbConn;
use crate::store::prepared::prepared;
use uuid::Uuid;

use crate::domain::limits::VelocityLimits;
use crate::ledger::request::MoneyOp;

pub(crate) fn call(
    conn: &mut DbConn,
    call: &Call,
    op: &MoneyOp,
    entry: &str,
    x: i64,
) -> Result<AnswerRow, DieselError> {
    let (user, now) = (call.user_id.to_string(), call.now.naive_utc());
    let limit_id = Uuid::now_v7().to_string();
    let sql = "SELECT * FROM vl_move(?, vl_gate(?, ?, ?, ?), ?, ?, ?, ?, ?, ?, ?, ?)";
    call.gate
        .bind(prepared::<Untyped>(sql).text(op.name()).text(&user))
        .text(&call.key)
        .text(&call.request_hash)
        .text(entry)
        .text(&limit_id)
        .bigint(x)
        .timestamp(now)
        .nullable_bigint(call.limits.outflow_24h_minor)
        .nullable_integer(unlock_cap(&call.limits))
        .get_result(conn)
}

pub(crate) fn unlock_cap(limits: &VelocityLimits) -> Option<i32> {
    limits.unlocks_per_day.map(|n| i32::try_from(n).unwrap_or(i32::MAX))
}
