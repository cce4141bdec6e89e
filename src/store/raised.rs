//! Every refusal the live SQL raises, typed once. A PostgreSQL function refuses with
//! `vl_refuse(code, detail)` (`RAISE EXCEPTION 'vaultline:<code>'` with a DETAIL), or, in a
//! batch, answers `vaultline:<code>` in its row. `Raised::parse` is the one place that reads
//! a code and its detail; its tests enumerate the codes in `src/store/sql/*.sql`, so a code
//! added to the SQL without a meaning here fails `cargo test`.

use diesel::result::Error as DieselError;

use super::StoreError;
use crate::domain::account::{AccountState, CreditLine, Refusal};
use crate::domain::limits::Velocity;

/// Why a call of a live SQL function did not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Raised {
    /// The gate: the access token's version is no longer the user's.
    SessionEnded,
    /// The gate: the request is over the user's budget for the window.
    RateLimited,
    /// The idempotency key was used for another request.
    KeyReused,
    /// The key was saved with a whole body by an older version of the route: read it.
    StoredAnswer,
    /// A batch's operation waited past the batch's wait for a row: it runs alone.
    RowHeld,
    /// A refusal that needs nothing from the call to be worded.
    Refused(Refusal),
    /// Not found; what is missing (a merchant, a purchase) depends on the call.
    NotFound,
    /// A money rule refused, with the account row it read: the model words it.
    Rule(AccountState),
    /// An invariant the SQL asserts did not hold.
    Corrupt(String),
}

impl Raised {
    /// The code and detail read; an unknown code or a detail that does not parse is an error
    /// (the SQL and this file disagree).
    pub fn parse(code: &str, detail: &str) -> Result<Raised, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("the live SQL raised `{code}` with detail `{detail}`"));
        Ok(match code {
            "session_ended" => Raised::SessionEnded,
            "rate_limited" => Raised::RateLimited,
            "key_reused" => Raised::KeyReused,
            "stored_answer" => Raised::StoredAnswer,
            "row_held" => Raised::RowHeld,
            "account_frozen" => Raised::Refused(Refusal::AccountFrozen),
            "account_delinquent" => Raised::Refused(Refusal::AccountDelinquent),
            "recipient_not_found" => Raised::Refused(Refusal::RecipientNotFound),
            "self_transfer" => Raised::Refused(Refusal::SelfTransfer),
            "nothing_to_repay" => Raised::Refused(Refusal::NothingToRepay),
            "overpayment" => {
                Raised::Refused(Refusal::Overpayment { owed_minor: detail.parse().map_err(|_| corrupt())? })
            }
            "payoff_quote" => {
                Raised::Refused(Refusal::PayoffQuoteChanged { payoff_minor: detail.parse().map_err(|_| corrupt())? })
            }
            "velocity_limit_exceeded" => Raised::Refused(velocity(detail).ok_or_else(corrupt)?),
            "invalid_state" => Raised::Refused(Refusal::InvalidState(match detail {
                "authorized" => "authorized",
                "captured" => "captured",
                "voided" => "voided",
                _ => return Err(corrupt()),
            })),
            "not_found" => Raised::NotFound,
            "rule" => Raised::Rule(account_from_detail(detail)?),
            "corrupt" => Raised::Corrupt(detail.to_owned()),
            _ => return Err(corrupt()),
        })
    }

    /// What a database error raised, if the live SQL raised it.
    pub fn of(error: &DieselError) -> Option<Result<Raised, StoreError>> {
        super::error::raised(error).map(|(code, detail)| Raised::parse(code, detail))
    }

    /// The refusal, for a code that needs nothing else to be worded; `Err` for the rest
    /// (control codes, and `Corrupt`, which is an invariant broken).
    pub fn into_refusal(self) -> Result<Refusal, StoreError> {
        match self {
            Raised::Refused(refusal) => Ok(refusal),
            Raised::Corrupt(why) => Err(StoreError::Corrupt(why)),
            other => Err(StoreError::Corrupt(format!("not a refusal here: {other:?}"))),
        }
    }
}

/// `wallet,vault,line,general_limit,held,principal,fees,late_fees`, as `vl_refuse_rule` sends it.
fn account_from_detail(detail: &str) -> Result<AccountState, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("refusal detail `{detail}`"));
    let fields: Vec<&str> = detail.split(',').collect();
    let [wallet, vault, line, general_limit, held, principal, fees, late_fees] = fields[..] else {
        return Err(corrupt());
    };
    let n = |text: &str| text.parse::<i64>().map_err(|_| corrupt());
    AccountState {
        wallet_minor: n(wallet)?,
        vault_minor: n(vault)?,
        line: CreditLine::from_db(line).ok_or_else(corrupt)?,
        general_limit_minor: n(general_limit)?,
        held_minor: n(held)?,
        principal_minor: n(principal)?,
        fees_minor: n(fees)?,
        late_fees_minor: n(late_fees)?,
    }
    .checked()
    .map_err(StoreError::Corrupt)
}

/// `outflow|unlocks,<used>,<cap>`, as `vl_check_outflow` and `vl_move` (the unlock cap) send it.
fn velocity(detail: &str) -> Option<Refusal> {
    let mut fields = detail.split(',');
    let velocity = fields.next().and_then(Velocity::from_db)?;
    let mut number = || fields.next().and_then(|n| n.parse::<i64>().ok());
    let (used, limit) = (number()?, number()?);
    fields.next().is_none().then_some(Refusal::VelocityLimitExceeded { velocity, used, limit })
}

#[cfg(test)]
mod tests;
