//! The stateless 2026-07-28 revision on `/mcp`: no `initialize`, no session; every request
//! carries its protocol version and client capabilities in `_meta`, and the `Mcp-Method` /
//! `Mcp-Name` headers, and the `Mcp-Param-*` headers a tool asks for ([`super::param_headers`]),
//! must agree with the body (HTTP 400 with -32020 otherwise).
//!
//! Each request runs on a transient session built from its `_meta`, through the same pipeline
//! as every other front. Results gain `resultType` (and `ttlMs`/`cacheScope` on list results),
//! as the revision requires. Server-to-client requests cannot be relayed to a 2026-07-28 client
//! (that revision replaces them with `input_required` results): [`super::mrtr`] bridges them.
//! `subscriptions/listen` is served by [`super::listen`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, Response, StatusCode};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use vecgate_backends::jsonrpc::{ErrorObject, Message, code, to_raw};

use super::body::Body;
use super::http::{HttpFront, json};
use crate::dispatch;
use crate::gateway::{NAME, VERSION};
use crate::protocol::Version;
use crate::seal::SealedState;
use crate::session::{ClientCaps, Session};

/// `_meta` key of the request's protocol version.
pub const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of the client's capabilities.
pub const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// The `_meta` protocol version of a request, if it has one.
pub fn meta_version(msg: &Message) -> Option<String> {
    let meta = msg.peek_params().meta?;
    let map: BTreeMap<String, Box<RawValue>> = serde_json::from_str(meta.get()).ok()?;
    serde_json::from_str(map.get(META_VERSION)?.get()).ok()
}

/// Whether a session-less request should take the stateless path.
pub fn is_stateless(headers: &HeaderMap, msg: &Message) -> bool {
    headers
        .get(super::streamable::VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        == Some(Version::V2026_07_28.as_str())
        || meta_version(msg).is_some()
}

fn bad_request(id: Option<Box<RawValue>>, error: ErrorObject) -> Response<Body> {
    json(
        StatusCode::BAD_REQUEST,
        Message::error(id, &error).to_bytes(),
    )
}

/// Decode a header value in the `=?base64?…?=` sentinel form, or take it as is.
pub(crate) fn header_value(raw: &str) -> Option<String> {
    match raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => String::from_utf8(STANDARD.decode(b64).ok()?).ok(),
        None => Some(raw.to_owned()),
    }
}

/// Check the version, capabilities and routing headers of a stateless request.
fn validate(headers: &HeaderMap, msg: &Message) -> Result<ClientCaps, Response<Body>> {
    let id = msg.id.clone();
    let header_version = headers
        .get(super::streamable::VERSION_HEADER)
        .and_then(|v| v.to_str().ok());
    let params_meta: Option<BTreeMap<String, Box<RawValue>>> = msg
        .peek_params()
        .meta
        .and_then(|m| serde_json::from_str(m.get()).ok());
    let body_version: Option<String> = params_meta
        .as_ref()
        .and_then(|m| m.get(META_VERSION))
        .and_then(|v| serde_json::from_str(v.get()).ok());
    let Some(requested) = body_version else {
        return Err(bad_request(
            id,
            ErrorObject::new(
                code::INVALID_PARAMS,
                format!("_meta[\"{META_VERSION}\"] is required"),
            ),
        ));
    };
    if header_version != Some(requested.as_str()) {
        return Err(bad_request(
            id,
            ErrorObject::new(
                code::HEADER_MISMATCH,
                format!(
                    "Header mismatch: MCP-Protocol-Version {header_version:?} does not match _meta version {requested:?}"
                ),
            ),
        ));
    }
    if requested != Version::V2026_07_28.as_str() {
        let mut err = ErrorObject::new(
            code::UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version",
        );
        err.data = Some(serde_json::json!({
            "supported": Version::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
            "requested": requested,
        }));
        return Err(bad_request(id, err));
    }
    let Some(caps) = params_meta
        .as_ref()
        .and_then(|m| m.get(META_CAPABILITIES))
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c.get()).ok())
    else {
        return Err(bad_request(
            id,
            ErrorObject::new(
                code::INVALID_PARAMS,
                format!("_meta[\"{META_CAPABILITIES}\"] is required"),
            ),
        ));
    };
    let method = msg.method.as_deref().unwrap_or("");
    let header_method = headers.get("mcp-method").and_then(|v| v.to_str().ok());
    if header_method != Some(method) {
        return Err(bad_request(
            id,
            ErrorObject::new(
                code::HEADER_MISMATCH,
                format!(
                    "Header mismatch: Mcp-Method {header_method:?} does not match body method {method:?}"
                ),
            ),
        ));
    }
    let peek = msg.peek_params();
    let body_name = match method {
        "tools/call" | "prompts/get" => peek.name.as_deref().map(str::to_owned),
        "resources/read" => peek.uri.as_deref().map(str::to_owned),
        _ => None,
    };
    if let Some(body_name) = body_name {
        let header_name = headers
            .get("mcp-name")
            .and_then(|v| v.to_str().ok())
            .and_then(header_value);
        if header_name.as_deref() != Some(body_name.as_str()) {
            return Err(bad_request(
                id,
                ErrorObject::new(
                    code::HEADER_MISMATCH,
                    format!(
                        "Header mismatch: Mcp-Name {header_name:?} does not match body value {body_name:?}"
                    ),
                ),
            ));
        }
    }
    // What the client can answer decides which server requests MRTR bridging turns into
    // `inputRequests` (see `mrtr`); the others are refused upstream.
    Ok(ClientCaps::from_json(Some(&caps)))
}

/// Serve one stateless request.
pub async fn serve(
    front: Arc<HttpFront>,
    headers: &HeaderMap,
    msg: Message,
    principal: crate::auth::Principal,
) -> Response<Body> {
    let caps = match validate(headers, &msg) {
        Ok(caps) => caps,
        Err(resp) => return resp,
    };
    if let Err(e) = super::param_headers::check(&front.gw, headers, &msg) {
        return bad_request(msg.id.clone(), e);
    }
    let id = msg
        .id
        .clone()
        .unwrap_or_else(vecgate_backends::jsonrpc::null_raw);
    let method = msg.method.clone().unwrap_or_default();
    if method == "server/discover" {
        return json(
            StatusCode::OK,
            Message::result(id, discover(&front)).to_bytes(),
        );
    }
    if method == "subscriptions/listen" {
        return super::listen::serve(front, headers, msg, caps, &principal).await;
    }
    if matches!(
        method.as_str(),
        "ping" | "logging/setLevel" | "resources/subscribe" | "resources/unsubscribe"
    ) {
        let err = ErrorObject::new(
            code::METHOD_NOT_FOUND,
            format!("{method} is not available in protocol 2026-07-28"),
        );
        return json(
            StatusCode::NOT_FOUND,
            Message::error(Some(id), &err).to_bytes(),
        );
    }
    let state = SealedState {
        version: Version::V2026_07_28,
        caps: caps.bits(),
        nonce: [0; 16],
        issued_at: 0,
    };
    let session = Arc::new(Session::new("stateless".into(), &state).with_principal(principal));
    let mut msg = msg;
    strip_protocol_meta(&mut msg);
    if matches!(
        method.as_str(),
        "tools/call" | "prompts/get" | "resources/read"
    ) {
        return super::mrtr::serve(front, session, msg).await;
    }
    // Related messages (progress, logs) are dropped: this first slice answers with JSON only.
    let (tx, _rx) = mpsc::channel(64);
    let answer = dispatch::handle(Arc::clone(&front.gw), session, msg, tx).await;
    match answer {
        Some(mut answer) => {
            if let Some(result) = answer.result.take() {
                answer.result = Some(with_result_fields(&result, &method));
            }
            json(StatusCode::OK, answer.to_bytes())
        }
        None => {
            let mut resp = Response::new(super::body::empty());
            *resp.status_mut() = StatusCode::ACCEPTED;
            resp
        }
    }
}

/// Remove the per-request protocol fields from `_meta` before forwarding: an initialize-era
/// upstream would take them as a 2026-07-28 request (and, for one, refuse to send the server
/// requests MRTR bridging relies on); a stateless upstream gets its own from the backends.
fn strip_protocol_meta(msg: &mut Message) {
    let Some(params) = msg.params.as_ref() else {
        return;
    };
    if !params.get().contains("io.modelcontextprotocol/") {
        return;
    }
    // Values stay raw: the arguments and an upstream's `requestState` go on byte for byte.
    type Object = BTreeMap<String, Box<RawValue>>;
    let Ok(mut map) = serde_json::from_str::<Object>(params.get()) else {
        return;
    };
    let meta = map
        .get("_meta")
        .and_then(|m| serde_json::from_str::<Object>(m.get()).ok());
    if let Some(mut meta) = meta {
        meta.retain(|k, _| !k.starts_with("io.modelcontextprotocol/"));
        if meta.is_empty() {
            map.remove("_meta");
        } else {
            map.insert("_meta".to_owned(), to_raw(&meta));
        }
    }
    msg.params = Some(to_raw(&map));
}

/// `server/discover`'s result.
fn discover(front: &HttpFront) -> Box<RawValue> {
    let init: serde_json::Value =
        serde_json::from_str(front.gw.initialize_result(Version::V2026_07_28).get())
            .unwrap_or_default();
    to_raw(&serde_json::json!({
        "resultType": "complete",
        "supportedVersions": Version::ALL.iter().rev().map(|v| v.as_str()).collect::<Vec<_>>(),
        "capabilities": init.get("capabilities"),
        "instructions": init.get("instructions"),
        "ttlMs": 0,
        "cacheScope": "private",
        "_meta": { META_SERVER_INFO: { "name": NAME, "version": VERSION } },
    }))
}

/// Add `resultType` to every result, and conservative cache hints to list and read results
/// (vecgate refreshes lists on `list_changed`; a client must not hold them on its own).
pub(crate) fn with_result_fields(result: &RawValue, method: &str) -> Box<RawValue> {
    let Ok(mut map) = serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(result.get()) else {
        return to_raw(result);
    };
    map.entry("resultType".into())
        .or_insert_with(|| to_raw("complete"));
    if crate::catalog::list_kind(method).is_some() || method == "resources/read" {
        map.entry("ttlMs".into()).or_insert_with(|| to_raw(&0));
        map.entry("cacheScope".into())
            .or_insert_with(|| to_raw("private"));
    }
    to_raw(&map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_sentinel_header_values_decode() {
        assert_eq!(
            header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(header_value("plain_tool").as_deref(), Some("plain_tool"));
        assert_eq!(header_value("=?base64?!!!?="), None);
    }

    #[test]
    fn results_gain_result_type_and_cache_hints() {
        let r = RawValue::from_string(r#"{"tools":[]}"#.into()).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(with_result_fields(&r, "tools/list").get()).unwrap();
        assert_eq!(v["resultType"], "complete");
        assert_eq!(v["cacheScope"], "private");
        let r = RawValue::from_string(r#"{"content":[],"resultType":"input_required"}"#.into())
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(with_result_fields(&r, "tools/call").get()).unwrap();
        assert_eq!(v["resultType"], "input_required");
        assert!(v.get("ttlMs").is_none());
    }
}
