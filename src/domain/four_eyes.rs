//! Four-eyes credit decisions: which credit-line changes one admin may not make alone, and
//! the states a request for a second admin's decision goes through. No I/O.

use serde::{Deserialize, Serialize};

/// Where a credit request stands. It is decided once: approved or rejected, never both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for a second admin; the account is as it was.
    Pending,
    /// Applied, by the admin in `decided_by`.
    Approved,
    /// Closed without any change.
    Rejected,
}

impl RequestState {
    pub const ALL: [RequestState; 3] = [RequestState::Pending, RequestState::Approved, RequestState::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Rejected => "rejected",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What a four-eyes request asks for. (Stored in `credit_requests`, whose name predates
/// the other kinds; the contract's path `/v1/admin/credit-requests` lists them all.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(rename_all = "snake_case")]
pub enum RequestKind {
    /// A credit-line change: `line`, `limit`, `override`.
    CreditLine,
    /// A merchant's refund: `purchase_id`, `amount`.
    Refund,
    /// Freezing a staff member.
    Freeze,
    /// Unfreezing a staff member.
    Unfreeze,
}

impl RequestKind {
    pub const ALL: [RequestKind; 4] =
        [RequestKind::CreditLine, RequestKind::Refund, RequestKind::Freeze, RequestKind::Unfreeze];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::CreditLine => "credit_line",
            RequestKind::Refund => "refund",
            RequestKind::Freeze => "freeze",
            RequestKind::Unfreeze => "unfreeze",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Whether a refund needs a second admin: when it takes above `refund_four_eyes_limit_minor`
/// either the purchase's refunded total or what this admin refunded this buyer over the last
/// day (both with this refund; one admin must not hand out large sums alone, nor in slices of
/// one purchase or of many), or of a staff member's purchase (a colleague could otherwise
/// wipe another's debt as a favour, or their own through a friend).
pub fn refund_needs_second_admin(
    purchase_total_minor: i64,
    by_admin_to_buyer_day_minor: i64,
    refund_four_eyes_limit_minor: i64,
    buyer_is_staff: bool,
) -> bool {
    buyer_is_staff
        || purchase_total_minor > refund_four_eyes_limit_minor
        || by_admin_to_buyer_day_minor > refund_four_eyes_limit_minor
}

/// Whether freezing or unfreezing someone needs a second admin: a staff member's, so one
/// careless or rogue admin can neither lock colleagues out of their powers nor give a
/// frozen colleague's powers back alone. A customer is frozen at once: fraud cannot wait.
pub fn status_change_needs_second_admin(target_is_staff: bool) -> bool {
    target_is_staff
}

/// Whether a change to a general line needs a second admin: it waives the score check
/// (`override`), or its limit is above `four_eyes_limit_minor`. A downgrade to a secured
/// line never does: it only lowers the risk, and `override` means nothing for it.
pub fn needs_second_admin(limit_minor: i64, override_eligibility: bool, four_eyes_limit_minor: i64) -> bool {
    override_eligibility || limit_minor > four_eyes_limit_minor
}

/// Whether a user may be given more credit (an upgrade, or a general limit raised) as they
/// stand now. Never while frozen or with anything overdue. Below the score threshold only
/// with `override`, which puts the change under four eyes: so a line an override granted
/// stays under four eyes for every later raise until the score qualifies on its own, and
/// one admin alone can never raise a line past what the score supports.
pub fn more_credit_allowed(override_eligibility: bool, score_qualifies: bool, frozen: bool, overdue: bool) -> bool {
    !frozen && !overdue && (score_qualifies || override_eligibility)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_credit_below_the_threshold_only_with_override() {
        assert!(more_credit_allowed(false, true, false, false));
        assert!(!more_credit_allowed(false, false, false, false), "a raise alone needs the score");
        assert!(more_credit_allowed(true, false, false, false), "override: then four eyes");
        assert!(!more_credit_allowed(true, true, true, false), "never frozen");
        assert!(!more_credit_allowed(true, true, false, true), "never overdue");
    }

    #[test]
    fn override_or_a_limit_above_the_four_eyes_limit_waits() {
        assert!(needs_second_admin(100, true, 1_000_000));
        assert!(needs_second_admin(1_000_001, false, 1_000_000));
        assert!(!needs_second_admin(1_000_000, false, 1_000_000), "at the limit one admin suffices");
        assert!(!needs_second_admin(1, false, 1_000_000));
    }

    #[test]
    fn large_refunds_and_staff_refunds_wait() {
        assert!(!refund_needs_second_admin(100_000, 100_000, 100_000, false), "at the limit one admin suffices");
        assert!(refund_needs_second_admin(100_001, 1, 100_000, false), "the purchase's total");
        assert!(refund_needs_second_admin(1, 100_001, 100_000, false), "one admin's day with the buyer");
        assert!(refund_needs_second_admin(1, 1, 100_000, true), "any refund of a staff member's purchase");
    }

    #[test]
    fn only_staff_freezes_wait() {
        assert!(status_change_needs_second_admin(true));
        assert!(!status_change_needs_second_admin(false));
    }

    #[test]
    fn kinds_round_trip() {
        for kind in RequestKind::ALL {
            assert_eq!(RequestKind::from_db(kind.as_str()), Some(kind));
            let json = serde_json::to_string(kind.as_str()).unwrap();
            assert_eq!(serde_json::from_str::<RequestKind>(&json).unwrap(), kind);
        }
        assert_eq!(RequestKind::from_db("transfer"), None);
    }

    #[test]
    fn states_round_trip() {
        for state in RequestState::ALL {
            assert_eq!(RequestState::from_db(state.as_str()), Some(state));
            let json = serde_json::to_string(state.as_str()).unwrap();
            assert_eq!(serde_json::from_str::<RequestState>(&json).unwrap(), state);
        }
        assert_eq!(RequestState::from_db("open"), None);
    }
}
