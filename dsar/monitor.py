"""The deadline monitor: what is due today across all open requests, and telling the right people.

One pass (:func:`scan`) reads the open requests in a single streamed query, soonest due first
(the status and due-date indexes bound it), and classifies each:

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
confirmations to subjects. Each item is recorded as a :class:`~dsar.models.Notice` with purpose
``reminder-<days>``, ``escalation:<date>``, ``extension-decision``, ``attention:<date>`` or
``acknowledgement``; the unique ``(request, recipient, purpose)`` makes a second pass on the same
day send nothing twice. Staff notices are claimed and marked sent by set-based ``INSERT … SELECT``
and ``UPDATE`` statements over the rules' due-date ranges; memory does not grow with the number
of open requests — only the rows shown (``max_rows``) become objects.

:func:`purge_closed` pseudonymises closed requests once the evidence-retention period has passed
(Art. 5(1)(e) storage limitation), keeping ids, dates, statuses and the audit trail (Art. 5(2)).
"""

from __future__ import annotations

import smtplib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, exists, func, insert, literal, or_
from sqlalchemy import select as core_select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, select, update

from dsar.audit import append_event
from dsar.enums import Channel, RequestStatus, StepStatus
from dsar.errors import InputError
from dsar.lifecycle import FINAL, OPEN
from dsar.logging import get_logger
from dsar.models import AuditEvent, Export, ManualTask, Notice, Request, Step, new_id, utcnow
from dsar.notify import (
    Mailer,
    NotificationError,
    build_message,
    describe_error,
    render,
    send_notice,
)
from dsar.plan import MANUAL
from dsar.service import register_for
from dsar.settings import Settings, get_settings

log = get_logger("dsar.monitor")

#: The actor written to the audit trail for the monitor's own actions.
ACTOR = "monitor"
#: Notice recipients: the controller's staff, and the data subject.
STAFF = "staff"
SUBJECT = "subject"
#: Audit action that counts automatic re-runs of a request.
REQUEUED = "run_requeued"
#: What identity fields of a purged request are replaced with.
PURGED = "[purged]"
#: ``Export.path`` of a package whose file was deleted after its link expired.
EXPORT_DELETED = "[deleted]"

_OPEN = sorted(OPEN)
_FINAL = sorted(FINAL)
#: Why a request in each status gets another run.
_RERUN_REASONS = {
    RequestStatus.FAILED: "failed",
    RequestStatus.IN_PROGRESS: "stuck",
    RequestStatus.RECEIVED: "unstarted",
    RequestStatus.VERIFYING: "verified, not started",
}
_RERUN_STATUSES = sorted(_RERUN_REASONS)


class DueKind(StrEnum):
    """Why a request shows up in a monitor pass."""

    OVERDUE = "overdue"
    REMINDER = "reminder"
    EXTENSION_DECISION = "extension_decision"
    ACKNOWLEDGE = "acknowledge"
    REQUEUE = "requeue"
    NEEDS_STAFF = "needs_staff"
    PENDING_JOB = "pending_job"


@dataclass(frozen=True)
class MonitorPolicy:
    """What the monitor looks for and how hard it pushes.

    ``staff_email`` ``None`` sends each controller's digest to the privacy address in its
    register. ``poll_after``: a pending job younger than this is still being polled by its own
    run. ``batch_size`` bounds the rows held at once; ``max_rows`` the rows a report keeps.
    """

    reminder_margins: tuple[int, ...] = (10, 3)
    extension_window_days: int = 7
    staff_email: str | None = None
    evidence_retention_days: int = 3 * 365
    stuck_after: timedelta = timedelta(hours=1)
    poll_after: timedelta = timedelta(minutes=2)
    max_requeues: int = 3
    poll_wait_seconds: float = 5.0
    poll_concurrency: int = 8
    batch_size: int = 1000
    max_rows: int = 500
    digest_max_lines: int = 200

    def __post_init__(self) -> None:
        if not self.reminder_margins or min(self.reminder_margins) < 0:
            raise InputError("reminder margins must be one or more non-negative day counts")
        if self.extension_window_days < 0 or self.evidence_retention_days < 1:
            raise InputError("the extension window and the retention period must be positive")
        if min(self.batch_size, self.max_rows, self.poll_concurrency) < 1:
            raise InputError("batch size, row limit and concurrency must be at least 1")

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> MonitorPolicy:
        """The default policy with the configured retention period and processor wait."""
        settings = settings or get_settings()
        return cls(
            evidence_retention_days=settings.evidence_retention_days,
            poll_after=timedelta(seconds=settings.async_wait_seconds),
        )

    @property
    def margins(self) -> tuple[int, ...]:
        """The reminder margins, smallest first, without repeats."""
        return tuple(sorted(set(self.reminder_margins)))


@dataclass(frozen=True, slots=True)
class DueItem:
    """One reason one request needs attention; ids and dates only, never identities.

    ``on`` is the date that matters for ``kind`` (due date, extension-notice date or receipt
    confirmation date); ``done`` says the item was already notified (or re-queued) earlier.
    """

    request_id: str
    controller: str
    kind: DueKind
    on: date
    status: str
    purpose: str | None = None
    done: bool = False
    detail: str = ""
    step_id: str | None = None

    def row(self, today: date) -> dict[str, Any]:
        """The item as a table row for the CLI and the Prefect artifact."""
        return {
            "request": self.request_id,
            "controller": self.controller,
            "kind": self.kind.value,
            "date": self.on.isoformat(),
            "days": (self.on - today).days,
            "status": self.status,
            "detail": self.detail,
            "state": "done" if self.done else "new",
        }


@dataclass
class MonitorReport:
    """What one pass found: counts of everything, the first ``max_rows`` items, and the work
    lists the flow carries out (re-runs, jobs to poll) — plus, once applied, what was done."""

    today: date
    now: datetime
    policy: MonitorPolicy = field(default_factory=MonitorPolicy)
    items: list[DueItem] = field(default_factory=list)
    totals: Counter[str] = field(default_factory=Counter)
    new: Counter[str] = field(default_factory=Counter)
    truncated: int = 0
    staff_new: Counter[tuple[str, str]] = field(default_factory=Counter)  # (controller, purpose)
    requeue: list[tuple[str, str]] = field(default_factory=list)  # (request id, reason)
    pending_jobs: list[DueItem] = field(default_factory=list)
    rows_scanned: int = 0
    batches: int = 0
    largest_batch: int = 0
    actions: Counter[str] = field(default_factory=Counter)

    def _keep(self, item: DueItem) -> None:
        self.totals[item.kind] += 1
        if not item.done:
            self.new[item.kind] += 1
        if len(self.items) < self.policy.max_rows:
            self.items.append(item)
        else:
            self.truncated += 1

    @property
    def staff_controllers(self) -> set[str]:
        """Controllers whose staff have something new to be told."""
        return {controller for controller, _ in self.staff_new}

    def table_rows(self) -> list[dict[str, Any]]:
        """The kept items as rows, soonest first (no personal data)."""
        return [item.row(self.today) for item in self.items]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the date, counts per kind, what was done, and the rows."""
        return {
            "today": self.today.isoformat(),
            "totals": dict(sorted(self.totals.items())),
            "new": dict(sorted(self.new.items())),
            "actions": dict(sorted(self.actions.items())),
            "rows": self.table_rows(),
            "truncated": self.truncated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitorReport:
        """Rebuild the shown part of a report from :meth:`to_dict` (a flow's return value)."""
        today = date.fromisoformat(data["today"])
        report = cls(today=today, now=datetime.combine(today, time.min, UTC))
        report.items = [
            DueItem(
                request_id=row["request"],
                controller=row["controller"],
                kind=DueKind(row["kind"]),
                on=date.fromisoformat(row["date"]),
                status=row["status"],
                done=row["state"] == "done",
                detail=row["detail"],
            )
            for row in data["rows"]
        ]
        report.totals.update(data["totals"])
        report.new.update(data["new"])
        report.actions.update(data["actions"])
        report.truncated = int(data["truncated"])
        return report


# --------------------------------------------------------------------------------------------
# The rules, as SQL: the scan classifies with them and apply claims notices with them
# --------------------------------------------------------------------------------------------


#: The dates an item can show: ``_Rule.on`` indexes this tuple.
_DATES = (
    col(Request.effective_due_date),
    col(Request.extension_notice_by),
    col(Request.acknowledge_by),
)
_DUE, _NOTICE_BY, _ACK_BY = range(3)


@dataclass(frozen=True, eq=False)
class _Rule:
    kind: DueKind
    where: ColumnElement[bool]
    done: ColumnElement[bool]
    on: int  # which of _DATES the item shows
    purpose: str | None = None
    recipient: str = STAFF
    detail: str = ""


def _sent(recipient: str, purpose: str) -> ColumnElement[bool]:
    return exists().where(
        col(Notice.request_id) == col(Request.id),
        col(Notice.recipient) == recipient,
        col(Notice.purpose) == purpose,
        col(Notice.status) == "sent",
    )


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _rules(today: date, now: datetime, policy: MonitorPolicy) -> list[_Rule]:
    due = col(Request.effective_due_date)
    status = col(Request.status)
    rules = [
        _Rule(
            DueKind.OVERDUE,
            due < today,
            _sent(STAFF, f"escalation:{today.isoformat()}"),
            _DUE,
            f"escalation:{today.isoformat()}",
        )
    ]
    low = today
    for margin in policy.margins:
        purpose = f"reminder-{margin}"
        high = today + timedelta(days=margin)
        rules.append(
            _Rule(
                DueKind.REMINDER,
                due.between(low, high),
                _sent(STAFF, purpose),
                _DUE,
                purpose,
                detail=f"within {margin} days",
            )
        )
        low = high + timedelta(days=1)
    notice_by = col(Request.extension_notice_by)
    window = today + timedelta(days=policy.extension_window_days)
    rules.append(
        _Rule(
            DueKind.EXTENSION_DECISION,
            and_(
                col(Request.extended).is_(False),
                col(Request.extension_notified_at).is_(None),
                notice_by.between(today, window),
                # Unextended, the first period ends on the due date: an index range to scan.
                due.between(today, window),
            ),
            _sent(STAFF, "extension-decision"),
            _NOTICE_BY,
            "extension-decision",
        )
    )
    rules.append(
        _Rule(
            DueKind.ACKNOWLEDGE,
            _owes_acknowledgement(),
            _sent(SUBJECT, "acknowledgement"),
            _ACK_BY,
            "acknowledgement",
            recipient=SUBJECT,
        )
    )
    cutoff = now - policy.stuck_after
    reruns = (
        core_select(func.count())
        .select_from(AuditEvent)
        .where(col(AuditEvent.request_id) == col(Request.id), col(AuditEvent.action) == REQUEUED)
        .correlate(Request)
        .scalar_subquery()
    )
    stalled = and_(
        status == RequestStatus.IN_PROGRESS,
        col(Request.updated_at) < cutoff,
        ~exists().where(
            col(Step.request_id) == col(Request.id),
            or_(col(Step.started_at) >= cutoff, col(Step.finished_at) >= cutoff),
        ),
        ~exists().where(
            col(Step.request_id) == col(Request.id),
            col(Step.status) == StepStatus.PENDING,
            col(Step.connector) != MANUAL,
        ),
    )
    troubled = and_(
        status.in_(_RERUN_STATUSES),  # an index range
        or_(status == RequestStatus.FAILED, stalled, _unstarted(cutoff), _verified_waiting(cutoff)),
    )
    requeued_today = exists().where(
        col(AuditEvent.request_id) == col(Request.id),
        col(AuditEvent.action) == REQUEUED,
        col(AuditEvent.at) >= _start_of(today),
    )
    rules.append(
        _Rule(DueKind.REQUEUE, and_(troubled, reruns < policy.max_requeues), requeued_today, _DUE)
    )
    attention = f"attention:{today.isoformat()}"
    rules.append(
        _Rule(
            DueKind.NEEDS_STAFF,
            and_(troubled, reruns >= policy.max_requeues),
            _sent(STAFF, attention),
            _DUE,
            attention,
            detail=f"not finished after {policy.max_requeues} re-runs",
        )
    )
    return rules


def _unstarted(cutoff: datetime) -> ColumnElement[bool]:
    """A request an official channel stored but no run picked up (the intake leaves requests it
    could not dispatch to the monitor). Staff-entered requests are started by staff, and so are
    those whose kind the intake only guessed from free text: staff confirm the kind first."""
    details = Request.__table__.c.details  # type: ignore[attr-defined]
    kind_confirmed = func.coalesce(details["classification"]["confident"].as_boolean(), True)
    return and_(
        col(Request.status) == RequestStatus.RECEIVED,
        col(Request.channel) != Channel.STAFF,
        col(Request.updated_at) < cutoff,
        kind_confirmed.is_(True),
    )


def _verified_waiting(cutoff: datetime) -> ColumnElement[bool]:
    """The subject confirmed their identity, but the run that should have followed died (or
    was never dispatched): the request would otherwise wait until its challenge expired."""
    return and_(
        col(Request.status) == RequestStatus.VERIFYING,
        col(Request.verified_at).is_not(None),
        col(Request.verified_at) < cutoff,
    )


def _owes_acknowledgement() -> ColumnElement[bool]:
    return and_(col(Request.acknowledge_by).is_not(None), col(Request.acknowledged_at).is_(None))


def _staff_rules(rules: Sequence[_Rule]) -> list[_Rule]:
    return [r for r in rules if r.purpose is not None and r.recipient == STAFF]


def _candidates(today: date, now: datetime, policy: MonitorPolicy) -> ColumnElement[bool]:
    """A cheap superset of every rule: plain column tests the database checks in one pass."""
    horizon = today + timedelta(days=max(*policy.margins, policy.extension_window_days))
    status = col(Request.status)
    return and_(
        status.in_(_OPEN),
        or_(
            col(Request.effective_due_date) <= horizon,
            _owes_acknowledgement(),
            status == RequestStatus.FAILED,
            and_(
                status == RequestStatus.IN_PROGRESS,
                col(Request.updated_at) < now - policy.stuck_after,
            ),
            _unstarted(now - policy.stuck_after),
            _verified_waiting(now - policy.stuck_after),
        ),
    )


# --------------------------------------------------------------------------------------------
# Scan
# --------------------------------------------------------------------------------------------


def _batches(session: Session, statement: Any, report: MonitorReport) -> Iterator[Sequence[Any]]:
    """Stream ``statement`` in partitions of ``batch_size`` rows, counting what was held."""
    size = report.policy.batch_size
    result = session.connection().execute(statement.execution_options(yield_per=size))
    for part in result.partitions(size):
        report.batches += 1
        report.largest_batch = max(report.largest_batch, len(part))
        report.rows_scanned += len(part)
        yield part


def scan(session: Session, *, today: date, now: datetime, policy: MonitorPolicy) -> MonitorReport:
    """Classify every open request that needs something today; read-only.

    One query over the open requests, soonest due first, streamed in batches. The database
    evaluates the rules: one bit per rule that applies, one bit per rule whose notice was
    already sent (an ``EXISTS`` on the notices' unique index) — so a row costs two integers,
    and only the rows shown become objects. A second indexed query lists the pending jobs.
    """
    if now.utcoffset() is None:
        raise InputError("now must be timezone-aware")
    report = MonitorReport(today=today, now=now, policy=policy)
    rules = _rules(today, now, policy)
    staff = _bits(rules, lambda r: r.purpose is not None and r.recipient == STAFF)
    requeue = _bits(rules, lambda r: r.kind is DueKind.REQUEUE)
    applies = _bitmask([r.where for r in rules])
    done = _bitmask([and_(r.where, r.done) for r in rules])
    statement = (
        core_select(col(Request.id), col(Request.controller), col(Request.status), *_DATES)
        .add_columns(applies, done)
        .where(_candidates(today, now, policy))
        .order_by(col(Request.effective_due_date), col(Request.id))
    )
    totals, new = [0] * len(rules), [0] * len(rules)
    for part in _batches(session, statement, report):
        for request_id, controller, status, *dates, flags, sent in part:
            if flags & requeue & ~sent:
                reason = _RERUN_REASONS[status]
                report.requeue.append((request_id, reason))
            while flags:
                bit = flags & -flags
                flags ^= bit
                i = bit.bit_length() - 1
                totals[i] += 1
                if not sent & bit:
                    new[i] += 1
                    if bit & staff:
                        report.staff_new[controller, str(rules[i].purpose)] += 1
                if len(report.items) >= policy.max_rows:
                    report.truncated += 1
                    continue
                rule = rules[i]
                report.items.append(
                    DueItem(
                        request_id=request_id,
                        controller=controller,
                        kind=rule.kind,
                        on=dates[rule.on],
                        status=status.value,
                        purpose=rule.purpose,
                        done=bool(sent & bit),
                        detail=rule.detail or (status.value if bit & requeue else ""),
                    )
                )
    for rule, total, fresh in zip(rules, totals, new, strict=True):
        if total:
            report.totals[rule.kind] += total
        if fresh:
            report.new[rule.kind] += fresh
    _scan_pending_jobs(session, report)
    report.items.sort(key=lambda item: (item.on, item.request_id, item.kind))
    log.info(
        "monitor_scanned",
        rows=report.rows_scanned,
        batches=report.batches,
        **{f"new_{kind}": count for kind, count in report.new.items() if count},
    )
    return report


def _bits(rules: Sequence[_Rule], chosen: Callable[[_Rule], bool]) -> int:
    return sum(1 << i for i, rule in enumerate(rules) if chosen(rule))


def _bitmask(conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[int]:
    """``CASE WHEN c0 THEN 1 ELSE 0 END + CASE WHEN c1 THEN 2 ELSE 0 END + …``."""
    terms = [case((condition, 1 << i), else_=0) for i, condition in enumerate(conditions)]
    mask: ColumnElement[int] = terms[0]
    for term in terms[1:]:
        mask = mask + term
    return mask


def _scan_pending_jobs(session: Session, report: MonitorReport) -> None:
    statement = (
        core_select(
            col(Step.id),
            col(Step.request_id),
            col(Step.recipient),
            col(Step.action),
            col(Request.controller),
            col(Request.status),
            col(Request.effective_due_date),
        )
        .join(Request, col(Request.id) == col(Step.request_id))
        .where(
            col(Step.status) == StepStatus.PENDING,
            col(Step.connector) != MANUAL,
            col(Step.external_ref).is_not(None),
            col(Step.started_at) <= report.now - report.policy.poll_after,
            col(Request.status).in_(_OPEN),
        )
        .order_by(col(Request.effective_due_date), col(Step.id))
    )
    for part in _batches(session, statement, report):
        for step_id, request_id, recipient, action, controller, status, due in part:
            item = DueItem(
                request_id=request_id,
                controller=controller,
                kind=DueKind.PENDING_JOB,
                on=due,
                status=RequestStatus(status).value,
                detail=f"{recipient}:{action}",
                step_id=step_id,
            )
            report._keep(item)
            report.pending_jobs.append(item)


# --------------------------------------------------------------------------------------------
# Apply: the staff digest and the receipt confirmations
# --------------------------------------------------------------------------------------------


def apply(session: Session, report: MonitorReport, *, mailer: Mailer) -> Counter[str]:
    """Send what ``report`` found new; return counts (also added to ``report.actions``).

    Commits as it goes: each message's evidence is stored before and after it leaves, so a
    crash never loses the record of a sent message and a re-run never repeats one.
    """
    done: Counter[str] = Counter()
    rules = _rules(report.today, report.now, report.policy)
    if report.totals[DueKind.ACKNOWLEDGE]:  # also records confirmations sent but not noted
        done.update(_acknowledge_all(session, report, mailer=mailer))
    for controller in sorted(report.staff_controllers):
        done.update(_digest(session, report, rules, controller=controller, mailer=mailer))
    report.actions.update(done)
    return done


def _acknowledge_all(session: Session, report: MonitorReport, *, mailer: Mailer) -> Counter[str]:
    """Confirm receipt to every subject still owed it (11 CCR §7021(a)), a page at a time."""
    counts: Counter[str] = Counter()
    last = ""
    while True:
        page = session.exec(
            select(col(Request.id))
            .where(col(Request.status).in_(_OPEN), _owes_acknowledgement(), col(Request.id) > last)
            .order_by(col(Request.id))
            .limit(report.policy.batch_size)
        ).all()
        if not page:
            return counts
        for request_id in page:
            last = request_id
            request = session.get(Request, request_id)
            assert request is not None  # noqa: S101 - selected just above
            started = utcnow()
            notice = _tell_subject(
                session,
                request,
                template="acknowledgement",
                mailer=mailer,
                respond_by=request.effective_due_date,
            )
            if notice is None:
                counts["acknowledgements_failed"] += 1
                continue
            request.acknowledged_at = notice.sent_at
            session.add(request)
            session.commit()
            fresh = notice.sent_at is not None and notice.sent_at >= started
            counts["acknowledgements_sent" if fresh else "acknowledgements_recorded"] += 1


def _tell_subject(
    session: Session, request: Request, *, template: str, mailer: Mailer, **context: Any
) -> Notice | None:
    """Send ``template`` to the requester once (notice purpose = template name); ``None`` when
    it could not be sent — the failure is recorded on the notice and logged with the id only."""
    try:
        register = register_for(request.controller)
        subject, body = render(
            template,
            request.language,
            controller=register.controller,
            reference=request.id,
            kind=request.kind.value,
            received_on=request.received_on,
            regime=request.regime.value,
            **context,
        )
        return send_notice(
            session,
            request_id=request.id,
            recipient=SUBJECT,
            purpose=template,
            to=request.email,
            subject=subject,
            body=body,
            mailer=mailer,
            commit=True,
        )
    except (NotificationError, InputError) as exc:
        log.warning(
            "subject_notice_failed", request_id=request.id, purpose=template, error=str(exc)
        )
        return None


@dataclass(frozen=True)
class DigestSection:
    """One heading of a staff digest: how many new items, and the lines shown."""

    title: str
    total: int
    lines: tuple[str, ...]


def _digest(
    session: Session,
    report: MonitorReport,
    rules: Sequence[_Rule],
    *,
    controller: str,
    mailer: Mailer,
) -> Counter[str]:
    """Claim this controller's new staff notices, send them as one mail, mark them sent."""
    try:
        address = report.policy.staff_email or register_for(controller).controller.privacy_email
    except InputError:
        log.warning("digest_without_register", controller=controller)
        return Counter(digests_failed=1)
    sender = get_settings().mail_from
    message_id = f"<digest.{new_id()}@{sender.rpartition('@')[2] or 'dsar.invalid'}>"
    news = [r for r in _staff_rules(rules) if report.staff_new[controller, str(r.purpose)]]
    claimed = {
        rule.purpose: _claim(session, rule, controller=controller, message_id=message_id)
        for rule in news
    }
    total = sum(claimed.values())
    if not total:
        return Counter()
    session.commit()
    sections = [
        DigestSection(
            title=_title(rule, report.policy),
            total=claimed[rule.purpose],
            lines=_lines(session, rule, report, controller=controller, message_id=message_id),
        )
        for rule in news
        if claimed[rule.purpose]
    ]
    subject, body = digest_text(controller=controller, today=report.today, sections=sections)
    try:
        message = build_message(
            sender=sender,
            to=address,
            subject=subject,
            body=body,
            reference=f"digest:{controller}:{report.today.isoformat()}",
            message_id=message_id,
        )
        mailer.send(message)
    except (smtplib.SMTPException, OSError, ValueError) as exc:  # ValueError: unusable address
        _settle(session, news, controller, message_id, status="failed", error=describe_error(exc))
        session.commit()
        log.warning("digest_failed", controller=controller, notices=total)
        return Counter(digests_failed=1)
    _settle(session, news, controller, message_id, status="sent", error=None)
    append_event(
        session,
        action="staff_digest_sent",
        actor=ACTOR,
        data={
            "controller": controller,
            "notices": total,
            "purposes": {str(k): v for k, v in claimed.items() if v},
        },
    )
    session.commit()
    log.info("digest_sent", controller=controller, notices=total)
    return Counter(digests_sent=1, staff_notices=total)


def _due(rule: _Rule, controller: str) -> ColumnElement[bool]:
    """The controller's open requests ``rule`` applies to.

    The controller is compared as an expression (``controller || ''``) so that the planner
    walks the rule's due-date range and checks the controller on the way, instead of reading
    every open request of the controller through its index.
    """
    return and_(
        col(Request.status).in_(_OPEN), (col(Request.controller) + "") == controller, rule.where
    )


def _due_ids(rule: _Rule, controller: str) -> Any:
    return select(col(Request.id)).where(_due(rule, controller))


class _RandomId(FunctionElement[str]):
    """32 random hex characters drawn by the database, one per row of an ``INSERT … SELECT``."""

    type = String()
    inherit_cache = True


@compiles(_RandomId, "sqlite")
def _random_id_sqlite(element: _RandomId, compiler: SQLCompiler, **kw: Any) -> str:
    return "lower(hex(randomblob(16)))"


@compiles(_RandomId, "postgresql")
def _random_id_postgresql(element: _RandomId, compiler: SQLCompiler, **kw: Any) -> str:
    return "replace(gen_random_uuid()::text, '-', '')"


def _claim(session: Session, rule: _Rule, *, controller: str, message_id: str) -> int:
    """Tie every due, not yet sent staff notice of ``rule`` to this digest; return how many.

    Rows left ``pending``/``failed`` by an earlier digest are taken over (set-based ``UPDATE``);
    missing rows are created by ``INSERT … SELECT`` with ids the database draws at random, so
    no row passes through Python.
    """
    assert rule.purpose is not None  # noqa: S101 - staff rules carry a purpose
    due = _due_ids(rule, controller)
    taken = session.exec(
        update(Notice)
        .where(
            col(Notice.recipient) == STAFF,
            col(Notice.purpose) == rule.purpose,
            col(Notice.status) != "sent",
            col(Notice.request_id).in_(due),
        )
        .values(message_id=message_id, status="pending", error=None, channel="email")
        .execution_options(synchronize_session=False)
    ).rowcount
    missing = core_select(
        _RandomId(),
        col(Request.id),
        literal(STAFF),
        literal(rule.purpose),
        literal("email"),
        literal("pending"),
        literal(message_id),
    ).where(
        _due(rule, controller),
        ~exists().where(
            col(Notice.request_id) == col(Request.id),
            col(Notice.recipient) == STAFF,
            col(Notice.purpose) == rule.purpose,
        ),
    )
    columns = ["id", "request_id", "recipient", "purpose", "channel", "status", "message_id"]
    made = session.exec(insert(Notice).from_select(columns, missing)).rowcount
    return int(taken) + int(made)


def _settle(
    session: Session,
    rules: Sequence[_Rule],
    controller: str,
    message_id: str,
    *,
    status: str,
    error: str | None,
) -> None:
    sent_at = utcnow() if status == "sent" else None
    for rule in _staff_rules(rules):
        session.exec(
            update(Notice)
            .where(
                col(Notice.recipient) == STAFF,
                col(Notice.purpose) == rule.purpose,
                col(Notice.message_id) == message_id,
                col(Notice.request_id).in_(_due_ids(rule, controller)),
            )
            .values(status=status, sent_at=sent_at, error=error)
            .execution_options(synchronize_session=False)
        )


def _lines(
    session: Session, rule: _Rule, report: MonitorReport, *, controller: str, message_id: str
) -> tuple[str, ...]:
    rows = session.exec(
        select(
            col(Request.id), col(Request.kind), col(Request.status), col(Request.effective_due_date)
        )
        .join(
            Notice,
            and_(
                col(Notice.request_id) == col(Request.id),
                col(Notice.recipient) == STAFF,
                col(Notice.purpose) == rule.purpose,
            ),
        )
        .where(
            col(Notice.message_id) == message_id,
            col(Request.id).in_(_due_ids(rule, controller)),  # the rule's index range
        )
        .order_by(col(Request.effective_due_date), col(Request.id))
        .limit(report.policy.digest_max_lines)
    ).all()
    return tuple(
        f"- {request_id}  {kind.value:<13} {status.value:<15} due {due.isoformat()} "
        f"({days_text(due, report.today)})"
        for request_id, kind, status, due in rows
    )


def _title(rule: _Rule, policy: MonitorPolicy) -> str:
    if rule.kind is DueKind.OVERDUE:
        return "Overdue: the deadline has passed (listed again every day until answered)"
    if rule.kind is DueKind.REMINDER:
        return f"Due {rule.detail}"
    if rule.kind is DueKind.EXTENSION_DECISION:
        return (
            "Decide on an extension: the subject must be told, with reasons, before the first "
            "period ends (Art. 12(3) GDPR; 11 CCR §7021(b))"
        )
    return f"Needs staff: not finished after {policy.max_requeues} automatic re-runs"


def days_text(day: date, today: date) -> str:
    """``today``, ``in 3 days``, ``2 days overdue``: how a date reads from ``today``."""
    days = (day - today).days
    if days == 0:
        return "today"
    if days > 0:
        return f"in {days} day{'s' if days != 1 else ''}"
    return f"{-days} day{'s' if days != -1 else ''} overdue"


def digest_text(
    *, controller: str, today: date, sections: Sequence[DigestSection]
) -> tuple[str, str]:
    """Subject and body of a staff digest: request ids, kinds, statuses and dates only.

    Staff look requests up with ``dsar request show ID``; the digest itself holds no personal
    data, so it may go to a shared mailbox.
    """
    total = sum(section.total for section in sections)
    subject = f"[dsar] {controller}: {total} request item(s) need attention on {today.isoformat()}"
    parts = [f"Deadline monitor for {controller}, {today.isoformat()}.", ""]
    for section in sections:
        parts += [f"{section.title} ({section.total})", *section.lines]
        if section.total > len(section.lines):
            parts.append(f"- … and {section.total - len(section.lines)} more (dsar monitor)")
        parts.append("")
    parts.append(
        "Details: dsar request show <id>. Reminders come once per margin; overdue requests "
        "are listed every day until answered."
    )
    return subject, "\n".join(parts) + "\n"


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
        notice = _tell_subject(
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
