//! The MCP handshake and the catalog fetch.
//!
//! `initialize` offers the newest session-based revision ([`OFFERED_VERSION`]) and accepts
//! any revision in [`SUPPORTED_VERSIONS`] the server answers. An upstream that rejects
//! `initialize` is asked `server/discover` (2026-07-28, stateless): if it lists 2026-07-28,
//! the replica switches to stateless mode, where the protocol version, client info and client
//! capabilities travel in every request's `_meta` instead of a session.

use crate::catalog::{Catalog, CatalogItem, ListKind, ServerInfo, parse_page};
use crate::config::UpstreamIdentity;
use crate::error::CallError;
use crate::jsonrpc::{null_raw, to_raw};
use crate::mux::Mux;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// The protocol version vecgate offers in `initialize`.
pub const OFFERED_VERSION: &str = "2025-11-25";

/// Session-based revisions vecgate accepts from an upstream.
pub const SUPPORTED_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// The stateless revision (no `initialize`, `server/discover` instead).
pub const STATELESS_VERSION: &str = "2026-07-28";

/// A list with more pages than this is treated as a broken server (cursor loop).
const MAX_PAGES: usize = 1000;

/// Why a handshake failed.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    Call(CallError),
    Version(String),
}

impl From<CallError> for HandshakeError {
    fn from(e: CallError) -> HandshakeError {
        HandshakeError::Call(e)
    }
}

/// Run `initialize` (or `server/discover`) and `notifications/initialized`.
pub(crate) async fn initialize(
    mux: &Mux,
    identity: &UpstreamIdentity,
    timeout: Duration,
) -> Result<ServerInfo, HandshakeError> {
    let params = serde_json::json!({
        "protocolVersion": OFFERED_VERSION,
        "capabilities": identity.capabilities,
        "clientInfo": identity.client_info,
    });
    match mux
        .request(
            "initialize".into(),
            Some(to_raw(&params)),
            None,
            None,
            timeout,
        )
        .await
    {
        Ok(result) => {
            let info = parse_initialize(mux, &result)?;
            mux.notify("notifications/initialized", None).await?;
            Ok(info)
        }
        Err(CallError::Rpc(error)) => discover(mux, identity, timeout).await.map_err(|e| match e {
            // The upstream is not stateless either: report the original rejection.
            HandshakeError::Call(CallError::Rpc(_)) => HandshakeError::Call(CallError::Rpc(error)),
            other => other,
        }),
        Err(other) => Err(other.into()),
    }
}

fn parse_initialize(mux: &Mux, result: &RawValue) -> Result<ServerInfo, HandshakeError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire {
        protocol_version: String,
        capabilities: Option<Box<RawValue>>,
        server_info: Option<Box<RawValue>>,
        instructions: Option<String>,
    }
    let wire: Wire = serde_json::from_str(result.get())
        .map_err(|e| mux.protocol(format!("bad initialize result: {e}")))?;
    if !SUPPORTED_VERSIONS.contains(&wire.protocol_version.as_str()) {
        return Err(HandshakeError::Version(wire.protocol_version));
    }
    Ok(ServerInfo {
        protocol_version: wire.protocol_version,
        capabilities: wire
            .capabilities
            .unwrap_or_else(|| to_raw(&serde_json::json!({}))),
        server_info: wire.server_info.unwrap_or_else(null_raw),
        instructions: wire.instructions,
        stateless: false,
    })
}

async fn discover(
    mux: &Mux,
    identity: &UpstreamIdentity,
    timeout: Duration,
) -> Result<ServerInfo, HandshakeError> {
    let mut meta = BTreeMap::new();
    meta.insert(
        "io.modelcontextprotocol/protocolVersion".to_owned(),
        to_raw(STATELESS_VERSION),
    );
    meta.insert(
        "io.modelcontextprotocol/clientInfo".to_owned(),
        to_raw(&identity.client_info),
    );
    meta.insert(
        "io.modelcontextprotocol/clientCapabilities".to_owned(),
        to_raw(&identity.capabilities),
    );
    mux.set_stateless_meta(meta);
    let result = mux
        .request(
            "server/discover".into(),
            Some(to_raw(&serde_json::json!({}))),
            None,
            None,
            timeout,
        )
        .await?;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire {
        #[serde(default)]
        supported_versions: Vec<String>,
        capabilities: Option<Box<RawValue>>,
        instructions: Option<String>,
        #[serde(rename = "_meta")]
        meta: Option<BTreeMap<String, Box<RawValue>>>,
    }
    let wire: Wire = serde_json::from_str(result.get())
        .map_err(|e| mux.protocol(format!("bad server/discover result: {e}")))?;
    if !wire
        .supported_versions
        .iter()
        .any(|v| v == STATELESS_VERSION)
    {
        return Err(HandshakeError::Version(wire.supported_versions.join(",")));
    }
    let server_info = wire
        .meta
        .and_then(|mut m| m.remove("io.modelcontextprotocol/serverInfo"))
        .unwrap_or_else(null_raw);
    Ok(ServerInfo {
        protocol_version: STATELESS_VERSION.to_owned(),
        capabilities: wire
            .capabilities
            .unwrap_or_else(|| to_raw(&serde_json::json!({}))),
        server_info,
        instructions: wire.instructions,
        stateless: true,
    })
}

/// Fetch every list the server declares a capability for.
pub(crate) async fn fetch_catalog(
    mux: &Mux,
    server: std::sync::Arc<ServerInfo>,
    timeout: Duration,
) -> Result<Catalog, CallError> {
    let mut catalog = Catalog::empty(server.clone());
    for kind in ListKind::ALL {
        if server.has_capability(kind.capability()) {
            catalog.set_list(kind, fetch_list(mux, kind, timeout).await?);
        }
    }
    Ok(catalog)
}

fn is_method_not_found(error: &serde_json::value::RawValue) -> bool {
    serde_json::from_str::<crate::jsonrpc::ErrorObject>(error.get())
        .is_ok_and(|e| e.code == crate::jsonrpc::code::METHOD_NOT_FOUND)
}

/// Fetch all pages of one list.
pub(crate) async fn fetch_list(
    mux: &Mux,
    kind: ListKind,
    timeout: Duration,
) -> Result<Vec<CatalogItem>, CallError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut seen = HashSet::new();
    for _ in 0..MAX_PAGES {
        let params = match &cursor {
            Some(c) => serde_json::json!({ "cursor": c }),
            None => serde_json::json!({}),
        };
        let result = match mux
            .request(
                kind.method().into(),
                Some(to_raw(&params)),
                None,
                None,
                timeout,
            )
            .await
        {
            Ok(result) => result,
            // A server that declares `resources` but not templates answers method-not-found;
            // so does one (claude-flow) that declares a capability it does not implement. Either
            // way the list is empty, not the replica broken.
            Err(CallError::Rpc(e))
                if cursor.is_none()
                    && (kind == ListKind::ResourceTemplates || is_method_not_found(&e)) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let page = parse_page(kind, &result).map_err(|e| mux.protocol(e))?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) if seen.insert(next.clone()) => cursor = Some(next),
            Some(next) => {
                return Err(mux.protocol(format!("{}: cursor {next:?} repeats", kind.method())));
            }
            None => return Ok(items),
        }
    }
    Err(mux.protocol(format!("{}: more than {MAX_PAGES} pages", kind.method())))
}
