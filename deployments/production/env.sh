# Settings of the production topology: sourced by every script here, and by an operator's shell
# (`source deployments/production/env.sh`) to talk to the running services.
#
# Every value can be set beforehand in the environment; what is set wins. Secrets (connector
# tokens, DSAR_WEBHOOK_SECRET, DSAR_SHOPIFY_APP_SECRET, DSAR_PG_PASSWORD, DSAR_SMTP_URL) are
# read from the environment only — never written into prefect.yaml or a register.
# shellcheck shell=bash

DSAR_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export DSAR_REPO

# Where pid files, logs, the PostgreSQL data directory and the engine's files live.
: "${DSAR_RUN_DIR:=$DSAR_REPO/.dsar/production}"
: "${DSAR_VENV:=$DSAR_REPO/.venv}"
: "${DSAR_PG_PORT:=5433}"
: "${DSAR_PG_USER:=dsar}"
: "${DSAR_PG_PASSWORD:=}"
: "${DSAR_PG_DATA:=$DSAR_RUN_DIR/postgres}"
: "${DSAR_PREFECT_PORT:=4200}"
: "${DSAR_INTAKE_PORT:=8600}"
: "${DSAR_WORKERS:=2}"
: "${DSAR_WORK_POOL:=local-process}"
# Flow runs one worker carries out at once (each is a process of its own).
: "${DSAR_WORKER_LIMIT:=4}"
export DSAR_RUN_DIR DSAR_VENV DSAR_PG_PORT DSAR_PG_USER DSAR_PG_PASSWORD DSAR_PG_DATA
export DSAR_PREFECT_PORT DSAR_INTAKE_PORT DSAR_WORKERS DSAR_WORK_POOL DSAR_WORKER_LIMIT

# The flows' working directory on the workers (prefect.yaml's pull step): this checkout.
: "${DSAR_WORKDIR:=$DSAR_REPO}"
export DSAR_WORKDIR

_dsar_pg_auth="$DSAR_PG_USER${DSAR_PG_PASSWORD:+:$DSAR_PG_PASSWORD}"
# Two databases on one server: Prefect's own, and the engine's (requests, steps, audit).
: "${PREFECT_API_DATABASE_CONNECTION_URL:=postgresql+asyncpg://$_dsar_pg_auth@127.0.0.1:$DSAR_PG_PORT/prefect}"
: "${DSAR_DATABASE_URL:=postgresql+psycopg://$_dsar_pg_auth@127.0.0.1:$DSAR_PG_PORT/dsar}"
unset _dsar_pg_auth
export PREFECT_API_DATABASE_CONNECTION_URL DSAR_DATABASE_URL

# The engine's files (outbox when no DSAR_SMTP_URL is set, access packages): shared by the
# intake service and the workers, so on several machines this is a shared volume.
: "${DSAR_HOME:=$DSAR_RUN_DIR/home}"
: "${DSAR_PUBLIC_URL:=http://127.0.0.1:$DSAR_INTAKE_PORT}"
: "${DSAR_LOG_FORMAT:=json}"
: "${DSAR_LOG_LEVEL:=INFO}"
export DSAR_HOME DSAR_PUBLIC_URL DSAR_LOG_FORMAT DSAR_LOG_LEVEL

# Prefect: a server of our own, offline, polling fast.
: "${PREFECT_HOME:=$DSAR_RUN_DIR/prefect-home}"
: "${PREFECT_API_URL:=http://127.0.0.1:$DSAR_PREFECT_PORT/api}"
: "${PREFECT_WORKER_QUERY_SECONDS:=1}"
: "${PREFECT_RUNNER_POLL_FREQUENCY:=1}"
: "${PREFECT_FLOWS_HEARTBEAT_FREQUENCY:=30}"
: "${PREFECT_LOGGING_EXTRA_LOGGERS:=dsar}"
export PREFECT_HOME PREFECT_API_URL PREFECT_WORKER_QUERY_SECONDS PREFECT_RUNNER_POLL_FREQUENCY
export PREFECT_FLOWS_HEARTBEAT_FREQUENCY PREFECT_LOGGING_EXTRA_LOGGERS
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export DO_NOT_TRACK=1

export PATH="$DSAR_VENV/bin:$PATH"
