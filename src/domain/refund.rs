//! What a merchant's refund does to a captured purchase's schedule. No I/O.
//!
//! A refund cancels the purchase's debt first, wherever that debt went: the principal its
//! own parts still owe (last installment backwards), then the principal it moved into bill
//! plans that those plans still owe. Only then does it give back money the buyer actually
//! repaid (the parts' repaid principal, then what was repaid on the plans), to the wallet.
//! So credit never turns into cash: refunding a purchase whose bill became a plan cancels
//! the plan's debt instead of paying the buyer while the plan is still owed.
//!
//! A part's fee that is not billed yet follows its principal (the same per-period rate on
//! what is left, so the rebate is pro rata); billed fees stay, except that a full refund
//! within the free-return window returns every fee and late fee charged on the purchase,
//! paid ones to the wallet and unpaid ones waived.

use rust_decimal::Decimal;

use super::credit::{Installment, InstallmentState};
use super::schedule;

/// The money a refund moves, by where it goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefundEffect {
    /// Principal the buyer no longer owes (on the purchase and on its plans).
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
    /// Of the refund, what was found neither owed nor repaid anywhere (never paid out: a
    /// refund that leaves any is refused).
    pub unplaced_minor: i64,
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

/// The purchase's principal that one bill plan carries now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanShare {
    /// What of the refunded purchase's principal the plan carries; the refund lowers it by
    /// what it takes from the plan.
    pub moved_minor: i64,
    /// The plan's parts in order.
    pub parts: Vec<Installment>,
}

/// Cuts up to `amount_minor` of the principal still owed, last part first; answers the cut.
fn cut_owed(parts: &mut [Installment], amount_minor: i64, fee_rate: Decimal) -> i64 {
    let mut left = amount_minor;
    for part in parts.iter_mut().rev().filter(|p| p.state != InstallmentState::Converted) {
        let cut = left.min(part.principal_owed());
        part.principal_minor -= cut;
        left -= cut;
        if cut > 0 && !part.fee_billed {
            part.fee_minor = schedule::part_fee(part.principal_minor, part.count, fee_rate);
        }
    }
    amount_minor - left
}

/// Takes up to `amount_minor` of repaid principal back, last part first (a converted part
/// keeps what was repaid on it before the conversion); answers what it took.
fn take_back_paid(parts: &mut [Installment], amount_minor: i64, fee_rate: Decimal) -> i64 {
    let mut left = amount_minor;
    for part in parts.iter_mut().rev() {
        let back = left.min(part.principal_paid_minor);
        part.principal_minor -= back;
        part.principal_paid_minor -= back;
        left -= back;
        if back > 0 && !part.fee_billed {
            part.fee_minor = schedule::part_fee(part.principal_minor, part.count, fee_rate);
        }
    }
    amount_minor - left
}

/// Runs `step` over the plans, last first (they come in the order of the parts they carry,
/// so the latest debt goes first, as within a schedule), each up to what it carries.
fn through_plans(plans: &mut [PlanShare], amount_minor: i64, step: impl Fn(&mut [Installment], i64) -> i64) -> i64 {
    let mut left = amount_minor;
    for share in plans.iter_mut().rev() {
        let taken = step(&mut share.parts, left.min(share.moved_minor));
        share.moved_minor -= taken;
        left -= taken;
    }
    amount_minor - left
}

/// Applies a refund of `amount_minor` to `schedule` (one purchase's parts in order) and
/// to the plans that carry its converted parts. `all_fees`: a full refund within the
/// free-return window. The caller has checked that `amount_minor` is at most what is
/// still refundable.
pub fn apply(
    schedule: &mut [Installment],
    plans: &mut [PlanShare],
    amount_minor: i64,
    all_fees: bool,
    fee_rate: Decimal,
) -> RefundEffect {
    assert!(amount_minor > 0, "a refund is positive");
    let mut effect = RefundEffect::default();
    let overdue_before =
        |parts: &[Installment]| -> Vec<bool> { parts.iter().map(|p| p.state == InstallmentState::Overdue).collect() };
    let own_overdue = overdue_before(schedule);
    let plans_overdue: Vec<Vec<bool>> = plans.iter().map(|p| overdue_before(&p.parts)).collect();

    let own_cut = cut_owed(schedule, amount_minor, fee_rate);
    let plan_cut = through_plans(plans, amount_minor - own_cut, |parts, x| cut_owed(parts, x, fee_rate));
    let left = amount_minor - own_cut - plan_cut;
    effect.principal_cut_minor = own_cut + plan_cut;
    let own_back = take_back_paid(schedule, left, fee_rate);
    let plan_back = through_plans(plans, left - own_back, |parts, x| take_back_paid(parts, x, fee_rate));
    // Only money found repaid goes back; what was found nowhere is the caller's to refuse.
    effect.principal_returned_minor = own_back + plan_back;
    effect.unplaced_minor = left - own_back - plan_back;
    if all_fees {
        return_every_fee(schedule, &mut effect);
    }
    effect.overdue_cleared += settle_paid_off(schedule, &own_overdue);
    for (share, overdue) in plans.iter_mut().zip(plans_overdue) {
        effect.overdue_cleared += settle_paid_off(&mut share.parts, &overdue);
    }
    effect
}

/// A full refund within the free-return window: every fee and late fee charged on the
/// purchase goes, paid ones back to the wallet, unpaid ones waived.
fn return_every_fee(schedule: &mut [Installment], effect: &mut RefundEffect) {
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

/// Parts that owe nothing now are paid; answers how many of them had been overdue.
fn settle_paid_off(parts: &mut [Installment], overdue_before: &[bool]) -> i64 {
    let mut cleared = 0;
    for (part, was_overdue) in parts.iter_mut().zip(overdue_before) {
        if !part.state.is_settled() && part.owed() == 0 && part.principal_owed() == 0 {
            if !part.fee_billed {
                part.fee_minor = 0;
            }
            part.state = InstallmentState::Paid;
            cleared += i64::from(*was_overdue);
        }
    }
    cleared
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
            .map(|(i, principal_minor)| {
                let fee_minor = schedule::part_fee(principal_minor, count, rate());
                Installment::scheduled(
                    purchase_id,
                    u32::try_from(i + 1).unwrap(),
                    count,
                    due,
                    principal_minor,
                    fee_minor,
                )
            })
            .collect()
    }

    #[test]
    fn a_partial_refund_shrinks_the_last_parts_and_their_fees() {
        // 1200.00 in 12: parts of 100.00 with a fee of 0.50 each.
        let mut parts = plan(120_000, 12);
        let effect = apply(&mut parts, &mut [], 25_050, false, rate());
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
        let effect = apply(&mut parts, &mut [], 25_000, false, rate());
        assert_eq!(effect.principal_cut_minor, 20_000);
        assert_eq!(effect.principal_returned_minor, 5_000);
        assert_eq!(effect.to_wallet_minor(), 5_000);
        assert_eq!(parts[0].principal_minor, 5_000);
        assert_eq!(parts[0].principal_paid_minor, 5_000);
        assert_eq!(parts[0].fee_minor, 50, "a billed fee stays");
    }

    /// 5000.00 in one part, billed, its bill converted into a 24-part plan.
    fn converted(repaid_on_plan_minor: i64) -> (Vec<Installment>, Vec<PlanShare>) {
        let mut own = plan(500_000, 1);
        own[0].fee_billed = true;
        own[0].state = InstallmentState::Converted;
        own[0].principal_minor = 0;
        let mut parts = plan(500_000, 24);
        let mut left = repaid_on_plan_minor;
        for part in &mut parts {
            let paid = left.min(part.principal_minor);
            part.principal_paid_minor = paid;
            left -= paid;
        }
        (own, vec![PlanShare { moved_minor: 500_000, parts }])
    }

    #[test]
    fn a_refund_cancels_debt_moved_into_a_plan_instead_of_paying_cash() {
        let (mut own, mut plans) = converted(0);
        let effect = apply(&mut own, &mut plans, 500_000, false, rate());
        assert_eq!(effect.principal_cut_minor, 500_000);
        assert_eq!(effect.to_wallet_minor(), 0, "nothing was repaid, so nothing comes back");
        assert_eq!(plans[0].moved_minor, 0);
        assert!(plans[0].parts.iter().all(|p| p.owed() == 0 && p.state == InstallmentState::Paid));
        assert!(plans[0].parts.iter().all(|p| p.fee_minor == 0), "unbilled plan fees go with the principal");
    }

    #[test]
    fn only_what_was_repaid_on_the_plan_comes_back() {
        let (mut own, mut plans) = converted(100_000);
        let effect = apply(&mut own, &mut plans, 500_000, false, rate());
        assert_eq!(effect.principal_cut_minor, 400_000);
        assert_eq!(effect.principal_returned_minor, 100_000);
        let (mut own, mut plans) = converted(100_000);
        let effect = apply(&mut own, &mut plans, 150_000, false, rate());
        assert_eq!((effect.principal_cut_minor, effect.to_wallet_minor()), (150_000, 0), "debt first");
        assert_eq!(plans[0].moved_minor, 350_000);
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
        let effect = apply(&mut parts, &mut [], 30_000, true, rate());
        assert_eq!(effect.principal_cut_minor, 26_000);
        assert_eq!(effect.principal_returned_minor, 4_000);
        assert_eq!((effect.fees_returned_minor, effect.fees_waived_minor), (50, 0));
        assert_eq!((effect.late_fees_returned_minor, effect.late_fees_waived_minor), (10, 20));
        assert_eq!(effect.overdue_cleared, 1);
        assert!(parts.iter().all(|p| p.state == InstallmentState::Paid && p.owed() == 0 && p.paid_minor() == 0));
    }
}
