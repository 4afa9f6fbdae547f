//! JSON-RPC envelope cost: what vecgate pays to read every message it passes through.
//!
//! Prints, before criterion's own timings, ns per `Message::parse` of the messages a forwarded
//! `tools/call` makes (the client's request, the backend's answer, a progress notification, and a
//! 4 KiB answer), beside `serde_json::from_slice::<IgnoredAny>` of the same bytes (merely
//! validating the JSON, which no lossless envelope can go below), with the ratio.
//!
//! Measured with it: a hand-written validating scanner in place of serde's derived reading
//! came to 0.65–0.8× of `parse` on small messages only when it built each `Box<RawValue>`
//! without validating it again, which takes an unsafe cast into serde_json's type; through
//! `RawValue::from_string` (a second validation) it was 1.1–1.8× slower. Neither earns its
//! place at ~0.3 µs of a ~26 µs forwarded call.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use serde::de::IgnoredAny;
use std::hint::black_box;
use std::time::Instant;
use vecgate_backends::jsonrpc::Message;

fn messages() -> Vec<(&'static str, Vec<u8>)> {
    let text = "lorem ipsum dolor sit amet ".repeat(150);
    vec![
        (
            "request tools/call",
            br#"{"jsonrpc":"2.0","id":"c17","method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#.to_vec(),
        ),
        (
            "answer (small)",
            br#"{"jsonrpc":"2.0","id":17,"result":{"content":[{"type":"text","text":"hello"}],"isError":false}}"#.to_vec(),
        ),
        (
            "progress notification",
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":42,"progress":3,"total":10,"message":"step 3"}}"#.to_vec(),
        ),
        (
            "answer (4 KiB)",
            format!(r#"{{"jsonrpc":"2.0","id":18,"result":{{"content":[{{"type":"text","text":"{text}"}}],"structuredContent":{{"n":1.5e3,"ok":true,"tags":["a","b"]}}}}}}"#).into_bytes(),
        ),
    ]
}

fn ns_per(rounds: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..rounds {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(rounds)
}

fn report() {
    println!("envelope: ns per message (timed loop, same run)");
    for (label, bytes) in messages() {
        let rounds = if bytes.len() > 1000 { 50_000 } else { 500_000 };
        assert!(Message::parse(&bytes).is_ok(), "{label} must parse");
        let parse = ns_per(rounds, || {
            black_box(Message::parse(black_box(&bytes)).ok());
        });
        let floor = ns_per(rounds, || {
            black_box(serde_json::from_slice::<IgnoredAny>(black_box(&bytes)).ok());
        });
        println!(
            "  {label:<22} {:5} B  parse {parse:7.1}  validate-only {floor:7.1}  ratio {:.2}",
            bytes.len(),
            parse / floor
        );
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope_parse");
    for (label, bytes) in messages() {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &bytes, |b, bytes| {
            b.iter(|| Message::parse(black_box(bytes)).ok())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
