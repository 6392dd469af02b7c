# Helpers the topology's scripts share: background services with pid files, and waiting.
# shellcheck shell=bash

# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

DSAR_PIDS="$DSAR_RUN_DIR/pids"
DSAR_LOGS="$DSAR_RUN_DIR/logs"
mkdir -p "$DSAR_PIDS" "$DSAR_LOGS" "$DSAR_HOME"

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo R) != Z ]]
}

# running NAME: the service's recorded process is alive.
running() {
  local pidfile="$DSAR_PIDS/$1.pid"
  [[ -f $pidfile ]] && alive "$(cat "$pidfile")"
}

# launch NAME CMD...: start CMD in a process group of its own, log to logs/NAME.log, record
# its pid. A job started with `&` from a script without job control ignores SIGINT, and a
# Prefect worker stops its polling child with SIGINT: so job control is on (`set -m`), which
# also gives the job its own process group for `halt` to signal. nohup: closing the
# operator's terminal does not stop it.
launch() {
  local name=$1
  shift
  if running "$name"; then
    say "$name already running (pid $(cat "$DSAR_PIDS/$name.pid"))"
    return 0
  fi
  (
    set -m
    nohup "$@" >>"$DSAR_LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$DSAR_PIDS/$name.pid"
  )
  say "$name started (pid $(cat "$DSAR_PIDS/$name.pid"), log $DSAR_LOGS/$name.log)"
}

# halt NAME [SECONDS]: SIGTERM to the service's process group, SIGKILL after SECONDS (20).
halt() {
  local name=$1 grace=${2:-20} pidfile="$DSAR_PIDS/$1.pid" pid
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local waited=0
    while alive "$pid" && ((waited < grace * 10)); do
      sleep 0.1
      waited=$((waited + 1))
    done
    if alive "$pid"; then
      say "$name did not stop within ${grace}s: killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    say "$name stopped"
  fi
  rm -f "$pidfile"
}

# wait_http URL SECONDS NAME: until URL answers 200, or fail naming the log to read.
wait_http() {
  local url=$1 seconds=$2 name=$3 tries=0
  until python - "$url" <<'PY' 2>/dev/null; do
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as answer:
    sys.exit(0 if answer.status == 200 else 1)
PY
    tries=$((tries + 1))
    if ((tries > seconds * 2)); then
      die "$name did not answer $url within ${seconds}s; see $DSAR_LOGS/$name.log"
    fi
    if [[ -f $DSAR_PIDS/$name.pid ]] && ! running "$name"; then
      tail -n 30 "$DSAR_LOGS/$name.log" >&2 || true
      die "$name exited; see $DSAR_LOGS/$name.log"
    fi
    sleep 0.5
  done
}
