//! What a merchant's refund does to a captured purchase's schedule. No I/O.
//!
//! The refund first cuts the principal still owed, from the last installment backwards;
//! what is left of it was already repaid by the buyer and goes back to their wallet (taken
//! back from the last parts' repaid principal, then, if the purchase had parts converted
//! into a bill plan, from what was moved there: that plan's debt stays and the buyer gets
//! the money to pay it). A part's fee that is not billed yet follows its principal (the
//! same per-period rate on what is left, so the rebate is pro rata); billed fees stay,
//! except that a full refund within the free-return window returns every fee and late fee
//! charged on the purchase, paid ones to the wallet and unpaid ones waived.

use rust_decimal::Decimal;

use super::credit::{Installment, InstallmentState};
use super::schedule;

/// The money a refund moves, by where it goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefundEffect {
    /// Principal the buyer no longer owes.
    pub principal_cut_minor: i64,
    /// Principal the buyer had repaid, back to the wallet.
    pub principal_returned_minor: i64,
    /// Billed fees not yet paid, waived (free return only).
    pub fees_waived_minor: i64,
    /// Billed fees already paid, back to the wallet (free return only).
    pub fees_returned_minor: i64,
    pub late_fees_waived_minor: i64,
    pub late_fees_returned_minor: i64,
    /// Parts that were overdue and owe nothing now.
    pub overdue_cleared: i64,
}

impl RefundEffect {
    /// What the buyer's wallet receives.
    pub fn to_wallet_minor(&self) -> i64 {
        self.principal_returned_minor + self.fees_returned_minor + self.late_fees_returned_minor
    }

    /// What leaves the buyer's debt (principal, fees and late fees waived).
    pub fn debt_cut_minor(&self) -> i64 {
        self.principal_cut_minor + self.fees_waived_minor + self.late_fees_waived_minor
    }
}

/// Applies a refund of `amount_minor` to `schedule` (one purchase's parts in order).
/// `all_fees`: a full refund within the free-return window. The caller has checked that
/// `amount_minor` is at most what is still refundable.
pub fn apply(schedule: &mut [Installment], amount_minor: i64, all_fees: bool, fee_rate: Decimal) -> RefundEffect {
    assert!(amount_minor > 0, "a refund is positive");
    let mut effect = RefundEffect::default();
    let mut left = amount_minor;
    let overdue_before: Vec<bool> = schedule.iter().map(|p| p.state == InstallmentState::Overdue).collect();
    for part in schedule.iter_mut().rev().filter(|p| p.state != InstallmentState::Converted) {
        let cut = left.min(part.principal_owed());
        part.principal_minor -= cut;
        left -= cut;
        effect.principal_cut_minor += cut;
        if cut > 0 && !part.fee_billed {
            part.fee_minor = schedule::part_fee(part.principal_minor, part.count, fee_rate);
        }
    }
    for part in schedule.iter_mut().rev().filter(|p| p.state != InstallmentState::Converted) {
        let back = left.min(part.principal_paid_minor);
        part.principal_minor -= back;
        part.principal_paid_minor -= back;
        left -= back;
        if back > 0 && !part.fee_billed {
            part.fee_minor = schedule::part_fee(part.principal_minor, part.count, fee_rate);
        }
    }
    // Whatever is left was moved into a bill plan: the buyer gets it back in cash.
    effect.principal_returned_minor = amount_minor - effect.principal_cut_minor;
    if all_fees {
        for part in schedule.iter_mut() {
            if part.fee_billed {
                effect.fees_returned_minor += part.fee_paid_minor;
                effect.fees_waived_minor += part.fee_minor - part.fee_paid_minor;
            }
            effect.late_fees_returned_minor += part.late_fee_paid_minor;
            effect.late_fees_waived_minor += part.late_fee_minor - part.late_fee_paid_minor;
            (part.fee_minor, part.fee_paid_minor) = (0, 0);
            (part.late_fee_minor, part.late_fee_paid_minor) = (0, 0);
        }
    }
    for (part, was_overdue) in schedule.iter_mut().zip(overdue_before) {
        if !part.state.is_settled() && part.owed() == 0 && part.principal_owed() == 0 {
            if !part.fee_billed {
                part.fee_minor = 0;
            }
            part.state = InstallmentState::Paid;
            effect.overdue_cleared += i64::from(was_overdue);
        }
    }
    effect
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::NaiveDate;
    use uuid::Uuid;

    use super::*;

    fn rate() -> Decimal {
        Decimal::from_str("0.005").unwrap()
    }

    fn plan(amount_minor: i64, count: u32) -> Vec<Installment> {
        let due = NaiveDate::from_ymd_opt(2027, 1, 10).unwrap();
        let purchase_id = Uuid::now_v7();
        schedule::split(amount_minor, count)
            .into_iter()
            .enumerate()
            .map(|(i, principal_minor)| Installment {
                purchase_id,
                seq: u32::try_from(i + 1).unwrap(),
                count,
                due_date: due,
                principal_minor,
                fee_minor: schedule::part_fee(principal_minor, count, rate()),
                fee_billed: false,
                late_fee_minor: 0,
                principal_paid_minor: 0,
                fee_paid_minor: 0,
                late_fee_paid_minor: 0,
                state: InstallmentState::Pending,
                was_overdue: false,
                days_overdue: 0,
            })
            .collect()
    }

    #[test]
    fn a_partial_refund_shrinks_the_last_parts_and_their_fees() {
        // 1200.00 in 12: parts of 100.00 with a fee of 0.50 each.
        let mut parts = plan(120_000, 12);
        let effect = apply(&mut parts, 25_050, false, rate());
        assert_eq!(effect, RefundEffect { principal_cut_minor: 25_050, ..RefundEffect::default() });
        let principal: Vec<i64> = parts.iter().map(|p| p.principal_minor).collect();
        assert_eq!(&principal[8..], [10_000, 4_950, 0, 0]);
        let fees: Vec<i64> = parts.iter().map(|p| p.fee_minor).collect();
        // 49.50 at 0.5% is 0.2475, half-even to 0.25; nothing left, no fee.
        assert_eq!(&fees[8..], [50, 25, 0, 0]);
        assert_eq!(parts[11].state, InstallmentState::Paid);
        assert_eq!(parts[9].state, InstallmentState::Pending);
    }

    #[test]
    fn a_refund_past_what_is_owed_returns_repaid_principal() {
        let mut parts = plan(30_000, 3);
        parts[0].principal_paid_minor = 10_000;
        parts[0].fee_billed = true;
        parts[0].fee_paid_minor = parts[0].fee_minor;
        parts[0].state = InstallmentState::Paid;
        let effect = apply(&mut parts, 25_000, false, rate());
        assert_eq!(effect.principal_cut_minor, 20_000);
        assert_eq!(effect.principal_returned_minor, 5_000);
        assert_eq!(effect.to_wallet_minor(), 5_000);
        assert_eq!(parts[0].principal_minor, 5_000);
        assert_eq!(parts[0].principal_paid_minor, 5_000);
        assert_eq!(parts[0].fee_minor, 50, "a billed fee stays");
    }

    #[test]
    fn a_full_free_return_gives_back_every_fee() {
        let mut parts = plan(30_000, 3);
        parts[0].fee_billed = true;
        parts[0].fee_paid_minor = 50;
        parts[0].principal_paid_minor = 4_000;
        parts[0].state = InstallmentState::Overdue;
        parts[0].late_fee_minor = 30;
        parts[0].late_fee_paid_minor = 10;
        let effect = apply(&mut parts, 30_000, true, rate());
        assert_eq!(effect.principal_cut_minor, 26_000);
        assert_eq!(effect.principal_returned_minor, 4_000);
        assert_eq!((effect.fees_returned_minor, effect.fees_waived_minor), (50, 0));
        assert_eq!((effect.late_fees_returned_minor, effect.late_fees_waived_minor), (10, 20));
        assert_eq!(effect.overdue_cleared, 1);
        assert!(parts.iter().all(|p| p.state == InstallmentState::Paid && p.owed() == 0 && p.paid_minor() == 0));
    }
}
