//! MRTR bridging across vecgate instances, against the real binary: two `vecgate serve`
//! processes sharing `session_key`, each in front of its own stdio upstream of the same kind
//! (an old, 2025-xx server that asks its client questions). A stateless client's call goes to
//! one instance and gets `input_required`; its retry reaches the other, which holds no parked
//! call for it and re-runs the request, answering the upstream's question from the retry's
//! `inputResponses` (SEP-2322's re-execution model).
//!
//! - the demo's `ask_llm` (one `sampling/createMessage`): started on A, completed on B;
//! - `fixtures/two_question_server.py` (two `elicitation/create` in turn): rounds alternate
//!   A, B, A, and the last re-run reuses the first answer the state carried;
//! - a retry with other arguments, a tampered state and a format-1 state are refused clearly,
//!   and none of them costs the real retry its state; a state is used once per instance.

use serde_json::{Value, json};
use vecgate_tests::session::{stateless_call_tool, stateless_meta};
use vecgate_tests::{Gateway, GatewayConfig, Pool, paths};

const KEY: &str = "\"5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed\"";

/// Two instances sharing one session key, each with its own upstream from `config`.
fn two_instances(config: impl Fn() -> GatewayConfig) -> (Gateway, Gateway) {
    let a = Gateway::serve(&config().with("session_key", KEY)).unwrap();
    let b = Gateway::serve(&config().with("session_key", KEY)).unwrap();
    (a, b)
}

fn demo() -> GatewayConfig {
    GatewayConfig::demo(1).unwrap()
}

fn two_questions() -> GatewayConfig {
    let script = paths::workspace_root().join("tests/e2e/fixtures/two_question_server.py");
    let command = vec!["python3".to_owned(), script.display().to_string()];
    GatewayConfig::new(vec![Pool::stdio("ops", &command, 1)])
}

/// A stateless `tools/call` on `gw`, with MRTR retry fields when given; the JSON-RPC answer.
fn call_tool(
    gw: &Gateway,
    id: u64,
    name: &str,
    arguments: Value,
    caps: Value,
    retry: Option<(Value, &str)>,
) -> Value {
    let meta = stateless_meta("vecgate-mrtr-test", caps);
    stateless_call_tool(gw, id, name, arguments, meta, retry)
}

/// The single input request of an `input_required` answer, and its state: (key, request, state).
fn input_required(answer: &Value) -> (String, Value, String) {
    let result = &answer["result"];
    assert_eq!(result["resultType"], "input_required", "{answer}");
    let requests = result["inputRequests"].as_object().expect("inputRequests");
    assert_eq!(requests.len(), 1, "{answer}");
    let (key, request) = requests.iter().next().unwrap();
    let state = result["requestState"].as_str().expect("requestState");
    (key.clone(), request.clone(), state.to_owned())
}

/// A refusal: -32602 whose message contains `needle`.
fn assert_refused(answer: &Value, needle: &str) {
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "wanted {needle:?}: {answer}");
}

fn sampled(text: &str) -> Value {
    json!({
        "role": "assistant",
        "content": {"type": "text", "text": text},
        "model": "test-model",
        "stopReason": "endTurn",
    })
}

#[test]
fn a_retry_that_reaches_another_instance_reruns_the_call_and_completes() {
    let (a, b) = two_instances(demo);
    let caps = json!({"sampling": {}});
    let args = json!({"prompt": "What is the capital of France?"});
    let first = call_tool(&a, 1, "ask_llm", args.clone(), caps.clone(), None);
    let (key, request, state) = input_required(&first);
    assert_eq!(request["method"], "sampling/createMessage", "{request}");

    let responses = json!({ key: sampled("Paris") });
    let done = call_tool(
        &b,
        2,
        "ask_llm",
        args.clone(),
        caps.clone(),
        Some((responses.clone(), &state)),
    );
    assert_eq!(done["id"], 2, "{done}");
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"], "test-model says: Paris",
        "{done}"
    );

    // A state answers one retry per instance.
    let again = call_tool(&b, 3, "ask_llm", args, caps, Some((responses, &state)));
    assert_refused(&again, "already used");
}

#[test]
fn a_call_of_several_rounds_completes_with_retries_alternating_between_instances() {
    let (a, b) = two_instances(two_questions);
    let caps = json!({"elicitation": {}});
    let args = json!({"service": "web"});

    let first = call_tool(&a, 1, "deploy", args.clone(), caps.clone(), None);
    let (key, request, state) = input_required(&first);
    assert_eq!(
        request["params"]["message"], "Which environment?",
        "{request}"
    );

    // B re-runs the call, answers the first question from the retry, and asks the second.
    let where_to = json!({"action": "accept", "content": {"env": "staging"}});
    let second = call_tool(
        &b,
        2,
        "deploy",
        args.clone(),
        caps.clone(),
        Some((json!({ key: where_to }), &state)),
    );
    let (key, request, state) = input_required(&second);
    assert_eq!(
        request["params"]["message"], "Deploy web to staging?",
        "{request}"
    );

    // A does not hold B's parked call either: it re-runs, answering the first question from
    // the answer the state carries and the second from the retry.
    let yes = json!({"action": "accept", "content": {"confirmed": true}});
    let done = call_tool(
        &a,
        3,
        "deploy",
        args,
        caps,
        Some((json!({ key: yes }), &state)),
    );
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"], "deployed web to staging",
        "{done}"
    );
}

#[test]
fn other_arguments_a_tampered_state_and_an_old_format_are_refused_clearly() {
    let (a, b) = two_instances(demo);
    let caps = json!({"sampling": {}});
    let args = json!({"prompt": "What is the capital of France?"});
    let first = call_tool(&a, 1, "ask_llm", args.clone(), caps.clone(), None);
    let (key, _, state) = input_required(&first);
    let responses = json!({ key: sampled("Paris") });

    let other = call_tool(
        &b,
        2,
        "ask_llm",
        json!({"prompt": "What is the capital of Spain?"}),
        caps.clone(),
        Some((responses.clone(), &state)),
    );
    assert_refused(&other, "different request");

    // Flip one character of the sealed part: authentication fails.
    let mut tampered = state.clone().into_bytes();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let forged = call_tool(
        &b,
        3,
        "ask_llm",
        args.clone(),
        caps.clone(),
        Some((responses.clone(), &tampered)),
    );
    assert_refused(&forged, "not valid");

    // Format 1 (vecgates before this one): no version segment after the prefix.
    let sealed = state.rsplit('.').next().unwrap();
    let legacy = call_tool(
        &b,
        4,
        "ask_llm",
        args.clone(),
        caps.clone(),
        Some((responses.clone(), &format!("vecgate-mrtr.{sealed}"))),
    );
    assert_refused(&legacy, "older vecgate");

    // None of them used the state: the real retry still completes.
    let done = call_tool(&b, 5, "ask_llm", args, caps, Some((responses, &state)));
    assert_eq!(
        done["result"]["content"][0]["text"], "test-model says: Paris",
        "{done}"
    );
}
