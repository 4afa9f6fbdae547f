//! The `[auth]`, `[admin]` and `[rate_limit]` sections of the configuration file.
//!
//! Tokens are never stored in the file: a static API key is given by the SHA-256 of the token
//! (64 hex digits, e.g. `printf %s "$TOKEN" | sha256sum`). A JWT is checked against a shared
//! secret (HS*), a PEM public key (RS*/PS*/ES*/EdDSA) or a JWKS file.

use serde::Deserialize;
use std::path::PathBuf;

use crate::config::ConfigError;

/// Client authentication for `/mcp`, `/sse` and `/messages` (absent: every client is the
/// `anonymous` principal, as before).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// This server's canonical resource URI (RFC 8707), e.g. `https://mcp.example.com/mcp`:
    /// the default JWT audience and the `resource` of the protected-resource metadata.
    #[serde(default)]
    pub resource: Option<String>,
    /// OAuth authorization servers that issue tokens for this resource. When set, RFC 9728
    /// metadata is served at `/.well-known/oauth-protected-resource` and 401 answers point to it.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// `scopes_supported` in the metadata (informational).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Static API keys / opaque bearer tokens.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// JWT bearer tokens.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
}

/// One static bearer token, known by its hash.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The principal a request with this token acts as.
    pub principal: String,
    /// SHA-256 of the token, 64 hex digits.
    pub sha256: String,
}

/// How JWT bearer tokens are verified.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Required `iss`.
    pub issuer: String,
    /// Accepted `aud` values (default: `[auth.resource]`).
    #[serde(default)]
    pub audience: Vec<String>,
    /// The signing algorithm (`HS256`, `RS256`, `ES256`, …); tokens signed otherwise are refused.
    pub algorithm: String,
    /// HS*: the shared secret.
    #[serde(default)]
    pub secret: Option<String>,
    /// RS*/PS*/ES*/EdDSA: a PEM public key file.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// A JWKS (JSON Web Key Set) file; the key is chosen by the token's `kid`.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The claim naming the principal.
    #[serde(default = "default_principal_claim")]
    pub principal_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

/// Credentials for `/admin/*` and `/metrics` (absent: those stay open, as before; bind to
/// loopback then).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Admin bearer tokens, by hash.
    pub keys: Vec<KeyConfig>,
}

/// A token bucket per principal on `/mcp`, `/sse` and `/messages` requests.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second per principal.
    pub requests_per_second: f64,
    /// Requests a principal may send at once after being idle.
    pub burst: u32,
}

fn default_principal_claim() -> String {
    "sub".to_owned()
}
fn default_leeway() -> u64 {
    30
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// Check a list of keys; `section` prefixes the keys named in errors.
pub(crate) fn validate_keys(section: &str, keys: &[KeyConfig]) -> Result<(), ConfigError> {
    for (i, k) in keys.iter().enumerate() {
        if k.principal.is_empty() || k.principal.len() > 256 {
            return Err(invalid(
                format!("{section}[{i}].principal"),
                "must be 1 to 256 characters",
            ));
        }
        if super::keys::parse_sha256(&k.sha256).is_none() {
            return Err(invalid(
                format!("{section}[{i}].sha256"),
                "must be the SHA-256 of the token as 64 hex digits (printf %s \"$TOKEN\" | sha256sum)",
            ));
        }
    }
    Ok(())
}

impl AuthConfig {
    /// Check what can be checked without reading key files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_keys("auth.keys", &self.keys)?;
        if let Some(r) = &self.resource
            && !(r.starts_with("https://") || r.starts_with("http://"))
        {
            return Err(invalid(
                "auth.resource",
                format!("{r:?} is not an http(s) URI"),
            ));
        }
        if !self.authorization_servers.is_empty() && self.resource.is_none() {
            return Err(invalid(
                "auth.resource",
                "required when auth.authorization_servers is set (it is the metadata's `resource`)",
            ));
        }
        if self.keys.is_empty() && self.jwt.is_none() {
            return Err(invalid(
                "auth",
                "give [[auth.keys]] and/or [auth.jwt], or remove [auth] to disable authentication",
            ));
        }
        if let Some(jwt) = &self.jwt {
            if jwt.audience.is_empty() && self.resource.is_none() {
                return Err(invalid(
                    "auth.jwt.audience",
                    "required (or set auth.resource, the default audience)",
                ));
            }
            if jwt.principal_claim.is_empty() {
                return Err(invalid("auth.jwt.principal_claim", "must not be empty"));
            }
            let sources = [
                jwt.secret.is_some(),
                jwt.public_key_file.is_some(),
                jwt.jwks_file.is_some(),
            ];
            if sources.iter().filter(|s| **s).count() != 1 {
                return Err(invalid(
                    "auth.jwt",
                    "give exactly one of `secret`, `public_key_file`, `jwks_file`",
                ));
            }
            let alg = super::jwt::parse_algorithm(&jwt.algorithm)
                .ok_or_else(|| invalid("auth.jwt.algorithm", super::jwt::ALGORITHM_HELP))?;
            let hmac = super::jwt::is_hmac(alg);
            if hmac != jwt.secret.is_some() && jwt.jwks_file.is_none() {
                return Err(invalid(
                    "auth.jwt.algorithm",
                    format!(
                        "{} needs {}",
                        jwt.algorithm,
                        if hmac {
                            "`secret`"
                        } else {
                            "`public_key_file` or `jwks_file`"
                        }
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl RateLimitConfig {
    /// Check the numbers.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.requests_per_second.is_finite() && self.requests_per_second > 0.0) {
            return Err(invalid("rate_limit.requests_per_second", "must be > 0"));
        }
        if self.burst == 0 {
            return Err(invalid("rate_limit.burst", "must be >= 1"));
        }
        Ok(())
    }
}
