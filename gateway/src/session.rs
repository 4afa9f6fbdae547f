//! Client sessions: what vecgate remembers about one connected MCP client.
//!
//! The portable part (version, capabilities, affinity seed) lives in the sealed session id (see
//! [`crate::seal`]); everything here is a per-instance cache of it plus live plumbing: the
//! server-to-client streams, server requests awaiting the client's answer, requests that can be
//! cancelled, and resource subscriptions. An instance that receives an id it has never seen
//! opens it and rebuilds the session, so sessions survive a restart or a hop between replicas.

use dashmap::DashMap;
use parking_lot::Mutex;
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use vecgate_backends::jsonrpc::Message;

use crate::auth::Principal;
use crate::protocol::Version;
use crate::seal::{SealedState, Sealer};

/// The client's answer to a server-to-client request: a raw `result` or a raw `error` object.
pub type ClientAnswer = Result<Box<RawValue>, Box<RawValue>>;

/// The capabilities a client declared in `initialize` that matter for relaying.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientCaps {
    /// `sampling` declared.
    pub sampling: bool,
    /// `elicitation` declared.
    pub elicitation: bool,
    /// `roots` declared.
    pub roots: bool,
}

impl ClientCaps {
    /// Read them from a raw `capabilities` object.
    pub fn from_json(caps: Option<&serde_json::Value>) -> ClientCaps {
        let has = |k: &str| caps.and_then(|c| c.get(k)).is_some_and(|v| !v.is_null());
        ClientCaps {
            sampling: has("sampling"),
            elicitation: has("elicitation"),
            roots: has("roots"),
        }
    }

    /// Packed into a byte for the sealed id.
    pub fn bits(self) -> u8 {
        self.sampling as u8 | (self.elicitation as u8) << 1 | (self.roots as u8) << 2
    }

    /// Unpacked from [`ClientCaps::bits`].
    pub fn from_bits(bits: u8) -> ClientCaps {
        ClientCaps {
            sampling: bits & 1 != 0,
            elicitation: bits & 2 != 0,
            roots: bits & 4 != 0,
        }
    }

    /// Whether the client can answer a server request with this method.
    pub fn allows(self, method: &str) -> bool {
        match method {
            "sampling/createMessage" => self.sampling,
            "elicitation/create" => self.elicitation,
            "roots/list" => self.roots,
            _ => true,
        }
    }
}

/// Log levels in RFC 5424 order, as MCP names them.
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// One client session.
pub struct Session {
    /// The id the client echoes in `Mcp-Session-Id` (for stdio: a fixed local name).
    pub id: Arc<str>,
    /// The negotiated protocol version.
    pub version: Version,
    /// The client's relevant capabilities.
    pub caps: ClientCaps,
    /// Seeds replica affinity (stable across instances: it is sealed in the id).
    pub affinity_seed: u64,
    /// Who the session belongs to (the sealed id opens only for this principal). Keys the
    /// pattern cache.
    pub principal: Principal,
    /// Server-to-client streams (GET SSE streams, the legacy SSE stream, or stdout). Unrelated
    /// messages go to the newest live one: each message to exactly one stream.
    streams: Mutex<Vec<mpsc::Sender<Message>>>,
    /// Server-to-client requests awaiting the client's answer, by the id vecgate gave them.
    pending: Mutex<HashMap<u64, oneshot::Sender<ClientAnswer>>>,
    next_request: AtomicU64,
    /// Client requests that can still be cancelled, by raw id text. foldhash (randomly
    /// seeded), not SipHash: one insert and one remove per request, and the ids are only
    /// those of the session's own client.
    cancels: Mutex<HashMap<Arc<str>, oneshot::Sender<()>, foldhash::fast::RandomState>>,
    /// (pool, upstream URI) pairs this session subscribed to.
    subscriptions: Mutex<HashSet<(u32, String)>>,
    /// Minimum level of `notifications/message` forwarded (index into [`LOG_LEVELS`]).
    log_level: AtomicU8,
    /// Unix seconds of the last request, for idle eviction of the local cache entry.
    last_seen: AtomicU64,
    /// Recent SSE events of this session's streams, for `Last-Event-ID` resumption.
    replay: Mutex<crate::front::replay::ReplayLog>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Session {
    /// A session from its sealed state.
    pub fn new(id: Arc<str>, state: &SealedState) -> Session {
        Session {
            id,
            version: state.version,
            caps: ClientCaps::from_bits(state.caps),
            affinity_seed: u64::from_le_bytes(state.nonce[..8].try_into().unwrap_or([0; 8])),
            principal: Principal::anonymous(),
            streams: Mutex::new(Vec::new()),
            pending: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            cancels: Mutex::new(HashMap::default()),
            subscriptions: Mutex::new(HashSet::new()),
            log_level: AtomicU8::new(0),
            last_seen: AtomicU64::new(unix_now()),
            replay: Mutex::new(Default::default()),
        }
    }

    /// The replay log of this session's SSE streams (see [`crate::front::replay`]).
    pub fn replay(&self) -> parking_lot::MutexGuard<'_, crate::front::replay::ReplayLog> {
        self.replay.lock()
    }

    /// The same session, owned by `principal` (a new session is anonymous).
    pub fn with_principal(mut self, principal: Principal) -> Session {
        self.principal = principal;
        self
    }

    /// Attach a server-to-client stream.
    pub fn attach_stream(&self, tx: mpsc::Sender<Message>) {
        let mut streams = self.streams.lock();
        streams.retain(|s| !s.is_closed());
        streams.push(tx);
    }

    /// True when the session has a live server-to-client stream.
    pub fn has_stream(&self) -> bool {
        self.streams.lock().iter().any(|s| !s.is_closed())
    }

    /// Send an unrelated message on the newest live stream. With none, the message is kept
    /// for a `Last-Event-ID` resumption of the session's last GET stream, if it had one.
    /// Returns false when it is dropped (no stream ever, or a full one; the caller counts it).
    pub fn push(&self, msg: Message) -> bool {
        let mut streams = self.streams.lock();
        streams.retain(|s| !s.is_closed());
        match streams.last() {
            Some(tx) => tx.try_send(msg).is_ok(),
            None => {
                drop(streams);
                self.replay.lock().record_missed(&msg)
            }
        }
    }

    /// Register a server-to-client request; returns the id to send it under and the receiver
    /// of the client's answer.
    pub fn register_request(&self) -> (u64, oneshot::Receiver<ClientAnswer>) {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, tx);
        (id, rx)
    }

    /// Forget a server request that will not be answered (timeout, cancellation).
    pub fn forget_request(&self, id: u64) {
        self.pending.lock().remove(&id);
    }

    /// Deliver the client's answer to a server request. False if no such request is pending.
    pub fn answer(&self, raw_id: &RawValue, answer: ClientAnswer) -> bool {
        let Some(id) = parse_u64_id(raw_id) else {
            return false;
        };
        match self.pending.lock().remove(&id) {
            Some(tx) => tx.send(answer).is_ok(),
            None => false,
        }
    }

    /// Register a client request as in flight, so `notifications/cancelled` can reach it; the
    /// guard unregisters it when dropped. `None` when a request with the same id is still in
    /// flight on this session: JSON-RPC ids must be unique among a session's unfinished
    /// requests, and taking over the id would make the earlier request uncancellable.
    pub fn cancellable(
        self: &Arc<Self>,
        raw_id: &RawValue,
    ) -> Option<(CancelGuard, oneshot::Receiver<()>)> {
        // One allocation shared by the table and the guard.
        let key: Arc<str> = raw_id.get().into();
        let (tx, rx) = oneshot::channel();
        match self.cancels.lock().entry(Arc::clone(&key)) {
            std::collections::hash_map::Entry::Occupied(_) => return None,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(tx);
            }
        }
        Some((
            CancelGuard {
                session: Arc::clone(self),
                key,
            },
            rx,
        ))
    }

    /// Cancel a client request by id (from `notifications/cancelled`). False if not in flight.
    pub fn cancel(&self, raw_id: &RawValue) -> bool {
        match self.cancels.lock().remove(raw_id.get()) {
            Some(tx) => tx.send(()).is_ok(),
            None => false,
        }
    }

    /// Record a subscription.
    pub fn subscribe(&self, pool: u32, uri: &str) {
        self.subscriptions.lock().insert((pool, uri.to_owned()));
    }

    /// Remove a subscription.
    pub fn unsubscribe(&self, pool: u32, uri: &str) {
        self.subscriptions.lock().remove(&(pool, uri.to_owned()));
    }

    /// Whether this session subscribed to `uri` of `pool`.
    pub fn is_subscribed(&self, pool: u32, uri: &str) -> bool {
        self.subscriptions
            .lock()
            .iter()
            .any(|(p, u)| *p == pool && u == uri)
    }

    /// Every (pool, upstream URI) pair this session subscribed to.
    pub fn subscriptions(&self) -> Vec<(u32, String)> {
        self.subscriptions.lock().iter().cloned().collect()
    }

    /// Set the minimum forwarded log level; false for an unknown level name.
    pub fn set_log_level(&self, level: &str) -> bool {
        match LOG_LEVELS.iter().position(|l| *l == level) {
            Some(i) => {
                self.log_level.store(i as u8, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Whether a `notifications/message` at `level` should reach this client.
    pub fn wants_log(&self, level: &str) -> bool {
        LOG_LEVELS
            .iter()
            .position(|l| *l == level)
            .is_none_or(|i| i as u8 >= self.log_level.load(Ordering::Relaxed))
    }

    /// Note activity (idle eviction uses it).
    pub fn touch(&self) {
        self.last_seen.store(unix_now(), Ordering::Relaxed);
    }
}

fn parse_u64_id(raw: &RawValue) -> Option<u64> {
    raw.get().trim_matches('"').parse().ok()
}

/// Unregisters a cancellable request when the request ends.
pub struct CancelGuard {
    session: Arc<Session>,
    key: Arc<str>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        self.session.cancels.lock().remove(&*self.key);
    }
}

/// Why a session id was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionLookup {
    /// No `Mcp-Session-Id` where one is required (HTTP 400).
    Missing,
    /// Unknown, forged, expired or deleted (HTTP 404: the client must re-initialize).
    Unknown,
}

/// All sessions this instance has seen, plus the sealer that makes them portable.
pub struct SessionTable {
    sealer: Sealer,
    live: DashMap<Arc<str>, Arc<Session>>,
    /// Ids ended by DELETE on this instance (bounded; cleared oldest-first).
    ended: Mutex<std::collections::VecDeque<Arc<str>>>,
    /// Stateless calls parked on an `input_required` answer (MRTR bridging), by their key.
    pub parked: crate::front::mrtr::ParkedCalls,
}

/// How many ended ids an instance remembers.
const ENDED_MEMORY: usize = 4096;
/// Local cache entries idle this long are dropped (the sealed id can rebuild them).
pub const IDLE_EVICT_SECS: u64 = 3600;

impl SessionTable {
    /// A table sealing with `sealer`.
    pub fn new(sealer: Sealer) -> SessionTable {
        SessionTable {
            sealer,
            live: DashMap::new(),
            ended: Mutex::new(std::collections::VecDeque::new()),
            parked: Default::default(),
        }
    }

    /// Seal `plain`, a sealed format other than session ids (MRTR's `requestState`), with this
    /// instance's key for `principal`. `domain` (ending in a NUL byte) goes into the
    /// associated data before the principal's binding, so the format cannot be opened as
    /// another one.
    pub fn seal_bytes(
        &self,
        domain: &[u8],
        plain: &[u8],
        principal: &Principal,
    ) -> Result<String, getrandom::Error> {
        self.sealer
            .seal_bytes(plain, &[domain, principal.binding()].concat())
    }

    /// Open what [`SessionTable::seal_bytes`] sealed with the same `domain` for the same
    /// `principal` (on this instance or one sharing the key); `None` if it was not, was
    /// altered, or is longer than `max_len` characters.
    pub fn open_bytes(
        &self,
        domain: &[u8],
        sealed: &str,
        principal: &Principal,
        max_len: usize,
    ) -> Option<Vec<u8>> {
        self.sealer
            .open_bytes(sealed, &[domain, principal.binding()].concat(), max_len)
    }

    /// Register a session that lives as long as one long-lived stream (a 2026-07-28
    /// `subscriptions/listen`), so catalog changes and resource updates reach it. The caller
    /// removes it with [`SessionTable::remove`] when the stream ends.
    pub fn listener(
        &self,
        caps: ClientCaps,
        principal: &Principal,
    ) -> Result<Arc<Session>, getrandom::Error> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce)?;
        let state = SealedState {
            version: Version::V2026_07_28,
            caps: caps.bits(),
            nonce,
            issued_at: unix_now(),
        };
        let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let id: Arc<str> = format!("listen-{hex}").into();
        let session =
            Arc::new(Session::new(Arc::clone(&id), &state).with_principal(principal.clone()));
        self.live.insert(id, Arc::clone(&session));
        Ok(session)
    }

    /// Forget a session without marking its id ended (listener sessions).
    pub fn remove(&self, id: &str) {
        self.live.remove(id);
    }

    /// Start a session for `principal` (on `initialize`).
    pub fn create(
        &self,
        version: Version,
        caps: ClientCaps,
        principal: &Principal,
    ) -> Result<Arc<Session>, getrandom::Error> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce)?;
        let state = SealedState {
            version,
            caps: caps.bits(),
            nonce,
            issued_at: unix_now(),
        };
        let id: Arc<str> = self.sealer.seal(&state, principal.binding())?.into();
        let session =
            Arc::new(Session::new(Arc::clone(&id), &state).with_principal(principal.clone()));
        self.live.insert(id, Arc::clone(&session));
        Ok(session)
    }

    /// A local session that is not sealed (stdio: one client per process), anonymous.
    pub fn local(&self, name: &str, version: Version, caps: ClientCaps) -> Arc<Session> {
        self.local_for(name, version, caps, &Principal::anonymous())
    }

    /// A local session that is not sealed, owned by `principal` (legacy SSE).
    pub fn local_for(
        &self,
        name: &str,
        version: Version,
        caps: ClientCaps,
        principal: &Principal,
    ) -> Arc<Session> {
        let state = SealedState {
            version,
            caps: caps.bits(),
            nonce: [0; 16],
            issued_at: unix_now(),
        };
        let id: Arc<str> = name.into();
        let session =
            Arc::new(Session::new(Arc::clone(&id), &state).with_principal(principal.clone()));
        self.live.insert(id, Arc::clone(&session));
        session
    }

    /// Find the session for a header value, as `principal`, rebuilding it from a sealed id
    /// this instance has not seen yet. A session of another principal is
    /// [`SessionLookup::Unknown`] (404), exactly as a session that does not exist, so its
    /// existence is not revealed.
    pub fn get(
        &self,
        id: Option<&str>,
        principal: &Principal,
    ) -> Result<Arc<Session>, SessionLookup> {
        let id = id.ok_or(SessionLookup::Missing)?;
        if let Some(s) = self.live.get(id) {
            if s.principal != *principal {
                return Err(SessionLookup::Unknown);
            }
            s.touch();
            return Ok(Arc::clone(&s));
        }
        if self.ended.lock().iter().any(|e| &**e == id) {
            return Err(SessionLookup::Unknown);
        }
        let state = self
            .sealer
            .open(id, principal.binding())
            .ok_or(SessionLookup::Unknown)?;
        let id: Arc<str> = id.into();
        let session =
            Arc::new(Session::new(Arc::clone(&id), &state).with_principal(principal.clone()));
        Ok(Arc::clone(self.live.entry(id).or_insert(session).value()))
    }

    /// End a session this instance holds (DELETE, after [`SessionTable::get`] found it for the
    /// caller; or a local session closing). False if it was not held.
    pub fn end(&self, id: &str) -> bool {
        let known = self.live.remove(id).is_some();
        if known {
            let mut ended = self.ended.lock();
            if ended.len() == ENDED_MEMORY {
                ended.pop_front();
            }
            ended.push_back(id.into());
        }
        known
    }

    /// Every live session (for list_changed and resource-update fan-out).
    pub fn all(&self) -> Vec<Arc<Session>> {
        self.live.iter().map(|e| Arc::clone(e.value())).collect()
    }

    /// Drop local entries idle longer than `IDLE_EVICT_SECS` with no open stream.
    pub fn evict_idle(&self) -> usize {
        let cutoff = unix_now().saturating_sub(IDLE_EVICT_SECS);
        let before = self.live.len();
        self.live
            .retain(|_, s| s.last_seen.load(Ordering::Relaxed) >= cutoff || s.has_stream());
        before - self.live.len()
    }

    /// How many sessions are cached locally.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// True when no session is cached.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

/// The `protocolVersion` and `capabilities` of an `initialize` request, when readable.
pub fn init_params(msg: &Message) -> (Option<String>, Option<serde_json::Value>) {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct InitParams {
        #[serde(default)]
        protocol_version: Option<String>,
        #[serde(default)]
        capabilities: Option<serde_json::Value>,
    }
    let params: InitParams = msg
        .params
        .as_ref()
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or_default();
    (params.protocol_version, params.capabilities)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_portable_between_instances_sharing_a_key() {
        let a = SessionTable::new(Sealer::new([1; 32]));
        let b = SessionTable::new(Sealer::new([1; 32]));
        let c = SessionTable::new(Sealer::new([2; 32]));
        let caps = ClientCaps {
            sampling: true,
            elicitation: false,
            roots: true,
        };
        let anon = Principal::anonymous();
        let s = a.create(Version::V2025_06_18, caps, &anon).unwrap();
        let on_b = b.get(Some(&s.id), &anon).unwrap();
        assert_eq!(on_b.version, Version::V2025_06_18);
        assert_eq!(on_b.caps, caps);
        assert_eq!(on_b.affinity_seed, s.affinity_seed);
        assert_eq!(
            c.get(Some(&s.id), &anon).err(),
            Some(SessionLookup::Unknown)
        );
        assert_eq!(a.get(None, &anon).err(), Some(SessionLookup::Missing));
        assert!(a.end(&s.id));
        assert_eq!(
            a.get(Some(&s.id), &anon).err(),
            Some(SessionLookup::Unknown)
        );
    }

    #[test]
    fn a_session_is_refused_to_another_principal_on_every_instance() {
        let a = SessionTable::new(Sealer::new([1; 32]));
        let b = SessionTable::new(Sealer::new([1; 32]));
        let (alice, bob) = (Principal::named("alice"), Principal::named("bob"));
        let s = a
            .create(Version::V2025_06_18, ClientCaps::default(), &alice)
            .unwrap();
        assert_eq!(a.get(Some(&s.id), &bob).err(), Some(SessionLookup::Unknown));
        assert_eq!(b.get(Some(&s.id), &bob).err(), Some(SessionLookup::Unknown));
        assert_eq!(
            b.get(Some(&s.id), &Principal::anonymous()).err(),
            Some(SessionLookup::Unknown)
        );
        assert_eq!(b.get(Some(&s.id), &alice).unwrap().principal, alice);
        assert_eq!(a.get(Some(&s.id), &alice).unwrap().principal, alice);
    }

    #[test]
    fn server_requests_and_cancellation_are_tracked() {
        let t = SessionTable::new(Sealer::new([1; 32]));
        let s = t
            .create(
                Version::V2025_11_25,
                ClientCaps::default(),
                &Principal::anonymous(),
            )
            .unwrap();
        let (id, mut rx) = s.register_request();
        let raw = RawValue::from_string(id.to_string()).unwrap();
        assert!(s.answer(&raw, Ok(RawValue::from_string("{}".into()).unwrap())));
        assert!(rx.try_recv().unwrap().is_ok());
        assert!(!s.answer(&raw, Ok(RawValue::from_string("{}".into()).unwrap())));
        let rid = RawValue::from_string("\"req-1\"".into()).unwrap();
        let (guard, mut cancelled) = s.cancellable(&rid).unwrap();
        // The id is taken until the first request ends.
        assert!(s.cancellable(&rid).is_none());
        assert!(s.cancel(&rid));
        assert!(cancelled.try_recv().is_ok());
        drop(guard);
        assert!(!s.cancel(&rid));
        assert!(s.cancellable(&rid).is_some());
        assert!(!s.caps.allows("sampling/createMessage"));
        assert!(s.set_log_level("warning"));
        assert!(!s.wants_log("info") && s.wants_log("error"));
    }
}
