//! Credentials: password hashing and rules, access and refresh tokens, and the secret that
//! signs them. No requests and no sessions here: `auth` builds those on top.

pub mod password;
pub mod password_rules;
pub mod secret;
pub mod tokens;
pub mod totp;
