//! Credit score, 300..=850, from the user's own history only. Deterministic: the same
//! inputs always give the same score and the same factor lines. The model is described in
//! docs/SCORING.md; its weights come from configuration.

use serde::Deserialize;

use super::account::AccountState;

pub const MIN: i64 = 300;
pub const MAX: i64 = 850;

/// Weights and caps. Points are signed score points.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScoreModel {
    pub threshold: i64,
    pub base: i64,
    pub age_points_per_30_days: i64,
    pub age_points_max: i64,
    /// Points per on-time unit, up to the cap.
    pub on_time_points: i64,
    pub on_time_points_max: i64,
    /// A part paid on time earns one unit per full step of principal (a part smaller than
    /// one step earns nothing), at most `on_time_units_per_part_max`.
    pub on_time_part_step_minor: i64,
    pub on_time_units_per_part_max: i64,
    pub overdue_points: i64,
    pub overdue_day_points: i64,
    pub overdue_points_min: i64,
    pub settlement_points: i64,
    /// Points per `vault_step_minor` kept locked all of the last 90 days.
    pub vault_points_per_step: i64,
    pub vault_step_minor: i64,
    pub vault_points_max: i64,
    pub utilisation_over_half_points: i64,
    pub utilisation_over_80_points: i64,
}

impl ScoreModel {
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN..=MAX).contains(&self.threshold) || !(MIN..=MAX).contains(&self.base) {
            return Err("threshold and base must be 300..=850".into());
        }
        if self.vault_step_minor <= 0 || self.on_time_part_step_minor <= 0 {
            return Err("vault_step_minor and on_time_part_step_minor must be above zero".into());
        }
        if !(1..=100).contains(&self.on_time_units_per_part_max) {
            return Err("on_time_units_per_part_max must be 1..=100".into());
        }
        let rewards = [self.age_points_per_30_days, self.age_points_max, self.on_time_points, self.on_time_points_max];
        let penalties = [
            self.overdue_points,
            self.overdue_day_points,
            self.overdue_points_min,
            self.settlement_points,
            self.utilisation_over_half_points,
            self.utilisation_over_80_points,
        ];
        if rewards.iter().any(|p| !(0..=550).contains(p)) || penalties.iter().any(|p| !(-550..=0).contains(p)) {
            return Err("rewards must be 0..=550 points and penalties -550..=0".into());
        }
        Ok(())
    }
}

/// The on-time units a part earns when billing finds it paid by its due date, from the
/// principal it still owed when its statement closed (`billed_principal_minor`): only debt
/// that stayed outstanding a cycle shows how a borrower repays, so principal repaid before
/// it was billed earns nothing. Weighted by size, nothing below one step, capped per part.
pub fn on_time_units(billed_principal_minor: i64, model: &ScoreModel) -> i64 {
    (billed_principal_minor.max(0) / model.on_time_part_step_minor).min(model.on_time_units_per_part_max)
}

/// The units a credited part keeps after a refund left it `principal_left_minor` of
/// principal: refunded principal was never a debt the buyer carried, so what it earned is
/// taken back. Never more than the part was credited.
pub fn on_time_units_kept(
    credited_units: i64,
    billed_principal_minor: i64,
    principal_left_minor: i64,
    model: &ScoreModel,
) -> i64 {
    credited_units.min(on_time_units(billed_principal_minor.min(principal_left_minor), model))
}

/// Everything the score reads: the user's own account and history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreInputs {
    pub account: AccountState,
    pub account_age_days: i64,
    pub on_time_installments: i64,
    pub overdue_installments: i64,
    pub overdue_days: i64,
    pub collateral_settlements: i64,
    /// The lowest vault balance at any time in the last 90 days.
    pub vault_floor_90d_minor: i64,
    pub overdue_now: bool,
    pub frozen: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Factor {
    pub name: &'static str,
    pub impact: i64,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Score {
    pub value: i64,
    pub threshold: i64,
    pub eligible_for_upgrade: bool,
    pub factors: Vec<Factor>,
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn signed(points: i64) -> String {
    if points > 0 { format!("+{points}") } else { points.to_string() }
}

pub fn evaluate(inputs: &ScoreInputs, model: &ScoreModel) -> Score {
    let mut factors = Vec::with_capacity(6);
    let mut add = |name: &'static str, impact: i64, what: String| {
        factors.push(Factor { name, impact, detail: format!("{what}: {}", signed(impact)) });
    };

    let age = inputs.account_age_days.max(0);
    add(
        "account_age",
        (age / 30 * model.age_points_per_30_days).min(model.age_points_max),
        format!("account open {}", plural(age, "day", "days")),
    );
    let on_time = inputs.on_time_installments.max(0);
    add(
        "on_time_repayments",
        (on_time * model.on_time_points).min(model.on_time_points_max),
        format!("{} for installments paid by their due date", plural(on_time, "on-time unit", "on-time units")),
    );
    let overdue = inputs.overdue_installments.max(0);
    let overdue_days = inputs.overdue_days.max(0);
    add(
        "overdue",
        (overdue * model.overdue_points + overdue_days * model.overdue_day_points).max(model.overdue_points_min),
        format!(
            "{} overdue, {} in all",
            plural(overdue, "installment", "installments"),
            plural(overdue_days, "day", "days")
        ),
    );
    let settlements = inputs.collateral_settlements.max(0);
    add(
        "collateral_settlements",
        settlements * model.settlement_points,
        format!("{} settled from the vault", plural(settlements, "debt", "debts")),
    );
    let steps = inputs.vault_floor_90d_minor.max(0) / model.vault_step_minor;
    add(
        "vault_locked",
        (steps * model.vault_points_per_step).min(model.vault_points_max),
        "savings kept locked in the vault through the last 90 days".to_owned(),
    );
    let limit = inputs.account.limit_minor();
    let exposure = inputs.account.exposure_minor();
    // Ratios compared in integers: exposure/limit > 4/5 is 5*exposure > 4*limit.
    let (impact, what) = if exposure == 0 {
        (0, "no credit in use")
    } else if limit <= 0 || exposure * 5 > limit * 4 {
        (model.utilisation_over_80_points, "more than 80% of the limit in use")
    } else if exposure * 2 > limit {
        (model.utilisation_over_half_points, "more than half of the limit in use")
    } else {
        (0, "at most half of the limit in use")
    };
    add("utilisation", impact, what.to_owned());

    let value = (model.base + factors.iter().map(|f| f.impact).sum::<i64>()).clamp(MIN, MAX);
    let eligible_for_upgrade = value >= model.threshold && !inputs.overdue_now && !inputs.frozen;
    Score { value, threshold: model.threshold, eligible_for_upgrade, factors }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::domain::account::CreditLine;

    pub fn model() -> ScoreModel {
        ScoreModel {
            threshold: 650,
            base: 500,
            age_points_per_30_days: 5,
            age_points_max: 60,
            on_time_points: 4,
            on_time_points_max: 120,
            on_time_part_step_minor: 10_000,
            on_time_units_per_part_max: 3,
            overdue_points: -25,
            overdue_day_points: -2,
            overdue_points_min: -200,
            settlement_points: -60,
            vault_points_per_step: 10,
            vault_step_minor: 100_000,
            vault_points_max: 80,
            utilisation_over_half_points: -15,
            utilisation_over_80_points: -40,
        }
    }

    #[test]
    fn only_principal_owed_at_billing_earns_on_time_units() {
        let m = model();
        assert_eq!(on_time_units(0, &m), 0, "a part repaid before its statement earns nothing");
        assert_eq!(on_time_units(30_000, &m), 3);
        assert_eq!(on_time_units(9_999, &m), 0, "below one step");
        assert_eq!(on_time_units(1_000_000, &m), 3, "capped per part");
    }

    #[test]
    fn a_refund_takes_back_what_the_refunded_principal_earned() {
        let m = model();
        assert_eq!(on_time_units_kept(3, 30_000, 0, &m), 0, "refunded whole: nothing kept");
        assert_eq!(on_time_units_kept(3, 30_000, 20_000, &m), 2);
        assert_eq!(on_time_units_kept(3, 30_000, 30_000, &m), 3, "nothing refunded: all kept");
        assert_eq!(on_time_units_kept(1, 30_000, 30_000, &m), 1, "never more than credited");
    }

    fn inputs() -> ScoreInputs {
        ScoreInputs {
            account: AccountState {
                wallet_minor: 0,
                vault_minor: 0,
                line: CreditLine::Secured,
                general_limit_minor: 0,
                held_minor: 0,
                principal_minor: 0,
                fees_minor: 0,
                late_fees_minor: 0,
            },
            account_age_days: 0,
            on_time_installments: 0,
            overdue_installments: 0,
            overdue_days: 0,
            collateral_settlements: 0,
            vault_floor_90d_minor: 0,
            overdue_now: false,
            frozen: false,
        }
    }

    #[test]
    fn on_time_units_grow_with_the_part_and_stop_at_the_cap() {
        let m = model();
        assert_eq!(on_time_units(1, &m), 0, "a part of 0.01 earns nothing");
        assert_eq!(on_time_units(9_999, &m), 0);
        assert_eq!(on_time_units(10_000, &m), 1);
        assert_eq!(on_time_units(29_999, &m), 2);
        assert_eq!(on_time_units(1_000_000, &m), 3);
    }

    #[test]
    fn a_new_user_scores_the_base_and_is_not_eligible() {
        let s = evaluate(&inputs(), &model());
        assert_eq!(s.value, 500);
        assert!(!s.eligible_for_upgrade);
        assert_eq!(s.factors.len(), 6);
        assert!(s.factors.iter().all(|f| f.impact == 0));
        assert_eq!(s.factors[1].detail, "0 on-time units for installments paid by their due date: 0");
    }

    #[test]
    fn good_history_raises_it_to_eligibility() {
        let mut i = inputs();
        i.account_age_days = 200;
        i.on_time_installments = 9;
        i.vault_floor_90d_minor = 1_000_000;
        i.account.vault_minor = 1_000_000;
        let s = evaluate(&i, &model());
        assert_eq!(s.factors[1].detail, "9 on-time units for installments paid by their due date: +36");
        assert_eq!(s.value, 500 + 30 + 36 + 80);
        assert!(!s.eligible_for_upgrade, "646 is below 650");
        i.on_time_installments = 15;
        let s = evaluate(&i, &model());
        assert_eq!(s.value, 670);
        assert!(s.eligible_for_upgrade);
        i.frozen = true;
        assert!(!evaluate(&i, &model()).eligible_for_upgrade);
        i.frozen = false;
        i.overdue_now = true;
        assert!(!evaluate(&i, &model()).eligible_for_upgrade, "an overdue installment blocks the upgrade");
    }

    #[test]
    fn lateness_and_settlements_lower_it_within_bounds() {
        let mut i = inputs();
        i.overdue_installments = 2;
        i.overdue_days = 10;
        i.collateral_settlements = 1;
        let s = evaluate(&i, &model());
        assert_eq!(s.value, 500 - 50 - 20 - 60);
        assert_eq!(s.factors[2].detail, "2 installments overdue, 10 days in all: -70");
        i.overdue_days = 10_000;
        i.collateral_settlements = 50;
        assert_eq!(evaluate(&i, &model()).value, MIN, "never below 300");
    }

    #[test]
    fn utilisation_bands() {
        let mut i = inputs();
        i.account.vault_minor = 1_000;
        i.account.held_minor = 500;
        assert_eq!(evaluate(&i, &model()).factors[5].impact, 0);
        i.account.held_minor = 501;
        assert_eq!(evaluate(&i, &model()).factors[5].impact, -15);
        i.account.held_minor = 801;
        assert_eq!(evaluate(&i, &model()).factors[5].impact, -40);
    }

    #[test]
    fn the_default_configuration_is_valid() {
        assert!(model().validate().is_ok());
        let mut bad = model();
        bad.overdue_points = 5;
        assert!(bad.validate().is_err());
    }
}
