#!/usr/bin/env bash
# Stop the topology in reverse order; what is not running is skipped.
set -uo pipefail
here="$(dirname "$0")"
"$here/intake.sh" stop
"$here/workers.sh" stop
"$here/prefect-server.sh" stop
"$here/postgres.sh" stop
