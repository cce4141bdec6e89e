//! A purchase's hold, capture and cancel, as the API asks for them: the one place that picks
//! the backend for them (`Ledger::apply` does it for the wallet, transfers and repayments).
//! On PostgreSQL each is one function call (`ops/purchase/pg.rs`); on SQLite one write
//! transaction: the gate, the key, the model's decision and the statements
//! (`ops/purchase/sqlite.rs`), the answer saved with the key.

use std::sync::Arc;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::ops::purchase::{pg, sqlite};
use super::{Call, Ledger};
use crate::domain::credit::Purchase;
use crate::domain::score::ScoreModel;
use crate::store::gate::Gate;
use crate::store::idempotency::Answered;
use crate::store::score::Ctx;
use crate::store::{Backend, StoreError};

/// How the caller prints a purchase: the answer saved with the idempotency key.
pub type Render = Arc<dyn Fn(&Purchase) -> String + Send + Sync>;

/// What a capture needs beyond the call: the schedule's terms and the score model that
/// reviews the limit after it.
#[derive(Clone)]
pub struct CaptureTerms {
    pub repayment_day: u32,
    pub fee_rate: Decimal,
    pub score: ScoreModel,
}

/// The status each answer is saved with.
const CREATED: u16 = 201;
const OK: u16 = 200;

impl Ledger {
    /// Authorises the hold `hold` describes (its id, merchant, amount, count and time are
    /// chosen by the caller), at most once per key; answers the body `render` printed.
    pub async fn hold(&self, call: Call, hold: Purchase, render: Render) -> Result<Answered<String>, StoreError> {
        assert_eq!(hold.user_id, call.user_id, "a hold is its caller's");
        if self.db.backend() == Backend::Postgres {
            // Every field is known before the write, so the answer is printed first and saved
            // with the key by the same one call.
            let body = render(&hold);
            return self.db.user_statement(call.user_id, move |conn| pg::authorize(conn, &call, &hold, &body)).await;
        }
        self.db
            .write(move |conn| {
                super::sqlite::once_body(conn, &call, CREATED, render.as_ref(), |c| {
                    sqlite::authorize(c, &hold, call.now)
                })
            })
            .await?
    }

    /// The buyer confirms receipt: the hold is captured, the merchant paid, the schedule set.
    pub async fn capture(
        &self,
        call: Call,
        purchase_id: Uuid,
        terms: CaptureTerms,
        render: Render,
    ) -> Result<Answered<String>, StoreError> {
        if self.db.backend() == Backend::Postgres {
            let answer = self
                .db
                .user_statement(call.user_id, move |conn| {
                    pg::capture(conn, &call, purchase_id, terms.repayment_day, terms.fee_rate)
                })
                .await?;
            return Ok(answer.map(|purchase| render(&purchase)));
        }
        self.db
            .write(move |conn| {
                super::sqlite::once_body(conn, &call, OK, render.as_ref(), |c| {
                    let ctx = Ctx { now: call.now, score: &terms.score };
                    let (purchase, _) =
                        sqlite::capture(c, call.user_id, purchase_id, terms.repayment_day, terms.fee_rate, &ctx)?;
                    Ok(purchase)
                })
            })
            .await?
    }

    /// The buyer cancels an authorised hold (no key: a second cancel is refused by state).
    pub async fn cancel(&self, user_id: Uuid, gate: Gate, purchase_id: Uuid) -> Result<Purchase, StoreError> {
        let now = crate::domain::time::now();
        match self.db.backend() {
            Backend::Postgres => {
                self.db.user_statement(user_id, move |conn| pg::void(conn, user_id, purchase_id, now, &gate)).await
            }
            Backend::Sqlite => {
                self.db
                    .write(move |conn| {
                        super::sqlite::gated(conn, user_id, &gate, |c| sqlite::void(c, user_id, purchase_id, now))
                    })
                    .await?
            }
        }
    }
}
