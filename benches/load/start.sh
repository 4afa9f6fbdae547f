# Sourced by the load benchmarks (from the repository root).
#
# setup TOOL : installs TOOL (wrk, valgrind) if it is missing, builds the release binaries the
# benchmarks run and sets $BIN to their directory, makes a scratch directory $work, and stops
# every process `start` launched (the array pids) and removes $work when the script exits.
setup() {
  command -v "$1" >/dev/null || { apt-get update -qq >/dev/null && apt-get install -y -qq "$1" >/dev/null; }
  cargo build --release -q -p vecgate --bin vecgate -p vecgate-benches --bin vecgate-echo-backend --bin vecgate-bare-forwarder
  BIN=$PWD/target/release
  work=$(mktemp -d)
  pids=()
  trap cleanup EXIT
}
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }

# start NAME COMMAND... : runs COMMAND in the background, waits up to ${START_WAIT:-10}
# seconds for it to print "listening on http://ADDR/mcp", and sets $URL and $PID. Not to be
# called in $(...): the pid must be recorded in the calling shell so its trap can stop it.
start() {
  local name=$1; shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  PID=$!
  pids+=("$PID")
  local tries=$(( ${START_WAIT:-10} * 20 ))
  for _ in $(seq 1 "$tries"); do
    if grep -q "listening on" "$work/$name.out"; then
      URL=$(grep -o 'http://[^ ]*' "$work/$name.out" | head -1); return 0
    fi
    sleep 0.05
  done
  echo "$name did not start: $(cat "$work/$name.err")" >&2; exit 1
}
