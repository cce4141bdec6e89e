//! Credit score, 300..=850, from the user's own account only. This first model reads
//! what the account row holds (age, vault, utilisation); repayment history joins it with
//! the credit features.

use super::account::AccountState;

pub const MIN: i32 = 300;
pub const MAX: i32 = 850;
const BASE: i32 = 500;
pub const DEFAULT_THRESHOLD: i32 = 650;

pub struct ScoreInputs<'a> {
    pub account: &'a AccountState,
    pub account_age_days: i64,
    pub frozen: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Factor {
    pub name: &'static str,
    pub impact: i32,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Score {
    pub value: i32,
    pub threshold: i32,
    pub eligible_for_upgrade: bool,
    pub factors: Vec<Factor>,
}

pub fn evaluate(inputs: &ScoreInputs<'_>, threshold: i32) -> Score {
    let mut factors = Vec::new();
    // Up to +60 for six months of history, a point every three days.
    let age = inputs.account_age_days.clamp(0, 180);
    let age_points = i32::try_from(age / 3).unwrap_or(60);
    factors.push(Factor {
        name: "account_age",
        impact: age_points,
        detail: format!("account open {age} day(s): +{age_points}"),
    });
    // Savings kept locked: +1 per 100 major units (at 2 places), up to +80.
    let vault_points = i32::try_from((inputs.account.vault_minor / 10_000).min(80)).unwrap_or(80);
    factors.push(Factor {
        name: "vault_locked",
        impact: vault_points,
        detail: format!("savings locked in the vault: +{vault_points}"),
    });
    let limit = inputs.account.limit_minor();
    let exposure = inputs.account.exposure_minor();
    let utilisation_points = match (limit, exposure) {
        (_, 0) => 0,
        (0, _) => -60,
        (l, e) if e * 10 > l * 8 => -60,
        (l, e) if e * 10 > l * 5 => -25,
        _ => 0,
    };
    factors.push(Factor {
        name: "utilisation",
        impact: utilisation_points,
        detail: if utilisation_points == 0 {
            "credit used at or below half the limit: 0".to_owned()
        } else {
            format!("credit used above half the limit: {utilisation_points}")
        },
    });
    let value = (BASE + factors.iter().map(|f| f.impact).sum::<i32>()).clamp(MIN, MAX);
    let eligible_for_upgrade = value >= threshold && !inputs.frozen && inputs.account_age_days > 0;
    Score { value, threshold, eligible_for_upgrade, factors }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::CreditLine;

    fn account(vault: i64, held: i64) -> AccountState {
        AccountState {
            wallet_minor: 0,
            vault_minor: vault,
            line: CreditLine::Secured,
            general_limit_minor: 0,
            held_minor: held,
            principal_minor: 0,
            fees_minor: 0,
            late_fees_minor: 0,
        }
    }

    #[test]
    fn new_user_is_not_eligible() {
        let a = account(0, 0);
        let s = evaluate(&ScoreInputs { account: &a, account_age_days: 0, frozen: false }, DEFAULT_THRESHOLD);
        assert_eq!(s.value, BASE);
        assert!(!s.eligible_for_upgrade);
        assert_eq!(s.factors.len(), 3);
    }

    #[test]
    fn history_and_savings_raise_it_and_utilisation_lowers_it() {
        let a = account(1_000_000, 0);
        let s = evaluate(&ScoreInputs { account: &a, account_age_days: 180, frozen: false }, DEFAULT_THRESHOLD);
        assert_eq!(s.value, BASE + 60 + 80);
        let b = account(1_000_000, 900_000);
        let t = evaluate(&ScoreInputs { account: &b, account_age_days: 180, frozen: false }, DEFAULT_THRESHOLD);
        assert_eq!(t.value, s.value - 60);
        let frozen = evaluate(&ScoreInputs { account: &a, account_age_days: 180, frozen: true }, 600);
        assert!(!frozen.eligible_for_upgrade);
    }
}
