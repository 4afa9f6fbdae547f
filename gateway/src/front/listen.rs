//! `subscriptions/listen` (2026-07-28): the long-lived notification stream of a stateless
//! client. It replaces the GET stream and `resources/subscribe`.
//!
//! The client names what it wants (`toolsListChanged`, `promptsListChanged`,
//! `resourcesListChanged`, `resourceSubscriptions`). vecgate:
//! 1. registers a listener session (so catalog changes and resource updates find it),
//! 2. fans the resource subscriptions out to the owning pools and waits for every upstream
//!    answer: an old (2025-xx) upstream gets `resources/subscribe` on its shared upstream
//!    session; on a stateless (2026-07-28) upstream the backends turn that into the URI set
//!    of the replica's one upstream `subscriptions/listen` (`vecgate_backends`' `listen`
//!    module), answered with success only for URIs the upstream acknowledged. Either way
//!    the `notifications/resources/updated` are routed to the listeners subscribed to that
//!    URI; a URI no pool serves, or whose upstream refuses the subscription, is left out of
//!    the acknowledgement (the spec's "subset the server agreed to honor"),
//! 3. answers with one SSE stream (`X-Accel-Buffering: no`) whose first event is
//!    `notifications/subscriptions/acknowledged`, then only the requested notification types,
//!    each tagged with `_meta["io.modelcontextprotocol/subscriptionId"]` (the request's id),
//!    with `:` keep-alive comments while idle.
//!
//! List-changed notifications come from vecgate's own aggregated catalog (rebuilt on every
//! upstream `list_changed`), so they are honoured whatever the upstreams speak. Closing the
//! stream ends the subscription: the listener is removed, and an upstream subscription that
//! no other session still needs is released with `resources/unsubscribe` (on a stateless
//! upstream: the replica's upstream listen is replaced by one without that URI, or cancelled
//! when nothing is left to receive).
//!
//! A stateless upstream sends its list changes only on a listen that asks for them:
//! `vecgate_backends`' upstream listen (its `listen` module) is open while the replica is up
//! and asks for the kinds the server advertises, so its catalog is refreshed like an old
//! upstream's and the change reaches the listeners here that asked for that kind.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;
use vecgate_backends::jsonrpc::{ErrorObject, Message, code, to_raw};

use super::body::{self, Body};
use super::http::{HttpFront, json, rpc_error};
use crate::dispatch;
use crate::gateway::Gateway;
use crate::session::{ClientCaps, Session};

/// `_meta` key tying a notification to its `subscriptions/listen` request.
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// Capacity of a listen stream's queue; a client that does not read loses notifications.
const LISTEN_EVENTS: usize = 256;

/// The notification filter of a `subscriptions/listen` request (and of its acknowledgement).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Receive `notifications/tools/list_changed`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tools_list_changed: bool,
    /// Receive `notifications/prompts/list_changed`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prompts_list_changed: bool,
    /// Receive `notifications/resources/list_changed`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resources_list_changed: bool,
    /// Receive `notifications/resources/updated` for these URIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_subscriptions: Vec<String>,
}

impl Filter {
    /// Whether a notification passes the filter.
    fn wants(&self, uris: &HashSet<String>, msg: &Message) -> bool {
        match msg.method.as_deref() {
            Some("notifications/tools/list_changed") => self.tools_list_changed,
            Some("notifications/prompts/list_changed") => self.prompts_list_changed,
            Some("notifications/resources/list_changed") => self.resources_list_changed,
            Some("notifications/resources/updated") => msg
                .peek_params()
                .uri
                .is_some_and(|u| uris.contains(u.as_ref())),
            _ => false,
        }
    }
}

#[derive(serde::Deserialize)]
struct ListenParams {
    notifications: Option<Filter>,
}

/// Serve one `subscriptions/listen` request (already validated as a stateless request).
pub async fn serve(
    front: Arc<HttpFront>,
    headers: &HeaderMap,
    msg: Message,
    caps: ClientCaps,
    principal: &crate::auth::Principal,
) -> Response<Body> {
    let id = msg
        .id
        .clone()
        .unwrap_or_else(vecgate_backends::jsonrpc::null_raw);
    let accepts_sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    if !accepts_sse {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            ErrorObject::new(
                code::INVALID_REQUEST,
                "subscriptions/listen answers with an SSE stream; Accept must allow text/event-stream",
            ),
        );
    }
    let requested = match msg
        .params
        .as_ref()
        .map(|p| serde_json::from_str::<ListenParams>(p.get()))
    {
        Some(Ok(ListenParams {
            notifications: Some(f),
        })) => f,
        Some(Err(e)) => return invalid(id, format!("subscriptions/listen params: {e}")),
        _ => return invalid(id, "subscriptions/listen needs params.notifications".into()),
    };
    let gw = Arc::clone(&front.gw);
    let session = match gw.sessions.listener(caps, principal) {
        Ok(s) => s,
        Err(e) => {
            return rpc_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorObject::new(code::INTERNAL_ERROR, format!("cannot open a listener: {e}")),
            );
        }
    };
    // Attached before the fan-out, so nothing that happens meanwhile is lost; it waits in the
    // queue until the acknowledgement has gone out.
    let (tx, rx) = mpsc::channel(LISTEN_EVENTS);
    session.attach_stream(tx);
    let honored = subscribe_all(&gw, &session, &requested).await;
    let ack = Filter {
        resource_subscriptions: honored,
        ..requested
    };
    let (out, body) = body::sse_channel(LISTEN_EVENTS);
    tokio::spawn(pump(gw, session, id, ack, rx, out));
    metrics::counter!("vecgate_listen_streams_total").increment(1);
    super::streamable::sse_response(body)
}

fn invalid(id: Box<RawValue>, message: String) -> Response<Body> {
    let err = ErrorObject::new(code::INVALID_PARAMS, message);
    json(StatusCode::OK, Message::error(Some(id), &err).to_bytes())
}

/// Subscribe to every requested URI upstream at once; returns the URIs whose upstream agreed.
async fn subscribe_all(gw: &Arc<Gateway>, session: &Arc<Session>, filter: &Filter) -> Vec<String> {
    let mut uris: Vec<&String> = filter.resource_subscriptions.iter().collect();
    uris.sort();
    uris.dedup();
    let answers = futures::future::join_all(
        uris.iter()
            .map(|uri| resource_request(gw, session, "resources/subscribe", uri)),
    )
    .await;
    uris.into_iter()
        .zip(answers)
        .filter(|(_, ok)| *ok)
        .map(|(uri, _)| uri.clone())
        .collect()
}

/// Run `resources/subscribe` / `unsubscribe` for `uri` through the pipeline on `session`
/// (which records the subscription); true when the upstream answered with a result.
async fn resource_request(
    gw: &Arc<Gateway>,
    session: &Arc<Session>,
    method: &str,
    uri: &str,
) -> bool {
    // Ids must differ: requests of one session in flight at once are told apart by them.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let params = to_raw(&serde_json::json!({ "uri": uri }));
    let request = Message::request(
        to_raw(&format!("vecgate-{method}-{n}")),
        method,
        Some(params),
    );
    // Subscribing sends no related messages worth keeping.
    let (events, _drop) = mpsc::channel(1);
    let answer = dispatch::handle(Arc::clone(gw), Arc::clone(session), request, events).await;
    let ok = answer.as_ref().is_some_and(|a| a.error.is_none());
    if !ok {
        tracing::debug!(uri, method, answer = ?answer.map(|a| a.to_bytes()), "listen: upstream did not honour the subscription");
    }
    ok
}

/// Write the acknowledgement, then the wanted notifications, until the client goes away.
async fn pump(
    gw: Arc<Gateway>,
    session: Arc<Session>,
    id: Box<RawValue>,
    ack: Filter,
    mut rx: mpsc::Receiver<Message>,
    out: mpsc::Sender<Bytes>,
) {
    let uris: HashSet<String> = ack.resource_subscriptions.iter().cloned().collect();
    let first = Message::notification(
        "notifications/subscriptions/acknowledged",
        Some(to_raw(&serde_json::json!({
            "_meta": { META_SUBSCRIPTION_ID: &*id },
            "notifications": &ack,
        }))),
    );
    if out.send(body::sse_message(&first)).await.is_ok() {
        let mut keepalive = tokio::time::interval(body::SSE_KEEPALIVE);
        keepalive.tick().await;
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) if ack.wants(&uris, &msg) => {
                        if out.send(body::sse_message(&tagged(msg, &id))).await.is_err() { break }
                    }
                    Some(_) => {}
                    None => break,
                },
                _ = keepalive.tick() => if out.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() { break },
                _ = out.closed() => break,
            }
        }
    }
    close(&gw, &session).await;
}

/// Add the subscription id to a notification's `_meta`.
fn tagged(mut msg: Message, id: &RawValue) -> Message {
    let mut params: BTreeMap<String, serde_json::Value> = msg
        .params
        .as_ref()
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or_default();
    let meta = params
        .entry("_meta".into())
        .or_insert_with(|| serde_json::json!({}));
    if let (Some(meta), Ok(id)) = (
        meta.as_object_mut(),
        serde_json::from_str::<serde_json::Value>(id.get()),
    ) {
        meta.insert(META_SUBSCRIPTION_ID.into(), id);
    }
    msg.params = Some(to_raw(&params));
    msg
}

/// End a listener: forget it, and release upstream subscriptions nobody else holds.
async fn close(gw: &Arc<Gateway>, session: &Arc<Session>) {
    gw.sessions.remove(&session.id);
    let others = gw.sessions.all();
    for (pool, uri) in session.subscriptions() {
        if others.iter().any(|s| s.is_subscribed(pool, &uri)) {
            continue;
        }
        resource_request(gw, session, "resources/unsubscribe", &uri).await;
    }
    tracing::debug!(session = %session.id, "listen stream closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_passes_only_what_was_asked_for() {
        let f = Filter {
            tools_list_changed: true,
            resource_subscriptions: vec!["demo://tickets".into()],
            ..Filter::default()
        };
        let uris: HashSet<String> = f.resource_subscriptions.iter().cloned().collect();
        let n = |m: &str, p: Option<&str>| {
            Message::notification(m, p.map(|p| RawValue::from_string(p.into()).unwrap()))
        };
        assert!(f.wants(&uris, &n("notifications/tools/list_changed", None)));
        assert!(!f.wants(&uris, &n("notifications/prompts/list_changed", None)));
        assert!(f.wants(
            &uris,
            &n(
                "notifications/resources/updated",
                Some(r#"{"uri":"demo://tickets"}"#)
            )
        ));
        assert!(!f.wants(
            &uris,
            &n(
                "notifications/resources/updated",
                Some(r#"{"uri":"demo://kv/x"}"#)
            )
        ));
        assert!(!f.wants(&uris, &n("notifications/message", None)));
        let ack = serde_json::to_value(&f).unwrap();
        assert_eq!(
            ack,
            serde_json::json!({"toolsListChanged": true, "resourceSubscriptions": ["demo://tickets"]})
        );
    }

    #[test]
    fn notifications_carry_the_subscription_id() {
        let id = RawValue::from_string("7".into()).unwrap();
        let msg = Message::notification(
            "notifications/resources/updated",
            Some(RawValue::from_string(r#"{"uri":"a://b"}"#.into()).unwrap()),
        );
        let v: serde_json::Value = serde_json::from_slice(&tagged(msg, &id).to_bytes()).unwrap();
        assert_eq!(v["params"]["_meta"][META_SUBSCRIPTION_ID], 7);
        assert_eq!(v["params"]["uri"], "a://b");
    }
}
