//! Billing: one run bills every user with something to bill, each in their own transaction
//! under their account row's lock: holds that expired, installments that fall due or overdue,
//! late fees up to the cap, on-time credit once a paid part's due date has come, and on a
//! secured line the settlement of debt past the grace period from the vault.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use uuid::Uuid;

use super::credit::{
    CaptureTerms, capture_on, lock_account, parse_uuid, pay_debt, save_installment, unpaid_installments,
};
use super::ledger::{self, LATE_FEE_INCOME, UserAccount, account_id};
use super::schema::{installments as ins, money_accounts as ma, purchases as pu};
use super::score::Ctx;
use super::{DbConn, StoreError};
use crate::domain::account::{CreditLine, Source};
use crate::domain::credit::{self, BillingRules, Installment, InstallmentState, PurchaseState};
use crate::domain::movement::MovementKind;
use crate::domain::score::ScoreModel;

/// What one billing run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct BillingCounts {
    pub installments_due: u64,
    pub installments_overdue: u64,
    pub late_fees_charged: u64,
    pub collateral_settlements: u64,
    /// Always 0: holds are no longer voided by billing but confirmed (kept for clients of
    /// the first contract).
    pub holds_expired: u64,
    /// Holds the buyer left unconfirmed for `credit.auto_confirm_days`, confirmed by billing.
    pub purchases_auto_confirmed: u64,
    /// Autopay payments made (one per source used).
    pub autopay_payments: u64,
    /// Parts paid by their due date that earned their on-time credit in this run.
    pub on_time_credited: u64,
    /// Monthly statements issued (`store::statements`).
    pub statements_issued: u64,
    /// Due-date reminders sent (event `installment.reminder`).
    pub reminders_sent: u64,
}

impl std::ops::AddAssign for BillingCounts {
    fn add_assign(&mut self, other: Self) {
        self.installments_due += other.installments_due;
        self.installments_overdue += other.installments_overdue;
        self.late_fees_charged += other.late_fees_charged;
        self.collateral_settlements += other.collateral_settlements;
        self.holds_expired += other.holds_expired;
        self.purchases_auto_confirmed += other.purchases_auto_confirmed;
        self.autopay_payments += other.autopay_payments;
        self.on_time_credited += other.on_time_credited;
        self.statements_issued += other.statements_issued;
        self.reminders_sent += other.reminders_sent;
    }
}

/// Users billing has anything to do for as of `as_of`.
pub fn billing_candidates(conn: &mut DbConn, as_of: NaiveDate, confirm_days: u32) -> Result<Vec<Uuid>, StoreError> {
    let settled = [InstallmentState::Paid.as_str(), InstallmentState::Converted.as_str()];
    let mut ids: Vec<String> =
        ins::table.filter(ins::state.ne_all(settled)).select(ins::user_id).distinct().load(conn)?;
    let expiry = auto_confirm_cutoff(as_of, confirm_days);
    let holders: Vec<String> = pu::table
        .filter(pu::state.eq(PurchaseState::Authorized.as_str()))
        .filter(pu::created_at.lt(expiry))
        .select(pu::user_id)
        .distinct()
        .load(conn)?;
    ids.extend(holders);
    let to_credit: Vec<String> = ins::table
        .filter(ins::state.eq(InstallmentState::Paid.as_str()))
        .filter(ins::was_overdue.eq(false))
        .filter(ins::on_time_credited.eq(false))
        .filter(ins::due_date.le(as_of))
        .select(ins::user_id)
        .distinct()
        .load(conn)?;
    ids.extend(to_credit);
    ids.sort();
    ids.dedup();
    ids.iter().map(|id| parse_uuid(id, "user id")).collect()
}

/// Holds created before this time are confirmed as of `as_of`: a hold of day D is
/// confirmed by the run of day D + `confirm_days`.
fn auto_confirm_cutoff(as_of: NaiveDate, confirm_days: u32) -> NaiveDateTime {
    let first_day_kept = as_of - TimeDelta::days(i64::from(confirm_days)) + TimeDelta::days(1);
    first_day_kept.and_hms_opt(0, 0, 0).expect("midnight exists")
}

fn debt_movement(
    conn: &mut DbConn,
    user_id: Uuid,
    kind: MovementKind,
    income: &str,
    amount_minor: i64,
    ctx: &Ctx<'_>,
) -> Result<(), StoreError> {
    let fees = if kind == MovementKind::Fee { amount_minor } else { 0 };
    let late = if kind == MovementKind::LateFee { amount_minor } else { 0 };
    diesel::update(ma::table.filter(ma::user_id.eq(user_id.to_string())))
        .set((ma::fees_minor.eq(ma::fees_minor + fees), ma::late_fees_minor.eq(ma::late_fees_minor + late)))
        .execute(conn)?;
    let legs = [(account_id(user_id, UserAccount::Credit), -amount_minor), (income.to_owned(), amount_minor)];
    let entry = ledger::post_entry(conn, kind.as_str(), Some(user_id), ctx.now, &legs)?;
    ledger::record(conn, user_id, entry, kind, amount_minor, None, None, ctx.now).map(|_| ())
}

/// Bills one user as of `as_of`, in the caller's transaction, under the user's row lock:
/// expires stale holds, bills due installments, marks overdue ones, charges late fees, and
/// on a secured line settles debt past the grace period from the vault.
pub fn bill_user(
    conn: &mut DbConn,
    user_id: Uuid,
    as_of: NaiveDate,
    rules: &BillingRules,
    ctx: &Ctx<'_>,
) -> Result<BillingCounts, StoreError> {
    let mut counts = BillingCounts::default();
    lock_account(conn, user_id)?;

    let stale: Vec<String> = pu::table
        .filter(pu::user_id.eq(user_id.to_string()))
        .filter(pu::state.eq(PurchaseState::Authorized.as_str()))
        .filter(pu::created_at.lt(auto_confirm_cutoff(as_of, rules.auto_confirm_days)))
        .order(pu::id.asc())
        .select(pu::id)
        .load(conn)?;
    for id in stale {
        let terms = CaptureTerms {
            repayment_day: rules.repayment_day,
            fee_rate: rules.fee_rate_per_period,
            // Exactly as a confirmation now would: a run dated in the past must not backdate
            // the schedule (its first part could be overdue at once).
            on: ctx.now.date_naive(),
            by_billing: true,
        };
        capture_on(conn, user_id, parse_uuid(&id, "purchases.id")?, &terms, ctx)?;
        counts.purchases_auto_confirmed += 1;
    }

    // Two passes: first as of each part's due date at the latest (statements and fees, never
    // overdue), then autopay pays what is due, then as of `as_of` (overdue, late fees), so a
    // part autopay paid is never overdue for a moment.
    let mut items = unpaid_installments(conn, user_id)?;
    bill_pass(conn, user_id, &mut items, |item| as_of.min(item.due_date), rules, &mut counts, ctx)?;
    counts.autopay_payments += super::autopay::pay_due(conn, user_id, &mut items, as_of, ctx.now)?;
    bill_pass(conn, user_id, &mut items, |_| as_of, rules, &mut counts, ctx)?;

    counts.on_time_credited += credit_on_time(conn, user_id, as_of, ctx.score)?;

    let account = super::account_row::account(conn, user_id)?;
    if account.line == CreditLine::Secured && account.vault_minor > 0 {
        let mut overdue: Vec<Installment> =
            items.iter().filter(|i| credit::past_grace(i, as_of, rules)).cloned().collect();
        let allocation = credit::allocate_up_to(&overdue, account.vault_minor);
        if !allocation.parts.is_empty() {
            let settlement = MovementKind::CollateralSettlement;
            pay_debt(conn, user_id, &mut overdue, &allocation, Source::Vault, settlement, ctx.now)?;
            counts.collateral_settlements += 1;
        }
    }
    Ok(counts)
}

/// Moves every item forward to the date `date_of` gives it; writes the fees and late fees
/// charged as one movement each, and the overdue counters.
fn bill_pass(
    conn: &mut DbConn,
    user_id: Uuid,
    items: &mut [Installment],
    date_of: impl Fn(&Installment) -> NaiveDate,
    rules: &BillingRules,
    counts: &mut BillingCounts,
    ctx: &Ctx<'_>,
) -> Result<(), StoreError> {
    let (mut fees, mut late_fees, mut overdue_days, mut newly_overdue) = (0_i64, 0_i64, 0_i64, 0_i64);
    for item in items.iter_mut() {
        let step = credit::bill(item, date_of(item), rules);
        if step == credit::BillingStep::default() {
            continue;
        }
        counts.installments_due += u64::from(step.became_due);
        counts.installments_overdue += u64::from(step.became_overdue);
        counts.late_fees_charged += u64::from(step.late_fee_charged_minor > 0);
        newly_overdue += i64::from(step.became_overdue);
        fees += step.fee_billed_minor;
        late_fees += step.late_fee_charged_minor;
        overdue_days += step.overdue_days_added;
        save_installment(conn, item)?;
        if step.became_due {
            record_billed_principal(conn, item)?;
        }
    }
    if newly_overdue > 0 || overdue_days > 0 {
        diesel::update(ma::table.filter(ma::user_id.eq(user_id.to_string())))
            .set((
                ma::overdue_installments.eq(ma::overdue_installments + newly_overdue),
                ma::overdue_count.eq(ma::overdue_count + newly_overdue),
                ma::overdue_days.eq(ma::overdue_days + overdue_days),
            ))
            .execute(conn)?;
    }
    if fees > 0 {
        debt_movement(conn, user_id, MovementKind::Fee, ledger::FEE_INCOME, fees, ctx)?;
    }
    if late_fees > 0 {
        debt_movement(conn, user_id, MovementKind::LateFee, LATE_FEE_INCOME, late_fees, ctx)?;
    }
    Ok(())
}

/// Keeps the principal a part still owed when its statement closed on it: only that
/// principal stayed outstanding a cycle, so only that can earn on-time credit.
fn record_billed_principal(conn: &mut DbConn, item: &Installment) -> Result<(), StoreError> {
    diesel::update(ins::table.find((item.purchase_id.to_string(), i32::try_from(item.seq).expect("at most 24"))))
        .set(ins::billed_principal_minor.eq(item.principal_owed()))
        .execute(conn)?;
    Ok(())
}

/// Gives on-time credit for the parts of `user_id` paid by a due date that has now come
/// (`as_of`) and never overdue: each part once, weighted by the principal it still owed
/// when it was billed (`score::on_time_units`: principal repaid before its statement never
/// stayed outstanding and earns nothing, nor does a part below one step). Each part keeps
/// the units it earned, so a refund can take them back. Answers how many parts it looked at
/// (each once), whether they earned units or not.
fn credit_on_time(conn: &mut DbConn, user_id: Uuid, as_of: NaiveDate, model: &ScoreModel) -> Result<u64, StoreError> {
    let uid = user_id.to_string();
    let parts: Vec<(String, i32, i64)> = ins::table
        .filter(ins::user_id.eq(&uid))
        .filter(ins::state.eq(InstallmentState::Paid.as_str()))
        .filter(ins::was_overdue.eq(false))
        .filter(ins::on_time_credited.eq(false))
        .filter(ins::due_date.le(as_of))
        .select((ins::purchase_id, ins::seq, ins::billed_principal_minor))
        .load(conn)?;
    if parts.is_empty() {
        return Ok(0);
    }
    let mut units = 0;
    for (purchase_id, seq, billed_principal_minor) in &parts {
        let earned = crate::domain::score::on_time_units(*billed_principal_minor, model);
        diesel::update(ins::table.filter(ins::purchase_id.eq(purchase_id)).filter(ins::seq.eq(seq)))
            .set((ins::on_time_credited.eq(true), ins::on_time_units.eq(earned)))
            .execute(conn)?;
        units += earned;
    }
    if units > 0 {
        diesel::update(ma::table.filter(ma::user_id.eq(&uid)))
            .set(ma::on_time_installments.eq(ma::on_time_installments + units))
            .execute(conn)?;
    }
    Ok(u64::try_from(parts.len()).expect("a count"))
}

/// One user's share of a billing run (listed by dry runs).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct UserCounts {
    #[schema(format = Uuid)]
    pub user_id: String,
    #[serde(flatten)]
    pub counts: BillingCounts,
}

/// What a billing run did, or with `dry_run` would do.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct BillingReport {
    #[serde(flatten)]
    pub counts: BillingCounts,
    pub dry_run: bool,
    /// Dry runs: each user the run would change, at most `DRY_RUN_LIST_LIMIT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<UserCounts>>,
    /// Dry runs: users the run would change beyond the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_not_listed: Option<u64>,
}

pub const DRY_RUN_LIST_LIMIT: usize = 500;

/// Bills every user with something to bill, each in their own transaction (retried on
/// contention). Safe to run twice, or from two instances at once. A dry run does the same
/// work in transactions that are rolled back, so it writes nothing.
pub fn run_billing(
    conn: &mut DbConn,
    as_of: NaiveDate,
    rules: &BillingRules,
    score: &crate::domain::score::ScoreModel,
    max_retries: u32,
    dry_run: bool,
) -> Result<BillingReport, StoreError> {
    let mut report = BillingReport { dry_run, ..BillingReport::default() };
    if !dry_run {
        super::transaction(conn, max_retries, |c| super::score::refresh_vault_floors(c, crate::domain::time::now()))?;
    }
    let mut listed = Vec::new();
    let mut not_listed = 0_u64;
    for user_id in billing_candidates(conn, as_of, rules.auto_confirm_days)? {
        let bill =
            |c: &mut DbConn| bill_user(c, user_id, as_of, rules, &Ctx { now: crate::domain::time::now(), score });
        let counts = if dry_run {
            super::tx::retrying(conn, max_retries, |c| super::tx::rolled_back(c, bill))?
        } else {
            super::transaction(conn, max_retries, bill)?
        };
        if dry_run && counts != BillingCounts::default() {
            if listed.len() < DRY_RUN_LIST_LIMIT {
                listed.push(UserCounts { user_id: user_id.to_string(), counts: counts.clone() });
            } else {
                not_listed += 1;
            }
        }
        report.counts += counts;
    }
    report.counts += super::statements::close_cycle(conn, as_of, rules, score, max_retries, dry_run)?;
    if dry_run {
        report.users = Some(listed);
        report.users_not_listed = Some(not_listed);
    }
    Ok(report)
}
