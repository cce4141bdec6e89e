//! Argon2id password hashing at OWASP parameters (the argon2 0.6 defaults), run on the
//! blocking pool behind a semaphore so a login flood queues instead of starving money calls.

use std::sync::{Arc, OnceLock};

use actix_web::web;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

use crate::domain::user::Password;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task was cancelled")]
    Cancelled,
}

/// Hashes synchronously (CLI use).
pub fn hash_blocking(password: &Password) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Verifies synchronously; a malformed stored hash simply does not match.
pub fn verify_blocking(candidate: &str, phc: &str) -> bool {
    Argon2::default().verify_password(candidate.as_bytes(), phc).is_ok()
}

/// A real hash of a random password, verified against when the username is unknown so
/// that the answer takes as long as for a known one.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let password = Password::parse(&random).expect("48 hex characters make a valid password");
        hash_blocking(&password).expect("hashing a fixed-size password succeeds")
    })
}

#[derive(Clone)]
pub struct PasswordService {
    permits: Arc<Semaphore>,
}

impl PasswordService {
    /// `concurrency` 0 means one hash at a time per CPU core.
    pub fn new(concurrency: usize) -> Self {
        let n =
            if concurrency == 0 { std::thread::available_parallelism().map_or(2, |n| n.get()) } else { concurrency };
        Self { permits: Arc::new(Semaphore::new(n)) }
    }

    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        let _permit = self.permits.acquire().await.map_err(|_| PasswordError::Cancelled)?;
        web::block(move || hash_blocking(&password)).await.map_err(|_| PasswordError::Cancelled)?
    }

    /// `stored` is `None` for an unknown user: a dummy hash is checked and `false` returned.
    pub async fn verify(&self, candidate: String, stored: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        web::block(move || {
            let known = stored.is_some();
            let matched = match &stored {
                Some(phc) => verify_blocking(&candidate, phc),
                None => verify_blocking(&candidate, dummy_hash()),
            };
            matched && known
        })
        .await
        .unwrap_or(false)
    }

    /// Computes the dummy hash ahead of the first login.
    pub fn warm_up(&self) {
        let _ = dummy_hash();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let password = Password::parse("correct horse battery").unwrap();
        let phc = hash_blocking(&password).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_blocking("correct horse battery", &phc));
        assert!(!verify_blocking("correct horse battery!", &phc));
        assert!(!verify_blocking("correct horse battery", "not a hash"));
        assert_ne!(phc, hash_blocking(&password).unwrap(), "salts differ");
    }
}
