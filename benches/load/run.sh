#!/usr/bin/env bash
# Load benchmark, one run on loopback: a bare HTTP responder (the machine's limit), the echo MCP
# backend directly, the same backend behind a bare hyper forwarder (the floor under any
# hyper-based proxy: two HTTP hops and nothing else), and the same backend through vecgate with learning on (policy "vector": every
# call embedded, searched, routed and learned), once in front of one replica (the shape the other
# gateways were measured in) and once in front of two, and in front of one with one runtime
# worker (`--workers 1`). Throughput at saturation with wrk (c=32), latency percentiles from wrk, and
# the ratios; then latency at fixed offered rates (open loop, vecgate's live replay client, latency
# counted from when each call was due) for the backend directly and through vecgate.
# Usage: benches/load/run.sh [SECONDS]   (default 10 per target; RATES=1000,5000 sets the rates)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
DURATION="${1:-10}"
CONNS="${CONNS:-32}"
source benches/load/start.sh
setup wrk

start bare "$BIN/vecgate-echo-backend" --listen 127.0.0.1:0 --bare; BARE=$URL
start echo1 "$BIN/vecgate-echo-backend" --listen 127.0.0.1:0; ECHO1=$URL
start echo2 "$BIN/vecgate-echo-backend" --listen 127.0.0.1:0; ECHO2=$URL
start forwarder "$BIN/vecgate-bare-forwarder" --listen 127.0.0.1:0 --upstream "$ECHO1"; FORWARDER=$URL
gateway() { # name urls [vecgate args...] -> starts vecgate in front of the urls, sets $URL
  cat >"$work/$1.toml" <<TOML
listen = "127.0.0.1:0"
policy = "${POLICY:-vector}"
[[pool]]
name = "echo"
urls = [$2]
TOML
  local name=$1; shift 2
  VECGATE_LOG=warn start "$name" "$BIN/vecgate" "$@" serve --config "$work/$name.toml"
}
# One replica: the shape the other gateways were measured in. Two: the learned router choosing.
gateway vg1 "\"$ECHO1\""; VG1=$URL
gateway vg2 "\"$ECHO1\", \"$ECHO2\""; VG2=$URL
# The same with one runtime worker: on these 2 cores vecgate shares the CPU with wrk and the
# backend, and two workers stealing work from each other pay for cross-thread wake-ups.
gateway vg1w1 "\"$ECHO1\"" --workers 1; VG1W1=$URL

session() { # url -> Mcp-Session-Id
  curl -s -D - -o /dev/null -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    "$1" -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
    | tr -d '\r' | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}'
}

run() { # label url session [check] -> prints a line, stores req/s in $work/label.rps
  local label=$1 url=$2 sid=$3 check=${4:-1}
  CHECK="$check" SESSION="$sid" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s benches/load/post.lua "$url" >"$work/$label.wrk"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/{print $2}' "$work/$label.wrk")
  p50=$(awk '$1=="50%"{print $2}' "$work/$label.wrk")
  p99=$(awk '$1=="99%"{print $2}' "$work/$label.wrk")
  if grep -q "Non-2xx" "$work/$label.wrk"; then echo "WARNING: $label had non-2xx answers:" >&2; grep "Non-2xx" "$work/$label.wrk" >&2; fi
  local errors
  errors=$(awk -F': ' '/JSON-RPC or HTTP errors/{print $3}' "$work/$label.wrk")
  if [ "${errors:-1}" != "0" ]; then
    echo "ERROR: $label: $(grep -h "answers checked" "$work/$label.wrk"); $(grep -h "first error" "$work/$label.wrk")" >&2
    exit 1
  fi
  echo "$rps" >"$work/$label.rps"
  printf "%-26s %12s req/s   p50 %8s   p99 %8s\n" "$label" "$rps" "$p50" "$p99"
}

echo "vecgate load benchmark: wrk -c$CONNS, ${DURATION}s per target, everything on this machine's $(nproc) cores"
run "bare HTTP responder" "$BARE" "" 0
run "echo backend direct" "$ECHO1" "$(session "$ECHO1")"
run "bare hyper forwarder" "$FORWARDER" "$(session "$FORWARDER")"
run "vecgate, 1 replica" "$VG1" "$(session "$VG1")"
run "vecgate, 2 replicas" "$VG2" "$(session "$VG2")"
run "vecgate, 1 rep, 1 worker" "$VG1W1" "$(session "$VG1W1")"
rps() { cat "$work/$1.rps"; }
python3 - "$(rps "bare HTTP responder")" "$(rps "echo backend direct")" "$(rps "vecgate, 1 replica")" "$(rps "vecgate, 2 replicas")" "$(rps "bare hyper forwarder")" "${POLICY:-vector}" "$(rps "vecgate, 1 rep, 1 worker")" <<'PY'
import sys
bare, direct, one, two, forwarder = map(float, sys.argv[1:6])
one_worker = float(sys.argv[7])
print(f"policy {sys.argv[6]}; every answer checked for a JSON-RPC result")
print(f"ratio vecgate/direct, 1 replica  = {one/direct:.3f}   (bar: 4 x 0.11 = 0.44; mcp-proxy 0.115, agentgateway 0.109 in the notes, 1 backend)")
print(f"ratio vecgate/direct, 1 replica, --workers 1 = {one_worker/direct:.3f}")
print(f"ratio vecgate/direct, 2 replicas = {two/direct:.3f}")
print(f"ratio forwarder/direct           = {forwarder/direct:.3f}   (the floor: two hyper hops, no MCP)")
print(f"ratio vecgate/forwarder, 1 replica = {one/forwarder:.3f}")
print(f"ratio direct/bare                = {direct/bare:.3f}")
PY

# Latency at fixed rates: the same echo calls, open loop, from vecgate's live replay client (one
# MCP session; it sends each call when due whatever is in flight, so falling behind shows as
# latency). The echo tool is not read-only, so vecgate forwards every call (no cache hits).
python3 - "$work/echo.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    f.write(json.dumps({"vecgate_dataset": 1, "scenario": "echo", "seed": 1,
                        "description": "echo calls for benches/load/run.sh's fixed-rate phase",
                        "pools": [{"name": "echo", "replicas": [{"name": "r0", "slots": 1}]}],
                        "tools": [{"name": "echo", "read_only": False}]}) + "\n")
    for i in range(200000):
        f.write(json.dumps({"t_ms": float(i), "session": "s", "pool": "echo", "method": "tools/call",
                            "target": "echo", "args": {"text": "hello %d" % i},
                            "service_ms": {"r0": 0.05}}) + "\n")
PY
echo
echo "latency at fixed rates (open loop, ${DURATION}s each, ms from when each call was due):"
echo "(tokio's timer sends on millisecond ticks, so 'from due' carries ~0.5 ms of client send lag; 'sent' columns leave it out)"
printf "%-22s %8s %10s %8s %8s %8s %10s %10s %8s\n" target rate achieved p50 p95 p99 "sent p50" "sent p99" errors
IFS=',' read -r -a rates <<<"${RATES:-1000,5000}"
for rate in "${rates[@]}"; do
  for pair in "echo backend direct|$ECHO1" "vecgate, 1 replica|$VG1"; do
    label=${pair%%|*}; url=${pair#*|}
    out="$work/live-$rate-${label// /_}"
    VECGATE_LOG=warn "$BIN/vecgate" replay --dataset "$work/echo.jsonl" --live "$url" --rate "$rate" \
      --max-seconds "$DURATION" --max-requests $(( rate * DURATION )) --out "$out" >"$out.log" 2>&1 \
      || { echo "live replay against $label failed: $(tail -3 "$out.log")" >&2; exit 1; }
    python3 - "$out/live.json" "$label" "$rate" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
errors = s["rpc_errors"] + s["timeouts"] + s["transport_errors"] + s["tool_errors"]
print(f"{sys.argv[2]:<22} {sys.argv[3]:>8} {s['achieved_rps']:>10.0f} {s['p50']:>8.2f} {s['p95']:>8.2f} {s['p99']:>8.2f} {s['sent_p50']:>10.2f} {s['sent_p99']:>10.2f} {errors:>8}")
if errors or s["answered"] != s["sent"]:
    sys.exit(f"{sys.argv[2]} at {sys.argv[3]} req/s: {errors} errors, {s['answered']} of {s['sent']} answered")
PY
  done
done
