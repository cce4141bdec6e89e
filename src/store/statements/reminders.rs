//! Due-date reminders: event `installment.reminder` once per installment, `reminder_days`
//! before its due date while anything of it is unpaid, carrying what it owes. A row in
//! `installment_reminders` marks each one sent, so a second run sends nothing new.

use chrono::{NaiveDate, TimeDelta};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Text};

use super::schema::installment_reminders as ir;
use crate::store::{DbConn, StoreError};

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = Text)]
    purchase_id: String,
    #[diesel(sql_type = Integer)]
    seq: i32,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Date)]
    due_date: NaiveDate,
    #[diesel(sql_type = BigInt)]
    owed: i64,
}

/// Sends the reminders due as of `as_of`: for unpaid installments falling due within
/// `reminder_days` after it (a run that missed the exact day still reminds before the due
/// date; none is sent on or after it, when billing's own events take over).
pub fn send_due(conn: &mut DbConn, as_of: NaiveDate, reminder_days: u32) -> Result<u64, StoreError> {
    let horizon = as_of + TimeDelta::days(reminder_days.into());
    // The whole fee: a part is billed (its fee owed) at the latest on its due date.
    let due: Vec<Due> = diesel::sql_query(
        "SELECT i.purchase_id, i.seq, i.user_id, i.due_date, CAST(i.principal_minor - i.principal_paid_minor \
                + i.fee_minor - i.fee_paid_minor + i.late_fee_minor - i.late_fee_paid_minor AS BIGINT) AS owed \
         FROM installments i \
         WHERE i.state NOT IN ('paid', 'converted') AND i.due_date > $1 AND i.due_date <= $2 \
           AND NOT EXISTS (SELECT 1 FROM installment_reminders r WHERE r.purchase_id = i.purchase_id AND r.seq = i.seq) \
         ORDER BY i.user_id, i.due_date, i.purchase_id, i.seq",
    )
    .bind::<Date, _>(as_of)
    .bind::<Date, _>(horizon)
    .load(conn)?;
    let now = crate::domain::time::now().naive_utc();
    for part in &due {
        diesel::insert_into(ir::table)
            .values((
                ir::purchase_id.eq(&part.purchase_id),
                ir::seq.eq(part.seq),
                ir::user_id.eq(&part.user_id),
                ir::due_date.eq(part.due_date),
                ir::amount_due_minor.eq(part.owed),
                ir::sent_at.eq(now),
            ))
            .execute(conn)?;
        let object_id = format!("{}:{}", part.purchase_id, part.seq);
        let reminder = super::Reminder {
            purchase_id: part.purchase_id.clone(),
            seq: part.seq,
            due_date: part.due_date,
            amount_due: part.owed,
        };
        let snapshot = serde_json::to_string(&reminder).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        super::emit::emit(conn, &part.user_id, "installment.reminder", &object_id, &snapshot)?;
    }
    Ok(u64::try_from(due.len()).expect("a count"))
}
