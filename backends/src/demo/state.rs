//! State of one demo server process (one replica), and of each MCP session on it.
//!
//! Replica state (the key-value store, the ticket list, who subscribed to what) is shared by all
//! sessions of the process but not between replicas: that is what makes `kv_get` after `kv_put`
//! need session affinity in a pool.

#![allow(deprecated)] // LoggingLevel: deprecated only for 2026-07-28, current for 2025-11-25 clients.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use parking_lot::Mutex;
use rmcp::{
    Peer, RoleServer,
    model::{LoggingLevel, LoggingMessageNotificationParam, ResourceUpdatedNotificationParam},
};

use super::{latency::LatencyModel, streams::StreamRegistry};

/// URI of the resource listing created tickets.
pub(crate) const TICKETS_URI: &str = "demo://tickets";
/// URI prefix of key-value entries (`demo://kv/{key}`).
pub(crate) const KV_URI_PREFIX: &str = "demo://kv/";

/// A ticket made by `create_ticket`.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    pub(crate) id: u64,
    pub(crate) title: String,
    pub(crate) body: String,
}

/// One session's subscription to a resource URI.
#[derive(Debug, Clone)]
struct Subscriber {
    session: u64,
    peer: Peer<RoleServer>,
}

/// Everything one replica process shares between its sessions.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) latency: LatencyModel,
    /// Set in HTTP mode: lets tools close their own SSE stream.
    pub(crate) streams: Option<Arc<StreamRegistry>>,
    kv: Mutex<BTreeMap<String, String>>,
    tickets: Mutex<Vec<Ticket>>,
    subscribers: Mutex<BTreeMap<String, Vec<Subscriber>>>,
    /// Initialized sessions, for `notifications/resources/list_changed`.
    peers: Mutex<Vec<(u64, Peer<RoleServer>)>>,
    next_session: AtomicU64,
}

impl Replica {
    pub(crate) fn new(latency: LatencyModel, streams: Option<Arc<StreamRegistry>>) -> Self {
        Self {
            latency,
            streams,
            kv: Mutex::new(BTreeMap::new()),
            tickets: Mutex::new(Vec::new()),
            subscribers: Mutex::new(BTreeMap::new()),
            peers: Mutex::new(Vec::new()),
            next_session: AtomicU64::new(1),
        }
    }

    /// A fresh session on this replica.
    pub(crate) fn new_session(&self) -> Session {
        Session {
            id: self.next_session.fetch_add(1, Ordering::Relaxed),
            min_log_level: Mutex::new(None),
        }
    }

    pub(crate) fn kv_get(&self, key: &str) -> Option<String> {
        self.kv.lock().get(key).cloned()
    }

    /// Stores `value` under `key`; returns the previous value, if any.
    pub(crate) fn kv_put(&self, key: &str, value: &str) -> Option<String> {
        self.kv.lock().insert(key.to_owned(), value.to_owned())
    }

    pub(crate) fn kv_keys(&self) -> Vec<String> {
        self.kv.lock().keys().cloned().collect()
    }

    pub(crate) fn add_ticket(&self, title: &str, body: &str) -> Ticket {
        let mut tickets = self.tickets.lock();
        let ticket = Ticket {
            id: tickets.len() as u64 + 1,
            title: title.to_owned(),
            body: body.to_owned(),
        };
        tickets.push(ticket.clone());
        ticket
    }

    pub(crate) fn tickets(&self) -> Vec<Ticket> {
        self.tickets.lock().clone()
    }

    pub(crate) fn register_peer(&self, session: u64, peer: Peer<RoleServer>) {
        let mut peers = self.peers.lock();
        peers.retain(|(_, p)| !p.is_transport_closed());
        peers.push((session, peer));
    }

    pub(crate) fn subscribe(&self, session: u64, peer: Peer<RoleServer>, uri: &str) {
        let mut subscribers = self.subscribers.lock();
        let list = subscribers.entry(uri.to_owned()).or_default();
        list.retain(|s| s.session != session && !s.peer.is_transport_closed());
        list.push(Subscriber { session, peer });
    }

    pub(crate) fn unsubscribe(&self, session: u64, uri: &str) {
        let mut subscribers = self.subscribers.lock();
        if let Some(list) = subscribers.get_mut(uri) {
            list.retain(|s| s.session != session);
            if list.is_empty() {
                subscribers.remove(uri);
            }
        }
    }

    /// Sends `notifications/resources/updated` for `uri` to every session subscribed to it.
    pub(crate) async fn notify_updated(&self, uri: &str) {
        let peers: Vec<Peer<RoleServer>> = match self.subscribers.lock().get(uri) {
            Some(list) => list.iter().map(|s| s.peer.clone()).collect(),
            None => return,
        };
        for peer in peers {
            // A session that went away meanwhile is not an error of the writer.
            let _ = peer
                .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                .await;
        }
    }

    /// Sends `notifications/resources/list_changed` to every initialized session.
    pub(crate) async fn notify_resource_list_changed(&self) {
        let peers: Vec<Peer<RoleServer>> = {
            let mut peers = self.peers.lock();
            peers.retain(|(_, p)| !p.is_transport_closed());
            peers.iter().map(|(_, p)| p.clone()).collect()
        };
        for peer in peers {
            let _ = peer.notify_resource_list_changed().await;
        }
    }
}

/// Per-session state.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: u64,
    /// Level set by `logging/setLevel`; `None` (never set) sends every message.
    min_log_level: Mutex<Option<LoggingLevel>>,
}

impl Session {
    pub(crate) fn set_log_level(&self, level: LoggingLevel) {
        *self.min_log_level.lock() = Some(level);
    }

    /// Sends `notifications/message` at `level` if the session's level lets it through.
    pub(crate) async fn log(&self, peer: &Peer<RoleServer>, level: LoggingLevel, text: &str) {
        let threshold = *self.min_log_level.lock();
        if threshold.is_some_and(|min| severity(level) < severity(min)) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level, serde_json::Value::from(text))
            .with_logger("vecgate-demo");
        let _ = peer.notify_logging_message(param).await;
    }
}

/// RFC 5424 order of MCP log levels (rmcp's enum has no `Ord`).
pub(crate) fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}
