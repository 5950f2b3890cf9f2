//! Turns a bearer token into a [`Viewer`] at the edge (HTTP header or WebSocket
//! `connection_init`). Everything past this point trusts the viewer.

use std::time::Duration;

use axum::http::{HeaderMap, header::AUTHORIZATION};
use chrono::{DateTime, Utc};
use entity::{setting, user};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use rand::RngCore;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    config::JwtConfig,
    domain::{access::Viewer, time},
    error::{AppError, AppResult},
};

/// The claims Baton reads. `exp` and `sub` are required; `nbf`, `iss`, `aud` are checked
/// by the validator when present or configured.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
}

/// Why the signing keys could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{0} holds no RSA, EC (P-256) or Ed25519 key in PEM form")]
    UnknownKey(String),
    #[error("BATON_ENV=production needs BATON_JWT_SECRET or BATON_JWT_PUBLIC_KEY")]
    MissingInProduction,
    #[error("this server verifies tokens with a public key; pass the private key (BATON_JWT_PRIVATE_KEY) to sign them")]
    NoSigningKey,
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error("cannot sign the token: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

/// Verifies (and, where it holds a signing key, issues) tokens.
pub struct Authenticator {
    decoding_key: DecodingKey,
    encoding_key: Option<EncodingKey>,
    validation: Validation,
    algorithm: Algorithm,
    issuer: Option<String>,
    audience: Option<String>,
    /// The only `kid` accepted, and the one issued tokens carry.
    key_id: Option<String>,
    /// Users by id, as read at most [`USER_CACHE_TTL`] ago: a request's token then costs no
    /// query, and a deactivation still takes effect within that time on every instance.
    users: moka::future::Cache<Uuid, Option<user::Model>>,
    /// Tokens that passed verification, with the user and the time they are accepted
    /// until. A client sends the same token with every request, and checking its signature
    /// and claims again took a thirtieth of a point read's CPU. Only a token that verified
    /// gets in, so forged ones cannot crowd out the rest, and a hit still checks expiry.
    verified: moka::sync::Cache<String, (Uuid, DateTime<Utc>)>,
}

/// How long a user row read for a token is trusted.
pub const USER_CACHE_TTL: Duration = Duration::from_secs(1);

/// Token text the verified-token cache holds at most.
const VERIFIED_TOKEN_BYTES: u64 = 16 << 20;

const DEV_SECRET_SETTING: &str = "jwt_development_secret";

impl Authenticator {
    /// Builds the verifier from configuration. Without a secret or a public key, and outside
    /// production, a development secret is created once and kept in the database, so that
    /// `baton serve` and `baton token` agree with no setup.
    pub async fn from_config(config: &JwtConfig, db: &DatabaseConnection, production: bool) -> Result<Self, KeyError> {
        let (algorithm, decoding_key, encoding_key) = match (&config.secret, &config.public_key) {
            (Some(secret), _) => {
                let bytes = secret.expose_secret().as_bytes();
                (Algorithm::HS256, DecodingKey::from_secret(bytes), Some(EncodingKey::from_secret(bytes)))
            }
            (None, Some(path)) => {
                let pem = read_pem(path)?;
                let (algorithm, decoding_key) =
                    public_key(&pem).ok_or_else(|| KeyError::UnknownKey(path.display().to_string()))?;
                let encoding_key = match &config.private_key {
                    Some(path) => Some(
                        private_key(&read_pem(path)?, algorithm)
                            .ok_or_else(|| KeyError::UnknownKey(path.display().to_string()))?,
                    ),
                    None => None,
                };
                (algorithm, decoding_key, encoding_key)
            }
            (None, None) if production => return Err(KeyError::MissingInProduction),
            (None, None) => {
                let secret = development_secret(db).await?;
                let bytes = secret.expose_secret().as_bytes();
                (Algorithm::HS256, DecodingKey::from_secret(bytes), Some(EncodingKey::from_secret(bytes)))
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = config.leeway_secs;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &config.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &config.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Self {
            decoding_key,
            encoding_key,
            validation,
            algorithm,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            key_id: config.key_id.clone(),
            users: moka::future::Cache::builder().max_capacity(100_000).time_to_live(USER_CACHE_TTL).build(),
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_TOKEN_BYTES)
                .weigher(|token: &String, _| u32::try_from(token.len()).unwrap_or(u32::MAX))
                .build(),
        })
    }

    /// Checks a token's signature and claims and returns the user id it speaks for.
    pub fn verify(&self, token: &str) -> AppResult<Uuid> {
        self.verify_with_expiry(token).map(|(user_id, _)| user_id)
    }

    /// Like [`Self::verify`], and also tells until when the token is accepted: its `exp`
    /// plus the tolerated clock skew. A WebSocket lives no longer than that.
    pub fn verify_with_expiry(&self, token: &str) -> AppResult<(Uuid, DateTime<Utc>)> {
        let Some((user_id, accepted_until)) = self.verified.get(token) else {
            let verified = self.check_signature_and_claims(token)?;
            self.verified.insert(token.to_owned(), verified);
            return Ok(verified);
        };
        // As the validator counts: whole seconds, accepted through `exp` plus the leeway.
        if time::now().timestamp() > accepted_until.timestamp() {
            self.verified.invalidate(token);
            let reason = "the token has expired";
            tracing::info!(reason, "token refused");
            return Err(AppError::Unauthenticated(reason));
        }
        Ok((user_id, accepted_until))
    }

    /// What [`Self::verify_with_expiry`] finds out of a token it has not seen.
    fn check_signature_and_claims(&self, token: &str) -> AppResult<(Uuid, DateTime<Utc>)> {
        self.check_key_id(token)?;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding_key, &self.validation).map_err(|error| {
            let reason = match error.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::InvalidIssuer => "the token has the wrong issuer",
                ErrorKind::InvalidAudience => "the token has the wrong audience",
                ErrorKind::InvalidAlgorithm => "the token uses the wrong algorithm",
                ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => {
                    "the token lacks a valid exp or sub claim"
                }
                _ => "the token is malformed or wrongly signed",
            };
            // The token itself is never logged: it is a credential.
            tracing::info!(reason, "token refused");
            AppError::Unauthenticated(reason)
        })?;
        let user_id = Uuid::parse_str(&data.claims.sub)
            .map_err(|_| AppError::Unauthenticated("the token's subject is not a user id"))?;
        let accepted_until = i64::try_from(data.claims.exp.saturating_add(self.validation.leeway))
            .ok()
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        Ok((user_id, accepted_until))
    }

    /// Refuses a token that names a key (`kid`) other than this server's: it was signed
    /// for a key set this server does not have, whatever its signature says.
    fn check_key_id(&self, token: &str) -> AppResult<()> {
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|header| header.kid);
        if kid == self.key_id {
            return Ok(());
        }
        let reason = if kid.is_some() { "the token names an unknown key" } else { "the token names no key" };
        tracing::info!(reason, "token refused");
        Err(AppError::Unauthenticated(reason))
    }

    /// Signs a token for `user_id`, valid for `ttl`.
    pub fn issue(&self, user_id: Uuid, ttl: Duration) -> Result<String, KeyError> {
        let key = self.encoding_key.as_ref().ok_or(KeyError::NoSigningKey)?;
        let now = u64::try_from(time::now().timestamp()).unwrap_or_default();
        let claims = Claims {
            sub: user_id.to_string(),
            exp: now + ttl.as_secs(),
            nbf: Some(now),
            iat: Some(now),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = self.key_id.clone();
        Ok(jsonwebtoken::encode(&header, &claims, key)?)
    }

    /// Resolves a token to an active user, and tells until when the token is accepted.
    pub async fn viewer_with_expiry(&self, db: &DatabaseConnection, token: &str) -> AppResult<(Viewer, DateTime<Utc>)> {
        let (user_id, accepted_until) = self.verify_with_expiry(token)?;
        Ok((self.active_user(db, user_id).await?, accepted_until))
    }

    /// The user a verified token names, if they exist and are active (cached).
    pub async fn active_user(&self, db: &DatabaseConnection, user_id: Uuid) -> AppResult<Viewer> {
        let user = self
            .users
            .try_get_with(user_id, async { user::Entity::find_by_id(user_id).one(db).await })
            .await
            .map_err(|error| AppError::from(DbErr::Custom(error.to_string())))?;
        match user {
            Some(user) if user.active => Ok(Viewer::from(user)),
            Some(_) => Err(AppError::Unauthenticated("the user is deactivated")),
            None => Err(AppError::Unauthenticated("the token's user does not exist")),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (or of a `connection_init`
/// payload's `authorization` value), if there is one.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The bearer token of an HTTP request.
pub fn bearer_from_headers(headers: &HeaderMap) -> AppResult<&str> {
    let header =
        headers.get(AUTHORIZATION).ok_or(AppError::Unauthenticated("send a token as `Authorization: Bearer <jwt>`"))?;
    let value = header.to_str().map_err(|_| AppError::Unauthenticated("the Authorization header is not text"))?;
    bearer_token(value).ok_or(AppError::Unauthenticated("the Authorization header must be `Bearer <jwt>`"))
}

fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read { path: path.display().to_string(), source })
}

fn public_key(pem: &[u8]) -> Option<(Algorithm, DecodingKey)> {
    DecodingKey::from_rsa_pem(pem)
        .map(|key| (Algorithm::RS256, key))
        .or_else(|_| DecodingKey::from_ec_pem(pem).map(|key| (Algorithm::ES256, key)))
        .or_else(|_| DecodingKey::from_ed_pem(pem).map(|key| (Algorithm::EdDSA, key)))
        .ok()
}

fn private_key(pem: &[u8], algorithm: Algorithm) -> Option<EncodingKey> {
    match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem).ok(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem).ok(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem).ok(),
        _ => None,
    }
}

/// The development signing secret, created on first use. Concurrent first starts agree
/// because the insert does nothing when another process won the race.
async fn development_secret(db: &DatabaseConnection) -> Result<SecretString, DbErr> {
    if let Some(row) = setting::Entity::find_by_id(DEV_SECRET_SETTING).one(db).await? {
        return Ok(SecretString::from(row.value));
    }
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let generated: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let row = setting::ActiveModel {
        key: Set(DEV_SECRET_SETTING.to_owned()),
        value: Set(generated),
        updated_at: Set(time::now()),
    };
    setting::Entity::insert(row).on_conflict_do_nothing_on([setting::Column::Key]).exec(db).await?;
    let row = setting::Entity::find_by_id(DEV_SECRET_SETTING)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(DEV_SECRET_SETTING.to_owned()))?;
    Ok(SecretString::from(row.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_found_in_any_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
