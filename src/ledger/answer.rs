//! The row every PostgreSQL money function answers (type `vl_answer`): the caller's
//! movement and the account after it.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};

use super::request::Answer;
use crate::store::StoreError;
use crate::store::ledger::MovementRow;

/// A row of type `vl_answer`: the caller's movement and when their account was opened.
#[derive(QueryableByName, serde::Deserialize)]
pub(crate) struct AnswerRow {
    #[diesel(sql_type = Text)]
    outcome: String,
    #[diesel(sql_type = Text)]
    entry_id: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    amount_minor: i64,
    #[diesel(sql_type = Nullable<Text>)]
    counterparty: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    note: Option<String>,
    #[diesel(sql_type = Timestamp)]
    created_at: chrono::NaiveDateTime,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    wallet_minor: i64,
    #[diesel(sql_type = BigInt)]
    vault_minor: i64,
    #[diesel(sql_type = Text)]
    line: String,
    #[diesel(sql_type = BigInt)]
    general_limit_minor: i64,
    #[diesel(sql_type = BigInt)]
    held_minor: i64,
    #[diesel(sql_type = BigInt)]
    principal_minor: i64,
    #[diesel(sql_type = BigInt)]
    fees_minor: i64,
    #[diesel(sql_type = BigInt)]
    late_fees_minor: i64,
    #[diesel(sql_type = BigInt)]
    on_time_installments: i64,
    #[diesel(sql_type = BigInt)]
    overdue_installments: i64,
    #[diesel(sql_type = BigInt)]
    overdue_days: i64,
    #[diesel(sql_type = BigInt)]
    collateral_settlements: i64,
    #[diesel(sql_type = BigInt)]
    vault_floor_minor: i64,
    #[diesel(sql_type = Bool)]
    overdue_now: bool,
    #[diesel(sql_type = Timestamp)]
    opened_at: chrono::NaiveDateTime,
}

impl AnswerRow {
    pub(crate) fn into_answer(self) -> Result<Answer, StoreError> {
        let fresh = match self.outcome.as_str() {
            "fresh" => true,
            "replay" => false,
            other => return Err(StoreError::Corrupt(format!("money function outcome `{other}`"))),
        };
        let opened_at = self.opened_at;
        let movement = MovementRow {
            entry_id: self.entry_id,
            kind: self.kind,
            amount_minor: self.amount_minor,
            counterparty: self.counterparty,
            note: self.note,
            created_at: self.created_at,
            status: self.status,
            state: (
                self.wallet_minor,
                self.vault_minor,
                self.line,
                self.general_limit_minor,
                self.held_minor,
                self.principal_minor,
                self.fees_minor,
                self.late_fees_minor,
            ),
            history: (
                self.on_time_installments,
                self.overdue_installments,
                self.overdue_days,
                self.collateral_settlements,
                self.vault_floor_minor,
                self.overdue_now,
            ),
        }
        .into_movement(opened_at)?;
        Ok(if fresh { Answer::Fresh(movement) } else { Answer::Replay(movement) })
    }
}
