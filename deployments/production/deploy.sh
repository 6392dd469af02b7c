#!/usr/bin/env bash
# Register what the workers run: the engine's schema (`dsar db upgrade`), the process work
# pool, and every deployment of deployments/prefect.yaml. Safe to run again after an upgrade.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$DSAR_REPO"

: "${DSAR_ZOMBIE_AUTOMATION:=dsar: crash flow runs without heartbeats}"
: "${DSAR_ZOMBIE_SECONDS:=$((3 * PREFECT_FLOWS_HEARTBEAT_FREQUENCY))}"

zombie_automation() {
  cat <<JSON
{
  "name": "$DSAR_ZOMBIE_AUTOMATION",
  "trigger": {
    "type": "event",
    "match": {"prefect.resource.id": "prefect.flow-run.*"},
    "after": ["prefect.flow-run.Running", "prefect.flow-run.heartbeat"],
    "expect": ["prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
               "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
               "prefect.flow-run.Crashed"],
    "for_each": ["prefect.resource.id"],
    "posture": "Proactive",
    "threshold": 1,
    "within": $DSAR_ZOMBIE_SECONDS
  },
  "actions": [{"type": "change-flow-run-state", "state": "CRASHED",
               "message": "No heartbeat for ${DSAR_ZOMBIE_SECONDS}s: the run's process is gone."}]
}
JSON
}

dsar db upgrade >>"$DSAR_LOGS/deploy.log" 2>&1 || die "dsar db upgrade failed; see $DSAR_LOGS/deploy.log"
say "engine database at the newest schema"
if ! prefect work-pool inspect "$DSAR_WORK_POOL" >/dev/null 2>&1; then
  prefect work-pool create "$DSAR_WORK_POOL" --type process >>"$DSAR_LOGS/deploy.log" 2>&1 \
    || die "could not create work pool $DSAR_WORK_POOL; see $DSAR_LOGS/deploy.log"
fi
say "work pool $DSAR_WORK_POOL ready"
# Flow runs whose process died with its machine or worker send no more heartbeats; this
# automation marks them Crashed after $DSAR_ZOMBIE_SECONDS without one (Prefect's recipe for
# zombie runs; armed from the Running state too, so a run killed before its first heartbeat
# is caught). The engine's deadline monitor then re-runs the requests they carried. A run
# killed while still Pending (its process starting) is not caught: it shows Pending.
if ! prefect automation inspect "$DSAR_ZOMBIE_AUTOMATION" >/dev/null 2>&1; then
  prefect automation create --from-json "$(zombie_automation)" >>"$DSAR_LOGS/deploy.log" 2>&1 \
    || die "could not create the zombie-run automation; see $DSAR_LOGS/deploy.log"
fi
say "automation '$DSAR_ZOMBIE_AUTOMATION' ready"
prefect --no-prompt deploy --all --prefect-file deployments/prefect.yaml \
  >>"$DSAR_LOGS/deploy.log" 2>&1 || die "prefect deploy failed; see $DSAR_LOGS/deploy.log"
say "deployments registered: $(prefect deployment ls 2>/dev/null | grep -c '/' || true)"
