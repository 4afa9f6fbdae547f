//! The request pipeline shared by every front: one client message in, the answer out, with the
//! messages related to it (progress, logs, server-to-client requests) sent on the way.
//!
//! Order of work for a forwarded request: resolve the exposed name to its pool (aggregated
//! catalog), rewrite the name if it was namespaced, choose a replica (router), forward, relay
//! related messages while waiting, restore the client's id, report the outcome to the policy;
//! a 2026-07-28 upstream's `input_required` is then completed with a session-based client
//! ([`mrtr_upstream`]).

use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use vecgate_backends::jsonrpc::{ErrorObject, Kind, Message, code, to_raw};
use vecgate_backends::replica::ServerReply;
use vecgate_backends::{AfterCall, Call, CallError, CallEvent, CallEventSink, CallEvents};

use crate::cache::AnswerCache;
use crate::cache::announced::{Watch, linked_uris};
use crate::catalog::{ListKind, list_kind, rename_params};
use crate::gateway::Gateway;
use crate::session::Session;

mod mrtr_upstream;

/// Where messages related to one request go: its POST's SSE stream, the legacy SSE stream, or
/// stdout. Bounded: a client that does not read loses progress notifications, never blocks the
/// gateway.
pub type EventSink = mpsc::Sender<Message>;

/// How a request failed, in the form it is sent back.
enum Failure {
    /// An error vecgate writes.
    Local(ErrorObject),
    /// An upstream error object, passed through unchanged.
    Upstream(Box<RawValue>),
}

impl From<ErrorObject> for Failure {
    fn from(e: ErrorObject) -> Failure {
        Failure::Local(e)
    }
}

type Answer = Result<Box<RawValue>, Failure>;

fn empty_object() -> Box<RawValue> {
    to_raw(&serde_json::json!({}))
}

/// Handle one message from a client on `session`. Returns the response for a request, `None`
/// for notifications and responses.
pub async fn handle(
    gw: Arc<Gateway>,
    session: Arc<Session>,
    msg: Message,
    events: EventSink,
) -> Option<Message> {
    session.touch();
    match msg.kind() {
        Kind::Request => Some(handle_request(&gw, &session, msg, &events).await),
        Kind::Notification => {
            handle_notification(&gw, &session, &msg).await;
            None
        }
        Kind::Response => {
            if let Some(id) = &msg.id {
                let answer = match (msg.result, msg.error) {
                    (Some(r), _) => Ok(r),
                    (None, Some(e)) => Err(e),
                    (None, None) => {
                        Err(ErrorObject::new(code::INVALID_REQUEST, "empty response").to_raw())
                    }
                };
                if !session.answer(id, answer) {
                    tracing::debug!(id = id.get(), "client answered an unknown server request");
                }
            }
            None
        }
    }
}

async fn handle_request(
    gw: &Arc<Gateway>,
    session: &Arc<Session>,
    msg: Message,
    events: &EventSink,
) -> Message {
    let Message {
        id, method, params, ..
    } = msg;
    let id = id.unwrap_or_else(vecgate_backends::jsonrpc::null_raw);
    let method = method.unwrap_or_default();
    let Some((_guard, cancelled)) = session.cancellable(&id) else {
        gw.meters.answered(&method, false);
        let e = ErrorObject::new(
            code::INVALID_REQUEST,
            format!(
                "request id {} is already used by an unfinished request of this session (JSON-RPC ids must be unique per session)",
                id.get()
            ),
        );
        return Message::error(Some(id), &e);
    };
    let work = route_request(gw, session, &method, params, events);
    let answer = tokio::select! {
        answer = work => answer,
        // Only a real `notifications/cancelled` (the sender fires); never a dropped sender.
        Ok(()) = cancelled => Err(Failure::Local(ErrorObject::new(-32800, "request cancelled by the client"))),
    };
    gw.meters.answered(&method, answer.is_ok());
    match answer {
        Ok(result) => Message::result(id, result),
        Err(Failure::Local(e)) => Message::error(Some(id), &e),
        Err(Failure::Upstream(e)) => Message::raw_error(id, e),
    }
}

async fn route_request(
    gw: &Arc<Gateway>,
    session: &Arc<Session>,
    method: &str,
    params: Option<Box<RawValue>>,
    events: &EventSink,
) -> Answer {
    if let Some(kind) = list_kind(method) {
        return list(gw, kind, params.as_deref());
    }
    match method {
        "ping" => Ok(empty_object()),
        "initialize" => Err(ErrorObject::new(
            code::INVALID_REQUEST,
            "this session is already initialized; start a new session to initialize again",
        )
        .into()),
        "logging/setLevel" => set_level(gw, session, params.as_deref()).await,
        "tools/call" | "prompts/get" => {
            let peek = peek(params.as_deref())?;
            let mrtr_retry = peek.is_mrtr_retry();
            let name = peek
                .name
                .ok_or_else(|| invalid_params(format!("{method} needs params.name")))?;
            let catalog = gw.catalog.load();
            let route = if method == "tools/call" {
                catalog.tool(&name)
            } else {
                catalog.prompt(&name)
            };
            let Some(route) = route else {
                let what = if method == "tools/call" {
                    "tool"
                } else {
                    "prompt"
                };
                return Err(invalid_params(format!(
                    "unknown {what} {name:?} (see {}/list)",
                    what.to_owned() + "s"
                ))
                .into());
            };
            let pool = route.pool;
            let live = gw.live();
            let (opt_in, shared) = live.tool_cache_policy(pool, &route.upstream);
            let announced = live.announces_updates(pool);
            drop(live);
            let cacheable = (method == "tools/call")
                .then(|| AnswerCache::tool_is_cacheable(route.hints, opt_in));
            let cache_key = match cacheable {
                // An MRTR retry's answer depends on its inputs: never reused (SEP-2549).
                Some(true) if mrtr_retry => None,
                Some(true) => AnswerCache::key_for(
                    &session.principal,
                    shared,
                    pool,
                    &route.upstream,
                    peek.arguments,
                ),
                // In an `announced` pool the server's updates say what the write changed.
                Some(false) if announced => None,
                Some(false) => {
                    // A tool that may write: answers of this pool may now be stale.
                    let dropped = gw.cache.invalidate_pool(pool);
                    if dropped > 0 {
                        metrics::counter!("vecgate_cache_invalidations_total", "cause" => "write")
                            .increment(dropped as u64);
                    }
                    None
                }
                None => None,
            };
            if let Some(hit) = cache_key.as_ref().and_then(|k| gw.cache.get(k)) {
                return Ok(hit);
            }
            // Read after the miss: a write invalidating the pool from here on makes this
            // call's answer unstorable (it may predate the write).
            let generation = gw.cache.generation();
            // The fields just read are what routing keys on: passed on as positions in `params`
            // rather than read again, unless renaming rewrites `params`.
            let routing = match (&params, route.renamed) {
                (Some(p), false) => RoutingKey::within(p.get(), &name, peek.arguments),
                _ => RoutingKey::Read,
            };
            let params = match (&params, route.renamed) {
                (Some(p), true) => Some(
                    rename_params(p, &route.upstream)
                        .ok_or_else(|| invalid_params("params must be an object".into()))?,
                ),
                _ => params,
            };
            drop(catalog);
            let Forwarded { answer, with_input } =
                forward(gw, session, pool, method, params, routing, events).await;
            if let (Some(key), Ok(result), false) = (&cache_key, &answer, with_input)
                && !is_input_required(result)
            {
                if announced {
                    let links = linked_uris(result);
                    let links: Vec<&str> = links.iter().map(String::as_str).collect();
                    if let Some(upstream) = gw.pool(pool)
                        && gw.cache.watch(&upstream, &links).await == Watch::Already
                    {
                        gw.cache.put_linked(key, result, generation, &links);
                    }
                } else {
                    gw.cache.put(key, result, generation);
                }
            }
            if cacheable == Some(false) && !announced {
                // Reads that overlapped the write may have stored what it replaced.
                gw.cache.invalidate_pool(pool);
            }
            answer
        }
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            let peek = peek(params.as_deref())?;
            let uri = peek
                .uri
                .ok_or_else(|| invalid_params(format!("{method} needs params.uri")))?
                .into_owned();
            let pool = gw.catalog.load().resource_pool(&uri).ok_or_else(|| {
                ErrorObject::new(
                    code::RESOURCE_NOT_FOUND,
                    format!("no pool serves resource {uri:?}"),
                )
            })?;
            let announced = gw.live().announces_updates(pool);
            if method == "resources/unsubscribe" && announced && gw.cache.watches(pool, &uri) {
                // The upstream session is shared: unsubscribing it would silence the updates
                // the cache depends on. The client stops receiving them all the same.
                session.unsubscribe(pool, &uri);
                return Ok(empty_object());
            }
            let read_key = (method == "resources/read" && announced)
                .then(|| AnswerCache::resource_key(&session.principal, pool, &uri));
            if let Some(hit) = read_key.as_ref().and_then(|k| gw.cache.get(k)) {
                return Ok(hit);
            }
            // Watched before it is forwarded, so any change after this read is announced.
            let watched = match (&read_key, gw.pool(pool)) {
                (Some(_), Some(upstream)) => gw.cache.watch(&upstream, &[&uri]).await,
                _ => Watch::Failed,
            };
            let generation = gw.cache.generation();
            let Forwarded { answer, with_input } =
                forward(gw, session, pool, method, params, RoutingKey::Read, events).await;
            if let (Some(key), Ok(result), false) = (&read_key, &answer, with_input)
                && watched != Watch::Failed
                && !is_input_required(result)
            {
                gw.cache.put(key, result, generation);
            }
            if answer.is_ok() {
                match method {
                    "resources/subscribe" => session.subscribe(pool, &uri),
                    "resources/unsubscribe" => session.unsubscribe(pool, &uri),
                    _ => {}
                }
            }
            answer
        }
        "completion/complete" => {
            let peek = peek(params.as_deref())?;
            let reference: serde_json::Value = peek
                .reference
                .and_then(|r| serde_json::from_str(r.get()).ok())
                .ok_or_else(|| invalid_params("completion/complete needs params.ref".into()))?;
            let catalog = gw.catalog.load();
            let target = match reference.get("type").and_then(|t| t.as_str()) {
                Some("ref/prompt") => reference
                    .get("name")
                    .and_then(|n| n.as_str())
                    .and_then(|n| catalog.prompt(n))
                    .map(|r| (r.pool, r.renamed.then(|| r.upstream.clone()))),
                Some("ref/resource") => reference
                    .get("uri")
                    .and_then(|u| u.as_str())
                    .and_then(|u| catalog.resource_pool(u))
                    .map(|p| (p, None)),
                _ => None,
            };
            let (pool, rename) = target.ok_or_else(|| {
                invalid_params("completion/complete: unknown or unsupported ref".into())
            })?;
            drop(catalog);
            let params = match (params, rename) {
                (Some(p), Some(upstream)) => Some(
                    rename_ref(&p, &upstream)
                        .ok_or_else(|| invalid_params("bad params.ref".into()))?,
                ),
                (p, _) => p,
            };
            forward(gw, session, pool, method, params, RoutingKey::Read, events)
                .await
                .answer
        }
        _ => Err(ErrorObject::new(
            code::METHOD_NOT_FOUND,
            format!("method {method:?} is not supported by vecgate"),
        )
        .into()),
    }
}

/// Whether a result is an interim MRTR `input_required` answer (never cached).
fn is_input_required(result: &RawValue) -> bool {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Kind<'a> {
        #[serde(borrow, default)]
        result_type: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_str::<Kind<'_>>(result.get())
        .is_ok_and(|k| k.result_type.as_deref() == Some("input_required"))
}

/// The tool/prompt name or resource URI, and the raw arguments, that routing keys on
/// (borrowed from `params` unless the name has escapes).
fn routing_fields<'a>(
    method: &str,
    params: Option<&'a RawValue>,
) -> (Option<Cow<'a, str>>, Option<&'a str>) {
    let Some(params) = params else {
        return (None, None);
    };
    let Ok(peek) = serde_json::from_str::<vecgate_backends::jsonrpc::ParamsPeek<'a>>(params.get())
    else {
        return (None, None);
    };
    let name = match method {
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => peek.uri,
        _ => peek.name,
    };
    (name, peek.arguments.map(|a| a.get()))
}

/// Where [`forward`] finds the name and arguments that routing keys on.
#[derive(Clone, Debug, PartialEq, Eq)]
enum RoutingKey {
    /// Read them from `params` ([`routing_fields`]).
    Read,
    /// Already read by the caller: byte ranges of the name's text and the raw arguments within
    /// `params`, which is forwarded unchanged.
    At {
        name: std::ops::Range<usize>,
        arguments: Option<std::ops::Range<usize>>,
    },
}

impl RoutingKey {
    /// The positions of `name` and `arguments`, both borrowed from `params`; [`RoutingKey::Read`]
    /// when either is not (a name with escapes is unescaped into a copy).
    fn within(params: &str, name: &str, arguments: Option<&RawValue>) -> RoutingKey {
        let Some(name) = span_within(params, name) else {
            return RoutingKey::Read;
        };
        let arguments = match arguments.map(|a| span_within(params, a.get())) {
            Some(None) => return RoutingKey::Read,
            found => found.flatten(),
        };
        RoutingKey::At { name, arguments }
    }

    /// The name and raw arguments in `params`.
    fn fields<'a>(
        &self,
        method: &str,
        params: Option<&'a RawValue>,
    ) -> (Option<Cow<'a, str>>, Option<&'a str>) {
        match (self, params) {
            (RoutingKey::At { name, arguments }, Some(params)) => {
                let text = params.get();
                (
                    text.get(name.clone()).map(Cow::Borrowed),
                    arguments.clone().and_then(|a| text.get(a)),
                )
            }
            _ => routing_fields(method, params),
        }
    }
}

/// The byte range `part` occupies in `whole`, if it is a slice of it.
fn span_within(whole: &str, part: &str) -> Option<std::ops::Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start + part.len();
    (end <= whole.len()).then_some(start..end)
}

fn invalid_params(message: String) -> ErrorObject {
    ErrorObject::new(code::INVALID_PARAMS, message)
}

fn peek(params: Option<&RawValue>) -> Result<vecgate_backends::jsonrpc::ParamsPeek<'_>, Failure> {
    match params {
        None => Ok(Default::default()),
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| Failure::Local(invalid_params(format!("params: {e}")))),
    }
}

fn rename_ref(params: &RawValue, name: &str) -> Option<Box<RawValue>> {
    let mut v: serde_json::Value = serde_json::from_str(params.get()).ok()?;
    v.get_mut("ref")?
        .as_object_mut()?
        .insert("name".into(), name.into());
    serde_json::value::to_raw_value(&v).ok()
}

fn list(gw: &Gateway, kind: ListKind, params: Option<&RawValue>) -> Answer {
    let peek = peek(params)?;
    let catalog = gw.catalog.load();
    let (items, next) = catalog
        .page(
            kind,
            peek.cursor.as_deref(),
            gw.live().config.list_page_size,
        )
        .map_err(|_| invalid_params("invalid pagination cursor".into()))?;
    // Written by hand: the items are raw JSON and are copied, not re-serialized.
    let mut out =
        String::with_capacity(64 + items.iter().map(|i| i.get().len() + 1).sum::<usize>());
    out.push_str("{\"");
    out.push_str(kind.field());
    out.push_str("\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.get());
    }
    out.push(']');
    if let Some(cursor) = next {
        out.push_str(",\"nextCursor\":");
        out.push_str(&serde_json::to_string(&cursor).unwrap_or_default());
    }
    out.push('}');
    RawValue::from_string(out)
        .map_err(|e| ErrorObject::new(code::INTERNAL_ERROR, format!("list encoding: {e}")).into())
}

async fn set_level(gw: &Gateway, session: &Session, params: Option<&RawValue>) -> Answer {
    #[derive(serde::Deserialize)]
    struct Level {
        level: String,
    }
    let level: Level = params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .ok_or_else(|| invalid_params("logging/setLevel needs params.level".into()))?;
    if !session.set_log_level(&level.level) {
        return Err(invalid_params(format!("unknown log level {:?}", level.level)).into());
    }
    // Replicas are shared between sessions, so their level is not lowered for one client:
    // each session's level filters what vecgate forwards to it.
    let _ = gw;
    Ok(empty_object())
}

/// What [`forward`] got back.
struct Forwarded {
    answer: Answer,
    /// vecgate ran MRTR rounds with the client for it ([`mrtr_upstream`]): the answer depends
    /// on the client's input and is never cached.
    with_input: bool,
}

/// Forward a request to one replica of `pool`, relaying related messages while it runs; a
/// 2026-07-28 upstream's `input_required` is completed with the client here when the client
/// predates MRTR ([`mrtr_upstream`]).
async fn forward(
    gw: &Arc<Gateway>,
    session: &Arc<Session>,
    pool_index: u32,
    method: &str,
    params: Option<Box<RawValue>>,
    routing: RoutingKey,
    events: &EventSink,
) -> Forwarded {
    let plain = |answer: Answer| Forwarded {
        answer,
        with_input: false,
    };
    // A pool removed by a reload since the catalog was read: unavailable, not an internal error.
    let Some(pool) = gw.pool(pool_index) else {
        return plain(Err(ErrorObject::new(
            code::UPSTREAM_UNAVAILABLE,
            "the pool serving this request was removed by a configuration reload",
        )
        .into()));
    };
    let peek = params.as_deref().map(|p| p.get());
    let (name, arguments) = routing.fields(method, params.as_deref());
    let Some(routed) = gw.router.pick(
        &pool,
        session.affinity_seed,
        method,
        name.as_deref(),
        arguments.or(peek),
    ) else {
        return plain(Err(ErrorObject::new(
            code::UPSTREAM_UNAVAILABLE,
            format!("pool {:?} has no replicas", pool.name()),
        )
        .into()));
    };
    let relay: CallEventSink = Arc::new(CallRelay {
        session: Arc::clone(session),
        sink: events.clone(),
    });
    let method = match crate::meters::known_method(method) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(method.to_owned()),
    };
    // Only a stateless upstream answers input_required: only then is what a retry needs kept
    // (the common call pays for two checks, no copy).
    let retry =
        (mrtr_upstream::bridges(session, &method) && routed.replica.is_stateless()).then(|| {
            (
                Arc::clone(&routed.replica),
                params.clone(),
                Arc::clone(&relay),
            )
        });
    let result = routed
        .replica
        .call(Call {
            method: method.clone(),
            params,
            events: Some(relay),
            timeout: None,
            after: Some(Arc::clone(session) as Arc<dyn AfterCall>),
        })
        .await;
    let result_bytes = result.as_ref().map_or(0, |r| r.get().len() as u32);
    gw.router
        .observe(pool_index, routed, result.is_ok(), result_bytes);
    let answer = result.map_err(|e| match e {
        CallError::Rpc(raw) => Failure::Upstream(raw),
        other => Failure::Local(other.to_error_object()),
    });
    match (answer, retry) {
        (Ok(first), Some((replica, params, relay))) if is_input_required(&first) => {
            let rounds = mrtr_upstream::Rounds {
                session,
                replica: &replica,
                method,
                params,
                events,
                relay,
            };
            Forwarded {
                answer: rounds.complete(first).await,
                with_input: true,
            }
        }
        (answer, _) => plain(answer),
    }
}

/// Where a forwarded call's events go: straight from the replica's reader into the request's
/// event sink (its POST stream, the legacy SSE stream or stdout), in the order the upstream
/// sent them. No per-call channel and no relay loop beside the call: the reader does the
/// little work an event needs (a log-level filter, an id for a server request) itself.
struct CallRelay {
    session: Arc<Session>,
    sink: EventSink,
}

impl CallEvents for CallRelay {
    fn deliver(&self, event: CallEvent) -> Result<(), CallEvent> {
        match event {
            CallEvent::Notification(msg) => {
                if msg.method.as_deref() == Some("notifications/message")
                    && !log_wanted(&self.session, &msg)
                {
                    return Ok(());
                }
                // Progress is best-effort: a client that does not read its stream loses some.
                if self.sink.try_send(msg).is_err() {
                    metrics::counter!("vecgate_events_dropped_total").increment(1);
                }
            }
            CallEvent::Request { message, reply } => {
                relay_server_request(&self.session, &self.sink, message, reply);
            }
        }
        Ok(())
    }

    fn is_closed(&self) -> bool {
        self.sink.is_closed()
    }
}

/// Relay a server→client request a call caused to the client, under an id of this session,
/// and its answer back to the replica.
fn relay_server_request(
    session: &Arc<Session>,
    sink: &EventSink,
    message: Message,
    reply: oneshot::Sender<ServerReply>,
) {
    let method = message.method.unwrap_or_default();
    if !session.caps.allows(&method) {
        let err = ErrorObject::new(
            code::METHOD_NOT_FOUND,
            format!("the client did not declare the capability {method} needs"),
        );
        let _ = reply.send(Err(err.to_raw()));
        return;
    }
    let (id, answer) = session.register_request();
    let request = Message::request(to_raw(&id), method, message.params);
    // Sent now when there is room, so it keeps its place among the call's other events;
    // otherwise the task below waits for room.
    let waiting = match sink.try_send(request) {
        Ok(()) => None,
        Err(mpsc::error::TrySendError::Full(request)) => Some(request),
        // The request's own stream has closed: the session's GET stream, if it has one.
        Err(mpsc::error::TrySendError::Closed(request)) => {
            if !session.push(request) {
                refuse_undelivered(session, id, reply);
                return;
            }
            None
        }
    };
    let session = Arc::clone(session);
    let sink = sink.clone();
    tokio::spawn(async move {
        if let Some(request) = waiting {
            let delivered = match sink.send(request).await {
                Ok(()) => true,
                Err(mpsc::error::SendError(request)) => session.push(request),
            };
            if !delivered {
                refuse_undelivered(&session, id, reply);
                return;
            }
        }
        drop(sink);
        let answer = answer.await.unwrap_or_else(|_| {
            Err(ErrorObject::new(
                code::INTERNAL_ERROR,
                "the client session ended before answering",
            )
            .to_raw())
        });
        let _ = reply.send(answer);
    });
}

/// A server request that reached no stream of the client: forgotten, and refused upstream.
fn refuse_undelivered(session: &Session, id: u64, reply: oneshot::Sender<ServerReply>) {
    session.forget_request(id);
    let err = ErrorObject::new(code::UPSTREAM_UNAVAILABLE, "the client's stream closed");
    let _ = reply.send(Err(err.to_raw()));
}

/// A log line that raced its call's answer (see [`vecgate_backends::STRAGGLER_WINDOW`]) goes to
/// the session's server-to-client stream, as the upstream's own GET stream would have sent it.
impl AfterCall for Session {
    fn straggler(&self, message: Message) {
        if log_wanted(self, &message) && !self.push(message) {
            metrics::counter!("vecgate_events_dropped_total").increment(1);
        }
    }
}

fn log_wanted(session: &Session, msg: &Message) -> bool {
    #[derive(serde::Deserialize)]
    struct Log<'a> {
        #[serde(borrow)]
        level: Option<std::borrow::Cow<'a, str>>,
    }
    let level = msg
        .params
        .as_ref()
        .and_then(|p| serde_json::from_str::<Log<'_>>(p.get()).ok())
        .and_then(|l| l.level.map(|l| l.into_owned()));
    level.is_none_or(|l| session.wants_log(&l))
}

async fn handle_notification(gw: &Arc<Gateway>, session: &Arc<Session>, msg: &Message) {
    match msg.method.as_deref() {
        Some("notifications/cancelled") => {
            if let Some(id) = msg.peek_params().request_id {
                session.cancel(id);
            }
        }
        Some("notifications/roots/list_changed") => {
            let pools: Vec<_> = gw.live().pools().cloned().collect();
            for pool in &pools {
                for replica in pool.replicas().iter().filter(|r| r.is_ready()) {
                    let _ = replica
                        .notify("notifications/roots/list_changed", None)
                        .await;
                }
            }
        }
        // initialized, progress from the client, and anything else: nothing to do.
        _ => {}
    }
}

fn pool_has_affinity(gw: &Gateway, pool: u32) -> bool {
    gw.live().pool(pool).is_some_and(|p| p.spec().affinity)
}

/// Relay a notification a replica sent that belongs to no request.
pub fn relay_unsolicited(gw: &Gateway, pool: u32, replica: u32, msg: Message) {
    match msg.method.as_deref() {
        Some("notifications/resources/updated") => {
            let uri = msg.peek_params().uri.map(|u| u.into_owned());
            let Some(uri) = uri else { return };
            // The cache has already applied it, on the replica's reader (CacheObserver).
            for session in gw.sessions.all() {
                if session.is_subscribed(pool, &uri) {
                    session.push(msg.clone());
                }
            }
        }
        Some("notifications/message") if pool_has_affinity(gw, pool) => {
            // An affinity pool's replica serves its pinned sessions only, so its log lines are
            // theirs.
            let Some(p) = gw.pool(pool) else {
                return;
            };
            for session in gw.sessions.all() {
                let replicas = p.replicas();
                let pinned = crate::router::affinity_pick(&replicas, session.affinity_seed);
                if replicas.get(pinned).is_some_and(|r| r.index() == replica)
                    && log_wanted(&session, &msg)
                {
                    session.push(msg.clone());
                }
            }
        }
        _ => {
            // Logs and other server-wide notifications from a shared replica belong to no one
            // client; relaying them to everyone would be cross-talk.
            tracing::debug!(pool, replica, method = ?msg.method, "unsolicited upstream notification");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("valid JSON")
    }

    /// The positions a caller hands on give exactly what reading `params` again would.
    #[test]
    fn routing_key_positions_read_what_params_hold() {
        for text in [
            r#"{"name":"echo","arguments":{"text":"hello"}}"#,
            r#"{"arguments":[1,2],"name":"a.b/c-d","_meta":{"progressToken":1}}"#,
            r#"{"name":"no-arguments"}"#,
        ] {
            let params = raw(text);
            let peek = peek(Some(&params)).ok().expect("peek");
            let name = peek.name.clone().expect("name");
            let key = RoutingKey::within(params.get(), &name, peek.arguments);
            assert!(matches!(key, RoutingKey::At { .. }), "{text}");
            assert_eq!(
                key.fields("tools/call", Some(&params)),
                routing_fields("tools/call", Some(&params)),
                "{text}"
            );
        }
    }

    #[test]
    fn an_unescaped_copy_of_the_name_is_read_again() {
        let params = raw(r#"{"name":"a\u0062c","arguments":{}}"#);
        let peek = peek(Some(&params)).ok().expect("peek");
        let name = peek.name.clone().expect("name");
        assert_eq!(name, "abc");
        let key = RoutingKey::within(params.get(), &name, peek.arguments);
        assert_eq!(key, RoutingKey::Read);
        assert_eq!(
            key.fields("tools/call", Some(&params)).0.as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn a_slice_from_elsewhere_has_no_position() {
        let whole = String::from("{\"name\":\"x\"}");
        let other = String::from("x");
        assert_eq!(span_within(&whole, &whole[9..10]), Some(9..10));
        assert_eq!(span_within(&whole, &other), None);
    }
}
