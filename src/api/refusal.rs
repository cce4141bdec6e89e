//! How a refusal of the store reads over HTTP: its stable code, and a detail with amounts in
//! the currency's format. Every route that moves money or changes credit answers through it.

use crate::domain::account::Refusal;
use crate::domain::limits::Velocity;
use crate::domain::money::MoneyPolicy;
use crate::error::{ApiError, refusal_code};
use crate::store::StoreError;

/// Words a refusal for the caller, with amounts in the currency's format.
pub fn store_error(e: StoreError, money: &MoneyPolicy) -> ApiError {
    let StoreError::Refused(refusal) = e else { return e.into() };
    let code = refusal_code(&refusal);
    let detail = match refusal {
        Refusal::AccountFrozen => "the account is frozen: it can be read, but no money can move".to_owned(),
        Refusal::InsufficientFunds { from, balance_minor } => {
            format!("not enough money in the {} (balance {})", from.as_str(), money.format(balance_minor))
        }
        Refusal::VaultPledged { unlockable_minor } => {
            format!("the vault pledges what you owe; at most {} can be unlocked now", money.format(unlockable_minor))
        }
        Refusal::RecipientNotFound => "no user has that username".to_owned(),
        Refusal::SelfTransfer => "you cannot transfer money to yourself".to_owned(),
        Refusal::CreditLimitExceeded { available_minor } => {
            format!("the purchase exceeds your available credit of {}", money.format(available_minor))
        }
        Refusal::AccountDelinquent => "an installment is overdue: repay it before buying on credit again".to_owned(),
        Refusal::NotFound(what) => format!("no such {what}"),
        Refusal::InvalidState(state) => {
            format!("the purchase is {state}; only an authorized purchase can change")
        }
        Refusal::NothingToRepay => "nothing is owed right now".to_owned(),
        Refusal::PayoffQuoteChanged { payoff_minor } => {
            format!("paying this purchase off now costs {}; send that amount (a new quote)", money.format(payoff_minor))
        }
        Refusal::Overpayment { owed_minor } => {
            format!("that is more than you owe ({})", money.format(owed_minor))
        }
        Refusal::NotEligible { score, threshold, overdue, frozen } => {
            if frozen {
                "the account is frozen: its credit cannot be upgraded or raised, even with \"override\"".to_owned()
            } else if overdue {
                "an installment is overdue, so the user's credit cannot be upgraded or raised, even with \"override\""
                    .to_owned()
            } else {
                format!(
                    "score {score} is below the upgrade threshold {threshold}; send \"override\": true to upgrade anyway"
                )
            }
        }
        Refusal::VelocityLimitExceeded { velocity: Velocity::Outflow24h, used, limit } => format!(
            "withdrawals and transfers out are limited to {} in any 24 hours; {} is left",
            money.format(limit),
            money.format((limit - used).max(0))
        ),
        Refusal::VelocityLimitExceeded { velocity: Velocity::UnlocksToday, limit, .. } => {
            format!("the vault can be unlocked at most {limit} times a day (UTC); try again tomorrow")
        }
        Refusal::Forbidden(why) => why.to_owned(),
        Refusal::AlreadyDecided(state) => {
            format!("the credit request is already {state}; it is decided once")
        }
        Refusal::StatusUnchanged(status) => format!("the user is already {status}"),
        Refusal::RefundTooLarge { hold: true, refundable_minor } => format!(
            "the purchase is only authorized: it is refunded whole ({}), which voids it",
            money.format(refundable_minor)
        ),
        Refusal::RefundTooLarge { hold: false, refundable_minor } => {
            format!("at most {} of this purchase is left to refund", money.format(refundable_minor))
        }
        Refusal::NotRefundable => "this is a bill-installment plan, not a merchant purchase".to_owned(),
        Refusal::TooSmallToSplit => "the amount is too small to split into that many parts".to_owned(),
        Refusal::AlreadyConverted => "this bill was converted to installments already; a bill converts once".to_owned(),
    };
    ApiError::Refused { code, detail }
}
