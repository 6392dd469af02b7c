#!/usr/bin/env bash
# The whole topology on this machine: PostgreSQL, the Prefect server, the deployments, N
# workers (`up.sh [N]`, default $DSAR_WORKERS) and the intake service. `down.sh` stops it.
set -euo pipefail
here="$(dirname "$0")"
"$here/postgres.sh" start
"$here/prefect-server.sh" start
"$here/deploy.sh"
"$here/workers.sh" start "${1:-${DSAR_WORKERS:-2}}"
"$here/intake.sh" start
