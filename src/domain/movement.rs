//! A money movement as one user sees it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::account::AccountState;
use super::score::ScoreInputs;
use super::user::UserStatus;

#[derive(Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum MovementKind {
    Deposit,
    Withdrawal,
    TransferOut,
    TransferIn,
    VaultLock,
    VaultUnlock,
    PurchaseCapture,
    Repayment,
    Fee,
    LateFee,
    CollateralSettlement,
    /// A merchant's refund of a purchase (the amount refunded; the account after it shows
    /// how much less is owed and what came back to the wallet).
    Refund,
    /// Autopay from the vault on a due date.
    VaultRepayment,
}

impl MovementKind {
    pub const ALL: [MovementKind; 13] = [
        MovementKind::Deposit,
        MovementKind::Withdrawal,
        MovementKind::TransferOut,
        MovementKind::TransferIn,
        MovementKind::VaultLock,
        MovementKind::VaultUnlock,
        MovementKind::PurchaseCapture,
        MovementKind::Repayment,
        MovementKind::Fee,
        MovementKind::LateFee,
        MovementKind::CollateralSettlement,
        MovementKind::Refund,
        MovementKind::VaultRepayment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Deposit => "deposit",
            MovementKind::Withdrawal => "withdrawal",
            MovementKind::TransferOut => "transfer_out",
            MovementKind::TransferIn => "transfer_in",
            MovementKind::VaultLock => "vault_lock",
            MovementKind::VaultUnlock => "vault_unlock",
            MovementKind::PurchaseCapture => "purchase_capture",
            MovementKind::Repayment => "repayment",
            MovementKind::Fee => "fee",
            MovementKind::LateFee => "late_fee",
            MovementKind::CollateralSettlement => "collateral_settlement",
            MovementKind::Refund => "refund",
            MovementKind::VaultRepayment => "vault_repayment",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One movement touching a user, with their account right after it.
#[derive(Clone, Debug)]
pub struct Movement {
    /// The journal entry's id: both sides of a transfer share it.
    pub id: Uuid,
    pub kind: MovementKind,
    pub amount_minor: i64,
    pub created_at: DateTime<Utc>,
    pub counterparty: Option<String>,
    pub note: Option<String>,
    /// The user's status when the movement happened.
    pub status: UserStatus,
    /// The user's account and credit history right after the movement: everything the
    /// score rates, so the score shown with it is the model's rating of that moment.
    pub after: ScoreInputs,
}

impl Movement {
    /// The account right after the movement.
    pub fn account(&self) -> &AccountState {
        &self.after.account
    }
}

/// A transfer note: at most 140 characters of visible text (see [`super::text`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note(String);

impl Note {
    pub const MAX_CHARS: usize = 140;

    /// `None` for an empty note.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        Ok(super::text::optional_visible("note", text, Self::MAX_CHARS)?.map(Self))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in MovementKind::ALL {
            assert_eq!(MovementKind::from_db(kind.as_str()), Some(kind));
        }
        assert_eq!(MovementKind::from_db("gift"), None);
    }

    #[test]
    fn notes() {
        assert_eq!(Note::parse("lunch").unwrap().unwrap().as_str(), "lunch");
        assert_eq!(Note::parse("").unwrap(), None);
        assert!(Note::parse("  lunch ").is_err(), "kept as sent, so spaces at the ends are refused");
        assert!(Note::parse("   ").is_err());
        assert!(Note::parse(&"n".repeat(140)).unwrap().is_some());
        assert!(Note::parse(&"n".repeat(141)).is_err());
        assert!(Note::parse("a\u{0000}b").is_err());
    }
}
