//! JWT bearer tokens: signature (one configured algorithm), `iss`, `aud` (the resource, RFC
//! 8707), `exp` and `nbf` are checked; the principal is read from `sub` or a configured claim.
//!
//! Keys are read when the configuration is loaded (or reloaded), never per request.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};

use super::Principal;
use super::config::JwtConfig;
use crate::config::ConfigError;

/// The algorithm names accepted in `auth.jwt.algorithm`.
pub(crate) const ALGORITHM_HELP: &str =
    "one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA";

/// The algorithm named `name`.
pub(crate) fn parse_algorithm(name: &str) -> Option<Algorithm> {
    name.parse().ok()
}

/// Whether `alg` uses a shared secret.
pub(crate) fn is_hmac(alg: Algorithm) -> bool {
    alg.family() == AlgorithmFamily::Hmac
}

/// Where verification keys come from.
enum Keys {
    /// One key (a secret or a PEM public key).
    Single(DecodingKey),
    /// A JWKS: chosen by the token header's `kid` (or the only key when there is no `kid`).
    Set(Vec<(Option<String>, DecodingKey)>),
}

/// Verifies JWT bearer tokens.
pub(crate) struct JwtVerifier {
    keys: Keys,
    validation: Validation,
    claim: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("claim", &self.claim)
            .finish()
    }
}

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

impl JwtVerifier {
    /// Build a verifier, reading key files; `resource` is the default audience.
    pub(crate) fn new(config: &JwtConfig, resource: Option<&str>) -> Result<Self, ConfigError> {
        let alg = parse_algorithm(&config.algorithm)
            .ok_or_else(|| invalid("auth.jwt.algorithm", ALGORITHM_HELP))?;
        let read = |key: &str, path: &std::path::Path| {
            std::fs::read(path).map_err(|e| invalid(key, format!("{}: {e}", path.display())))
        };
        let keys = if let Some(secret) = &config.secret {
            Keys::Single(
                DecodingKey::from_secret(secret.as_bytes())
                    .map_err(|e| invalid("auth.jwt.secret", e.to_string()))?,
            )
        } else if let Some(path) = &config.public_key_file {
            let pem = read("auth.jwt.public_key_file", path)?;
            let key = match alg.family() {
                AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(&pem),
                AlgorithmFamily::Ec => DecodingKey::from_ec_pem(&pem),
                AlgorithmFamily::Ed => DecodingKey::from_ed_pem(&pem),
                AlgorithmFamily::Hmac => {
                    return Err(invalid(
                        "auth.jwt.public_key_file",
                        "HS* algorithms use `secret`",
                    ));
                }
            };
            Keys::Single(key.map_err(|e| {
                invalid(
                    "auth.jwt.public_key_file",
                    format!(
                        "{}: not a {} PEM public key: {e}",
                        path.display(),
                        config.algorithm
                    ),
                )
            })?)
        } else if let Some(path) = &config.jwks_file {
            let text = read("auth.jwt.jwks_file", path)?;
            let set: JwkSet = serde_json::from_slice(&text).map_err(|e| {
                invalid(
                    "auth.jwt.jwks_file",
                    format!("{}: not a JWKS: {e}", path.display()),
                )
            })?;
            let mut keys = Vec::with_capacity(set.keys.len());
            for (i, jwk) in set.keys.iter().enumerate() {
                let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                    invalid(
                        "auth.jwt.jwks_file",
                        format!("{}: keys[{i}]: {e}", path.display()),
                    )
                })?;
                keys.push((jwk.common.key_id.clone(), key));
            }
            if keys.is_empty() {
                return Err(invalid(
                    "auth.jwt.jwks_file",
                    format!("{}: no keys", path.display()),
                ));
            }
            Keys::Set(keys)
        } else {
            return Err(invalid(
                "auth.jwt",
                "give one of `secret`, `public_key_file`, `jwks_file`",
            ));
        };
        let mut validation = Validation::new(alg);
        validation.leeway = config.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&config.issuer]);
        let audience: Vec<&str> = if config.audience.is_empty() {
            resource.into_iter().collect()
        } else {
            config.audience.iter().map(String::as_str).collect()
        };
        validation.set_audience(&audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        Ok(JwtVerifier {
            keys,
            validation,
            claim: config.principal_claim.clone(),
        })
    }

    /// The principal of a valid token, or why it is not valid (a short reason for the client).
    pub(crate) fn verify(&self, token: &str) -> Result<Principal, String> {
        let key = match &self.keys {
            Keys::Single(key) => key,
            Keys::Set(keys) => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|e| format!("malformed JWT: {e}"))?;
                let found = match &header.kid {
                    Some(kid) => keys
                        .iter()
                        .find(|(k, _)| k.as_deref() == Some(kid.as_str())),
                    None if keys.len() == 1 => keys.first(),
                    None => None,
                };
                &found.ok_or("no key in the JWKS matches the token's kid")?.1
            }
        };
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            key,
            &self.validation,
        )
        .map_err(|e| format!("invalid JWT: {e}"))?;
        match data.claims.get(&self.claim) {
            Some(serde_json::Value::String(s)) if !s.is_empty() && s.len() <= 256 => {
                Ok(Principal::named(s))
            }
            _ => Err(format!("the JWT has no usable {:?} claim", self.claim)),
        }
    }
}
