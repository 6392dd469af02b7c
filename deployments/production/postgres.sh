#!/usr/bin/env bash
# PostgreSQL for the topology: `postgres.sh start` creates the cluster on first use (data in
# $DSAR_PG_DATA, port $DSAR_PG_PORT, loopback only) and the databases `prefect` and `dsar`;
# `postgres.sh stop` stops it. Uses the machine's own binaries (Debian: apt-get install
# postgresql), found on PATH or under /usr/lib/postgresql/*/bin. As root the server runs as
# the `postgres` user (PostgreSQL refuses root); the data directory's parents must let that
# user through.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bindir() {
  if [[ -n ${DSAR_PG_BIN:-} ]]; then
    echo "$DSAR_PG_BIN"
  elif command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
  else
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [[ -n $found ]] || die "PostgreSQL server binaries not found (apt-get install postgresql)"
    echo "$found"
  fi
}

as_server_user() {
  if [[ $EUID -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  local bin
  bin=$(bindir)
  if [[ ! -f $DSAR_PG_DATA/PG_VERSION ]]; then
    mkdir -p "$DSAR_PG_DATA"
    chmod 700 "$DSAR_PG_DATA"
    [[ $EUID -ne 0 ]] || chown postgres: "$DSAR_PG_DATA"
    local pwfile=()
    if [[ -n $DSAR_PG_PASSWORD ]]; then
      printf '%s\n' "$DSAR_PG_PASSWORD" >"$DSAR_PG_DATA.pw"
      [[ $EUID -ne 0 ]] || chown postgres: "$DSAR_PG_DATA.pw"
      pwfile=(--pwfile="$DSAR_PG_DATA.pw" -A scram-sha-256)
    else
      pwfile=(-A trust)
    fi
    as_server_user "$bin/initdb" -D "$DSAR_PG_DATA" -U "$DSAR_PG_USER" "${pwfile[@]}" \
      -E UTF8 --locale=C >"$DSAR_LOGS/postgres-initdb.log" 2>&1 \
      || { rm -f "$DSAR_PG_DATA.pw"; die "initdb failed; see $DSAR_LOGS/postgres-initdb.log"; }
    rm -f "$DSAR_PG_DATA.pw"
    say "postgres cluster created in $DSAR_PG_DATA"
  fi
  if as_server_user "$bin/pg_ctl" -D "$DSAR_PG_DATA" status >/dev/null 2>&1; then
    say "postgres already running"
  else
    local options="-p $DSAR_PG_PORT -k $DSAR_PG_DATA -c listen_addresses=127.0.0.1"
    # DSAR_PG_OPTIONS: extra server options (the loopback test switches durability off).
    options+=" ${DSAR_PG_OPTIONS:-}"
    touch "$DSAR_LOGS/postgres.log"
    [[ $EUID -ne 0 ]] || chown postgres: "$DSAR_LOGS/postgres.log"
    as_server_user "$bin/pg_ctl" -D "$DSAR_PG_DATA" -l "$DSAR_LOGS/postgres.log" \
      -o "$options" -w -t 60 start >/dev/null \
      || die "postgres did not start; see $DSAR_LOGS/postgres.log"
    say "postgres started on 127.0.0.1:$DSAR_PG_PORT"
  fi
  local database
  for database in prefect dsar; do
    PGPASSWORD=$DSAR_PG_PASSWORD "$bin/psql" -h 127.0.0.1 -p "$DSAR_PG_PORT" \
      -U "$DSAR_PG_USER" -d postgres -tAq \
      -c "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1 \
      || PGPASSWORD=$DSAR_PG_PASSWORD "$bin/createdb" -h 127.0.0.1 -p "$DSAR_PG_PORT" \
        -U "$DSAR_PG_USER" "$database"
  done
}

stop() {
  local bin
  bin=$(bindir)
  [[ -f $DSAR_PG_DATA/postmaster.pid ]] || return 0
  as_server_user "$bin/pg_ctl" -D "$DSAR_PG_DATA" -m fast -w -t 60 stop >/dev/null \
    && say "postgres stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop" ;;
esac
