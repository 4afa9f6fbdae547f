//! Response bodies and Server-Sent Events framing.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc;
use vecgate_backends::jsonrpc::Message;

/// The body type of every response vecgate sends.
pub type Body = BoxBody<Bytes, Infallible>;

/// How often an idle SSE stream gets a `:` comment, so proxies and clients keep it open.
pub const SSE_KEEPALIVE: Duration = Duration::from_secs(15);

/// A complete body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().boxed()
}

/// One SSE `message` event carrying a JSON-RPC message.
pub fn sse_message(msg: &Message) -> Bytes {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"event: message\ndata: ");
    // JSON written by `Message::write_to` is compact and contains no raw newlines (they are
    // escaped inside strings), so one `data:` line is enough.
    msg.write_to(&mut out);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// An SSE body fed by a channel of ready-framed chunks. The body ends when every sender is
/// dropped; when the client goes away, sends fail, which tells the writer to stop.
pub fn sse_channel(capacity: usize) -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(capacity);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    (tx, StreamBody::new(stream).boxed())
}

/// Copy messages from `messages` onto an SSE body channel, with keep-alive comments while idle,
/// until either side closes. `first` chunks (e.g. the legacy `endpoint` event) go out first.
pub async fn pump_sse(
    first: Option<Bytes>,
    mut messages: mpsc::Receiver<Message>,
    out: mpsc::Sender<Bytes>,
) {
    if let Some(first) = first
        && out.send(first).await.is_err()
    {
        return;
    }
    let mut keepalive = tokio::time::interval(SSE_KEEPALIVE);
    keepalive.tick().await;
    loop {
        tokio::select! {
            msg = messages.recv() => match msg {
                Some(msg) => if out.send(sse_message(&msg)).await.is_err() { return },
                None => return,
            },
            _ = keepalive.tick() => if out.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() { return },
            _ = out.closed() => return,
        }
    }
}
