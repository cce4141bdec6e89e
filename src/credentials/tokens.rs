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
    /// The user's token version when issued; a token of an older version is refused.
    pub tv: i64,
}

/// RFC 9068's media type for JWT access tokens, issued and required in the `typ` header, so a
/// JWT minted for anything else (an ID token, another service's token) is never taken as one.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Who a valid access token speaks for.
#[derive(Clone, Copy, Debug)]
pub struct TokenSubject {
    pub user_id: Uuid,
    pub role: Role,
    pub token_version: i64,
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
    leeway_secs: i64,
    /// Keys the derivation of a refresh token's successor (see `successor_refresh_token`).
    refresh_key: Vec<u8>,
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
        // A token not valid yet is not valid: `nbf` is checked when present (with the leeway).
        validation.validate_nbf = true;
        Ok(Self {
            algorithm,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access_ttl_secs: i64::try_from(settings.access_token_ttl_secs).map_err(|e| e.to_string())?,
            refresh_ttl_secs: i64::try_from(settings.refresh_token_ttl_secs).map_err(|e| e.to_string())?,
            leeway_secs: i64::try_from(settings.jwt_leeway_secs).map_err(|e| e.to_string())?,
            refresh_key: [b"vaultline refresh successor:".as_slice(), secret].concat(),
        })
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    pub fn refresh_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::TimeDelta::seconds(self.refresh_ttl_secs)
    }

    pub fn issue_access(
        &self,
        user_id: Uuid,
        role: Role,
        token_version: i64,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            sub: user_id.to_string(),
            role: role.as_str().to_owned(),
            iat: now.timestamp(),
            exp: now.timestamp() + self.access_ttl_secs,
            jti: Uuid::new_v4().to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            tv: token_version,
        };
        let mut header = Header::new(self.algorithm);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| TokenError::Signing(e.to_string()))
    }

    /// Checks signature, algorithm, issuer, audience and times (RFC 8725): the header must say
    /// `typ: at+jwt` and carry no `crit` (no extension this service understands), and the
    /// token may live no longer than this service issues them for.
    pub fn verify_access(&self, token: &str) -> Result<TokenSubject, TokenError> {
        let header = raw_header(token).ok_or(TokenError::Invalid)?;
        if header.get("typ").and_then(|t| t.as_str()) != Some(ACCESS_TOKEN_TYPE) || header.get("crit").is_some() {
            return Err(TokenError::Invalid);
        }
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        // Issued in the future: not by this service's clock, so not by this service.
        if claims.iat > Utc::now().timestamp() + self.leeway_secs {
            return Err(TokenError::Invalid);
        }
        if claims.exp - claims.iat > self.access_ttl_secs + self.leeway_secs {
            return Err(TokenError::Invalid);
        }
        Ok(TokenSubject {
            user_id: Uuid::parse_str(&claims.sub).map_err(|_| TokenError::Invalid)?,
            role: Role::from_db(&claims.role).ok_or(TokenError::Invalid)?,
            token_version: claims.tv,
        })
    }

    /// The refresh token that replaces `presented`: derived (HMAC-SHA256 under the service
    /// secret), so a retried refresh of one token names the same successor and can be answered
    /// with it again instead of being taken for a stolen token's reuse.
    pub fn successor_refresh_token(&self, presented: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(&self.refresh_key, presented.as_bytes()))
    }
}

/// 256 random bits, URL-safe base64 (43 characters).
/// The JOSE header of a compact JWT, as JSON.
fn raw_header(token: &str) -> Option<serde_json::Value> {
    let encoded = token.split('.').next()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()
}

/// HMAC-SHA256 (RFC 2104), to avoid a dependency for one call.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

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
        let token = s.issue_access(id, Role::Admin, 7, Utc::now()).unwrap();
        let subject = s.verify_access(&token).unwrap();
        assert_eq!(subject.user_id, id);
        assert_eq!(subject.role, Role::Admin);
        assert_eq!(subject.token_version, 7);
    }

    fn sign(header: serde_json::Value, claims: serde_json::Value) -> String {
        let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let input = format!("{}.{}", part(&header), part(&claims));
        let settings = Settings::load(&Sources::default()).unwrap();
        let key = EncodingKey::from_secret(&[7u8; 32]);
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).unwrap();
        let _ = settings;
        format!("{input}.{signature}")
    }

    #[test]
    fn typ_crit_and_lifetime_are_enforced() {
        let s = service();
        let now = Utc::now().timestamp();
        let claims = |exp: i64| {
            serde_json::json!({"sub": Uuid::new_v4().to_string(), "role": "user", "iat": now, "exp": exp,
                               "jti": "j", "iss": "vaultline", "aud": "vaultline-app", "tv": 0})
        };
        let good = sign(serde_json::json!({"alg": "HS256", "typ": "at+jwt"}), claims(now + 600));
        assert!(s.verify_access(&good).is_ok());
        let plain_jwt = sign(serde_json::json!({"alg": "HS256", "typ": "JWT"}), claims(now + 600));
        assert!(s.verify_access(&plain_jwt).is_err(), "typ must be at+jwt");
        let crit = sign(serde_json::json!({"alg": "HS256", "typ": "at+jwt", "crit": ["exp"]}), claims(now + 600));
        assert!(s.verify_access(&crit).is_err(), "crit is refused");
        let long = sign(serde_json::json!({"alg": "HS256", "typ": "at+jwt"}), claims(now + 86_400));
        assert!(s.verify_access(&long).is_err(), "a day-long access token was never issued here");
        let header = || serde_json::json!({"alg": "HS256", "typ": "at+jwt"});
        let mut not_yet = claims(now + 600);
        not_yet["nbf"] = serde_json::json!(now + 120);
        assert!(s.verify_access(&sign(header(), not_yet.clone())).is_err(), "nbf in the future");
        not_yet["nbf"] = serde_json::json!(now - 1);
        assert!(s.verify_access(&sign(header(), not_yet)).is_ok(), "nbf passed");
        let mut from_the_future = claims(now + 700);
        from_the_future["iat"] = serde_json::json!(now + 120);
        assert!(s.verify_access(&sign(header(), from_the_future)).is_err(), "iat in the future");
    }

    #[test]
    fn successors_are_derived_and_keyed() {
        let s = service();
        let a = s.successor_refresh_token("token-1");
        assert_eq!(a, s.successor_refresh_token("token-1"));
        assert_ne!(a, s.successor_refresh_token("token-2"));
        assert_eq!(a.len(), 43);
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn expired_and_garbage_are_refused() {
        let s = service();
        let old = Utc::now() - chrono::TimeDelta::seconds(3600);
        let token = s.issue_access(Uuid::new_v4(), Role::User, 0, old).unwrap();
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
