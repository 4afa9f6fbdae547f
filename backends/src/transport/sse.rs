//! The legacy HTTP+SSE client (MCP 2024-11-05).
//!
//! A GET on the SSE URL opens the one stream every server message arrives on; its first
//! `endpoint` event names the URL to POST client messages to. The stream carries no
//! association between messages and requests, so incoming traffic is dispatched with
//! [`Origin::Unknown`]. Messages are POSTed in order, one at a time.

use super::client::UpstreamBody;
use super::event_stream::Parser;
use super::http::HttpClient;
use crate::jsonrpc::{Kind, Message};
use crate::mux::{Mux, Origin};
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Connect, wait for the `endpoint` event, and start the session task.
pub(crate) async fn start(
    client: HttpClient,
    url: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    mux: Arc<Mux>,
    outbound: mpsc::Receiver<Message>,
) -> Result<JoinHandle<()>, String> {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(url.clone())
        .header(ACCEPT, HeaderValue::from_static("text/event-stream"));
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("GET failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET answered {}", response.status()));
    }
    let mut body = response.into_body();
    let mut parser = Parser::default();
    let endpoint = loop {
        let frame = body
            .frame()
            .await
            .ok_or("the stream closed before the endpoint event")?;
        let frame = frame.map_err(|e| e.to_string())?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let events = parser.feed(&data)?;
        if let Some(event) = events.iter().find(|e| e.kind() == "endpoint") {
            break resolve(&url, event.data.trim())?;
        }
    };
    Ok(tokio::spawn(run(
        client, endpoint, headers, mux, outbound, body, parser,
    )))
}

/// Resolve the `endpoint` event's URI reference against the SSE URL.
fn resolve(base: &Uri, reference: &str) -> Result<Uri, String> {
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return reference
            .parse()
            .map_err(|e| format!("bad endpoint {reference:?}: {e}"));
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    let path = if reference.starts_with('/') {
        reference.to_owned()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{reference}")
    };
    format!("{scheme}://{authority}{path}")
        .parse()
        .map_err(|e| format!("bad endpoint {reference:?}: {e}"))
}

async fn run(
    client: HttpClient,
    endpoint: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    mux: Arc<Mux>,
    mut outbound: mpsc::Receiver<Message>,
    body: UpstreamBody,
    parser: Parser,
) {
    let closed = mux.closed_token().clone();
    let writer = async {
        while let Some(message) = outbound.recv().await {
            let call = match message.kind() {
                Kind::Request => message
                    .id
                    .as_deref()
                    .and_then(|id| id.get().parse::<u64>().ok()),
                _ => None,
            };
            let mut request = Request::builder()
                .method(Method::POST)
                .uri(endpoint.clone())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            let Ok(request) = request.body(Full::new(Bytes::from(message.to_bytes()))) else {
                continue;
            };
            match client.request(request).await {
                Ok(response) if response.status().is_success() => {
                    // The answer travels on the SSE stream; drain the body to reuse the connection.
                    let _ = response.into_body().collect().await;
                }
                Ok(response) => {
                    let status = response.status();
                    if let Some(id) = call {
                        mux.fail(id, mux.protocol(format!("POST answered {status}")));
                    }
                }
                Err(e) => return format!("POST failed: {e}"),
            }
        }
        String::from("outbound queue closed")
    };
    let reader = read(body, parser, &mux);
    let reason = tokio::select! {
        reason = writer => reason,
        reason = reader => reason,
        _ = closed.cancelled() => String::from("closed"),
    };
    mux.close(reason);
}

async fn read(mut body: UpstreamBody, mut parser: Parser, mux: &Mux) -> String {
    loop {
        let Some(frame) = body.frame().await else {
            return String::from("the SSE stream ended");
        };
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Err(e) => return format!("the SSE stream broke: {e}"),
        };
        let events = match parser.feed(&data) {
            Ok(events) => events,
            Err(e) => return e.to_owned(),
        };
        for event in events {
            if event.kind() != "message" {
                continue;
            }
            match Message::parse(event.data.as_bytes()) {
                Ok(message) => mux.dispatch(message, Origin::Unknown),
                Err(e) => mux.bad_message(event.data.as_bytes(), &e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve_against_the_sse_url() {
        let base: Uri = "http://127.0.0.1:9/a/sse".parse().unwrap();
        assert_eq!(
            resolve(&base, "/messages?sessionId=x").unwrap().to_string(),
            "http://127.0.0.1:9/messages?sessionId=x"
        );
        assert_eq!(
            resolve(&base, "messages?s=1").unwrap().to_string(),
            "http://127.0.0.1:9/a/messages?s=1"
        );
        assert_eq!(
            resolve(&base, "http://h:1/m").unwrap().to_string(),
            "http://h:1/m"
        );
    }
}
