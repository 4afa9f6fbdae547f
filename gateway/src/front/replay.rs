//! SSE event ids and `Last-Event-ID` resumption on vecgate's own streams, for the session-based
//! versions (2025-03-26 … 2025-11-25; 2026-07-28 has no resumption).
//!
//! Every event vecgate writes on a session's GET stream or on a POST's SSE stream gets an id
//! `<kind><stream>-<seq>`: `g` for a GET stream, `p` for a POST stream, the stream's number in
//! the session, and a sequence number unique within the session. Each event is also kept in
//! the session's bounded [`ReplayLog`] (at most [`REPLAY_EVENTS`] events and [`REPLAY_BYTES`]
//! bytes per session, oldest dropped first). A GET carrying `Last-Event-ID` replays the events
//! of *that* stream after that id, and only those (2025-11-25 transport, "Resumability and
//! Redelivery"):
//! - a GET stream resumes as the session's live GET stream under the same stream number;
//! - a POST stream whose client went away keeps its request running (disconnection is not
//!   cancellation in these versions; the pool's request timeout still bounds it), so the
//!   resumed stream gets the replay, then the rest of that request's messages and its
//!   response, and ends.
//!
//! Unrelated messages that find no live GET stream are kept under the session's latest GET
//! stream, so the client gets them when it resumes that stream.
//!
//! An id that is malformed, of another session, or already dropped from the log replays
//! nothing: the GET then opens a fresh stream.

use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::mpsc;
use vecgate_backends::jsonrpc::Message;

use crate::session::Session;

/// Events kept per session for replay.
pub const REPLAY_EVENTS: usize = 256;
/// Bytes of framed events kept per session for replay.
pub const REPLAY_BYTES: usize = 256 * 1024;

/// Which kind of stream an event went out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// The session's GET stream.
    Get,
    /// The SSE answer to one POST.
    Post,
}

/// One stream of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamId {
    /// GET or POST.
    pub kind: StreamKind,
    /// Its number within the session.
    pub n: u32,
}

/// Parse an event id written by [`ReplayLog::record`].
pub fn parse_event_id(id: &str) -> Option<(StreamId, u64)> {
    let kind = match id.as_bytes().first()? {
        b'g' => StreamKind::Get,
        b'p' => StreamKind::Post,
        _ => return None,
    };
    let (n, seq) = id.get(1..)?.split_once('-')?;
    Some((
        StreamId {
            kind,
            n: n.parse().ok()?,
        },
        seq.parse().ok()?,
    ))
}

/// What a resumption found.
#[derive(Debug, PartialEq, Eq)]
pub enum Resumed {
    /// A GET stream: the caller goes on serving it as the live GET stream.
    Get,
    /// A POST stream: replayed, and fed until its request ends (or already over).
    Post,
}

/// The recent events of one session's streams.
#[derive(Default)]
pub struct ReplayLog {
    entries: VecDeque<(StreamId, u64, Bytes)>,
    bytes: usize,
    next_seq: u64,
    next_stream: u32,
    /// The session's latest GET stream: what it missed while disconnected is kept under it.
    last_get: Option<StreamId>,
    /// POST streams whose request still runs, with the client that resumed one (if any).
    running: HashMap<u32, Option<mpsc::Sender<Bytes>>>,
}

impl ReplayLog {
    /// Number a new stream (a POST stream counts as running until [`ReplayLog::finish`]).
    pub fn open(&mut self, kind: StreamKind) -> StreamId {
        self.next_stream += 1;
        let stream = StreamId {
            kind,
            n: self.next_stream,
        };
        match kind {
            StreamKind::Post => {
                self.running.insert(stream.n, None);
            }
            StreamKind::Get => self.last_get = Some(stream),
        }
        stream
    }

    /// Keep a message for the session's GET stream while no client is connected to it, so a
    /// resumption replays it. False when the session never had a GET stream.
    pub fn record_missed(&mut self, msg: &Message) -> bool {
        match self.last_get {
            Some(stream) => {
                self.record(stream, msg);
                true
            }
            None => false,
        }
    }

    /// Frame `msg` as the next event of `stream`, keep it for replay, and pass it on to a
    /// client that resumed this (running POST) stream. Returns the frame for the live stream.
    pub fn record(&mut self, stream: StreamId, msg: &Message) -> Bytes {
        self.next_seq += 1;
        let seq = self.next_seq;
        let kind = match stream.kind {
            StreamKind::Get => 'g',
            StreamKind::Post => 'p',
        };
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(format!("id: {kind}{}-{seq}\n", stream.n).as_bytes());
        out.extend_from_slice(&super::body::sse_message(msg));
        let frame = Bytes::from(out);
        self.bytes += frame.len();
        self.entries.push_back((stream, seq, frame.clone()));
        while self.entries.len() > REPLAY_EVENTS
            || (self.bytes > REPLAY_BYTES && self.entries.len() > 1)
        {
            if let Some((_, _, old)) = self.entries.pop_front() {
                self.bytes -= old.len();
            }
        }
        if stream.kind == StreamKind::Post
            && let Some(Some(tx)) = self.running.get(&stream.n)
        {
            let _ = tx.try_send(frame.clone());
        }
        frame
    }

    /// A POST stream's request is over: a client that resumed it sees its stream end.
    pub fn finish(&mut self, stream: StreamId) {
        self.running.remove(&stream.n);
    }

    /// Replay the events of `stream` after `after` into `out` (sized for a full replay), and,
    /// for a POST stream whose request still runs, keep feeding `out` until its request ends.
    pub fn resume(&mut self, stream: StreamId, after: u64, out: mpsc::Sender<Bytes>) -> Resumed {
        for (_, _, frame) in self
            .entries
            .iter()
            .filter(|(s, seq, _)| *s == stream && *seq > after)
        {
            if out.try_send(frame.clone()).is_err() {
                break;
            }
        }
        match stream.kind {
            StreamKind::Get => {
                self.last_get = Some(stream);
                Resumed::Get
            }
            StreamKind::Post => {
                if let Some(slot) = self.running.get_mut(&stream.n) {
                    *slot = Some(out);
                }
                Resumed::Post
            }
        }
    }

    /// Whether any event of `stream` is still kept (a resumption can replay from it).
    pub fn knows(&self, stream: StreamId) -> bool {
        self.running.contains_key(&stream.n) || self.entries.iter().any(|(s, _, _)| *s == stream)
    }
}

/// Feed a GET stream: each message is recorded (for replay) and written, with keep-alive
/// comments while idle, until either side closes.
pub async fn pump_get(
    session: Arc<Session>,
    stream: StreamId,
    mut messages: mpsc::Receiver<Message>,
    out: mpsc::Sender<Bytes>,
) {
    let mut keepalive = tokio::time::interval(super::body::SSE_KEEPALIVE);
    keepalive.tick().await;
    loop {
        tokio::select! {
            msg = messages.recv() => match msg {
                Some(msg) => {
                    let frame = session.replay().record(stream, &msg);
                    if out.send(frame).await.is_err() { return }
                }
                None => return,
            },
            _ = keepalive.tick() => if out.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() { return },
            _ = out.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(i: u32) -> Message {
        Message::notification(format!("n/{i}"), None)
    }

    #[test]
    fn ids_round_trip_and_replay_is_per_stream() {
        let mut log = ReplayLog::default();
        let a = log.open(StreamKind::Get);
        let b = log.open(StreamKind::Post);
        let first = log.record(a, &note(1));
        log.record(b, &note(2));
        log.record(a, &note(3));
        let id = String::from_utf8_lossy(&first)
            .lines()
            .next()
            .unwrap()
            .strip_prefix("id: ")
            .unwrap()
            .to_owned();
        let (stream, seq) = parse_event_id(&id).unwrap();
        assert_eq!(stream, a);
        let (tx, mut rx) = mpsc::channel(8);
        assert_eq!(log.resume(stream, seq, tx), Resumed::Get);
        let replayed = String::from_utf8_lossy(&rx.try_recv().unwrap()).into_owned();
        assert!(replayed.contains("n/3"), "{replayed}");
        assert!(rx.try_recv().is_err(), "only stream a, after the id");
        assert_eq!(parse_event_id("x1-2"), None);
        assert_eq!(parse_event_id("g1"), None);
    }

    #[test]
    fn the_log_is_bounded_and_a_running_post_stream_is_fed_until_it_finishes() {
        let mut log = ReplayLog::default();
        let s = log.open(StreamKind::Post);
        for i in 0..(REPLAY_EVENTS as u32 + 10) {
            log.record(s, &note(i));
        }
        assert_eq!(log.entries.len(), REPLAY_EVENTS);
        let (tx, mut rx) = mpsc::channel(REPLAY_EVENTS + 8);
        let last = log.next_seq;
        assert_eq!(log.resume(s, last - 1, tx), Resumed::Post);
        assert!(rx.try_recv().is_ok(), "the last event is replayed");
        log.record(s, &note(9999));
        assert!(String::from_utf8_lossy(&rx.try_recv().unwrap()).contains("n/9999"));
        log.finish(s);
        assert!(matches!(
            rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }
}
