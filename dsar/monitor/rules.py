"""The deadline monitor's rules: what makes an open request due today, written as SQL.

Each rule (:class:`Rule`) is a condition on a request (``where``) and a condition saying its
notice was already sent or its re-run already made (``done``). The scan counts and lists with
them (:mod:`dsar.monitor.scanning`) and the digest claims notices with them
(:mod:`dsar.monitor.digest`), so both always agree on what is due.

Every rule belongs to one :class:`Family` whose range (:func:`family_range`) the database can
read through an index without visiting the other open requests: the due-date rules lie within
the horizon on ``ix_request_monitor_due``; receipts owed have ``ix_request_acknowledgement``;
re-runs are an ``OR`` of one range per status (failed; stalled or unstarted by
``ix_request_status_updated``; verified but not started by ``ix_request_status_verified``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum, StrEnum

from sqlalchemy import ColumnElement, and_, case, exists, func, or_
from sqlalchemy import select as core_select
from sqlmodel import col

from dsar.enums import Channel, NoticeStatus, RequestStatus, StepStatus
from dsar.errors import InputError
from dsar.lifecycle import OPEN
from dsar.models import AuditEvent, Notice, Request, Step
from dsar.plan import MANUAL
from dsar.settings import Settings, get_settings

#: The actor written to the audit trail for the monitor's own actions.
ACTOR = "monitor"
#: Notice recipients: the controller's staff, and the data subject.
STAFF = "staff"
SUBJECT = "subject"
#: Audit action that counts automatic re-runs of a request.
REQUEUED = "run_requeued"

OPEN_STATUSES = sorted(OPEN)
#: Why a request in each status gets another run.
RERUN_REASONS = {
    RequestStatus.FAILED: "failed",
    RequestStatus.IN_PROGRESS: "stuck",
    RequestStatus.RECEIVED: "unstarted",
    RequestStatus.VERIFYING: "verified, not started",
}


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

    def horizon(self, today: date) -> date:
        """The last due date any due-date rule looks at."""
        return today + timedelta(days=max(*self.margins, self.extension_window_days))


class Family(Enum):
    """Which index range a rule's requests lie in (see the module docstring)."""

    DUE = "due"
    ACKNOWLEDGE = "acknowledge"
    RERUN = "rerun"


#: The dates an item can show: ``Rule.on`` indexes this tuple.
DATES = (
    col(Request.effective_due_date),
    col(Request.extension_notice_by),
    col(Request.acknowledge_by),
)
_DUE, _NOTICE_BY, _ACK_BY = range(3)


@dataclass(frozen=True, eq=False)
class Rule:
    """One reason for attention: which requests (``where``), and when it is already handled.

    ``family`` names the index range that holds its requests; a due-date rule's ``where``
    reads only columns of ``ix_request_monitor_due``, so the pass counts it from that index.
    """

    kind: DueKind
    family: Family
    where: ColumnElement[bool]
    done: ColumnElement[bool]
    on: int  # which of DATES the item shows
    purpose: str | None = None
    recipient: str = STAFF
    detail: str = ""

    @property
    def tells_staff(self) -> bool:
        """Whether a new item of this rule goes into the staff digest."""
        return self.purpose is not None and self.recipient == STAFF


def _sent(recipient: str, purpose: str) -> ColumnElement[bool]:
    return exists().where(
        col(Notice.request_id) == col(Request.id),
        col(Notice.recipient) == recipient,
        col(Notice.purpose) == purpose,
        col(Notice.status) == NoticeStatus.SENT,
    )


def start_of(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time.min, UTC)


def rules_for(today: date, now: datetime, policy: MonitorPolicy) -> list[Rule]:
    """Every rule of a pass on ``today``, in the order items of one request are listed."""
    due = col(Request.effective_due_date)
    escalation = f"escalation:{today.isoformat()}"
    found = [
        Rule(DueKind.OVERDUE, Family.DUE, due < today, _sent(STAFF, escalation), _DUE, escalation)
    ]
    low = today
    for margin in policy.margins:
        purpose = f"reminder-{margin}"
        high = today + timedelta(days=margin)
        found.append(
            Rule(
                DueKind.REMINDER,
                Family.DUE,
                due.between(low, high),
                _sent(STAFF, purpose),
                _DUE,
                purpose,
                detail=f"within {margin} days",
            )
        )
        low = high + timedelta(days=1)
    window = today + timedelta(days=policy.extension_window_days)
    found.append(
        Rule(
            DueKind.EXTENSION_DECISION,
            Family.DUE,
            and_(
                col(Request.extended).is_(False),
                col(Request.extension_notified_at).is_(None),
                col(Request.extension_notice_by).between(today, window),
                # Unextended, the first period ends on the due date: an index range to scan.
                due.between(today, window),
            ),
            _sent(STAFF, "extension-decision"),
            _NOTICE_BY,
            "extension-decision",
        )
    )
    found.append(
        Rule(
            DueKind.ACKNOWLEDGE,
            Family.ACKNOWLEDGE,
            owes_acknowledgement(),
            _sent(SUBJECT, "acknowledgement"),
            _ACK_BY,
            "acknowledgement",
            recipient=SUBJECT,
        )
    )
    troubled = needs_rerun(now - policy.stuck_after)
    reruns = (
        core_select(func.count())
        .select_from(AuditEvent)
        .where(col(AuditEvent.request_id) == col(Request.id), col(AuditEvent.action) == REQUEUED)
        .correlate(Request)
        .scalar_subquery()
    )
    requeued_today = exists().where(
        col(AuditEvent.request_id) == col(Request.id),
        col(AuditEvent.action) == REQUEUED,
        col(AuditEvent.at) >= start_of(today),
    )
    found.append(
        Rule(
            DueKind.REQUEUE,
            Family.RERUN,
            and_(troubled, reruns < policy.max_requeues),
            requeued_today,
            _DUE,
        )
    )
    attention = f"attention:{today.isoformat()}"
    found.append(
        Rule(
            DueKind.NEEDS_STAFF,
            Family.RERUN,
            and_(troubled, reruns >= policy.max_requeues),
            _sent(STAFF, attention),
            _DUE,
            attention,
            detail=f"not finished after {policy.max_requeues} re-runs",
        )
    )
    return found


def family_range(
    family: Family, today: date, now: datetime, policy: MonitorPolicy
) -> ColumnElement[bool]:
    """The index range holding every open request that a rule of ``family`` applies to."""
    status = col(Request.status)
    if family is Family.DUE:
        return and_(
            status.in_(OPEN_STATUSES), col(Request.effective_due_date) <= policy.horizon(today)
        )
    if family is Family.ACKNOWLEDGE:
        return and_(status.in_(OPEN_STATUSES), owes_acknowledgement())
    return needs_rerun(now - policy.stuck_after)


def needs_rerun(cutoff: datetime) -> ColumnElement[bool]:
    """A run failed, stalled, or never started: one ``OR`` branch per status, each an index
    range of its own (the database reads the branches separately and joins the results)."""
    status = col(Request.status)
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
    return or_(
        status == RequestStatus.FAILED, stalled, _unstarted(cutoff), _verified_waiting(cutoff)
    )


def _unstarted(cutoff: datetime) -> ColumnElement[bool]:
    """A request an official channel stored but no run picked up (the intake leaves requests it
    could not dispatch to the monitor). Staff-entered requests are started by staff, and so are
    those whose kind the intake only guessed from free text: staff confirm the kind first."""
    details = Request.__table__.c.details  # type: ignore[attr-defined]
    kind_confirmed = func.coalesce(details["classification"]["confident"].as_boolean(), True)
    return and_(
        col(Request.status) == RequestStatus.RECEIVED,
        col(Request.updated_at) < cutoff,
        col(Request.channel) != Channel.STAFF,
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


def owes_acknowledgement() -> ColumnElement[bool]:
    """A US-state request whose receipt was not yet confirmed (11 CCR §7021(a))."""
    return and_(col(Request.acknowledged_at).is_(None), col(Request.acknowledge_by).is_not(None))


def staff_rules(chosen: Sequence[Rule]) -> list[Rule]:
    """The rules whose new items go into the staff digest."""
    return [r for r in chosen if r.tells_staff]


def bits(chosen: Sequence[Rule], test: Callable[[Rule], bool]) -> int:
    """The bitmask of the rules (by position) that pass ``test``."""
    return sum(1 << i for i, rule in enumerate(chosen) if test(rule))


def bitmask(conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[int]:
    """``CASE WHEN c0 THEN 1 ELSE 0 END + CASE WHEN c1 THEN 2 ELSE 0 END + …``."""
    terms = [case((condition, 1 << i), else_=0) for i, condition in enumerate(conditions)]
    mask: ColumnElement[int] = terms[0]
    for term in terms[1:]:
        mask = mask + term
    return mask
