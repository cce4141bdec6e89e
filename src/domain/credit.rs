//! Purchases on credit and their installments: states, what is owed, how a payment is
//! allocated, and what a billing run does to one installment. No I/O.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::schedule;

#[derive(Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PurchaseState {
    Authorized,
    Captured,
    Voided,
    /// Captured, then refunded in full (shown, never stored: the row stays `captured`).
    Refunded,
}

impl PurchaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            PurchaseState::Authorized => "authorized",
            PurchaseState::Captured => "captured",
            PurchaseState::Voided => "voided",
            PurchaseState::Refunded => "refunded",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        [PurchaseState::Authorized, PurchaseState::Captured, PurchaseState::Voided]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum InstallmentState {
    Pending,
    Due,
    Overdue,
    Paid,
    /// Its unpaid principal (and billed fee) moved into a bill-installment plan: it owes
    /// nothing and never changes again.
    Converted,
}

impl InstallmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallmentState::Pending => "pending",
            InstallmentState::Due => "due",
            InstallmentState::Overdue => "overdue",
            InstallmentState::Paid => "paid",
            InstallmentState::Converted => "converted",
        }
    }

    /// Paid or converted: nothing owed, and no billing step changes it.
    pub fn is_settled(self) -> bool {
        matches!(self, InstallmentState::Paid | InstallmentState::Converted)
    }

    pub fn from_db(text: &str) -> Option<Self> {
        [
            InstallmentState::Pending,
            InstallmentState::Due,
            InstallmentState::Overdue,
            InstallmentState::Paid,
            InstallmentState::Converted,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installment {
    pub purchase_id: Uuid,
    pub seq: u32,
    /// How many parts the purchase has (a single part carries no fee).
    pub count: u32,
    pub due_date: NaiveDate,
    pub principal_minor: i64,
    /// Scheduled fee until billed, then the fee billed.
    pub fee_minor: i64,
    pub fee_billed: bool,
    pub late_fee_minor: i64,
    pub principal_paid_minor: i64,
    pub fee_paid_minor: i64,
    pub late_fee_paid_minor: i64,
    pub state: InstallmentState,
    /// Ever overdue: then paying it off does not count as on time.
    pub was_overdue: bool,
    /// Days past the due date as of the latest billing run while it was overdue.
    pub days_overdue: i64,
}

impl Installment {
    /// Part `seq` of `count` as scheduled: nothing billed, paid or late yet.
    pub fn scheduled(
        purchase_id: Uuid,
        seq: u32,
        count: u32,
        due_date: NaiveDate,
        principal_minor: i64,
        fee_minor: i64,
    ) -> Self {
        Installment {
            purchase_id,
            seq,
            count,
            due_date,
            principal_minor,
            fee_minor,
            fee_billed: false,
            late_fee_minor: 0,
            principal_paid_minor: 0,
            fee_paid_minor: 0,
            late_fee_paid_minor: 0,
            state: InstallmentState::Pending,
            was_overdue: false,
            days_overdue: 0,
        }
    }

    pub fn principal_owed(&self) -> i64 {
        self.principal_minor - self.principal_paid_minor
    }

    /// Fees count as owed only once billed.
    pub fn fee_owed(&self) -> i64 {
        if self.fee_billed { self.fee_minor - self.fee_paid_minor } else { 0 }
    }

    pub fn late_fee_owed(&self) -> i64 {
        self.late_fee_minor - self.late_fee_paid_minor
    }

    pub fn owed(&self) -> i64 {
        self.principal_owed() + self.fee_owed() + self.late_fee_owed()
    }

    pub fn paid_minor(&self) -> i64 {
        self.principal_paid_minor + self.fee_paid_minor + self.late_fee_paid_minor
    }

    /// After a payment: paid when nothing is owed. Principal repaid before billing
    /// carries no fee, so an unbilled part paid off drops its scheduled fee.
    fn settle_state(&mut self) {
        if self.principal_owed() == 0 && !self.fee_billed {
            self.fee_minor = 0;
        }
        if self.owed() == 0 && self.principal_owed() == 0 {
            self.state = InstallmentState::Paid;
        }
    }
}

#[derive(Clone, Debug)]
pub struct Purchase {
    pub id: Uuid,
    pub user_id: Uuid,
    pub merchant_id: Uuid,
    pub amount_minor: i64,
    pub installments: u32,
    pub description: Option<String>,
    pub state: PurchaseState,
    pub created_at: DateTime<Utc>,
    pub schedule: Vec<Installment>,
    /// What the merchant has refunded so far (at most `amount_minor`).
    pub refunded_minor: i64,
    /// The merchant's refunds, oldest first.
    pub refunds: Vec<Refund>,
}

impl Purchase {
    /// The state the API shows: a captured purchase refunded in full is `refunded`.
    pub fn shown_state(&self) -> PurchaseState {
        if self.state == PurchaseState::Captured && self.refunded_minor == self.amount_minor {
            PurchaseState::Refunded
        } else {
            self.state
        }
    }
}

/// The system merchant a bill-installment plan is "bought" from: never listed, never sold.
pub const BILL_PLAN_MERCHANT: &str = "00000000-0000-0000-0000-00000000b177";

/// One refund of a purchase, as the merchant's notice gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    pub id: Uuid,
    pub amount_minor: i64,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// What a payment takes from each installment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allocation {
    /// (index into the input, late fee, fee, principal)
    pub parts: Vec<(usize, i64, i64, i64)>,
    pub late_fees_minor: i64,
    pub fees_minor: i64,
    pub principal_minor: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepayRefusal {
    NothingToRepay,
    Overpayment { owed_minor: i64 },
}

/// Allocates `amount` over installments sorted oldest due first: all late fees, then all
/// billed fees, then principal. Refuses more than is owed.
pub fn allocate(items: &[Installment], amount_minor: i64) -> Result<Allocation, RepayRefusal> {
    let owed: i64 = items.iter().map(Installment::owed).sum();
    if owed == 0 {
        return Err(RepayRefusal::NothingToRepay);
    }
    if amount_minor > owed {
        return Err(RepayRefusal::Overpayment { owed_minor: owed });
    }
    Ok(allocate_up_to(items, amount_minor))
}

/// Like `allocate`, but takes at most what is owed (for settlement from collateral).
pub fn allocate_up_to(items: &[Installment], budget_minor: i64) -> Allocation {
    let mut left = budget_minor.max(0);
    let mut parts: Vec<(usize, i64, i64, i64)> = (0..items.len()).map(|i| (i, 0, 0, 0)).collect();
    for pass in 0..3 {
        for (i, item) in items.iter().enumerate() {
            let owed = match pass {
                0 => item.late_fee_owed(),
                1 => item.fee_owed(),
                _ => item.principal_owed(),
            };
            let take = owed.min(left);
            left -= take;
            match pass {
                0 => parts[i].1 += take,
                1 => parts[i].2 += take,
                _ => parts[i].3 += take,
            }
        }
    }
    parts.retain(|(_, l, f, p)| l + f + p > 0);
    Allocation {
        late_fees_minor: parts.iter().map(|p| p.1).sum(),
        fees_minor: parts.iter().map(|p| p.2).sum(),
        principal_minor: parts.iter().map(|p| p.3).sum(),
        parts,
    }
}

/// Applies an allocation to the installments it was computed for. On-time credit is not
/// given here: billing gives it once a part's due date has come (see docs/SCORING.md).
pub fn apply(items: &mut [Installment], allocation: &Allocation) {
    for (i, late, fee, principal) in &allocation.parts {
        let item = &mut items[*i];
        item.late_fee_paid_minor += late;
        item.fee_paid_minor += fee;
        item.principal_paid_minor += principal;
        item.settle_state();
    }
}

/// Billing parameters, from configuration.
#[derive(Clone, Debug)]
pub struct BillingRules {
    pub statement_lead_days: u32,
    pub fee_rate_per_period: Decimal,
    pub late_fee_rate_per_day: Decimal,
    pub grace_days: u32,
    /// Days a hold waits for the buyer before billing confirms it.
    pub auto_confirm_days: u32,
    /// The day of the month installments fall due (for auto-confirmed captures).
    pub repayment_day: u32,
    /// Late fees of one installment stop at this fraction of its principal.
    pub late_fee_cap: Decimal,
    /// Days before its due date an unpaid installment's reminder is sent.
    pub reminder_days: u32,
}

impl BillingRules {
    /// The most late fees an installment of `principal_minor` can carry.
    pub fn late_fee_cap_minor(&self, principal_minor: i64) -> i64 {
        schedule::apply_rate(principal_minor, self.late_fee_cap)
    }
}

/// What billing as of a date did to one installment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BillingStep {
    pub became_due: bool,
    pub fee_billed_minor: i64,
    pub became_overdue: bool,
    pub late_fee_charged_minor: i64,
    /// Days overdue added since the last run (for the score).
    pub overdue_days_added: i64,
}

/// Moves one unpaid installment forward to `as_of`. Running it again for the same or an
/// earlier date changes nothing: states only advance and late fees are charged as the
/// difference between the total due by `as_of` and what was charged already.
pub fn bill(item: &mut Installment, as_of: NaiveDate, rules: &BillingRules) -> BillingStep {
    let mut step = BillingStep::default();
    if item.state.is_settled() {
        return step;
    }
    let statement_date = item.due_date - TimeDelta::days(i64::from(rules.statement_lead_days));
    if item.state == InstallmentState::Pending && as_of >= statement_date {
        item.fee_minor =
            if item.count == 1 { 0 } else { schedule::apply_rate(item.principal_owed(), rules.fee_rate_per_period) };
        item.fee_billed = true;
        item.state = InstallmentState::Due;
        step.became_due = true;
        step.fee_billed_minor = item.fee_minor;
    }
    if item.state == InstallmentState::Due && as_of > item.due_date {
        item.state = InstallmentState::Overdue;
        item.was_overdue = true;
        step.became_overdue = true;
    }
    if item.state == InstallmentState::Overdue {
        let days = (as_of - item.due_date).num_days();
        if days > item.days_overdue {
            step.overdue_days_added = days - item.days_overdue;
            item.days_overdue = days;
        }
        let overdue = item.principal_owed() + item.fee_owed();
        let total = schedule::late_fee_total(overdue, item.due_date, as_of, rules.late_fee_rate_per_day)
            .min(rules.late_fee_cap_minor(item.principal_minor));
        if total > item.late_fee_minor {
            step.late_fee_charged_minor = total - item.late_fee_minor;
            item.late_fee_minor = total;
        }
    }
    step
}

/// A billing run may not take a date later than today (UTC) unless the service runs with
/// `credit.allow_future_billing` (tests): a run dated years ahead would charge years of
/// late fees and settle every secured user's debt from their vault at once.
pub fn check_billing_date(as_of: NaiveDate, today: NaiveDate, allow_future: bool) -> Result<(), String> {
    if as_of > today && !allow_future {
        return Err(format!("as_of {as_of} is later than today ({today}, UTC): billing cannot run ahead"));
    }
    Ok(())
}

/// Overdue past the grace period: a secured line settles this from the vault.
pub fn past_grace(item: &Installment, as_of: NaiveDate, rules: &BillingRules) -> bool {
    item.state == InstallmentState::Overdue && (as_of - item.due_date).num_days() > i64::from(rules.grace_days)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn rules() -> BillingRules {
        BillingRules {
            statement_lead_days: 10,
            fee_rate_per_period: Decimal::from_str("0.005").unwrap(),
            late_fee_rate_per_day: Decimal::from_str("0.0005").unwrap(),
            grace_days: 30,
            auto_confirm_days: 10,
            repayment_day: 10,
            late_fee_cap: Decimal::from_str("0.5").unwrap(),
            reminder_days: 3,
        }
    }

    #[test]
    fn late_fees_stop_at_the_cap_and_never_go_down() {
        let mut item = part("2026-01-10", 10_000);
        bill(&mut item, d("2026-01-20"), &rules());
        assert_eq!(item.late_fee_minor, 50, "0.05% of 100.00 for 10 days");
        // 4,000 days at 0.05% would be 200%: it stops at 50% of the principal.
        let step = bill(&mut item, d("2037-01-01"), &rules());
        assert_eq!(item.late_fee_minor, 50_00);
        assert_eq!(step.late_fee_charged_minor, 50_00 - 50);
        assert_eq!(bill(&mut item, d("2099-01-01"), &rules()).late_fee_charged_minor, 0);
    }

    fn part(due: &str, principal: i64) -> Installment {
        Installment::scheduled(Uuid::nil(), 1, 3, NaiveDate::from_str(due).unwrap(), principal, principal / 200)
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).unwrap()
    }

    #[test]
    fn billing_walks_pending_due_overdue_and_charges_once() {
        let mut item = part("2026-03-10", 100_000);
        assert_eq!(bill(&mut item, d("2026-02-27"), &rules()), BillingStep::default());
        let step = bill(&mut item, d("2026-02-28"), &rules());
        assert!(step.became_due && step.fee_billed_minor == 500);
        assert_eq!(bill(&mut item, d("2026-03-10"), &rules()), BillingStep::default(), "due, not yet overdue");
        let step = bill(&mut item, d("2026-03-12"), &rules());
        assert!(step.became_overdue);
        assert_eq!(step.late_fee_charged_minor, 100, "2 days x 0.05% x 1005.00 = 1.005 -> 1.00 (half-even)");
        assert_eq!(step.overdue_days_added, 2);
        assert!(item.was_overdue);
        assert_eq!(bill(&mut item, d("2026-03-12"), &rules()), BillingStep::default(), "same date twice");
        assert_eq!(bill(&mut item, d("2026-03-11"), &rules()), BillingStep::default(), "an earlier date later");
        // 3 days: 1.5075 -> 1.51 in total, so 0.51 more.
        let step = bill(&mut item, d("2026-03-13"), &rules());
        assert_eq!((step.late_fee_charged_minor, step.overdue_days_added), (51, 1));
        assert!(!past_grace(&item, d("2026-04-09"), &rules()));
        assert!(past_grace(&item, d("2026-04-10"), &rules()));
    }

    #[test]
    fn payments_go_to_late_fees_then_fees_then_principal_oldest_first() {
        let mut a = part("2026-03-10", 10_000);
        a.fee_billed = true;
        a.fee_minor = 50;
        a.late_fee_minor = 30;
        a.state = InstallmentState::Overdue;
        let mut b = part("2026-04-10", 10_000);
        b.fee_billed = true;
        b.fee_minor = 50;
        b.late_fee_minor = 5;
        b.state = InstallmentState::Overdue;
        let c = part("2026-05-10", 10_000);
        let mut items = vec![a, b, c];
        assert_eq!(allocate(&items, 30_136), Err(RepayRefusal::Overpayment { owed_minor: 30_135 }));
        let allocation = allocate(&items, 10_100).unwrap();
        assert_eq!((allocation.late_fees_minor, allocation.fees_minor, allocation.principal_minor), (35, 100, 9_965));
        apply(&mut items, &allocation);
        assert_eq!(items[0].owed(), 35);
        assert_eq!(items[1].owed(), 10_000);
        // Paying off an unbilled part early drops its fee.
        let allocation = allocate(&items, 20_035).unwrap();
        apply(&mut items, &allocation);
        assert!(items.iter().all(|i| i.state == InstallmentState::Paid), "{items:?}");
        assert_eq!(items[2].fee_minor, 0);
        assert_eq!(allocate(&items, 1), Err(RepayRefusal::NothingToRepay));
    }

    #[test]
    fn early_partial_repayment_lowers_the_fee_billed() {
        let mut item = part("2026-03-10", 10_000);
        let allocation = allocate(std::slice::from_ref(&item), 6_000).unwrap();
        apply(std::slice::from_mut(&mut item), &allocation);
        assert_eq!(item.state, InstallmentState::Pending);
        let step = bill(&mut item, d("2026-03-01"), &rules());
        assert_eq!(step.fee_billed_minor, 20, "0.5% of the 40.00 still owed");
    }

    #[test]
    fn settlement_takes_at_most_the_budget() {
        let mut a = part("2026-03-10", 10_000);
        a.fee_billed = true;
        a.fee_minor = 50;
        a.state = InstallmentState::Overdue;
        let allocation = allocate_up_to(&[a], 4_000);
        assert_eq!((allocation.fees_minor, allocation.principal_minor), (50, 3_950));
    }
}
