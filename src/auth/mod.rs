//! Identity: password hashing, tokens, sessions and the extractors that name the caller.

pub mod extract;
pub mod pace;
pub mod password;
pub mod password_rules;
pub mod registration_throttle;
pub mod secret;
pub mod session;
pub mod throttle;
pub mod tokens;
