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

/// Whether a change to a general line needs a second admin: it waives the score check
/// (`override`), or its limit is above `four_eyes_limit_minor`. A downgrade to a secured
/// line never does: it only lowers the risk, and `override` means nothing for it.
pub fn needs_second_admin(limit_minor: i64, override_eligibility: bool, four_eyes_limit_minor: i64) -> bool {
    override_eligibility || limit_minor > four_eyes_limit_minor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_or_a_limit_above_the_four_eyes_limit_waits() {
        assert!(needs_second_admin(100, true, 1_000_000));
        assert!(needs_second_admin(1_000_001, false, 1_000_000));
        assert!(!needs_second_admin(1_000_000, false, 1_000_000), "at the limit one admin suffices");
        assert!(!needs_second_admin(1, false, 1_000_000));
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
