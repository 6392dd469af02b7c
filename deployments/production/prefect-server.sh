#!/usr/bin/env bash
# The Prefect server (API and UI) on PostgreSQL: `prefect-server.sh start|stop`.
# UI and API on http://127.0.0.1:$DSAR_PREFECT_PORT; log in $DSAR_RUN_DIR/logs/prefect-server.log.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

case "${1:-}" in
  start)
    mkdir -p "$PREFECT_HOME"
    launch prefect-server prefect server start --host 127.0.0.1 --port "$DSAR_PREFECT_PORT"
    wait_http "$PREFECT_API_URL/health" 120 prefect-server
    say "prefect server ready at ${PREFECT_API_URL%/api}"
    ;;
  stop) halt prefect-server 30 ;;
  *) die "usage: $0 start|stop" ;;
esac
