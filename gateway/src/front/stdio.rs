//! MCP over the gateway's own stdin/stdout (`vecgate stdio`), so a client such as Claude Code
//! can launch vecgate as a command. One client, one session; messages are newline-delimited
//! JSON; logs go to stderr.

use futures::StreamExt;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use vecgate_backends::jsonrpc::{ErrorObject, Kind, Message, code};

use crate::dispatch;
use crate::gateway::Gateway;
use crate::protocol::Version;
use crate::session::{ClientCaps, Session};

/// The local name of the stdio session.
const SESSION_NAME: &str = "stdio";
/// Messages queued for stdout before writers wait.
const OUT_CAPACITY: usize = 1024;

/// Serve one client on stdin/stdout until stdin closes.
pub async fn serve(gw: Arc<Gateway>) -> std::io::Result<()> {
    serve_on(gw, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serve one client on any reader/writer pair (tests use pipes).
pub async fn serve_on<R, W>(gw: Arc<Gateway>, input: R, output: W) -> std::io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(OUT_CAPACITY);
    let writer = tokio::spawn(async move {
        let mut output = output;
        let mut buf = Vec::with_capacity(4096);
        while let Some(msg) = out_rx.recv().await {
            buf.clear();
            msg.write_to(&mut buf);
            buf.push(b'\n');
            // Drain what is already queued into one write.
            while let Ok(more) = out_rx.try_recv() {
                more.write_to(&mut buf);
                buf.push(b'\n');
            }
            output.write_all(&buf).await?;
            output.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });

    let mut lines = FramedRead::new(
        input,
        LinesCodec::new_with_max_length(gw.config.max_body_bytes),
    );
    let mut session: Option<Arc<Session>> = None;
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(line) => line,
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                let err = ErrorObject::new(code::INVALID_REQUEST, "message exceeds max_body_bytes");
                let _ = out_tx.send(Message::error(None, &err)).await;
                continue;
            }
            Err(LinesCodecError::Io(e)) => return Err(e),
        };
        if line.trim().is_empty() {
            continue;
        }
        let messages = match Message::parse_body(line.as_bytes()) {
            Ok((messages, _)) => messages,
            Err(e) => {
                let _ = out_tx
                    .send(Message::error(
                        None,
                        &ErrorObject::new(e.code(), e.to_string()),
                    ))
                    .await;
                continue;
            }
        };
        for msg in messages {
            if msg.kind() == Kind::Request && msg.method.as_deref() == Some("initialize") {
                let version = crate::session::init_params(&msg)
                    .0
                    .map(|v| Version::negotiate(&v))
                    .unwrap_or(Version::LATEST_WITH_INITIALIZE);
                let caps = ClientCaps::from_json(crate::session::init_params(&msg).1.as_ref());
                let s = gw.sessions.local(SESSION_NAME, version, caps);
                s.attach_stream(out_tx.clone());
                session = Some(s);
                let id = msg.id.unwrap_or_else(vecgate_backends::jsonrpc::null_raw);
                let _ = out_tx
                    .send(Message::result(id, gw.initialize_result(version)))
                    .await;
                continue;
            }
            let s = session
                .get_or_insert_with(|| {
                    // A client that skips initialize still gets served, at the latest version.
                    let s = gw.sessions.local(
                        SESSION_NAME,
                        Version::LATEST_WITH_INITIALIZE,
                        ClientCaps::default(),
                    );
                    s.attach_stream(out_tx.clone());
                    s
                })
                .clone();
            let gw = Arc::clone(&gw);
            let out = out_tx.clone();
            tasks.spawn(async move {
                if let Some(answer) = dispatch::handle(gw, s, msg, out.clone()).await {
                    let _ = out.send(answer).await;
                }
            });
        }
        while tasks.try_join_next().is_some() {}
    }
    // stdin closed: let requests in flight finish (bounded), then flush stdout.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    drop(session);
    drop(out_tx);
    gw.sessions.end(SESSION_NAME);
    match writer.await {
        Ok(result) => result,
        Err(e) => Err(std::io::Error::other(e)),
    }
}
