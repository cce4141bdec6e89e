//! Response shapes shared by several handlers.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use uuid::Uuid;

use crate::domain::account::AccountState;
use crate::domain::credit::{Installment, Purchase};
use crate::domain::money::MoneyPolicy;
use crate::domain::movement::Movement;
use crate::domain::score::{self, ScoreModel};
use crate::domain::user::{User, UserStatus};
use crate::store::score::{Standing, Summary};

/// RFC 3339 in UTC with microseconds, e.g. `2026-11-21T10:03:24.123456Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[derive(Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserView {
    #[schema(format = Uuid)]
    pub id: String,
    pub username: String,
    pub display_name: String,
    #[schema(value_type = crate::domain::user::Role)]
    pub role: &'static str,
    #[schema(value_type = crate::domain::user::UserStatus)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            username: user.username.to_string(),
            display_name: user.display_name.clone(),
            role: user.role.as_str(),
            status: user.status.as_str(),
            created_at: timestamp(user.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Wallet)]
pub struct WalletView {
    #[schema(example = "100.00")]
    pub balance: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Vault)]
pub struct VaultView {
    pub balance: String,
    /// What the vault holds back for the exposure (secured line).
    pub pledged: String,
    pub unlockable: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Credit)]
pub struct CreditView {
    #[schema(value_type = crate::domain::account::CreditLine)]
    pub line: &'static str,
    pub limit: String,
    pub held: String,
    pub principal: String,
    pub fees: String,
    pub late_fees: String,
    pub exposure: String,
    /// May be negative after a downgrade.
    pub available: String,
}

#[derive(Serialize, ToSchema)]
pub struct ScoreSummary {
    pub value: i64,
    pub eligible_for_upgrade: bool,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Account)]
pub struct AccountView {
    #[schema(format = Uuid)]
    pub user_id: String,
    #[schema(example = "CNY")]
    pub currency: String,
    #[schema(value_type = crate::domain::user::UserStatus)]
    pub status: &'static str,
    pub wallet: WalletView,
    pub vault: VaultView,
    pub credit: CreditView,
    pub score: ScoreSummary,
}

/// What a view needs to print an account.
pub struct AccountSnapshot<'a> {
    pub user_id: Uuid,
    pub status: UserStatus,
    pub state: &'a AccountState,
    pub score: Summary,
}

impl AccountView {
    pub fn new(s: &AccountSnapshot<'_>, money: &MoneyPolicy) -> Self {
        let m = |minor: i64| money.format(minor);
        let state = s.state;
        Self {
            user_id: s.user_id.to_string(),
            currency: money.currency().code().to_owned(),
            status: s.status.as_str(),
            wallet: WalletView { balance: m(state.wallet_minor) },
            vault: VaultView {
                balance: m(state.vault_minor),
                pledged: m(state.pledged_minor()),
                unlockable: m(state.unlockable_minor()),
            },
            credit: CreditView {
                line: state.line.as_str(),
                limit: m(state.limit_minor()),
                held: m(state.held_minor),
                principal: m(state.principal_minor),
                fees: m(state.fees_minor),
                late_fees: m(state.late_fees_minor),
                exposure: m(state.exposure_minor()),
                available: m(state.available_minor()),
            },
            score: ScoreSummary { value: s.score.value, eligible_for_upgrade: s.score.eligible_for_upgrade },
        }
    }

    /// The account as it stands, with the score as the model rates it.
    pub fn from_standing(user_id: Uuid, standing: &Standing, model: &ScoreModel, money: &MoneyPolicy) -> Self {
        let score = score::evaluate(&standing.inputs, model);
        let summary = Summary { value: score.value, eligible_for_upgrade: score.eligible_for_upgrade };
        Self::new(&AccountSnapshot { user_id, status: standing.status, state: &standing.state, score: summary }, money)
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Movement)]
pub struct MovementView {
    /// The journal entry's id (both sides of a transfer share it).
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(value_type = crate::domain::movement::MovementKind)]
    pub kind: &'static str,
    #[schema(example = "100.00")]
    pub amount: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The other user's username, for transfers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The caller's account right after the movement.
    pub account: AccountView,
}

impl MovementView {
    /// The movement, with the score `model` gives the account right after it.
    pub fn new(user_id: Uuid, movement: &Movement, model: &ScoreModel, money: &MoneyPolicy) -> Self {
        let score = score::evaluate(&movement.after, model);
        let snapshot = AccountSnapshot {
            user_id,
            status: movement.status,
            state: movement.account(),
            score: Summary { value: score.value, eligible_for_upgrade: score.eligible_for_upgrade },
        };
        Self {
            id: movement.id.to_string(),
            kind: movement.kind.as_str(),
            amount: money.format(movement.amount_minor),
            created_at: timestamp(movement.created_at),
            counterparty: movement.counterparty.clone(),
            note: movement.note.clone(),
            account: AccountView::new(&snapshot, money),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Installment)]
pub struct InstallmentView {
    #[schema(format = Uuid)]
    pub purchase_id: String,
    pub seq: u32,
    #[schema(format = Date, example = "2026-12-10")]
    pub due_date: String,
    pub principal: String,
    /// The scheduled fee, or once billed the fee billed.
    pub fee: String,
    pub late_fee: String,
    /// Principal, fee and late fee paid so far.
    pub paid: String,
    #[schema(value_type = crate::domain::credit::InstallmentState)]
    pub state: &'static str,
}

impl InstallmentView {
    pub fn new(item: &Installment, money: &MoneyPolicy) -> Self {
        Self {
            purchase_id: item.purchase_id.to_string(),
            seq: item.seq,
            due_date: item.due_date.to_string(),
            principal: money.format(item.principal_minor),
            fee: money.format(item.fee_minor),
            late_fee: money.format(item.late_fee_minor),
            paid: money.format(item.paid_minor()),
            state: item.state.as_str(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Purchase)]
pub struct PurchaseView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub merchant_id: String,
    pub amount: String,
    pub installments: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[schema(value_type = crate::domain::credit::PurchaseState)]
    pub state: &'static str,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Empty until the purchase is captured.
    pub schedule: Vec<InstallmentView>,
    /// What the merchant has refunded so far (`refunded` state once it is the whole amount).
    pub refunded: String,
    /// The merchant's refunds, oldest first.
    pub refunds: Vec<RefundView>,
}

impl PurchaseView {
    pub fn new(p: &Purchase, money: &MoneyPolicy) -> Self {
        Self {
            id: p.id.to_string(),
            merchant_id: p.merchant_id.to_string(),
            amount: money.format(p.amount_minor),
            installments: p.installments,
            description: p.description.clone(),
            state: p.shown_state().as_str(),
            created_at: timestamp(p.created_at),
            schedule: p.schedule.iter().map(|i| InstallmentView::new(i, money)).collect(),
            refunded: money.format(p.refunded_minor),
            refunds: p.refunds.iter().map(|r| RefundView::new(r, money)).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Refund)]
pub struct RefundView {
    #[schema(format = Uuid)]
    pub id: String,
    pub amount: String,
    /// The merchant's refund notice, as operations entered it.
    pub reason: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl RefundView {
    pub fn new(r: &crate::domain::credit::Refund, money: &MoneyPolicy) -> Self {
        Self {
            id: r.id.to_string(),
            amount: money.format(r.amount_minor),
            reason: r.reason.clone(),
            created_at: timestamp(r.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = ScoreFactor)]
pub struct FactorView {
    pub name: &'static str,
    /// Signed score points.
    pub impact: i64,
    /// One line a user understands, e.g. "3 installments repaid on time: +36".
    pub detail: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Score)]
pub struct ScoreView {
    /// 300..=850.
    pub value: i64,
    pub eligible_for_upgrade: bool,
    pub threshold: i64,
    pub factors: Vec<FactorView>,
}

impl From<&score::Score> for ScoreView {
    fn from(s: &score::Score) -> Self {
        Self {
            value: s.value,
            eligible_for_upgrade: s.eligible_for_upgrade,
            threshold: s.threshold,
            factors: s
                .factors
                .iter()
                .map(|f| FactorView { name: f.name, impact: f.impact, detail: f.detail.clone() })
                .collect(),
        }
    }
}

/// A view as JSON, for answers stored under an idempotency key. Views hold strings, numbers
/// and lists of views, which always serialize; a stored answer must never silently become an
/// empty default in its place, so a failure here is a bug and says so.
pub fn json_of<T: Serialize>(view: &T) -> serde_json::Value {
    serde_json::to_value(view).expect("a view of strings and numbers serializes")
}
