//! Resource subscriptions and list changes of a stateless (2026-07-28) upstream, which has no
//! `resources/subscribe` and sends notifications only on a `subscriptions/listen` that asks
//! for them: one long-lived upstream listen per replica, carrying every URI vecgate needs
//! there and the list changes the server advertises.
//!
//! When a replica's connection becomes ready ([`crate::Replica`]'s `install`), the listen is
//! opened asking for `toolsListChanged`, `promptsListChanged` and `resourcesListChanged` as the
//! server's capabilities advertise `tools.listChanged` etc. ([`ListChanges`]), so it is open
//! for as long as the replica is up, whether or not a URI is subscribed (a server advertising
//! none, with no URI wanted, gets no listen: there would be nothing to receive). Its
//! `notifications/*/list_changed` are handled as an old upstream's: the mux marks the lists
//! dirty and the supervisor re-fetches them and reports `PoolEvent::CatalogChanged`. A listen
//! carrying list changes only does not keep the replica from being idle-stopped; one carrying
//! URIs does.
//!
//! [`crate::Replica::call`] hands `resources/subscribe` and `resources/unsubscribe` for a
//! stateless replica here instead of forwarding them. They change the replica's URI set, the
//! same set semantics an old upstream session has (subscribing twice is once; one unsubscribe
//! ends it), so the gateway treats both kinds of upstream alike. A change replaces the
//! upstream listen: the new one is opened and acknowledged first, then the old one is
//! cancelled (dropped: `notifications/cancelled` over stdio, its stream closed over HTTP), so
//! no update is lost in between (one sent during the overlap may arrive twice). A subscribe is
//! answered with success only if the upstream acknowledged its URI; otherwise with an
//! invalid-params error, and the URI is dropped from the set.
//!
//! The listen's `notifications/resources/updated` come back as any old upstream's do: the
//! mux hands them to the pool's observer on the reader (cache invalidation) and, untagged, to
//! the pool's events, which the gateway routes to the subscribed sessions
//! ([`crate::mux`]'s `open` module routes the acknowledgement here). The request has no
//! deadline. If the upstream ends an acknowledged listen while the connection lives, it is
//! opened again after a pause; when the replica restarts, it is re-opened on the new
//! connection with the same URI set and the list changes the new server advertises.

use crate::catalog::ServerInfo;
use crate::error::CallError;
use crate::jsonrpc::{ErrorObject, Message, ParamsPeek, code, to_raw};
use crate::mux::Mux;
use crate::replica::{CallEvent, CallEventSink};
use parking_lot::Mutex;
use serde_json::value::RawValue;
use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The pause before an ended listen is opened again; doubled up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(500);
/// The longest pause between attempts to open an ended listen again.
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Whether a method is a subscription change this module takes over on stateless replicas.
pub(crate) fn is_subscription_method(method: &str) -> bool {
    matches!(method, "resources/subscribe" | "resources/unsubscribe")
}

/// The upstream listen of one replica: the URIs wanted and the listen in force.
#[derive(Default)]
pub(crate) struct UpstreamListen {
    state: Mutex<State>,
    /// One replacement at a time; callers that waited find their URI already covered.
    turn: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// URIs vecgate needs on this replica; kept across restarts.
    wanted: BTreeSet<String>,
    /// The list changes the connected server advertises (set on each connection).
    lists: ListChanges,
    /// The listen in force, if any.
    active: Option<Active>,
}

impl State {
    /// What the listen should ask for now; `None` when there is nothing to receive.
    fn filter(&self) -> Option<Filter> {
        (!self.wanted.is_empty() || self.lists.any()).then(|| Filter {
            uris: self.wanted.clone(),
            lists: self.lists,
        })
    }
}

/// The `notifications/*/list_changed` kinds a server advertises in its capabilities
/// (`tools.listChanged`, `prompts.listChanged`, `resources.listChanged`), which the listen
/// asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ListChanges {
    tools: bool,
    prompts: bool,
    resources: bool,
}

impl ListChanges {
    /// The kinds `server` advertises.
    pub(crate) fn advertised(server: &ServerInfo) -> Self {
        Self {
            tools: server.capability_flag("tools", "listChanged"),
            prompts: server.capability_flag("prompts", "listChanged"),
            resources: server.capability_flag("resources", "listChanged"),
        }
    }

    fn any(self) -> bool {
        self.tools || self.prompts || self.resources
    }
}

/// What one upstream listen asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Filter {
    uris: BTreeSet<String>,
    lists: ListChanges,
}

impl Filter {
    /// The `notifications` filter of `subscriptions/listen` (a kind not wanted is left out).
    fn to_params(&self) -> Box<RawValue> {
        let mut filter = serde_json::Map::new();
        for (key, on) in [
            ("toolsListChanged", self.lists.tools),
            ("promptsListChanged", self.lists.prompts),
            ("resourcesListChanged", self.lists.resources),
        ] {
            if on {
                filter.insert(key.into(), true.into());
            }
        }
        if !self.uris.is_empty() {
            filter.insert("resourceSubscriptions".into(), serde_json::json!(self.uris));
        }
        to_raw(&serde_json::json!({ "notifications": filter }))
    }
}

/// One upstream listen, run by a task of its own; dropping it cancels the listen.
struct Active {
    /// The connection it runs on.
    mux: Weak<Mux>,
    /// What it asked for.
    requested: Filter,
    /// The URIs the upstream acknowledged (updated if the listen is opened again).
    acked: Arc<Mutex<BTreeSet<String>>>,
    task: JoinHandle<()>,
}

impl Drop for Active {
    fn drop(&mut self) {
        // Dropping the request future cancels it upstream (see `Mux::open_request`).
        self.task.abort();
    }
}

impl Active {
    /// Cancel the listen and wait until it is: over stdio its `notifications/cancelled` is
    /// then queued ahead of anything sent after.
    async fn close(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    fn runs_on(&self, mux: &Arc<Mux>) -> bool {
        std::ptr::eq(self.mux.as_ptr(), Arc::as_ptr(mux)) && !mux.is_closed()
    }
}

impl UpstreamListen {
    /// Apply `resources/subscribe` or `resources/unsubscribe` (with `params.uri`) on the
    /// connection `mux`, within `timeout`; the answer a client gets.
    pub(crate) async fn change(
        &self,
        mux: &Arc<Mux>,
        method: &str,
        params: Option<&RawValue>,
        timeout: Duration,
    ) -> Result<Box<RawValue>, CallError> {
        let uri = params
            .and_then(|p| serde_json::from_str::<ParamsPeek<'_>>(p.get()).ok())
            .and_then(|peek| peek.uri.map(|u| u.into_owned()))
            .ok_or_else(|| rpc_error(format!("{method} needs params.uri")))?;
        let subscribe = method == "resources/subscribe";
        {
            let mut state = self.state.lock();
            if subscribe {
                state.wanted.insert(uri.clone());
            } else {
                state.wanted.remove(&uri);
            }
        }
        let settled = tokio::time::timeout(timeout, self.settle(mux)).await;
        let settled = settled.unwrap_or_else(|_| {
            Err(CallError::Timeout {
                pool: mux.ident().pool_name.to_string(),
                replica: mux.ident().replica,
                method: method.to_owned(),
                after: timeout,
            })
        });
        if !subscribe {
            if let Err(e) = &settled {
                // The old listen (still carrying the URI) stays; the gateway no longer
                // routes its updates to the client, so the unsubscribe holds.
                tracing::debug!(pool = %mux.ident().pool_name, replica = mux.ident().replica, %uri, error = %e, "listen: could not narrow the upstream listen");
            }
            return Ok(empty());
        }
        match settled {
            Ok(acked) if acked.contains(&uri) => Ok(empty()),
            Ok(_) => {
                self.forget_unless_acked(mux, &uri);
                Err(rpc_error(format!(
                    "the upstream did not acknowledge a subscription to {uri:?}"
                )))
            }
            Err(e) => {
                self.forget_unless_acked(mux, &uri);
                Err(e)
            }
        }
    }

    /// Whether the listen carries resource subscriptions (which lapse if the replica stops);
    /// one that only asks for list changes does not keep a replica from idling.
    pub(crate) fn holds_subscriptions(&self) -> bool {
        !self.state.lock().wanted.is_empty()
    }

    /// A connection `mux` to a server advertising `lists` became ready (first start or a
    /// restart, which drops the old listen): open the listen on it, in the background, if
    /// there is anything to receive.
    pub(crate) fn connected(
        self: &Arc<Self>,
        mux: &Arc<Mux>,
        lists: ListChanges,
        timeout: Duration,
    ) {
        let filter = {
            let mut state = self.state.lock();
            state.lists = lists;
            state.filter()
        };
        if filter.is_none() {
            return;
        }
        let this = Arc::clone(self);
        let mux = Arc::clone(mux);
        tokio::spawn(async move {
            let reopened = tokio::time::timeout(timeout, this.settle(&mux)).await;
            let ident = mux.ident();
            match reopened {
                Ok(Ok(acked)) => {
                    tracing::debug!(pool = %ident.pool_name, replica = ident.replica, uris = acked.len(), "listen: opened on the new connection")
                }
                Ok(Err(e)) => {
                    tracing::warn!(pool = %ident.pool_name, replica = ident.replica, error = %e, "listen: could not re-open the upstream listen")
                }
                Err(_) => {
                    tracing::warn!(pool = %ident.pool_name, replica = ident.replica, "listen: re-opening the upstream listen timed out")
                }
            }
        });
    }

    /// Make the listen on `mux` carry exactly the wanted URIs and list changes (or close it
    /// when nothing is wanted); returns the URIs the upstream acknowledged.
    async fn settle(&self, mux: &Arc<Mux>) -> Result<BTreeSet<String>, CallError> {
        let _turn = self.turn.lock().await;
        let wanted = {
            let state = self.state.lock();
            if let Some(active) = &state.active
                && active.runs_on(mux)
                && Some(&active.requested) == state.filter().as_ref()
            {
                return Ok(active.acked.lock().clone());
            }
            state.filter()
        };
        let Some(wanted) = wanted else {
            let old = self.state.lock().active.take();
            if let Some(old) = old {
                old.close().await;
            }
            return Ok(BTreeSet::new());
        };
        let (next, acknowledged) = open(mux, wanted);
        // Until it is installed, dropping `next` (a timeout) cancels the new listen.
        let acked = match acknowledged.await {
            Ok(result) => result?,
            Err(_) => return Err(mux.unavailable("the listen ended".into())),
        };
        let old = self.state.lock().active.replace(next);
        // The old listen is cancelled only now that the new one is acknowledged.
        if let Some(old) = old {
            old.close().await;
        }
        Ok(acked)
    }

    /// Drop `uri` from the wanted set unless the listen in force acknowledged it.
    fn forget_unless_acked(&self, mux: &Arc<Mux>, uri: &str) {
        let mut state = self.state.lock();
        let covered = state
            .active
            .as_ref()
            .is_some_and(|a| a.runs_on(mux) && a.acked.lock().contains(uri));
        if !covered {
            state.wanted.remove(uri);
        }
    }
}

/// Start a listen for `filter` on `mux`; the receiver gets its acknowledged URIs, or why it
/// ended before acknowledging.
fn open(
    mux: &Arc<Mux>,
    filter: Filter,
) -> (
    Active,
    oneshot::Receiver<Result<BTreeSet<String>, CallError>>,
) {
    let params = filter.to_params();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let (first, acknowledged) = oneshot::channel();
    let task = tokio::spawn(run(Arc::clone(mux), params, Arc::clone(&acked), first));
    let active = Active {
        mux: Arc::downgrade(mux),
        requested: filter,
        acked,
        task,
    };
    (active, acknowledged)
}

/// Keep one listen open on `mux` until the task is aborted or the connection ends.
async fn run(
    mux: Arc<Mux>,
    params: Box<RawValue>,
    acked: Arc<Mutex<BTreeSet<String>>>,
    first: oneshot::Sender<Result<BTreeSet<String>, CallError>>,
) {
    let (tx, mut events) = mpsc::channel::<CallEvent>(4);
    let sink: CallEventSink = Arc::new(tx);
    let mut first = Some(first);
    let mut delay = RETRY_MIN;
    loop {
        let listen = mux.open_request("subscriptions/listen", Some(params.clone()), sink.clone());
        tokio::pin!(listen);
        let ended = loop {
            tokio::select! {
                ended = &mut listen => break ended,
                Some(event) = events.recv() => {
                    let CallEvent::Notification(message) = event else { continue };
                    let Some(uris) = acknowledged(&message) else { continue };
                    *acked.lock() = uris.clone();
                    delay = RETRY_MIN;
                    if let Some(first) = first.take() {
                        let _ = first.send(Ok(uris));
                    }
                }
            }
        };
        let ident = mux.ident();
        if let Some(first) = first.take() {
            // Ended before it was acknowledged: a refusal (method not found, bad params)
            // or a broken connection. The caller reports it; nothing is retried.
            let _ = first.send(Err(ended.err().unwrap_or_else(|| {
                mux.protocol("subscriptions/listen ended before its acknowledgement".into())
            })));
            return;
        }
        if mux.is_closed() {
            return;
        }
        match ended {
            Ok(_) => {
                tracing::info!(pool = %ident.pool_name, replica = ident.replica, "listen: the upstream ended the listen; opening it again")
            }
            Err(e) => {
                tracing::warn!(pool = %ident.pool_name, replica = ident.replica, error = %e, "listen: the upstream listen broke; opening it again")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = mux.closed_token().cancelled() => return,
        }
        delay = (delay * 2).min(RETRY_MAX);
    }
}

/// The acknowledged URIs of a `notifications/subscriptions/acknowledged`.
fn acknowledged(message: &Message) -> Option<BTreeSet<String>> {
    #[derive(serde::Deserialize)]
    struct Params {
        notifications: Filter,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Filter {
        #[serde(default)]
        resource_subscriptions: BTreeSet<String>,
    }
    if message.method.as_deref() != Some("notifications/subscriptions/acknowledged") {
        return None;
    }
    let params: Params = serde_json::from_str(message.params.as_deref()?.get()).ok()?;
    Some(params.notifications.resource_subscriptions)
}

fn empty() -> Box<RawValue> {
    to_raw(&serde_json::json!({}))
}

fn rpc_error(message: String) -> CallError {
    CallError::Rpc(to_raw(&ErrorObject::new(code::INVALID_PARAMS, message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_acknowledged_uris_are_read_from_the_filter() {
        let ack = Message::notification(
            "notifications/subscriptions/acknowledged",
            Some(to_raw(&serde_json::json!({
                "_meta": {"io.modelcontextprotocol/subscriptionId": 4},
                "notifications": {"resourceSubscriptions": ["a://1", "a://2"], "toolsListChanged": true},
            }))),
        );
        let uris = acknowledged(&ack).unwrap();
        assert_eq!(uris.into_iter().collect::<Vec<_>>(), ["a://1", "a://2"]);
        let none = Message::notification(
            "notifications/subscriptions/acknowledged",
            Some(to_raw(&serde_json::json!({"notifications": {}}))),
        );
        assert!(acknowledged(&none).unwrap().is_empty());
        let other = Message::notification("notifications/resources/updated", None);
        assert!(acknowledged(&other).is_none());
    }

    #[test]
    fn the_filter_asks_for_the_advertised_list_changes_and_the_uris() {
        let server = |caps: serde_json::Value| ServerInfo {
            protocol_version: "2026-07-28".into(),
            capabilities: to_raw(&caps),
            server_info: to_raw(&serde_json::Value::Null),
            instructions: None,
            stateless: true,
        };
        let lists = ListChanges::advertised(&server(serde_json::json!({
            "tools": {"listChanged": true},
            "prompts": {},
            "resources": {"subscribe": true, "listChanged": true},
        })));
        let filter = Filter {
            uris: ["a://1".to_owned()].into(),
            lists,
        };
        let params: serde_json::Value = serde_json::from_str(filter.to_params().get()).unwrap();
        assert_eq!(
            params,
            serde_json::json!({"notifications": {
                "toolsListChanged": true,
                "resourcesListChanged": true,
                "resourceSubscriptions": ["a://1"],
            }})
        );
        let none = ListChanges::advertised(&server(serde_json::json!({"tools": {}})));
        assert!(!none.any());
        let state = State {
            lists: none,
            ..State::default()
        };
        assert!(state.filter().is_none(), "nothing to receive: no listen");
    }
}
