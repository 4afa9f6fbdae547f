#!/usr/bin/env bash
# Load benchmark, one run on loopback: a bare HTTP responder (the machine's limit), the echo MCP
# backend directly, and the same backend through vecgate (learning on: policy "vector" over two
# backend replicas). Throughput at saturation with wrk (c=32), latency percentiles from wrk, and
# the ratios. Usage: benches/load/run.sh [SECONDS]   (default 10 per target)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
DURATION="${1:-10}"
CONNS="${CONNS:-32}"
command -v wrk >/dev/null || { apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p vecgate --bin vecgate -p vecgate-benches --bin vecgate-echo-backend
BIN=target/release
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Not called in $(...): the pid must be recorded in this shell so the trap can stop it.
start() { # name, command... ; waits for "listening on http://ADDR/mcp" and sets $URL
  local name=$1; shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for _ in $(seq 1 200); do
    if grep -q "listening on" "$work/$name.out"; then
      URL=$(grep -o 'http://[^ ]*' "$work/$name.out" | head -1); return 0
    fi
    sleep 0.05
  done
  echo "$name did not start: $(cat "$work/$name.err")" >&2; exit 1
}

start bare "$BIN/vecgate-echo-backend" --listen 127.0.0.1:0 --bare; BARE=$URL
start echo1 "$BIN/vecgate-echo-backend" --listen 127.0.0.1:0; ECHO1=$URL
start echo2 "$BIN/vecgate-echo-backend" --listen 127.0.0.1:0; ECHO2=$URL
cat >"$work/vecgate.toml" <<TOML
listen = "127.0.0.1:0"
policy = "${POLICY:-vector}"
[[pool]]
name = "echo"
urls = ["$ECHO1", "$ECHO2"]
TOML
VECGATE_LOG=warn start vecgate "$BIN/vecgate" serve --config "$work/vecgate.toml"; VG=$URL

session() { # url -> Mcp-Session-Id
  curl -s -D - -o /dev/null -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    "$1" -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
    | tr -d '\r' | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}'
}

run() { # label url session -> prints a line, stores req/s in $work/label.rps
  local label=$1 url=$2 sid=$3
  SESSION="$sid" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s benches/load/post.lua "$url" >"$work/$label.wrk"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/{print $2}' "$work/$label.wrk")
  p50=$(awk '$1=="50%"{print $2}' "$work/$label.wrk")
  p99=$(awk '$1=="99%"{print $2}' "$work/$label.wrk")
  if grep -q "Non-2xx" "$work/$label.wrk"; then echo "WARNING: $label had non-2xx answers:" >&2; grep "Non-2xx" "$work/$label.wrk" >&2; fi
  echo "$rps" >"$work/$label.rps"
  printf "%-22s %12s req/s   p50 %8s   p99 %8s\n" "$label" "$rps" "$p50" "$p99"
}

echo "vecgate load benchmark: wrk -c$CONNS, ${DURATION}s per target, everything on this machine's $(nproc) cores"
run "bare HTTP responder" "$BARE" ""
run "echo backend direct" "$ECHO1" "$(session "$ECHO1")"
run "through vecgate" "$VG" "$(session "$VG")"
direct=$(cat "$work/echo backend direct.rps"); via=$(cat "$work/through vecgate.rps"); bare=$(cat "$work/bare HTTP responder.rps")
python3 - "$bare" "$direct" "$via" <<'PY'
import sys
bare, direct, via = map(float, sys.argv[1:])
print(f"ratio vecgate/direct = {via/direct:.3f}   (bar: 4 x 0.11 = 0.44; mcp-proxy 0.115, agentgateway 0.109 in the notes)")
print(f"ratio direct/bare    = {direct/bare:.3f}")
PY
