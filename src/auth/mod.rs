//! Identity: password hashing and the token-signing secret; tokens and extractors build on them.

pub mod password;
pub mod secret;
