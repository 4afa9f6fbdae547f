//! How long a cached answer stays reachable after the write that replaced it, through the real
//! gateway in front of the real demo server (one stdio replica).
//!
//! A reader session calls `kv_get x` in a loop (answered from the cache between writes) while a
//! writer session calls `kv_put x = i`, i = 1..N, a few milliseconds apart. For each write it
//! counts the reads **sent after the write was answered** that still returned an older value
//! (stale hits: must be 0), the reads that overlapped the write (either value is then a
//! correct answer), the write's round trip (the server announces the change before it answers,
//! and the gateway drops the entry on reading the announcement, so the stale window from the
//! server's change to the drop is inside that round trip) and the time from the write's answer
//! to the first read answered with the new value.
//!
//! It runs both invalidation rules: `announced` (the update drops the entries linking
//! `demo://kv/x`) and `any-write` (the write drops the pool's entries).
//!
//! Needs the release binaries: `cargo build --release -p vecgate -p vecgate-backends`, then
//! `cargo bench -p vecgate-benches --bench cache_staleness` (env `VECGATE_BENCH_WRITES`, default
//! 300).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use vecgate_tests::http::HttpRequest;
use vecgate_tests::{Gateway, GatewayConfig, Pool, paths};

const VERSION: &str = "2025-11-25";

struct Client {
    authority: String,
    session: String,
}

impl Client {
    fn connect(gw: &Gateway) -> Client {
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": VERSION, "capabilities": {},
                       "clientInfo": {"name": "cache-staleness", "version": "0"}}});
        let response = HttpRequest::post_json("/mcp", &body)
            .send(gw.authority())
            .expect("initialize");
        let session = response
            .header("mcp-session-id")
            .expect("a session id")
            .to_owned();
        Client {
            authority: gw.authority().to_owned(),
            session,
        }
    }

    fn call(&self, tool: &str, arguments: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}});
        let response = HttpRequest::post_json("/mcp", &body)
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", VERSION)
            .send(&self.authority)
            .expect("a call");
        let message = response.rpc_response().expect("a JSON-RPC response");
        assert!(message.get("error").is_none(), "{tool}: {message}");
        message["result"].clone()
    }

    /// `kv_get x`: (value, whether it was a cache hit).
    fn get(&self) -> (u64, bool) {
        let result = self.call("kv_get", json!({"key": "x"}));
        let value = result["content"][0]["text"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("a number");
        (value, result["_meta"]["io.vecgate/cache"] == "hit")
    }

    fn put(&self, value: u64) {
        self.call("kv_put", json!({"key": "x", "value": value.to_string()}));
    }
}

struct Read {
    sent: Instant,
    answered: Instant,
    value: u64,
    hit: bool,
}

struct Write {
    value: u64,
    sent: Instant,
    answered: Instant,
}

fn measure(rule: &str, writes: u64) {
    let demo = Pool::stdio("demo", &paths::demo_server_command().expect("built"), 1)
        .with("cache_invalidation", &format!("{rule:?}"))
        .with("cacheable_tools", "[\"kv_get\"]");
    let gw = Gateway::serve(&GatewayConfig::new(vec![demo])).expect("vecgate serve");
    let (reader, writer) = (Client::connect(&gw), Client::connect(&gw));
    writer.put(0);
    // The new key's list_changed drops the pool's answers once; wait until reads are kept.
    let settled = (0..500).any(|_| {
        reader.get();
        let kept = reader.get().1;
        if !kept {
            std::thread::sleep(Duration::from_millis(10));
        }
        kept
    });
    assert!(settled, "{rule}: kv_get x was never served from the cache");

    let stop = Arc::new(AtomicBool::new(false));
    let reading = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut reads = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let (value, hit) = reader.get();
                reads.push(Read {
                    sent,
                    answered: Instant::now(),
                    value,
                    hit,
                });
            }
            reads
        })
    };
    let mut log = Vec::new();
    for value in 1..=writes {
        std::thread::sleep(Duration::from_millis(3));
        let sent = Instant::now();
        writer.put(value);
        log.push(Write {
            value,
            sent,
            answered: Instant::now(),
        });
    }
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::Relaxed);
    let reads = reading.join().expect("reader");

    let mut round_trip = Histogram::<u64>::new(3).expect("histogram");
    let mut to_fresh = Histogram::<u64>::new(3).expect("histogram");
    let (mut stale_after, mut overlapping) = (0u64, 0u64);
    for (i, w) in log.iter().enumerate() {
        let next = log.get(i + 1).map(|n| n.sent);
        round_trip
            .record(w.answered.duration_since(w.sent).as_micros() as u64)
            .ok();
        // Reads that start before the next write, so only this write decides their answer.
        let window = reads
            .iter()
            .filter(|r| next.is_none_or(|n| r.sent < n) && r.answered > w.sent);
        let mut first_fresh = None;
        for r in window {
            let old = r.value < w.value;
            if r.sent >= w.answered && old {
                stale_after += 1;
            } else if r.sent < w.answered && r.answered > w.sent {
                overlapping += 1;
            }
            if !old && first_fresh.is_none() {
                first_fresh = Some(r.answered);
            }
        }
        if let Some(at) = first_fresh {
            let after = at.saturating_duration_since(w.answered);
            to_fresh.record(after.as_micros() as u64).ok();
        }
    }
    let hits = reads.iter().filter(|r| r.hit).count();
    println!(
        "{rule:>9}: {writes} writes, {} reads ({:.0} % cache hits); stale reads sent after the write was answered: {stale_after}; reads overlapping a write: {overlapping}",
        reads.len(),
        100.0 * hits as f64 / reads.len().max(1) as f64,
    );
    println!(
        "{:>9}  write round trip p50 {} µs p99 {} µs (bounds the server-change-to-drop window); write answered -> first fresh read answered p50 {} µs p99 {} µs ({} writes seen)",
        "",
        round_trip.value_at_quantile(0.5),
        round_trip.value_at_quantile(0.99),
        to_fresh.value_at_quantile(0.5),
        to_fresh.value_at_quantile(0.99),
        to_fresh.len(),
    );
}

fn main() {
    let writes = std::env::var("VECGATE_BENCH_WRITES")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(300);
    println!("cache staleness through vecgate (demo server, 1 stdio replica, kv_get cached):");
    for rule in ["announced", "any-write"] {
        measure(rule, writes);
    }
}
