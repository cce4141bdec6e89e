//! Installment math: how a captured amount splits, what each part costs, when it is due,
//! and what lateness costs. Pure functions over minor units; rates are exact decimals.

use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// The counts a purchase may be split into.
pub const ALLOWED_COUNTS: [u32; 5] = [1, 3, 6, 12, 24];
/// Repayment days stop at 28 so every month has one.
pub const MAX_REPAYMENT_DAY: u32 = 28;

pub fn is_allowed_count(count: u32) -> bool {
    ALLOWED_COUNTS.contains(&count)
}

/// Splits `amount_minor` into `count` parts that differ by at most one minor unit,
/// the remainder going to the first parts, summing exactly to the amount.
pub fn split(amount_minor: i64, count: u32) -> Vec<i64> {
    assert!(amount_minor > 0 && count > 0, "split needs a positive amount and count");
    let n = i64::from(count);
    let (base, remainder) = (amount_minor / n, amount_minor % n);
    (0..n).map(|i| base + i64::from(i < remainder)).collect()
}

/// `minor × rate`, rounded half-even to the minor unit.
pub fn apply_rate(minor: i64, rate: Decimal) -> i64 {
    (Decimal::from(minor) * rate)
        .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
        .to_i64()
        .expect("a bounded amount times a small rate fits in i64")
}

/// The fee of one part: the per-period rate, none for a single installment.
pub fn part_fee(principal_minor: i64, count: u32, rate_per_period: Decimal) -> i64 {
    if count == 1 { 0 } else { apply_rate(principal_minor, rate_per_period) }
}

/// Due dates: on `repayment_day` of each month, the first in the month after capture.
pub fn due_dates(captured_on: NaiveDate, count: u32, repayment_day: u32) -> Vec<NaiveDate> {
    assert!((1..=MAX_REPAYMENT_DAY).contains(&repayment_day), "repayment day 1..=28");
    let first_of_month = captured_on.with_day(1).expect("day 1 exists");
    (1..=count)
        .map(|k| {
            let month = first_of_month.checked_add_months(Months::new(k)).expect("dates within range");
            month.with_day(repayment_day).expect("days 1..=28 exist in every month")
        })
        .collect()
}

/// Total late fee as of `as_of` for an amount overdue since `due_date`: rate × amount for
/// each whole day past the due date.
pub fn late_fee_total(overdue_minor: i64, due_date: NaiveDate, as_of: NaiveDate, rate_per_day: Decimal) -> i64 {
    let days = (as_of - due_date).num_days();
    if days <= 0 || overdue_minor <= 0 {
        return 0;
    }
    apply_rate(overdue_minor, rate_per_day * Decimal::from(days))
}

/// One planned part of a purchase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedPart {
    pub seq: u32,
    pub due_date: NaiveDate,
    pub principal_minor: i64,
    pub fee_minor: i64,
}

pub fn plan(
    amount_minor: i64,
    count: u32,
    captured_on: NaiveDate,
    repayment_day: u32,
    rate_per_period: Decimal,
) -> Vec<PlannedPart> {
    split(amount_minor, count)
        .into_iter()
        .zip(due_dates(captured_on, count, repayment_day))
        .zip(1..)
        .map(|((principal_minor, due_date), seq)| PlannedPart {
            seq,
            due_date,
            principal_minor,
            fee_minor: part_fee(principal_minor, count, rate_per_period),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).unwrap()
    }

    #[test]
    fn remainder_goes_to_the_first_parts() {
        assert_eq!(split(1_000, 3), vec![334, 333, 333]);
        assert_eq!(split(1_001, 3), vec![334, 334, 333]);
        assert_eq!(split(5, 6), vec![1, 1, 1, 1, 1, 0]);
        assert_eq!(split(120_000, 12), vec![10_000; 12]);
    }

    #[test]
    fn fees_round_half_even() {
        let rate = Decimal::from_str("0.005").unwrap();
        assert_eq!(apply_rate(10_000, rate), 50);
        assert_eq!(apply_rate(100, rate), 0); // 0.5 -> 0
        assert_eq!(apply_rate(300, rate), 2); // 1.5 -> 2
        assert_eq!(apply_rate(500, rate), 2); // 2.5 -> 2
        assert_eq!(part_fee(10_000, 1, rate), 0, "no fee for a single installment");
        assert_eq!(part_fee(10_000, 3, rate), 50);
    }

    #[test]
    fn due_dates_follow_the_repayment_day() {
        assert_eq!(due_dates(d("2026-01-31"), 3, 10), vec![d("2026-02-10"), d("2026-03-10"), d("2026-04-10")]);
        assert_eq!(due_dates(d("2026-11-05"), 3, 28), vec![d("2026-12-28"), d("2027-01-28"), d("2027-02-28")]);
        assert_eq!(due_dates(d("2026-02-10"), 1, 10), vec![d("2026-03-10")]);
    }

    #[test]
    fn late_fees_accrue_per_day_overdue() {
        let rate = Decimal::from_str("0.0005").unwrap();
        assert_eq!(late_fee_total(100_000, d("2026-03-10"), d("2026-03-10"), rate), 0);
        assert_eq!(late_fee_total(100_000, d("2026-03-10"), d("2026-03-11"), rate), 50);
        assert_eq!(late_fee_total(100_000, d("2026-03-10"), d("2026-04-10"), rate), 1_550);
        assert_eq!(late_fee_total(100_000, d("2026-03-10"), d("2026-03-01"), rate), 0);
    }

    proptest! {
        #[test]
        fn parts_sum_exactly_and_differ_by_at_most_one(amount in 1_i64..100_000_000_000, idx in 0usize..5) {
            let count = ALLOWED_COUNTS[idx];
            let parts = split(amount, count);
            prop_assert_eq!(parts.len(), count as usize);
            prop_assert_eq!(parts.iter().sum::<i64>(), amount);
            let (max, min) = (*parts.iter().max().unwrap(), *parts.iter().min().unwrap());
            prop_assert!(max - min <= 1);
            prop_assert_eq!(parts[0], max, "the remainder sits on the first part");
            prop_assert!(parts.windows(2).all(|w| w[0] >= w[1]));
        }

        #[test]
        fn plans_are_monthly_and_fees_bounded(amount in 1_i64..10_000_000_000, idx in 0usize..5,
                                              day in 1u32..=28, offset in 0i64..3000) {
            let count = ALLOWED_COUNTS[idx];
            let captured = d("2026-01-01") + chrono::TimeDelta::days(offset);
            let rate = Decimal::from_str("0.005").unwrap();
            let parts = plan(amount, count, captured, day, rate);
            prop_assert!(parts[0].due_date > captured);
            prop_assert!(parts.iter().all(|p| p.due_date.day() == day));
            prop_assert!(parts.windows(2).all(|w| w[1].due_date == w[0].due_date.checked_add_months(Months::new(1)).unwrap()));
            for p in &parts {
                let exact = Decimal::from(p.principal_minor) * rate;
                let diff = (Decimal::from(p.fee_minor) - if count == 1 { Decimal::ZERO } else { exact }).abs();
                prop_assert!(diff <= Decimal::from_str("0.5").unwrap());
            }
        }
    }
}
