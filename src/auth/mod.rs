//! Who is calling: sessions (log in, refresh, log out), the login and registration throttles,
//! and the extractors that name the caller. Password hashing and tokens are `credentials`.

pub mod error;
pub mod extract;
pub mod pace;
pub mod registration_throttle;
pub mod session;
pub mod throttle;
