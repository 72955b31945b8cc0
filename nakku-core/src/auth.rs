//! Tokens and passwords: HS256 access JWTs, opaque refresh tokens stored hashed, bcrypt.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Secret;
use crate::error::CoreError;

const ISSUER: &str = "nakku";

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
    DeliveryPartner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::User, Role::Admin, Role::DeliveryPartner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::DeliveryPartner => "delivery_partner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| "must be one of user, admin, delivery_partner".to_owned())
    }
}

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Claims {
    /// User id.
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    /// Token id, for logs and future deny-lists.
    pub jti: String,
}

/// Signs and checks access tokens with one HS256 secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// A previous secret still accepted during a key rotation (`NAKKU_JWT_PREVIOUS_SECRET`).
    previous: Option<DecodingKey>,
    validation: Validation,
    ttl_secs: i64,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(secret: &Secret, ttl_secs: u64) -> JwtKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        // Only HS256 is accepted: `alg: none` and algorithm swaps are refused by the library.
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 5;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            previous: None,
            validation,
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(900),
        }
    }

    /// Also accepts tokens signed with `previous` (new tokens are signed with the current
    /// secret only): deploy the new secret with the old one as previous, and remove the
    /// previous one once the old tokens have expired (`access_token_ttl_secs`).
    pub fn with_previous(mut self, previous: Option<&Secret>) -> JwtKeys {
        self.previous = previous.map(|p| DecodingKey::from_secret(p.expose().as_bytes()));
        self
    }

    /// Issues an access token; returns it with its lifetime in seconds.
    pub fn issue(&self, user_id: &str, role: Role) -> Result<(String, i64), CoreError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_owned(),
            role,
            iat: now,
            exp: now + self.ttl_secs,
            iss: ISSUER.to_owned(),
            jti: crate::id::new_id(),
        };
        self.encode(&claims).map(|t| (t, self.ttl_secs))
    }

    /// Signs arbitrary claims (tests use it to make expired tokens).
    pub fn encode(&self, claims: &Claims) -> Result<String, CoreError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| CoreError::Internal(anyhow::anyhow!("signing token: {e}")))
    }

    /// Checks signature, algorithm, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, CoreError> {
        let current = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation);
        let result = match (&current, &self.previous) {
            (Err(e), Some(previous)) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
                jsonwebtoken::decode::<Claims>(token, previous, &self.validation)
            }
            _ => current,
        };
        result.map(|d| d.claims).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let why = match e.kind() {
                ErrorKind::ExpiredSignature => "access token expired",
                _ => "invalid access token",
            };
            CoreError::Unauthorized(why.to_owned())
        })
    }
}

/// A new opaque refresh token (256 random bits, URL-safe).
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("nkr_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a refresh token, hex. Only this is stored: a database leak yields no
/// usable tokens. (A fast hash is right here: the token has 256 bits of entropy.)
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random secret for embedded mode, 64 hex characters.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// bcrypt hash. CPU-heavy: call from `spawn_blocking`.
pub fn hash_password(password: &str, cost: u32) -> Result<String, CoreError> {
    bcrypt::hash(password, cost).map_err(|e| CoreError::Internal(anyhow::anyhow!("hashing password: {e}")))
}

/// Checks a password against a bcrypt hash; a malformed hash counts as a mismatch.
pub fn verify_password(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(&Secret::new("k".repeat(40)), 900)
    }

    #[test]
    fn a_token_verifies_with_its_claims() {
        let (t, ttl) = keys().issue("u1", Role::Admin).unwrap();
        assert_eq!(ttl, 900);
        let c = keys().verify(&t).unwrap();
        assert_eq!(c.sub, "u1");
        assert_eq!(c.role, Role::Admin);
    }

    #[test]
    fn during_a_rotation_tokens_of_the_previous_secret_are_accepted_and_new_ones_use_the_new() {
        let old = keys();
        let (old_token, _) = old.issue("u1", Role::User).unwrap();
        let new_secret = Secret::new("n".repeat(40));
        let rotated = JwtKeys::new(&new_secret, 900).with_previous(Some(&Secret::new("k".repeat(40))));
        assert_eq!(rotated.verify(&old_token).unwrap().sub, "u1");
        let (new_token, _) = rotated.issue("u2", Role::User).unwrap();
        assert!(old.verify(&new_token).is_err(), "signed with the new secret");
        // Once the previous secret is dropped, its tokens are refused.
        assert!(JwtKeys::new(&new_secret, 900).verify(&old_token).is_err());
    }

    #[test]
    fn expired_tampered_foreign_and_unsigned_tokens_are_refused() {
        let k = keys();
        let now = chrono::Utc::now().timestamp();
        let expired = k
            .encode(&Claims {
                sub: "u".into(),
                role: Role::User,
                iat: now - 100,
                exp: now - 60,
                iss: ISSUER.into(),
                jti: "j".into(),
            })
            .unwrap();
        assert!(matches!(k.verify(&expired), Err(CoreError::Unauthorized(m)) if m == "access token expired"));

        let (t, _) = k.issue("u1", Role::User).unwrap();
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&parts[1])
            .unwrap();
        let forged = String::from_utf8(claims).unwrap().replace("\"user\"", "\"admin\"");
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged);
        assert!(k.verify(&parts.join(".")).is_err());

        let other = JwtKeys::new(&Secret::new("o".repeat(40)), 900);
        assert!(k.verify(&other.issue("u1", Role::User).unwrap().0).is_err());

        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"u1","role":"admin","iat":{now},"exp":{},"iss":"nakku","jti":"x"}}"#,
            now + 600
        ));
        assert!(k.verify(&format!("{header}.{body}.")).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashes_stable() {
        let a = new_refresh_token();
        assert_ne!(a, new_refresh_token());
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_eq!(hash_token(&a).len(), 64);
    }

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse 1", 4).unwrap();
        assert!(verify_password("correct horse 1", &h));
        assert!(!verify_password("correct horse 2", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
