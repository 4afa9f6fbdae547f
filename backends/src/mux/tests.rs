//! Unit tests of the mux against an in-process peer: the test plays the upstream by reading
//! the outbound queue and calling `dispatch`, which is all a transport does.

use super::*;
use crate::jsonrpc::raw_from_string;
use std::collections::BTreeMap;
use std::future::Future;

fn raw(s: &str) -> Box<RawValue> {
    raw_from_string(s.to_owned()).unwrap()
}

fn mux() -> (Arc<Mux>, mpsc::Receiver<Message>, mpsc::Receiver<PoolEvent>) {
    mux_with_queue(16)
}

/// A mux whose outbound queue holds `queue` messages.
fn mux_with_queue(queue: usize) -> (Arc<Mux>, mpsc::Receiver<Message>, mpsc::Receiver<PoolEvent>) {
    let (events, pool_rx) = mpsc::channel(16);
    let ident = ReplicaIdent {
        pool: 3,
        replica: 1,
        pool_name: Arc::from("p"),
    };
    let (mux, out) = Mux::new(ident, Meters::new("p"), queue, events, None);
    (mux, out, pool_rx)
}

/// Start a request in the background and return its upstream message.
async fn start(
    mux: &Arc<Mux>,
    out: &mut mpsc::Receiver<Message>,
    params: &str,
    events: Option<mpsc::Sender<CallEvent>>,
) -> (
    tokio::task::JoinHandle<Result<Box<RawValue>, CallError>>,
    Message,
) {
    let m = mux.clone();
    let params = raw(params);
    let task = tokio::spawn(async move {
        m.request(
            "tools/call".into(),
            Some(params),
            events.map(|e| Arc::new(e) as crate::replica::CallEventSink),
            None,
            Duration::from_secs(5),
        )
        .await
    });
    let sent = out.recv().await.unwrap();
    (task, sent)
}

fn id_of(message: &Message) -> u64 {
    message.id.as_ref().unwrap().get().parse().unwrap()
}

fn response(id: u64, result: &str) -> Message {
    Message::result(to_raw(&id), raw(result))
}

#[tokio::test]
async fn answers_go_to_their_own_call_in_any_order() {
    let (mux, mut out, _pool) = mux();
    let (a, sent_a) = start(&mux, &mut out, r#"{"name":"a"}"#, None).await;
    let (b, sent_b) = start(&mux, &mut out, r#"{"name":"b"}"#, None).await;
    assert_ne!(id_of(&sent_a), id_of(&sent_b));
    // Params without a progress token are forwarded byte for byte.
    assert_eq!(sent_a.params.as_ref().unwrap().get(), r#"{"name":"a"}"#);
    mux.dispatch(response(id_of(&sent_b), r#"{"who":"b"}"#), Origin::Unknown);
    mux.dispatch(
        Message::raw_error(
            to_raw(&id_of(&sent_a)),
            raw(r#"{"code":-1,"message":"no"}"#),
        ),
        Origin::Unknown,
    );
    assert_eq!(b.await.unwrap().unwrap().get(), r#"{"who":"b"}"#);
    assert!(matches!(a.await.unwrap(), Err(CallError::Rpc(e)) if e.get().contains("-1")));
    assert_eq!(mux.pending(), 0);
}

#[tokio::test]
async fn progress_tokens_are_made_unique_and_restored() {
    let (mux, mut out, _pool) = mux();
    let (tx_a, mut rx_a) = mpsc::channel(4);
    let (tx_b, mut rx_b) = mpsc::channel(4);
    // Two clients picked the same token.
    let p = r#"{"name":"x","_meta":{"progressToken":"t","other":1}}"#;
    let (a, sent_a) = start(&mux, &mut out, p, Some(tx_a)).await;
    let (b, sent_b) = start(&mux, &mut out, p, Some(tx_b)).await;
    let token = |m: &Message| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(m.params.as_ref().unwrap().get()).unwrap();
        assert_eq!(v["_meta"]["other"], 1, "other _meta fields survive");
        v["_meta"]["progressToken"].clone()
    };
    assert_ne!(token(&sent_a), token(&sent_b));
    let progress = |tok: &serde_json::Value, n: u32| {
        let params = serde_json::json!({"progressToken": tok, "progress": n});
        Message::notification("notifications/progress", Some(to_raw(&params)))
    };
    mux.dispatch(progress(&token(&sent_b), 7), Origin::Unknown);
    mux.dispatch(progress(&token(&sent_a), 1), Origin::Unknown);
    let got_b = match rx_b.recv().await.unwrap() {
        CallEvent::Notification(m) => m,
        other => panic!("{other:?}"),
    };
    let v: serde_json::Value = serde_json::from_str(got_b.params.unwrap().get()).unwrap();
    assert_eq!(
        (v["progressToken"].as_str(), v["progress"].as_u64()),
        (Some("t"), Some(7))
    );
    assert!(matches!(
        rx_a.recv().await.unwrap(),
        CallEvent::Notification(_)
    ));
    assert!(
        rx_a.try_recv().is_err() && rx_b.try_recv().is_err(),
        "no cross-talk"
    );
    mux.dispatch(response(id_of(&sent_a), "{}"), Origin::Unknown);
    mux.dispatch(response(id_of(&sent_b), "{}"), Origin::Unknown);
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    // Progress for a finished request goes nowhere.
    mux.dispatch(progress(&token(&sent_a), 2), Origin::Unknown);
    assert!(rx_a.try_recv().is_err());
}

#[tokio::test]
async fn dropping_a_call_cancels_it_upstream() {
    let (mux, mut out, _pool) = mux();
    let (task, sent) = start(&mux, &mut out, "{}", None).await;
    task.abort();
    let _ = task.await;
    let cancel = out.recv().await.unwrap();
    assert_eq!(cancel.method.as_deref(), Some("notifications/cancelled"));
    let v: serde_json::Value = serde_json::from_str(cancel.params.unwrap().get()).unwrap();
    assert_eq!(v["requestId"].as_u64(), Some(id_of(&sent)));
    assert_eq!(mux.pending(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_fails_the_call_and_cancels_it() {
    let (mux, mut out, _pool) = mux();
    let m = mux.clone();
    let call = tokio::spawn(async move {
        m.request("slow".into(), None, None, None, Duration::from_millis(50))
            .await
    });
    let sent = out.recv().await.unwrap();
    assert!(
        matches!(call.await.unwrap(), Err(CallError::Timeout { method, .. }) if method == "slow")
    );
    let cancel = out.recv().await.unwrap();
    assert_eq!(cancel.method.as_deref(), Some("notifications/cancelled"));
    assert!(
        cancel
            .params
            .unwrap()
            .get()
            .contains(&format!("\"requestId\":{}", id_of(&sent)))
    );
}

#[tokio::test(start_paused = true)]
async fn a_shorter_deadline_after_a_longer_one_fires_on_time() {
    let (mux, mut out, _pool) = mux();
    let call = |method: &'static str, timeout: u64| {
        let m = mux.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = m
                .request(
                    method.into(),
                    None,
                    None,
                    None,
                    Duration::from_millis(timeout),
                )
                .await;
            (result, started.elapsed())
        })
    };
    // The sweeper sleeps until the first call's deadline (10 s); the second must wake it.
    let long = call("long", 10_000);
    let _ = out.recv().await.unwrap();
    let short = call("short", 100);
    let _ = out.recv().await.unwrap();
    let (result, took) = short.await.unwrap();
    assert!(matches!(result, Err(CallError::Timeout { method, .. }) if method == "short"));
    assert!(
        took >= Duration::from_millis(100) && took < Duration::from_millis(150),
        "{took:?}"
    );
    // The long call is still pending, and times out at its own deadline.
    assert_eq!(mux.pending(), 1);
    let (result, took) = long.await.unwrap();
    assert!(matches!(result, Err(CallError::Timeout { method, .. }) if method == "long"));
    assert!(took >= Duration::from_secs(10), "{took:?}");
    assert_eq!(mux.pending(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_waiting_for_room_in_a_full_queue_still_times_out() {
    // A stalled upstream (nothing reads the outbound queue, which holds one message).
    let (mux, _out, _pool) = mux_with_queue(1);
    let call = |timeout: u64| {
        let m = mux.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = m
                .request("x".into(), None, None, None, Duration::from_millis(timeout))
                .await;
            (result, started.elapsed())
        })
    };
    let first = call(60_000);
    tokio::task::yield_now().await;
    let (result, took) = call(200).await.unwrap();
    assert!(
        matches!(result, Err(CallError::Timeout { .. })),
        "{result:?}"
    );
    assert!(took < Duration::from_millis(250), "{took:?}");
    first.abort();
}

#[tokio::test(start_paused = true)]
async fn an_answered_call_never_times_out_later() {
    let (mux, mut out, _pool) = mux();
    let (task, sent) = start(&mux, &mut out, "{}", None).await;
    mux.dispatch(response(id_of(&sent), "{}"), Origin::Unknown);
    assert!(task.await.unwrap().is_ok());
    // Well past its 5 s deadline: nothing is cancelled upstream.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(out.try_recv().is_err());
}

#[tokio::test]
async fn server_requests_follow_the_attribution_rule() {
    let (mux, mut out, mut pool) = mux();
    // No call in flight: the pool gets it.
    let request = |id: u32, method: &str| Message::request(to_raw(&format!("s{id}")), method, None);
    mux.dispatch(request(1, "roots/list"), Origin::Unknown);
    match pool.recv().await.unwrap() {
        PoolEvent::ServerRequest {
            pool: 3,
            replica: 1,
            message,
            reply,
        } => {
            assert_eq!(message.method.as_deref(), Some("roots/list"));
            reply.send(Ok(raw(r#"{"roots":[]}"#))).unwrap();
        }
        other => panic!("{other:?}"),
    }
    let answer = out.recv().await.unwrap();
    assert_eq!(
        (answer.id.unwrap().get(), answer.result.unwrap().get()),
        (r#""s1""#, r#"{"roots":[]}"#)
    );

    // Two calls with event channels: the most recent one gets it on stdio.
    let (tx_old, mut rx_old) = mpsc::channel(4);
    let (tx_new, mut rx_new) = mpsc::channel(4);
    let (_old, _) = start(&mux, &mut out, "{}", Some(tx_old)).await;
    let (_new, sent_new) = start(&mux, &mut out, "{}", Some(tx_new)).await;
    mux.dispatch(request(2, "sampling/createMessage"), Origin::Unknown);
    assert!(
        matches!(rx_new.recv().await.unwrap(), CallEvent::Request { .. }),
        "dropping reply answers with an error"
    );
    assert!(rx_old.try_recv().is_err());
    let answer = out.recv().await.unwrap();
    assert!(answer.error.is_some());
    // On HTTP the origin decides, not recency.
    let old_id = id_of(&sent_new) - 1;
    mux.dispatch(request(3, "elicitation/create"), Origin::Call(old_id));
    assert!(matches!(
        rx_old.recv().await.unwrap(),
        CallEvent::Request { .. }
    ));
    let _ = out.recv().await.unwrap();
    // And the GET stream's traffic is never attributed (log lines excepted, see `dispatch`).
    mux.dispatch(
        Message::notification("notifications/resources/updated", None),
        Origin::Unrelated,
    );
    assert!(matches!(
        pool.recv().await.unwrap(),
        PoolEvent::Notification { .. }
    ));
    assert!(rx_new.try_recv().is_err());

    // Pings are answered here.
    mux.dispatch(request(4, "ping"), Origin::Unknown);
    let pong = out.recv().await.unwrap();
    assert_eq!(
        (pong.id.unwrap().get(), pong.result.unwrap().get()),
        (r#""s4""#, "{}")
    );
}

#[tokio::test]
async fn closing_fails_calls_at_once_and_refuses_new_ones() {
    let (mux, mut out, _pool) = mux();
    let (task, _) = start(&mux, &mut out, "{}", None).await;
    mux.close("process exited");
    assert!(
        matches!(task.await.unwrap(), Err(CallError::Unavailable { reason, .. }) if reason == "process exited")
    );
    let late = mux
        .request("x".into(), None, None, None, Duration::from_secs(1))
        .await;
    assert!(matches!(late, Err(CallError::Unavailable { .. })));
    assert!(mux.is_closed());
}

#[tokio::test]
async fn garbage_naming_a_pending_id_is_a_protocol_error() {
    let (mux, mut out, _pool) = mux();
    let (task, sent) = start(&mux, &mut out, "{}", None).await;
    let bad = format!(r#"{{"jsonrpc":"2.0","id":{}}}"#, id_of(&sent));
    mux.bad_message(bad.as_bytes(), "neither result nor error");
    assert!(matches!(
        task.await.unwrap(),
        Err(CallError::Protocol { .. })
    ));
    mux.bad_message(b"\xff not json", "parse");
    assert!(!mux.is_closed());
}

#[tokio::test]
async fn list_changed_marks_lists_dirty() {
    let (mux, _out, _pool) = mux();
    mux.dispatch(
        Message::notification("notifications/resources/list_changed", None),
        Origin::Unknown,
    );
    tokio::time::timeout(Duration::from_secs(1), mux.list_changed())
        .await
        .unwrap();
    assert_eq!(
        mux.take_dirty(),
        vec![ListKind::Resources, ListKind::ResourceTemplates]
    );
    assert!(mux.take_dirty().is_empty());
}

#[test]
fn stateless_meta_is_added_without_overriding_the_callers() {
    let mut extra = BTreeMap::new();
    extra.insert(
        "io.modelcontextprotocol/protocolVersion".to_owned(),
        to_raw("2026-07-28"),
    );
    extra.insert("k".to_owned(), to_raw("ours"));
    let params = raw(r#"{"name":"t","_meta":{"k":"theirs"}}"#);
    let (params, token) = rewrite_request_params(Some(params), 9, Some(&extra)).unwrap();
    assert!(token.is_none());
    let v: serde_json::Value = serde_json::from_str(params.unwrap().get()).unwrap();
    assert_eq!(v["_meta"]["k"], "theirs");
    assert_eq!(
        v["_meta"]["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    assert!(
        rewrite_request_params(Some(raw(r#"{"progressToken":1,"_meta":3}"#)), 1, None).is_err()
    );
}

#[allow(dead_code)]
fn assert_send<T: Send>(_: T) {}

#[allow(dead_code)]
fn request_future_is_send(mux: &Mux) {
    fn check<F: Future + Send>(_: F) {}
    check(mux.request("x".into(), None, None, None, Duration::from_secs(1)));
}

#[tokio::test]
async fn a_server_request_the_upstream_cancels_gets_no_response() {
    let (mux, mut out, mut pool) = mux();
    mux.dispatch(
        Message::request(to_raw("s9"), "sampling/createMessage", None),
        Origin::Unknown,
    );
    let reply = match pool.recv().await.unwrap() {
        PoolEvent::ServerRequest { reply, .. } => reply,
        other => panic!("{other:?}"),
    };
    let cancel = serde_json::json!({"requestId": "s9"});
    mux.dispatch(
        Message::notification("notifications/cancelled", Some(to_raw(&cancel))),
        Origin::Unknown,
    );
    tokio::task::yield_now().await;
    let _ = reply.send(Ok(raw("{}")));
    let nothing = tokio::time::timeout(Duration::from_millis(100), out.recv()).await;
    assert!(
        nothing.is_err(),
        "a cancelled request must not be answered: {nothing:?}"
    );
}

/// Collects stragglers, as the gateway's session does.
#[derive(Default)]
struct Stragglers(parking_lot::Mutex<Vec<Message>>);

impl AfterCall for Stragglers {
    fn straggler(&self, message: Message) {
        self.0.lock().push(message);
    }
}

#[tokio::test(start_paused = true)]
async fn a_log_line_that_races_its_answer_reaches_the_caller_within_the_window() {
    let (mux, mut out, mut pool) = mux();
    let sink = Arc::new(Stragglers::default());
    let m = mux.clone();
    let after: Arc<dyn AfterCall> = sink.clone();
    let task = tokio::spawn(async move {
        m.request(
            "tools/call".into(),
            None,
            None,
            Some(after),
            Duration::from_secs(5),
        )
        .await
    });
    let sent = out.recv().await.unwrap();
    mux.dispatch(response(id_of(&sent), "{}"), Origin::Call(id_of(&sent)));
    task.await.unwrap().unwrap();
    let log = || {
        Message::notification(
            "notifications/message",
            Some(raw(r#"{"level":"info","data":"late"}"#)),
        )
    };
    // The GET stream delivers the call's log line after its answer: still the caller's.
    mux.dispatch(log(), Origin::Unrelated);
    assert_eq!(sink.0.lock().len(), 1);
    // Past the window it is nobody's (a shared replica's server-wide log).
    tokio::time::advance(STRAGGLER_WINDOW + Duration::from_millis(1)).await;
    mux.dispatch(log(), Origin::Unrelated);
    assert_eq!(sink.0.lock().len(), 1);
    assert!(matches!(
        pool.recv().await.unwrap(),
        PoolEvent::Notification { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn an_open_request_has_no_deadline_and_takes_only_what_names_it() {
    let (mux, mut out, mut pool) = mux();
    let open = |mux: &Arc<Mux>| {
        let (tx, rx) = mpsc::channel(4);
        let m = mux.clone();
        let task = tokio::spawn(async move {
            m.open_request("subscriptions/listen", None, Arc::new(tx))
                .await
        });
        (task, rx)
    };
    let (listen, mut acks) = open(&mux);
    let id = id_of(&out.recv().await.unwrap());
    // A day later it is still open, and not a call in flight for health checks.
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    assert!(mux.is_pending(id));
    assert_eq!((mux.pending(), mux.pending_bounded()), (1, 0));

    let tagged = |method: &str, extra: &str| {
        let params = format!(
            r#"{{{extra}"_meta":{{"io.modelcontextprotocol/subscriptionId":{id},"k":1}}}}"#
        );
        Message::notification(method, Some(raw(&params)))
    };
    mux.dispatch(
        tagged(
            "notifications/subscriptions/acknowledged",
            r#""notifications":{},"#,
        ),
        Origin::Unknown,
    );
    assert!(matches!(
        acks.recv().await.unwrap(),
        CallEvent::Notification(m) if m.method.as_deref() == Some("notifications/subscriptions/acknowledged")
    ));
    // Its updates are unsolicited notifications, without the upstream's tag.
    mux.dispatch(
        tagged("notifications/resources/updated", r#""uri":"a://1","#),
        Origin::Call(id),
    );
    match pool.recv().await.unwrap() {
        PoolEvent::Notification { message, .. } => assert_eq!(
            message.params.unwrap().get(),
            r#"{"_meta":{"k":1},"uri":"a://1"}"#
        ),
        other => panic!("{other:?}"),
    }
    // A log line that names no request is not the always-open listen's.
    let log = Message::notification("notifications/message", Some(raw(r#"{"level":"info"}"#)));
    mux.dispatch(log, Origin::Unknown);
    assert!(matches!(
        pool.recv().await.unwrap(),
        PoolEvent::Notification { .. }
    ));
    assert!(acks.try_recv().is_err());

    // The upstream ends it (stdio): the request returns, nothing is cancelled back.
    let end = format!(r#"{{"requestId":{id}}}"#);
    mux.dispatch(
        Message::notification("notifications/cancelled", Some(raw(&end))),
        Origin::Unknown,
    );
    assert!(matches!(
        listen.await.unwrap(),
        Err(CallError::Unavailable { .. })
    ));
    // Dropping one cancels it upstream.
    let (second, _acks) = open(&mux);
    let second_id = id_of(&out.recv().await.unwrap());
    second.abort();
    let _ = second.await;
    let cancel = out.recv().await.unwrap();
    assert_eq!(cancel.method.as_deref(), Some("notifications/cancelled"));
    assert!(
        cancel
            .params
            .unwrap()
            .get()
            .contains(&format!("\"requestId\":{second_id}"))
    );
    assert_eq!(mux.pending(), 0);
}
