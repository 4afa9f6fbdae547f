//! SSE event ids and `Last-Event-ID` resumption on vecgate's own streams (session-based
//! Streamable HTTP, 2025-11-25), against the real binary and the bundled demo server:
//!
//! - events on the GET stream carry ids; what the session missed while its GET stream was
//!   down is replayed on a GET with `Last-Event-ID`, and the stream goes on live;
//! - a POST's SSE stream whose client went away keeps its request running; a GET with the
//!   last id it saw gets the rest of that request's messages and its response.

use std::time::Duration;

use serde_json::{Value, json};
use vecgate_tests::sse::{SseEvent, SseStream};
use vecgate_tests::{Gateway, GatewayConfig, McpSession};

const VERSION: &str = "2025-11-25";

fn gateway() -> Gateway {
    Gateway::serve(&GatewayConfig::demo(1).unwrap()).unwrap()
}

fn post(gw: &Gateway, session: &str, body: &Value) -> Value {
    McpSession::resume(session, VERSION).post(gw, body)
}

fn initialize(gw: &Gateway) -> String {
    McpSession::open(gw, VERSION, json!({}), "vecgate-resume-test").id
}

fn open_get(gw: &Gateway, session: &str, last_event_id: Option<&str>) -> SseStream {
    let mut headers = vec![
        ("accept", "text/event-stream"),
        ("mcp-session-id", session),
        ("mcp-protocol-version", VERSION),
    ];
    if let Some(id) = last_event_id {
        headers.push(("last-event-id", id));
    }
    let stream = SseStream::open(gw.authority(), "GET", "/mcp", &headers, None).unwrap();
    assert_eq!(stream.status, 200);
    stream
}

fn create_ticket(gw: &Gateway, session: &str, id: u64) {
    let answer = post(
        gw,
        session,
        &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "create_ticket", "arguments": {"title": format!("t{id}")}}}),
    );
    assert!(answer.get("result").is_some(), "{answer}");
}

/// (stream part, sequence) of an event id `g3-17`.
fn split_id(event: &SseEvent) -> (String, u64) {
    let id = event.id.as_deref().expect("an event id");
    let (stream, seq) = id.split_once('-').expect("stream-seq");
    (stream.to_owned(), seq.parse().unwrap())
}

#[test]
fn a_get_stream_resumed_with_last_event_id_replays_what_it_missed() {
    let gw = gateway();
    let session = initialize(&gw);
    let subscribed = post(
        &gw,
        &session,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe",
                "params": {"uri": "demo://tickets"}}),
    );
    assert!(subscribed.get("result").is_some(), "{subscribed}");

    let mut stream = open_get(&gw, &session, None);
    create_ticket(&gw, &session, 2);
    let first = stream
        .next_message(Duration::from_secs(10))
        .expect("a resources/updated");
    assert_eq!(first.json()["method"], "notifications/resources/updated");
    let (stream_part, first_seq) = split_id(&first);
    stream.abandon();
    std::thread::sleep(Duration::from_millis(500));

    // Two updates while no GET stream is connected.
    create_ticket(&gw, &session, 3);
    create_ticket(&gw, &session, 4);
    let last_seen = first.id.clone().unwrap();
    let mut resumed = open_get(&gw, &session, Some(&last_seen));
    let mut seqs = Vec::new();
    for _ in 0..2 {
        let event = resumed
            .next_message(Duration::from_secs(10))
            .expect("a replayed event");
        assert_eq!(event.json()["method"], "notifications/resources/updated");
        let (part, seq) = split_id(&event);
        assert_eq!(
            part, stream_part,
            "replayed on the stream that was disconnected"
        );
        seqs.push(seq);
    }
    assert!(
        first_seq < seqs[0] && seqs[0] < seqs[1],
        "{first_seq} {seqs:?}"
    );

    // The resumed stream goes on live, with the same stream part.
    create_ticket(&gw, &session, 5);
    let live = resumed
        .next_message(Duration::from_secs(10))
        .expect("a live event");
    let (part, seq) = split_id(&live);
    assert_eq!(part, stream_part);
    assert!(seq > seqs[1]);
}

#[test]
fn a_post_stream_resumed_after_its_client_left_gets_the_rest_and_the_response() {
    let gw = gateway();
    let session = initialize(&gw);
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "long_task", "arguments": {"steps": 4, "step_ms": 400},
                   "_meta": {"progressToken": "resume-me"}}})
    .to_string();
    let mut stream = SseStream::open(
        gw.authority(),
        "POST",
        "/mcp",
        &[
            ("accept", "application/json, text/event-stream"),
            ("content-type", "application/json"),
            ("mcp-session-id", &session),
            ("mcp-protocol-version", VERSION),
        ],
        Some(body.as_bytes()),
    )
    .unwrap();
    let first = stream
        .next_message(Duration::from_secs(10))
        .expect("a first event on the POST stream");
    assert!(first.json().get("method").is_some(), "{:?}", first.data);
    let (stream_part, first_seq) = split_id(&first);
    assert!(stream_part.starts_with('p'), "{stream_part}");
    stream.abandon();

    let mut resumed = open_get(&gw, &session, first.id.as_deref());
    let mut last_seq = first_seq;
    let mut progress_seen = Vec::new();
    let response = loop {
        let event = resumed
            .next_message(Duration::from_secs(15))
            .expect("the rest of the POST stream");
        let (part, seq) = split_id(&event);
        assert_eq!(part, stream_part);
        assert!(seq > last_seq, "ids increase: {seq} after {last_seq}");
        last_seq = seq;
        let msg = event.json();
        if msg["method"] == "notifications/progress" {
            progress_seen.push(msg["params"]["progress"].as_f64().unwrap());
        }
        if msg.get("result").is_some() || msg.get("error").is_some() {
            break msg;
        }
    };
    assert_eq!(response["id"], 7, "{response}");
    assert!(response.get("result").is_some(), "{response}");
    assert!(
        progress_seen.contains(&4.0),
        "the last progress step arrives after the client left: {progress_seen:?}"
    );
    // The POST stream is over: the resumed stream ends.
    assert!(resumed.next_message(Duration::from_secs(3)).is_none());
}
