//! The authentication gate of the HTTP front: runs before routing, after the `Origin` check.
//!
//! | path | credentials |
//! |---|---|
//! | `/mcp`, `/sse`, `/messages` | `[auth]` (static key or JWT) when configured; then the rate limit |
//! | `/admin/*`, `/metrics` | `[admin]` keys when configured |
//! | `/healthz`, `/.well-known/oauth-protected-resource[/…]` | none |
//!
//! A refused request gets 401 with `WWW-Authenticate: Bearer realm="vecgate"` (plus
//! `resource_metadata="…"` when authorization servers are configured, and
//! `error="invalid_token"` when a token was presented) and a JSON-RPC error body; a principal
//! over its rate gets 429 with `Retry-After`. An admitted request carries its
//! [`Principal`] in the request extensions ([`principal_of`]).

use http::{HeaderValue, Request, Response, StatusCode, header};
use vecgate_backends::jsonrpc::ErrorObject;

use super::body::Body;
use super::http::{HttpFront, json, rpc_error};
use crate::auth::{AuthError, Authenticator, Principal, RATE_LIMITED, UNAUTHORIZED};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Guard {
    Open,
    Mcp,
    Admin,
}

fn guard_of(path: &str) -> Guard {
    match path {
        "/mcp" | "/sse" | "/messages" => Guard::Mcp,
        "/metrics" => Guard::Admin,
        p if p.starts_with("/admin/") => Guard::Admin,
        _ => Guard::Open,
    }
}

/// Authenticate `req` for its path; on success its principal is in its extensions.
pub fn admit<B>(front: &HttpFront, req: &mut Request<B>) -> Result<(), Response<Body>> {
    let guard = guard_of(req.uri().path());
    if guard == Guard::Open {
        return Ok(());
    }
    let live = front.gw.live();
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let admitted = match guard {
        Guard::Mcp => live.auth.authenticate(authorization).and_then(|p| {
            live.auth.check_rate(&p)?;
            Ok(p)
        }),
        _ => live.auth.authenticate_admin(authorization),
    };
    match admitted {
        // The anonymous principal is what `principal_of` finds in an empty extension map,
        // so unauthenticated use does not allocate one per request.
        Ok(principal) if principal.is_anonymous() => Ok(()),
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            Ok(())
        }
        Err(e) => Err(refuse(&live.auth, &e)),
    }
}

/// The principal [`admit`] found (anonymous when authentication is off).
pub fn principal_of<B>(req: &Request<B>) -> Principal {
    req.extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::anonymous)
}

fn refuse(auth: &Authenticator, error: &AuthError) -> Response<Body> {
    match error {
        AuthError::RateLimited(wait) => {
            metrics::counter!("vecgate_rate_limited_total").increment(1);
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut resp = rpc_error(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorObject::new(
                    RATE_LIMITED,
                    format!("rate limit exceeded; retry in {secs} s"),
                ),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            resp
        }
        AuthError::Missing | AuthError::Invalid(_) => {
            metrics::counter!("vecgate_unauthorized_total").increment(1);
            let message = match error {
                AuthError::Invalid(why) => format!("unauthorized: {why}"),
                _ => "unauthorized: send Authorization: Bearer <token>".to_owned(),
            };
            let mut resp = rpc_error(
                StatusCode::UNAUTHORIZED,
                ErrorObject::new(UNAUTHORIZED, message),
            );
            if let Ok(value) = HeaderValue::from_str(&auth.challenge(error)) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
            resp
        }
    }
}

/// `GET /.well-known/oauth-protected-resource[/path]` (RFC 9728), when configured.
pub fn metadata(front: &HttpFront) -> Option<Response<Body>> {
    let live = front.gw.live();
    let doc = live.auth.metadata()?;
    Some(json(StatusCode::OK, doc.to_string()))
}

/// Whether `path` is the protected-resource metadata.
pub fn is_metadata_path(front: &HttpFront, path: &str) -> bool {
    front.gw.live().auth.is_metadata_path(path)
}
