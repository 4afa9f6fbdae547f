//! Client authentication: who a request acts for.
//!
//! Optional and configured in TOML (`[auth]`, `[admin]`, `[rate_limit]`, see [`config`]). A
//! request to `/mcp`, `/sse` or `/messages` presents `Authorization: Bearer TOKEN`; the token is
//! either a static key (matched by SHA-256, in constant time) or a JWT (signature, `iss`, `aud`,
//! `exp`, `nbf`). The result is a [`Principal`]. Without `[auth]` every client is
//! [`Principal::anonymous`], as `vecgate stdio` always is.
//!
//! The principal is bound to the session (the sealed id is authenticated with it, see
//! [`crate::seal`]), keys the pattern cache, and is never forwarded upstream: upstream requests
//! carry only the pool's configured `headers`.
//!
//! The HTTP side (401 with `WWW-Authenticate`, 429, RFC 9728 metadata) is in
//! [`crate::front::gate`].

pub mod config;
mod jwt;
pub mod keys;
mod rate;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ConfigError};
use jwt::JwtVerifier;
use keys::KeyTable;
use rate::RateLimiter;

/// JSON-RPC error code of a 401 answer (MCP leaves it to the implementation).
pub const UNAUTHORIZED: i64 = -32001;
/// JSON-RPC error code of a 429 answer.
pub const RATE_LIMITED: i64 = -32029;

/// Who a request acts for. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal(Arc<str>);

/// The name of the principal every client is when authentication is off.
pub const ANONYMOUS: &str = "anonymous";

impl Principal {
    /// A named principal.
    pub fn named(name: &str) -> Principal {
        Principal(name.into())
    }

    /// The principal of unauthenticated use (no `[auth]`, stdio). One shared name: this is
    /// every request's principal when authentication is off, so it is a reference count, not
    /// an allocation.
    pub fn anonymous() -> Principal {
        static ANONYMOUS_PRINCIPAL: std::sync::LazyLock<Principal> =
            std::sync::LazyLock::new(|| Principal(ANONYMOUS.into()));
        ANONYMOUS_PRINCIPAL.clone()
    }

    /// Whether this is [`Principal::anonymous`].
    pub fn is_anonymous(&self) -> bool {
        &*self.0 == ANONYMOUS
    }

    /// The principal's name.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The bytes a sealed session id is bound to: empty for the anonymous principal, so ids
    /// sealed before authentication existed stay valid for unauthenticated use.
    pub fn binding(&self) -> &[u8] {
        if &*self.0 == ANONYMOUS {
            b""
        } else {
            self.0.as_bytes()
        }
    }
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: Bearer` header (HTTP 401).
    Missing,
    /// A token was presented but is not valid (HTTP 401, `error="invalid_token"`).
    Invalid(String),
    /// The principal sent too many requests (HTTP 429 with `Retry-After`).
    RateLimited(Duration),
}

/// The authentication state built from one configuration (rebuilt on reload).
#[derive(Debug)]
pub struct Authenticator {
    enabled: bool,
    keys: KeyTable,
    jwt: Option<JwtVerifier>,
    admin: Option<KeyTable>,
    limiter: Option<RateLimiter>,
    /// The RFC 9728 document, when authorization servers are configured.
    metadata: Option<serde_json::Value>,
    /// The URL of that document, for `WWW-Authenticate: Bearer resource_metadata="…"`.
    metadata_url: Option<String>,
    /// The path suffix of the resource URI (`/mcp` for `https://h/mcp`), where the metadata is
    /// also served (RFC 9728 §3.1 inserts the well-known prefix before the resource's path).
    resource_path: Option<String>,
}

impl Authenticator {
    /// Build from a validated configuration, reading JWT key files.
    pub fn from_config(config: &Config) -> Result<Authenticator, ConfigError> {
        let auth = config.auth.as_ref();
        let jwt = match auth.and_then(|a| a.jwt.as_ref()) {
            Some(j) => Some(JwtVerifier::new(
                j,
                auth.and_then(|a| a.resource.as_deref()),
            )?),
            None => None,
        };
        let (metadata, metadata_url, resource_path) = match auth {
            Some(a) if !a.authorization_servers.is_empty() => {
                let resource = a.resource.clone().unwrap_or_default();
                let (origin, path) = split_uri(&resource);
                let mut doc = serde_json::json!({
                    "resource": resource,
                    "authorization_servers": a.authorization_servers,
                    "bearer_methods_supported": ["header"],
                    "resource_name": "vecgate",
                });
                if !a.scopes.is_empty() {
                    doc["scopes_supported"] = serde_json::json!(a.scopes);
                }
                let url = format!("{origin}/.well-known/oauth-protected-resource{path}");
                (
                    Some(doc),
                    Some(url),
                    Some(path.to_owned()).filter(|p| !p.is_empty()),
                )
            }
            _ => (None, None, None),
        };
        Ok(Authenticator {
            enabled: auth.is_some(),
            keys: KeyTable::new(auth.map_or(&[][..], |a| &a.keys)),
            jwt,
            admin: config.admin.as_ref().map(|a| KeyTable::new(&a.keys)),
            limiter: config.rate_limit.map(RateLimiter::new),
            metadata,
            metadata_url,
            resource_path,
        })
    }

    /// Whether clients must authenticate.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The principal of an MCP request with this `Authorization` header value.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        if !self.enabled {
            return Ok(Principal::anonymous());
        }
        let token = bearer(authorization)?;
        if let Some(p) = self.keys.find(token) {
            return Ok(p);
        }
        match &self.jwt {
            // A static-key typo is far likelier than a JWT for a token without two dots.
            Some(jwt) if token.bytes().filter(|b| *b == b'.').count() == 2 => {
                jwt.verify(token).map_err(AuthError::Invalid)
            }
            _ => Err(AuthError::Invalid("unknown token".into())),
        }
    }

    /// The principal of an admin request (`/admin/*`, `/metrics`); anonymous when `[admin]` is
    /// not configured.
    pub fn authenticate_admin(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let Some(admin) = &self.admin else {
            return Ok(Principal::anonymous());
        };
        let token = bearer(authorization)?;
        admin
            .find(token)
            .ok_or_else(|| AuthError::Invalid("unknown admin token".into()))
    }

    /// Take one request from `principal`'s rate budget.
    pub fn check_rate(&self, principal: &Principal) -> Result<(), AuthError> {
        match &self.limiter {
            Some(l) => l.check(principal.name()).map_err(AuthError::RateLimited),
            None => Ok(()),
        }
    }

    /// The RFC 9728 protected-resource metadata, when authorization servers are configured.
    pub fn metadata(&self) -> Option<&serde_json::Value> {
        self.metadata.as_ref()
    }

    /// Whether `path` is where the metadata is served.
    pub fn is_metadata_path(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix("/.well-known/oauth-protected-resource") else {
            return false;
        };
        rest.is_empty() || self.resource_path.as_deref() == Some(rest)
    }

    /// The `WWW-Authenticate` value of a 401 answer.
    pub fn challenge(&self, error: &AuthError) -> String {
        let mut value = String::from("Bearer realm=\"vecgate\"");
        if let Some(url) = &self.metadata_url {
            value.push_str(&format!(", resource_metadata=\"{url}\""));
        }
        if matches!(error, AuthError::Invalid(_)) {
            value.push_str(", error=\"invalid_token\"");
        }
        value
    }
}

fn bearer(authorization: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization.ok_or(AuthError::Missing)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token)
}

/// `("https://h:1", "/mcp")` for `https://h:1/mcp`.
fn split_uri(uri: &str) -> (&str, &str) {
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    match uri[after_scheme..].find('/') {
        Some(i) => {
            let path = &uri[after_scheme + i..];
            (&uri[..after_scheme + i], path.trim_end_matches('/'))
        }
        None => (uri, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn build(toml: &str) -> Authenticator {
        let config = Config::parse(toml, Path::new("t.toml")).unwrap();
        Authenticator::from_config(&config).unwrap()
    }

    const POOL: &str = "[[pool]]\nname = \"a\"\ncommand = \"x\"\n";

    #[test]
    fn off_by_default_and_keys_map_to_principals() {
        let open = build(POOL);
        assert_eq!(open.authenticate(None).unwrap(), Principal::anonymous());
        let auth = build(&format!(
            "[auth]\nresource = \"https://gw.example/mcp\"\nauthorization_servers = [\"https://as.example\"]\n[[auth.keys]]\nprincipal = \"alice\"\nsha256 = \"{}\"\n{POOL}",
            keys::sha256_hex("s3cret")
        ));
        assert_eq!(auth.authenticate(None), Err(AuthError::Missing));
        assert_eq!(
            auth.authenticate(Some("Basic abc")),
            Err(AuthError::Missing)
        );
        assert!(matches!(
            auth.authenticate(Some("Bearer nope")),
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(
            auth.authenticate(Some("Bearer s3cret")).unwrap().name(),
            "alice"
        );
        assert!(auth.is_metadata_path("/.well-known/oauth-protected-resource"));
        assert!(auth.is_metadata_path("/.well-known/oauth-protected-resource/mcp"));
        assert!(!auth.is_metadata_path("/.well-known/oauth-protected-resource/x"));
        let challenge = auth.challenge(&AuthError::Missing);
        assert!(
            challenge.contains(
                "resource_metadata=\"https://gw.example/.well-known/oauth-protected-resource/mcp\""
            ),
            "{challenge}"
        );
        assert_eq!(
            auth.metadata().unwrap()["resource"],
            "https://gw.example/mcp"
        );
    }

    #[test]
    fn hs256_tokens_are_checked_for_issuer_audience_and_expiry() {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let auth = build(&format!(
            "[auth]\nresource = \"https://gw.example/mcp\"\n[auth.jwt]\nissuer = \"https://as.example\"\nalgorithm = \"HS256\"\nsecret = \"k\"\nleeway_secs = 0\n{POOL}"
        ));
        let now = jsonwebtoken::get_current_timestamp();
        let sign = |claims: serde_json::Value, secret: &[u8]| {
            encode(
                &Header::default(),
                &claims,
                &EncodingKey::from_secret(secret).unwrap(),
            )
            .unwrap()
        };
        let good = serde_json::json!({"iss": "https://as.example", "aud": "https://gw.example/mcp", "sub": "carol", "exp": now + 60});
        let token = sign(good.clone(), b"k");
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {token}")))
                .unwrap()
                .name(),
            "carol"
        );
        let mut cases = Vec::new();
        cases.push(sign(good.clone(), b"other-secret"));
        let mut c = good.clone();
        c["aud"] = "https://elsewhere/mcp".into();
        cases.push(sign(c, b"k"));
        let mut c = good.clone();
        c["iss"] = "https://evil.example".into();
        cases.push(sign(c, b"k"));
        let mut c = good.clone();
        c["exp"] = (now - 10).into();
        cases.push(sign(c, b"k"));
        let mut c = good.clone();
        c["nbf"] = (now + 600).into();
        cases.push(sign(c, b"k"));
        let mut c = good;
        c.as_object_mut().unwrap().remove("sub");
        cases.push(sign(c, b"k"));
        for (i, t) in cases.iter().enumerate() {
            assert!(
                matches!(
                    auth.authenticate(Some(&format!("Bearer {t}"))),
                    Err(AuthError::Invalid(_))
                ),
                "case {i} must be refused"
            );
        }
    }

    #[test]
    fn es256_tokens_verify_with_a_pem_key_or_a_jwks() {
        use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/auth/testdata");
        let private = std::fs::read(format!("{dir}/es256-private.pem")).unwrap();
        let key = EncodingKey::from_ec_pem(&private).unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let claims = serde_json::json!({"iss": "https://as.example", "aud": "vecgate", "email": "dan@example", "exp": now + 60});
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("test-es256".into());
        let token = encode(&header, &claims, &key).unwrap();
        for source in [
            format!("public_key_file = \"{dir}/es256-public.pem\""),
            format!("jwks_file = \"{dir}/es256-jwks.json\""),
        ] {
            let auth = build(&format!(
                "[auth]\n[auth.jwt]\nissuer = \"https://as.example\"\naudience = [\"vecgate\"]\nalgorithm = \"ES256\"\nprincipal_claim = \"email\"\n{source}\n{POOL}"
            ));
            assert_eq!(
                auth.authenticate(Some(&format!("Bearer {token}")))
                    .unwrap()
                    .name(),
                "dan@example",
                "{source}"
            );
            // Flip one character in the middle of the signature.
            let mut forged = token.clone().into_bytes();
            let at = forged.len() - 10;
            forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(forged).unwrap();
            assert!(
                auth.authenticate(Some(&format!("Bearer {forged}")))
                    .is_err()
            );
        }
        let missing = Config::parse(
            &format!("[auth]\n[auth.jwt]\nissuer = \"i\"\naudience = [\"a\"]\nalgorithm = \"ES256\"\njwks_file = \"/nonexistent/jwks.json\"\n{POOL}"),
            Path::new("t.toml"),
        )
        .unwrap();
        let e = Authenticator::from_config(&missing)
            .unwrap_err()
            .to_string();
        assert!(e.contains("auth.jwt.jwks_file"), "{e}");
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = |t: &str| {
            Config::parse(&format!("{t}\n{POOL}"), Path::new("t.toml"))
                .unwrap_err()
                .to_string()
        };
        assert!(err("[auth]\n").contains("auth:"));
        assert!(
            err("[auth]\n[[auth.keys]]\nprincipal = \"a\"\nsha256 = \"xyz\"")
                .contains("auth.keys[0].sha256")
        );
        assert!(
            err("[auth]\n[auth.jwt]\nissuer = \"i\"\nalgorithm = \"HS256\"\nsecret = \"s\"")
                .contains("auth.jwt.audience")
        );
        assert!(err("[auth]\n[auth.jwt]\nissuer = \"i\"\naudience = [\"a\"]\nalgorithm = \"XX1\"\nsecret = \"s\"").contains("auth.jwt.algorithm"));
        assert!(err("[auth]\n[auth.jwt]\nissuer = \"i\"\naudience = [\"a\"]\nalgorithm = \"RS256\"\nsecret = \"s\"").contains("auth.jwt.algorithm"));
        assert!(
            err("[rate_limit]\nrequests_per_second = 0\nburst = 1")
                .contains("rate_limit.requests_per_second")
        );
    }
}
