"""The deadline monitor's units of work, each a plain function over its own transaction.

:mod:`flows.monitor` orchestrates a pass from these (one task each); tests and ``dsar monitor``
can call them directly. What is due is decided by :mod:`dsar.monitor`; this module opens the
sessions and the mailer those decisions need.
"""

from __future__ import annotations

from datetime import date, datetime

from dsar import identity, monitor, vault
from dsar.enums import StepStatus
from dsar.errors import DsarError
from dsar.logging import get_logger
from dsar.monitor import MonitorPolicy, MonitorReport
from dsar.notify import mailer_from_settings
from dsar.store import session_scope
from engine.progress import pending_steps, step_rows

log = get_logger(__name__)


def expire_challenges(now: datetime) -> int:
    """Reject requests whose identity challenge expired, and tell each requester why."""
    with session_scope() as session:
        rejected = identity.expire_challenges(session, now=now)
        session.commit()
        monitor.tell_rejected(session, request_ids=rejected, mailer=mailer_from_settings())
    return len(rejected)


def scan_deadlines(today: date, now: datetime) -> MonitorReport:
    """Classify the open requests (one streamed query per rule family)."""
    with session_scope() as session:
        return monitor.scan(session, today=today, now=now, policy=MonitorPolicy.from_settings())


def notify_due(report: MonitorReport) -> dict[str, int]:
    """Send the staff digests and the receipt confirmations that are new."""
    with session_scope() as session:
        return dict(monitor.apply(session, report, mailer=mailer_from_settings()))


def record_requeue(request_id: str, reason: str) -> None:
    """Count a re-run before it starts, so a run that crashes still uses up an attempt."""
    with session_scope() as session:
        monitor.record_requeue(session, request_id=request_id, reason=reason)


def purge(now: datetime, retention_days: int) -> dict[str, int]:
    """Pseudonymise closed requests past retention; delete expired packages from disk."""
    with session_scope() as session:
        purged = monitor.purge_closed(session, now=now, retention_days=retention_days)
        session.commit()
        deleted = monitor.purge_expired_exports(session, now=now)
    return {"purged": purged, "exports_deleted": deleted}


def purge_retained(today: date) -> dict[str, int]:
    """Destroy the vault's records whose retention ended before ``today`` (once each).

    A vault key that cannot read the stored records purges nothing and is counted, so the rest
    of the pass goes on and the report shows it.
    """
    try:
        with session_scope() as session:
            key = vault.vault_key()
            return {"vault_purged": vault.purge_due(session, today=today, actor="monitor", key=key)}
    except DsarError as exc:
        log.warning("retention vault not purged", reason=str(exc))
        return {"vault_purge_refused": 1}


def every_step_ran(request_id: str) -> bool:
    """Nothing planned or running, no processor job pending: the answer may go out. A request
    with steps that never ran is left to the re-run of stuck requests instead."""
    statuses = {row["status"] for row in step_rows(request_id)}
    unfinished = {StepStatus.PLANNED.value, StepStatus.RUNNING.value}
    return not statuses & unfinished and not pending_steps(request_id)
