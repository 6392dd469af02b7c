#!/usr/bin/env bash
# Prefect workers of the process pool: `workers.sh start [N]` starts worker-1 … worker-N
# (default $DSAR_WORKERS), each in a session of its own; `workers.sh stop` stops them all.
# Each worker carries out at most $DSAR_WORKER_LIMIT flow runs at once, each in a process of
# its own; it reads connector secrets and DSAR_* settings from this environment.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

case "${1:-}" in
  start)
    count=${2:-$DSAR_WORKERS}
    for ((i = 1; i <= count; i++)); do
      launch "worker-$i" prefect worker start --pool "$DSAR_WORK_POOL" --type process \
        --name "$(hostname)-worker-$i" --limit "$DSAR_WORKER_LIMIT"
    done
    ;;
  stop)
    for pidfile in "$DSAR_PIDS"/worker-*.pid; do
      [[ -e $pidfile ]] || continue
      halt "$(basename "$pidfile" .pid)" 30
    done
    ;;
  *) die "usage: $0 start [N] | stop" ;;
esac
