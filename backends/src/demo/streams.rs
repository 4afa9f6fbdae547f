//! Session manager for the HTTP transport that lets a tool close its own SSE stream (SEP-1699).
//!
//! rmcp's [`LocalSessionManager`] can close a request's SSE stream and replay it on a `GET` with
//! `Last-Event-ID`, but only by an internal per-HTTP-request id that handlers never see. This
//! wrapper records, for every POST stream, which JSON-RPC request it carries, so the
//! `test_reconnection` tool (and anything else that wants to exercise client polling) can close
//! the stream mid-call and wait until the client has resumed before it answers. Everything else
//! is delegated unchanged.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::Stream;
use parking_lot::Mutex;
use rmcp::{
    model::{ClientJsonRpcMessage, RequestId, ServerJsonRpcMessage},
    transport::streamable_http_server::{
        SessionId, SessionManager,
        session::{
            ServerSseMessage,
            local::{LocalSessionManager, LocalSessionManagerError},
        },
    },
};
use tokio::sync::{Notify, mpsc};

/// Key of one POST stream: the session and the JSON-RPC request it answers.
type StreamKey = (SessionId, RequestId);

/// Which JSON-RPC request each open POST stream carries. Shared by the session manager (which
/// fills it) and the demo server's tools (which close streams through it).
#[derive(Debug)]
pub(crate) struct StreamRegistry {
    sessions: Arc<LocalSessionManager>,
    /// Open POST streams: request -> rmcp's id of the HTTP request (the suffix of the stream's
    /// SSE event ids, `index/http_request_id`).
    streams: Mutex<HashMap<StreamKey, u64>>,
    /// Streams closed by a tool whose client has not resumed yet, woken on resumption.
    awaiting_resume: Mutex<HashMap<(SessionId, u64), Arc<Notify>>>,
    /// `retry:` sent in the priming event before a stream is closed (how long clients wait).
    retry: Duration,
}

/// Why a stream could not be closed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CloseStreamError {
    /// The request is not carried by an open POST stream (JSON response, stdio, or already done).
    #[error("request {request} of session {session} has no open SSE stream")]
    NoStream {
        /// Session id.
        session: String,
        /// JSON-RPC request id.
        request: String,
    },
    /// rmcp refused to close it.
    #[error("closing the SSE stream failed: {0}")]
    Session(String),
}

impl StreamRegistry {
    pub(crate) fn new(sessions: Arc<LocalSessionManager>, retry: Duration) -> Self {
        Self {
            sessions,
            streams: Mutex::new(HashMap::new()),
            awaiting_resume: Mutex::new(HashMap::new()),
            retry,
        }
    }

    /// Closes the SSE stream carrying `request` in `session` after a priming event with `retry`,
    /// and returns a handle that is notified when the client resumes it. The caller must call
    /// [`StreamRegistry::stop_waiting`] with the returned id once it no longer waits.
    pub(crate) async fn close_stream(
        &self,
        session: &str,
        request: &RequestId,
    ) -> Result<(u64, Arc<Notify>), CloseStreamError> {
        let key: StreamKey = (SessionId::from(session), request.clone());
        let no_stream = || CloseStreamError::NoStream {
            session: session.to_owned(),
            request: request.to_string(),
        };
        let http_request_id = *self.streams.lock().get(&key).ok_or_else(no_stream)?;
        let resumed = Arc::new(Notify::new());
        self.awaiting_resume
            .lock()
            .insert((key.0.clone(), http_request_id), resumed.clone());
        let handle = self.sessions.sessions.read().await.get(&key.0).cloned();
        let closed = match handle {
            Some(handle) => handle
                .close_sse_stream(http_request_id, Some(self.retry))
                .await
                .map_err(|e| CloseStreamError::Session(e.to_string())),
            None => Err(no_stream()),
        };
        if let Err(error) = closed {
            self.stop_waiting(session, http_request_id);
            return Err(error);
        }
        Ok((http_request_id, resumed))
    }

    /// Forgets a stream closed by [`StreamRegistry::close_stream`].
    pub(crate) fn stop_waiting(&self, session: &str, http_request_id: u64) {
        self.awaiting_resume
            .lock()
            .remove(&(SessionId::from(session), http_request_id));
    }

    fn record(&self, key: StreamKey, http_request_id: u64) {
        self.streams.lock().insert(key, http_request_id);
    }

    fn forget(&self, key: &StreamKey) {
        self.streams.lock().remove(key);
    }

    /// Wakes whoever waits for the stream with rmcp id `http_request_id` in `session`.
    fn mark_resumed(&self, session: &SessionId, http_request_id: u64) {
        let waiting = self
            .awaiting_resume
            .lock()
            .get(&(session.clone(), http_request_id))
            .cloned();
        if let Some(resumed) = waiting {
            // notify_one keeps a permit, so a resumption racing ahead of the wait is not lost.
            resumed.notify_one();
        }
    }
}

/// [`SessionManager`] that delegates to rmcp's [`LocalSessionManager`] and keeps the
/// [`StreamRegistry`] up to date.
#[derive(Debug)]
pub(crate) struct TrackedSessions {
    inner: Arc<LocalSessionManager>,
    registry: Arc<StreamRegistry>,
}

impl TrackedSessions {
    pub(crate) fn new(inner: Arc<LocalSessionManager>, registry: Arc<StreamRegistry>) -> Self {
        Self { inner, registry }
    }
}

/// The receiving end of one POST stream; forgets the registry entry when the HTTP response ends.
struct TrackedStream {
    rx: mpsc::Receiver<ServerSseMessage>,
    key: Option<StreamKey>,
    registry: Arc<StreamRegistry>,
}

impl Stream for TrackedStream {
    type Item = ServerSseMessage;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for TrackedStream {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.registry.forget(&key);
        }
    }
}

impl SessionManager for TrackedSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        // Same steps as LocalSessionManager::create_stream, plus recording the stream before the
        // request reaches the handler (so the handler can always find it).
        let handle = self.inner.sessions.read().await.get(id).cloned();
        let handle = handle.ok_or_else(|| LocalSessionManagerError::SessionNotFound(id.clone()))?;
        let receiver = handle.establish_request_wise_channel().await?;
        let http_request_id = receiver.http_request_id;
        let key = match (&message, http_request_id) {
            (ClientJsonRpcMessage::Request(request), Some(http_id)) => {
                let key = (id.clone(), request.id.clone());
                self.registry.record(key.clone(), http_id);
                Some(key)
            }
            _ => None,
        };
        let stream = TrackedStream {
            rx: receiver.inner,
            key,
            registry: self.registry.clone(),
        };
        handle.push_message(message, http_request_id).await?;
        Ok(stream)
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let resumed_stream = http_request_id_of(&last_event_id);
        let stream = self.inner.resume(id, last_event_id).await?;
        if let Some(http_request_id) = resumed_stream {
            self.registry.mark_resumed(id, http_request_id);
        }
        Ok(stream)
    }
}

/// The POST stream an SSE event id belongs to: rmcp numbers events of POST streams
/// `index/http_request_id` and those of the standalone GET stream `index`.
fn http_request_id_of(event_id: &str) -> Option<u64> {
    let (_, http_request_id) = event_id.split_once('/')?;
    http_request_id.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_name_their_post_stream() {
        assert_eq!(http_request_id_of("3/17"), Some(17));
        assert_eq!(http_request_id_of("0/0"), Some(0));
        assert_eq!(http_request_id_of("5"), None, "standalone stream");
        assert_eq!(http_request_id_of("5/x"), None);
        assert_eq!(http_request_id_of(""), None);
    }

    #[tokio::test]
    async fn closing_an_unknown_stream_is_an_error_and_leaves_nothing_behind() {
        let registry = StreamRegistry::new(
            Arc::new(LocalSessionManager::default()),
            Duration::from_millis(10),
        );
        let request = RequestId::Number(1);
        let error = registry
            .close_stream("no-session", &request)
            .await
            .unwrap_err();
        assert!(
            matches!(error, CloseStreamError::NoStream { .. }),
            "{error}"
        );
        // Recorded but the session is gone: the error path must not leave a waiter behind.
        registry.record((SessionId::from("gone"), request.clone()), 4);
        let error = registry.close_stream("gone", &request).await.unwrap_err();
        assert!(
            matches!(error, CloseStreamError::NoStream { .. }),
            "{error}"
        );
        assert!(registry.awaiting_resume.lock().is_empty());
        // A resumption nobody waits for is ignored.
        registry.mark_resumed(&SessionId::from("gone"), 4);
    }
}
