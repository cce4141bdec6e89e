//! Who a user is, as values that are valid by construction.

use std::fmt;

/// 3..=32 characters of `[a-z0-9_]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 32;

    pub fn parse(text: &str) -> Result<Self, String> {
        let len = text.len();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(format!("username must be {} to {} characters long", Self::MIN_LEN, Self::MAX_LEN));
        }
        if !text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err("username may contain only a-z, 0-9 and _".to_owned());
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 10..=128 characters (Unicode scalar values), kept as given: no trimming.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(text: &str) -> Result<Self, String> {
        let chars = text.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(format!("password must be {} to {} characters long", Self::MIN_CHARS, Self::MAX_CHARS));
        }
        if text.chars().any(char::is_control) {
            return Err("password must not contain control characters".to_owned());
        }
        Ok(Self(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// 1..=64 characters of visible text (see [`super::text`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(text: &str) -> Result<Self, String> {
        super::text::visible("display_name", text, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Role {
    /// A customer.
    User,
    /// Staff who read everything and act on nothing.
    Support,
    /// Staff who freeze, refund, run webhooks and billing dry runs.
    Operations,
    /// Staff who propose and decide credit-line changes.
    Credit,
    /// Staff who may do everything, staff management and billing runs included.
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::User, Role::Support, Role::Operations, Role::Credit, Role::Admin];
    pub const STAFF: [Role; 4] = [Role::Support, Role::Operations, Role::Credit, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Support => "support",
            Role::Operations => "operations",
            Role::Credit => "credit",
            Role::Admin => "admin",
        }
    }

    /// Staff run the service; their own accounts get the four-eyes protections (their
    /// refunds and freezes wait for a second admin).
    pub fn is_staff(self) -> bool {
        self != Role::User
    }

    pub fn from_db(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// A staff role by name (`support`, `operations`, `credit`, `admin`); never `user`.
    pub fn staff(text: &str) -> Option<Self> {
        Self::STAFF.into_iter().find(|r| r.as_str() == text)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Frozen,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Frozen => "frozen",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "active" => Some(UserStatus::Active),
            "frozen" => Some(UserStatus::Frozen),
            _ => None,
        }
    }
}

/// A registered user as the rest of the system sees it (never with a password hash).
#[derive(Clone, Debug)]
pub struct User {
    pub id: uuid::Uuid,
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    pub status: UserStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["abc", "user_01", &"a".repeat(32)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "", &"a".repeat(33), "Alice", "al ice", "al-ice", "ålice", "al.ice"] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("0123456789").is_ok());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert!(Password::parse("012345678").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse("0123456789\n").is_err());
        assert_eq!(format!("{:?}", Password::parse("0123456789").unwrap()), "Password(***)");
    }

    #[test]
    fn roles_round_trip_and_staff_excludes_customers() {
        for role in Role::ALL {
            assert_eq!(Role::from_db(role.as_str()), Some(role));
            assert_eq!(Role::staff(role.as_str()).is_some(), role.is_staff());
        }
        assert_eq!(Role::from_db("root"), None);
    }

    #[test]
    fn display_names() {
        assert_eq!(DisplayName::parse("Ann Lee").unwrap().as_str(), "Ann Lee");
        assert!(DisplayName::parse("  Ann Lee ").is_err(), "kept as sent, so spaces at the ends are refused");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(65)).is_err());
        assert!(DisplayName::parse("a\u{0007}b").is_err());
    }
}
