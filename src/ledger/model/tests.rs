use super::*;
use crate::domain::account::{AccountState, CreditLine, Source};
use crate::domain::credit::PurchaseState;
use crate::domain::limits::Velocity;
use crate::domain::user::UserStatus;

fn standing(wallet: i64, vault: i64, held: i64, principal: i64) -> Standing {
    Standing {
        account: AccountState {
            wallet_minor: wallet,
            vault_minor: vault,
            line: CreditLine::Secured,
            general_limit_minor: 0,
            held_minor: held,
            principal_minor: principal,
            fees_minor: 0,
            late_fees_minor: 0,
        },
        status: UserStatus::Active,
        overdue_count: 0,
        outflow_used_minor: 0,
        unlocks_today: 0,
    }
}

const CAPS: VelocityLimits = VelocityLimits { outflow_24h_minor: Some(1_000), unlocks_per_day: Some(2) };

#[test]
fn a_frozen_customer_keeps_money_in_and_pays_debt_but_moves_none_out() {
    let mut s = standing(500, 500, 0, 100);
    s.status = UserStatus::Frozen;
    assert!(step(&s, Op::Deposit(10), &CAPS).is_ok());
    assert!(step(&s, Op::VaultLock(10), &CAPS).is_ok());
    assert!(step(&s, Op::Repayment(10), &CAPS).is_ok());
    for op in [Op::Withdrawal(10), Op::TransferOut(10), Op::VaultUnlock(10), Op::Hold(10)] {
        assert_eq!(step(&s, op, &CAPS), Err(Refusal::AccountFrozen), "{op:?}");
    }
    // Locking more than the wallet holds is short of money, frozen or not (both backends).
    let short = Refusal::InsufficientFunds { from: Source::Wallet, balance_minor: 500 };
    assert_eq!(step(&s, Op::VaultLock(501), &CAPS), Err(short));
}

#[test]
fn the_vault_pledges_the_exposure_on_a_secured_line_only() {
    let s = standing(0, 1_000, 300, 200);
    assert_eq!(step(&s, Op::VaultUnlock(501), &CAPS), Err(Refusal::VaultPledged { unlockable_minor: 500 }));
    let e = step(&s, Op::VaultUnlock(500), &CAPS).unwrap();
    assert_eq!(e.applied_to(s.account).unwrap().vault_minor, 500);
    let mut general = s;
    general.account.line = CreditLine::General;
    assert!(step(&general, Op::VaultUnlock(1_000), &CAPS).is_ok());
    let short = Refusal::InsufficientFunds { from: Source::Vault, balance_minor: 1_000 };
    assert_eq!(step(&general, Op::VaultUnlock(1_001), &CAPS), Err(short));
}

#[test]
fn velocity_caps_come_after_the_money_rule() {
    let mut s = standing(2_000, 1_000, 0, 0);
    s.outflow_used_minor = 900;
    let over = Refusal::VelocityLimitExceeded { velocity: Velocity::Outflow24h, used: 900, limit: 1_000 };
    assert_eq!(step(&s, Op::Withdrawal(101), &CAPS), Err(over.clone()));
    assert_eq!(step(&s, Op::TransferOut(101), &CAPS), Err(over));
    assert!(step(&s, Op::Withdrawal(100), &CAPS).is_ok());
    let short = Refusal::InsufficientFunds { from: Source::Wallet, balance_minor: 2_000 };
    assert_eq!(step(&s, Op::Withdrawal(2_001), &CAPS), Err(short));
    s.unlocks_today = 2;
    let unlocks = Refusal::VelocityLimitExceeded { velocity: Velocity::UnlocksToday, used: 2, limit: 2 };
    assert_eq!(step(&s, Op::VaultUnlock(1), &CAPS), Err(unlocks));
    assert!(step(&s, Op::VaultUnlock(1), &VelocityLimits::default()).is_ok());
}

#[test]
fn repayment_pays_late_fees_then_fees_then_principal() {
    let mut s = standing(1_000, 0, 0, 500);
    s.account.fees_minor = 20;
    s.account.late_fees_minor = 7;
    let e = step(&s, Op::Repayment(30), &CAPS).unwrap();
    assert_eq!((e.late_fees_minor, e.fees_minor, e.principal_minor, e.wallet_minor), (-7, -20, -3, -30));
    assert_eq!(step(&s, Op::Repayment(528), &CAPS), Err(Refusal::Overpayment { owed_minor: 527 }));
    assert_eq!(step(&standing(5, 0, 0, 0), Op::Repayment(1), &CAPS), Err(Refusal::NothingToRepay));
    let short = Refusal::InsufficientFunds { from: Source::Wallet, balance_minor: 5 };
    assert_eq!(step(&standing(5, 0, 0, 100), Op::Repayment(6), &CAPS), Err(short));
}

#[test]
fn a_hold_needs_an_active_customer_nothing_overdue_and_room_under_the_limit() {
    let mut s = standing(0, 1_000, 300, 200);
    assert_eq!(step(&s, Op::Hold(501), &CAPS), Err(Refusal::CreditLimitExceeded { available_minor: 500 }));
    assert_eq!(step(&s, Op::Hold(500), &CAPS).unwrap().held_minor, 500);
    s.overdue_count = 1;
    assert_eq!(step(&s, Op::Hold(1), &CAPS), Err(Refusal::AccountDelinquent));
    s.status = UserStatus::Frozen;
    assert_eq!(step(&s, Op::Hold(1), &CAPS), Err(Refusal::AccountFrozen));
}

#[test]
fn capture_and_void_need_an_authorised_purchase_of_the_buyer() {
    let mut s = standing(0, 1_000, 300, 0);
    let held = Some(PurchaseFound { state: PurchaseState::Authorized, amount_minor: 300 });
    let e = step(&s, Op::Capture(held), &CAPS).unwrap();
    assert_eq!((e.held_minor, e.principal_minor), (-300, 300));
    let done = Some(PurchaseFound { state: PurchaseState::Captured, amount_minor: 300 });
    assert_eq!(step(&s, Op::Void(done), &CAPS), Err(Refusal::InvalidState("captured")));
    assert_eq!(step(&s, Op::Capture(None), &CAPS), Err(Refusal::NotFound("purchase")));
    s.status = UserStatus::Frozen;
    assert_eq!(step(&s, Op::Capture(held), &CAPS), Err(Refusal::AccountFrozen));
    assert_eq!(step(&s, Op::Capture(None), &CAPS), Err(Refusal::NotFound("purchase")));
    assert_eq!(step(&s, Op::Void(held), &CAPS).unwrap().held_minor, -300);
}

#[test]
fn a_payoff_pays_exactly_one_purchase_and_names_the_new_quote_otherwise() {
    let mut s = standing(5_000, 0, 0, 3_000);
    s.account.fees_minor = 40;
    s.account.late_fees_minor = 25;
    s.status = UserStatus::Frozen;
    let owed = PayoffFound { principal_minor: 1_000, fees_minor: 20, late_fees_minor: 25 };
    let pay = |s: &Standing, found, amount| step(s, Op::Payoff { found, amount }, &CAPS);
    assert_eq!(pay(&s, None, 1_045), Err(Refusal::NotFound("purchase")));
    assert_eq!(pay(&s, Some(PayoffFound::default()), 1_045), Err(Refusal::NothingToRepay));
    assert_eq!(pay(&s, Some(owed), 1_044), Err(Refusal::PayoffQuoteChanged { payoff_minor: 1_045 }));
    assert_eq!(pay(&s, Some(owed), 1_046), Err(Refusal::PayoffQuoteChanged { payoff_minor: 1_045 }));
    // A frozen customer may pay off; the other purchases' debt stays.
    let after = pay(&s, Some(owed), 1_045).unwrap().applied_to(s.account).unwrap();
    assert_eq!(
        (after.wallet_minor, after.principal_minor, after.fees_minor, after.late_fees_minor),
        (3_955, 2_000, 20, 0)
    );
    s.account.wallet_minor = 1_044;
    let short = Refusal::InsufficientFunds { from: Source::Wallet, balance_minor: 1_044 };
    assert_eq!(pay(&s, Some(owed), 1_045), Err(short));
}
