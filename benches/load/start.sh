# Sourced by the load benchmarks. Needs $work (a scratch directory) and the array pids.
#
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
