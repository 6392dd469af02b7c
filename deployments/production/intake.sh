#!/usr/bin/env bash
# The intake service (contact form, Shopify compliance webhooks, request page, verification
# and download links) on 127.0.0.1:$DSAR_INTAKE_PORT: `intake.sh start|stop`. With
# PREFECT_API_URL set it hands each stored request to the process-request deployment.
# In production put a TLS-terminating reverse proxy in front and set DSAR_PUBLIC_URL.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$DSAR_REPO"

case "${1:-}" in
  start)
    launch intake uvicorn dsar.intake.main:app --host 127.0.0.1 --port "$DSAR_INTAKE_PORT" \
      --no-access-log
    wait_http "http://127.0.0.1:$DSAR_INTAKE_PORT/healthz" 60 intake
    say "intake service ready at http://127.0.0.1:$DSAR_INTAKE_PORT"
    ;;
  stop) halt intake 20 ;;
  *) die "usage: $0 start|stop" ;;
esac
