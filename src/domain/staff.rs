//! Which staff role may do what: the one table every admin route and every console page
//! asks (`allows`). No I/O.

use super::four_eyes::RequestKind;
use super::user::Role;

/// The longest reason a staff member may give for an action (the audit log keeps it).
pub const REASON_MAX_CHARS: usize = 500;

/// Everything a staff member can ask of the service, one variant per kind of decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read customers, accounts, scores, requests, events, the audit log, the ledger check,
    /// webhooks and staff: every staff role may read everything.
    Read,
    /// Freeze or unfreeze a customer.
    Freeze,
    /// Refund a purchase.
    Refund,
    /// Register, delete and redeliver webhooks.
    ManageWebhooks,
    /// Ask what a billing run would do, writing nothing.
    BillingDryRun,
    /// Run billing.
    BillingRun,
    /// Propose a credit-line change (upgrade, limit, downgrade).
    ChangeCreditLine,
    /// Approve or reject a four-eyes request (which ones: `decide_action`).
    DecideRequest,
    /// Add a merchant to the catalogue.
    CreateMerchant,
    /// Create staff, change their role, deactivate them.
    ManageStaff,
}

impl Action {
    pub const ALL: [Action; 10] = [
        Action::Read,
        Action::Freeze,
        Action::Refund,
        Action::ManageWebhooks,
        Action::BillingDryRun,
        Action::BillingRun,
        Action::ChangeCreditLine,
        Action::DecideRequest,
        Action::CreateMerchant,
        Action::ManageStaff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Freeze => "freeze",
            Action::Refund => "refund",
            Action::ManageWebhooks => "manage_webhooks",
            Action::BillingDryRun => "billing_dry_run",
            Action::BillingRun => "billing_run",
            Action::ChangeCreditLine => "change_credit_line",
            Action::DecideRequest => "decide_request",
            Action::CreateMerchant => "create_merchant",
            Action::ManageStaff => "manage_staff",
        }
    }
}

/// The role table. `support` reads and acts on nothing; `operations` handles accounts and
/// money after the fact (freeze, refunds, webhooks, a billing dry run); `credit` decides
/// credit lines; `admin` does all of it plus staff, merchants and billing runs. A customer
/// (`user`) is no staff member and may do nothing here.
pub fn allows(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::User => false,
        Role::Admin => true,
        Role::Support => action == Read,
        Role::Operations => matches!(action, Read | Freeze | Refund | ManageWebhooks | BillingDryRun | DecideRequest),
        Role::Credit => matches!(action, Read | ChangeCreditLine | DecideRequest),
    }
}

/// What deciding a four-eyes request of this kind needs, beyond `DecideRequest`: the power
/// to do the thing itself (a credit officer approves credit lines, not refunds).
pub fn decide_action(kind: RequestKind) -> Action {
    match kind {
        RequestKind::CreditLine => Action::ChangeCreditLine,
        RequestKind::Refund => Action::Refund,
        // Freezing a staff member is what waits for four eyes: a staff matter.
        RequestKind::Freeze | RequestKind::Unfreeze => Action::ManageStaff,
    }
}

/// Whether this role may decide a request of this kind. (That the maker and the person it
/// is about may not is the store's check, made in the deciding transaction.)
pub fn may_decide(role: Role, kind: RequestKind) -> bool {
    allows(role, Action::DecideRequest) && allows(role, decide_action(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_reads_only() {
        for action in Action::ALL {
            assert_eq!(allows(Role::Support, action), action == Action::Read, "{action:?}");
        }
    }

    #[test]
    fn admin_does_everything_and_a_customer_nothing() {
        for action in Action::ALL {
            assert!(allows(Role::Admin, action), "{action:?}");
            assert!(!allows(Role::User, action), "{action:?}");
        }
    }

    #[test]
    fn billing_runs_and_staff_are_for_admins() {
        for role in [Role::Support, Role::Operations, Role::Credit] {
            assert!(!allows(role, Action::BillingRun));
            assert!(!allows(role, Action::ManageStaff));
            assert!(!allows(role, Action::CreateMerchant));
        }
        assert!(allows(Role::Operations, Action::BillingDryRun));
        assert!(!allows(Role::Credit, Action::BillingDryRun));
    }

    #[test]
    fn each_decides_their_own_kind_only() {
        assert!(may_decide(Role::Credit, RequestKind::CreditLine));
        assert!(!may_decide(Role::Credit, RequestKind::Refund));
        assert!(may_decide(Role::Operations, RequestKind::Refund));
        assert!(!may_decide(Role::Operations, RequestKind::CreditLine));
        assert!(!may_decide(Role::Operations, RequestKind::Freeze), "a colleague's freeze is a staff matter");
        assert!(may_decide(Role::Admin, RequestKind::Freeze));
        assert!(!may_decide(Role::Support, RequestKind::CreditLine));
    }
}
