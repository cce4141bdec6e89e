//! Access tokens (JWT, algorithm pinned) and opaque refresh tokens (stored only hashed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::AuthSettings;
use crate::domain::user::Role;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub iss: String,
    pub aud: String,
}

/// Who a valid access token speaks for.
#[derive(Clone, Copy, Debug)]
pub struct TokenSubject {
    pub user_id: Uuid,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is invalid or expired")]
    Invalid,
    #[error("signing failed: {0}")]
    Signing(String),
}

pub struct TokenService {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    access_ttl_secs: i64,
    refresh_ttl_secs: i64,
}

impl TokenService {
    pub fn new(settings: &AuthSettings, secret: &[u8]) -> Result<Self, String> {
        let algorithm = match settings.jwt_algorithm.as_str() {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            other => return Err(format!("auth.jwt_algorithm: {other} is not supported")),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = settings.jwt_leeway_secs;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        Ok(Self {
            algorithm,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access_ttl_secs: i64::try_from(settings.access_token_ttl_secs).map_err(|e| e.to_string())?,
            refresh_ttl_secs: i64::try_from(settings.refresh_token_ttl_secs).map_err(|e| e.to_string())?,
        })
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    pub fn refresh_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::TimeDelta::seconds(self.refresh_ttl_secs)
    }

    pub fn issue_access(&self, user_id: Uuid, role: Role, now: DateTime<Utc>) -> Result<String, TokenError> {
        let claims = Claims {
            sub: user_id.to_string(),
            role: role.as_str().to_owned(),
            iat: now.timestamp(),
            exp: now.timestamp() + self.access_ttl_secs,
            jti: Uuid::new_v4().to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }

    pub fn verify_access(&self, token: &str) -> Result<TokenSubject, TokenError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        Ok(TokenSubject {
            user_id: Uuid::parse_str(&claims.sub).map_err(|_| TokenError::Invalid)?,
            role: Role::from_db(&claims.role).ok_or(TokenError::Invalid)?,
        })
    }
}

/// 256 random bits, URL-safe base64 (43 characters).
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored instead of the token: its SHA-256, hex.
pub fn refresh_token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Settings, Sources};

    fn service() -> TokenService {
        let settings = Settings::load(&Sources::default()).unwrap();
        TokenService::new(&settings.auth, &[7u8; 32]).unwrap()
    }

    #[test]
    fn round_trip() {
        let s = service();
        let id = Uuid::new_v4();
        let token = s.issue_access(id, Role::Admin, Utc::now()).unwrap();
        let subject = s.verify_access(&token).unwrap();
        assert_eq!(subject.user_id, id);
        assert_eq!(subject.role, Role::Admin);
    }

    #[test]
    fn expired_and_garbage_are_refused() {
        let s = service();
        let old = Utc::now() - chrono::TimeDelta::seconds(3600);
        let token = s.issue_access(Uuid::new_v4(), Role::User, old).unwrap();
        assert!(s.verify_access(&token).is_err());
        assert!(s.verify_access("not.a.token").is_err());
        assert!(s.verify_access("").is_err());
    }

    #[test]
    fn refresh_tokens_are_long_random_and_hashed() {
        let a = new_refresh_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_refresh_token());
        assert_eq!(refresh_token_hash(&a).len(), 64);
        assert_ne!(refresh_token_hash(&a), a);
    }
}
