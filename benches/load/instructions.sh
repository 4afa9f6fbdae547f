#!/usr/bin/env bash
# CPU work per forwarded call, counted, not timed: instructions (callgrind) that the echo
# backend, the bare hyper forwarder and vecgate (policy "vector": embedded, routed, learned)
# each execute per tools/call, and their ratios.
#
# Wall-clock benchmarks on a shared 2-core machine move by ±25 % from run to run; instruction
# counts move by ±2 %, so a change of a few per cent is visible here before it is in run.sh.
# Each process runs under callgrind (serialised, ~50× slower) and is sent N1 and then N2
# sequential calls on one keep-alive connection in two separate runs; the difference over
# N2 - N1 calls cancels start-up and shutdown. Counts are user-space instructions of all the
# process's threads (the learner thread included); kernel work (syscalls) is not counted.
#
#   benches/load/instructions.sh [N1 N2]     (default 500 2500)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
N1="${1:-500}"
N2="${2:-2500}"
source benches/load/start.sh
setup valgrind

# Under valgrind a process takes a while to start listening.
START_WAIT=60

calls() { # url n -> initialize a session, then n tools/call, each answer checked
  python3 - "$1" "$2" <<'PY'
import http.client, json, sys, urllib.parse
url, n = urllib.parse.urlparse(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection(url.hostname, url.port)
headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "MCP-Protocol-Version": "2025-06-18"}
init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}
conn.request("POST", url.path, json.dumps(init), headers)
answer = conn.getresponse()
session = answer.getheader("mcp-session-id")
answer.read()
if session:
    headers["Mcp-Session-Id"] = session
for i in range(n):
    body = '{"jsonrpc":"2.0","id":"c%d","method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}' % i
    conn.request("POST", url.path, body, headers)
    answer = conn.getresponse()
    data = answer.read()
    if answer.status != 200 or b'"result"' not in data:
        sys.exit(f"call {i}: HTTP {answer.status}: {data[:300]!r}")
PY
}

# One callgrind run: the measured process (made by $1, a function that starts it under
# valgrind and sets $URL and $PID) serves $2 calls; prints its instruction total.
counted() {
  local make=$1 n=$2 out="$work/cg.$RANDOM"
  CG_OUT=$out "$make"
  calls "$URL" "$n"
  kill -TERM "$PID"
  wait "$PID" 2>/dev/null || true
  awk '/^summary:|^totals:/{print $2; exit}' "$out"
}

valgrind_cmd() { echo valgrind --tool=callgrind --callgrind-out-file="$CG_OUT"; }

start echo "$BIN/vecgate-echo-backend" --listen 127.0.0.1:0; ECHO=$URL
printf 'listen = "127.0.0.1:0"\npolicy = "vector"\n[[pool]]\nname = "echo"\nurls = ["%s"]\n' "$ECHO" >"$work/vg.toml"

measured_echo() { start cg-echo $(valgrind_cmd) "$BIN/vecgate-echo-backend" --listen 127.0.0.1:0; }
measured_forwarder() { start cg-fwd $(valgrind_cmd) "$BIN/vecgate-bare-forwarder" --listen 127.0.0.1:0 --upstream "$ECHO"; }
measured_vecgate() { VECGATE_LOG=warn start cg-vg $(valgrind_cmd) "$BIN/vecgate" serve --config "$work/vg.toml"; }

per_call() { # name maker -> prints and stores instructions per call
  local a b
  a=$(counted "$2" "$N1")
  b=$(counted "$2" "$N2")
  local per=$(((b - a) / (N2 - N1)))
  echo "$per" >"$work/$1.per"
  printf "%-24s %9d instructions per call\n" "$1" "$per"
}

echo "instructions per tools/call (callgrind, sequential, calls $N1 and $N2, difference)"
per_call "echo backend" measured_echo
per_call "bare hyper forwarder" measured_forwarder
per_call "vecgate (vector)" measured_vecgate
python3 - "$(cat "$work/echo backend.per")" "$(cat "$work/bare hyper forwarder.per")" "$(cat "$work/vecgate (vector).per")" <<'PY'
import sys
echo, fwd, vg = map(int, sys.argv[1:4])
print(f"vecgate / forwarder = {vg / fwd:.2f}   vecgate / echo backend = {vg / echo:.2f}   forwarder / echo backend = {fwd / echo:.2f}")
PY
