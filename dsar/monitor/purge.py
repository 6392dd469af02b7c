"""The deadline monitor: what is due today across all open requests, and telling the right people.

One pass (:func:`scan`) finds, for every open request, each reason it needs attention:

* ``overdue``: the statutory deadline has passed (Art. 12(3) GDPR; Cal. Civ. Code §1798.130) —
  staff are told again every day until the request is answered;
* ``reminder``: the deadline falls within a configured margin (10 and 3 days by default) —
  staff are told once per margin;
* ``extension_decision``: the first period ends soon and the deadline was not extended; an
  extension is only lawful if the subject is told, with reasons, within that period
  (Art. 12(3) GDPR; 11 CCR §7021(b); the same holds for every regime that allows one);
* ``acknowledge``: a US-state request whose receipt has not been confirmed
  (11 CCR §7021(a): within 10 business days);
* ``requeue``: a run that failed or stopped making progress, or a request from an official
  channel that no run picked up, gets another run (at most ``max_requeues`` times, once a day);
  beyond that it is ``needs_staff``;
* ``pending_job``: a processor's asynchronous job (Klaviyo deletion, Shopify erasure) to poll.

:func:`apply` then sends what is new: one digest per controller to staff, and the receipt
confirmations to subjects. :func:`purge_closed` pseudonymises closed requests once the
evidence-retention period has passed (Art. 5(1)(e) storage limitation), keeping ids, dates,
statuses and the audit trail (Art. 5(2)).

The monitor is split by concern: the rules as SQL (:mod:`dsar.monitor.rules`), what a pass
found (:mod:`dsar.monitor.report`), the read-only pass that counts in the database and reads
only the rows shown (:mod:`dsar.monitor.scanning`), and the digest and receipt mails
(:mod:`dsar.monitor.digest`). This module gathers their public names and holds the pass's other
duties: rejections, re-run counting and storage limitation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, case, literal
from sqlmodel import Session, col, select, update

from dsar.audit import append_event
from dsar.enums import RequestStatus
from dsar.lifecycle import FINAL
from dsar.logging import get_logger
from dsar.models import Export, ManualTask, Request, Step
from dsar.monitor.digest import tell_subject
from dsar.monitor.rules import ACTOR, REQUEUED
from dsar.notify import Mailer
from dsar.settings import get_settings

log = get_logger("dsar.monitor.purge")

#: What identity fields of a purged request are replaced with.
PURGED = "[purged]"
#: ``Export.path`` of a package whose file was deleted after its link expired.
EXPORT_DELETED = "[deleted]"

_FINAL = sorted(FINAL)


# --------------------------------------------------------------------------------------------
# Other duties of a pass: telling rejected requesters, counting re-runs
# --------------------------------------------------------------------------------------------


def tell_rejected(session: Session, *, request_ids: Sequence[str], mailer: Mailer) -> int:
    """Tell each requester whose request was rejected why (Art. 12(4)); return how many mails.

    Used after :func:`dsar.identity.expire_challenges`, with the reason stored on the request.
    Sent once per request (notice purpose ``rejection``); commits.
    """
    sent = 0
    for request_id in request_ids:
        request = session.get(Request, request_id)
        if request is None or request.status is not RequestStatus.REJECTED:
            continue
        reasons = request.status_reason or ""
        notice = tell_subject(
            session, request, template="rejection", mailer=mailer, reasons=reasons
        )
        sent += notice is not None
    return sent


def record_requeue(
    session: Session, *, request_id: str, reason: str, now: datetime | None = None
) -> None:
    """Count one automatic re-run of a request: the audit trail is the counter, so the limit
    holds however many monitor processes come and go."""
    append_event(
        session,
        action=REQUEUED,
        actor=ACTOR,
        request_id=request_id,
        data={"reason": reason},
        at=now,
    )


# --------------------------------------------------------------------------------------------
# Storage limitation: purge closed requests, delete expired packages
# --------------------------------------------------------------------------------------------


def purge_closed(session: Session, *, now: datetime, retention_days: int) -> int:
    """Pseudonymise requests closed more than ``retention_days`` ago; return how many.

    Identities (e-mail, name, phone, customer id), free text staff or requesters wrote
    (``details``, verification note, extension reasons, manual-task notes) and stored step
    results go; ids, kinds, dates, statuses, notices and the audit trail stay, so the controller
    can still show what it did and when (Art. 5(2)) without keeping whom it did it for
    (Art. 5(1)(e)). Set-based ``UPDATE`` statements; the caller commits.
    """
    cutoff = now - timedelta(days=retention_days)
    closed = and_(
        col(Request.status).in_(_FINAL),
        col(Request.closed_at) < cutoff,
        col(Request.email) != PURGED,
    )
    ids = select(col(Request.id)).where(closed)
    quiet = {"synchronize_session": False}
    session.exec(
        update(Step)
        .where(col(Step.request_id).in_(ids))
        .values(result={})
        .execution_options(**quiet)
    )
    session.exec(
        update(ManualTask)
        .where(col(ManualTask.request_id).in_(ids), col(ManualTask.note).is_not(None))
        .values(note=PURGED)
        .execution_options(**quiet)
    )
    purged = session.exec(
        update(Request)
        .where(closed)
        .values(
            email=PURGED,
            name=None,
            phone=None,
            customer_id=None,
            details={"purged_on": now.date().isoformat()},
            verified_by=case((col(Request.verified_by).is_(None), None), else_=PURGED),
            extension_reason=case((col(Request.extension_reason).is_(None), None), else_=PURGED),
            idempotency_key=literal("purged:") + col(Request.id),
            updated_at=now,
        )
        .execution_options(**quiet)
    ).rowcount
    if purged:
        append_event(
            session,
            action="requests_purged",
            actor=ACTOR,
            data={"count": purged, "closed_before": cutoff.date().isoformat()},
        )
        log.info("requests_purged", count=purged)
    return int(purged)


def purge_expired_exports(
    session: Session, *, now: datetime, exports_dir: Path | None = None, batch_size: int = 1000
) -> int:
    """Delete the package files whose download links expired; mark their rows; return how many.

    Only files inside ``exports_dir`` (the configured exports folder) are deleted: a path
    pointing elsewhere is left alone and logged. Commits after each batch.
    """
    folder = (exports_dir or get_settings().exports_dir).resolve()
    deleted = 0
    last = ""
    while True:
        page = session.exec(
            select(col(Export.id), col(Export.path))
            .where(
                col(Export.expires_at) <= now,
                col(Export.path) != EXPORT_DELETED,
                col(Export.id) > last,
            )
            .order_by(col(Export.id))
            .limit(batch_size)
        ).all()
        if not page:
            return deleted
        gone: list[str] = []
        for export_id, path in page:
            last = export_id
            target = Path(path).resolve()
            if not target.is_relative_to(folder):
                log.warning("export_outside_folder", export_id=export_id)
                continue
            target.unlink(missing_ok=True)
            gone.append(export_id)
        session.exec(
            update(Export)
            .where(col(Export.id).in_(gone))
            .values(path=EXPORT_DELETED)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        deleted += len(gone)
