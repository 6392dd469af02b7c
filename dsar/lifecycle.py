"""The status machines of a request and of its steps, and the functions that move them.

::

    received ──> verifying ──> in_progress ──> awaiting_manual ──> completed
       │            │             │    ▲            │
       │            │             ▼    │            │
       │            │           failed ┘            │
       └────────────┴──> rejected / withdrawn <─────┘

``extended`` is a flag, not a status (Art. 12(3): the deadline moves, the work goes on).
``completed``, ``rejected`` and ``withdrawn`` are final. Every transition appends an audit event
in the same transaction as the status change, so the trail and the state never disagree.

A step (one action on one recipient) has a machine of its own, moved only by
:func:`move_step`::

    planned ──> running ──> done
       │   ▲       │ ▲ └──> pending ──> done      (a processor's job, or a manual recipient)
       │   │       ▼ │         └──────> failed
       │   └──── failed ──> running               (a re-run retries what failed)
       └──> skipped / pending / failed

``running → running`` is a re-claim after a crash mid-call; ``done`` and ``skipped`` are final.
"""

from __future__ import annotations

from sqlmodel import Session

from dsar.audit import append_event
from dsar.enums import RequestStatus as S
from dsar.enums import StepStatus as T
from dsar.errors import InvalidTransition
from dsar.models import Request, Step, utcnow

#: Allowed moves: current status → the statuses it may go to.
TRANSITIONS: dict[S, frozenset[S]] = {
    S.RECEIVED: frozenset({S.VERIFYING, S.IN_PROGRESS, S.REJECTED, S.WITHDRAWN}),
    S.VERIFYING: frozenset({S.IN_PROGRESS, S.REJECTED, S.WITHDRAWN}),
    S.IN_PROGRESS: frozenset({S.AWAITING_MANUAL, S.COMPLETED, S.FAILED, S.WITHDRAWN}),
    S.AWAITING_MANUAL: frozenset({S.IN_PROGRESS, S.COMPLETED, S.FAILED, S.WITHDRAWN}),
    S.FAILED: frozenset({S.IN_PROGRESS, S.REJECTED, S.WITHDRAWN}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset(),
}

FINAL: frozenset[S] = frozenset(status for status, targets in TRANSITIONS.items() if not targets)
OPEN: frozenset[S] = frozenset(TRANSITIONS) - FINAL

#: Moves that must say why (Art. 12(4): a refusal is explained to the subject).
REASON_REQUIRED: frozenset[S] = frozenset({S.REJECTED, S.FAILED})


def check_transition(current: S, target: S, *, reason: str | None = None) -> None:
    """Raise :class:`InvalidTransition` unless ``current → target`` is allowed."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final)"
        raise InvalidTransition(current, target, reason=f"allowed from here: {allowed}")
    if target in REASON_REQUIRED and not (reason and reason.strip()):
        raise InvalidTransition(current, target, reason="a reason is required")


def transition(
    session: Session,
    *,
    request: Request,
    target: S,
    actor: str,
    reason: str | None = None,
) -> Request:
    """Move ``request`` to ``target``, stamping times and appending the audit event."""
    current = S(request.status)
    check_transition(current, target, reason=reason)
    now = utcnow()
    request.status = target
    request.updated_at = now
    if reason:
        request.status_reason = reason
    if target in FINAL:
        request.closed_at = now
    session.add(request)
    data: dict[str, str] = {"from": current.value, "to": target.value}
    if reason:
        data["reason"] = reason
    append_event(
        session, action="status_changed", actor=actor, request_id=request.id, data=data, at=now
    )
    return request


#: A step's allowed moves: current status → the statuses it may go to.
STEP_TRANSITIONS: dict[T, frozenset[T]] = {
    T.PLANNED: frozenset({T.RUNNING, T.PENDING, T.SKIPPED, T.FAILED}),
    T.RUNNING: frozenset({T.RUNNING, T.PENDING, T.DONE, T.FAILED, T.SKIPPED}),
    T.PENDING: frozenset({T.DONE, T.FAILED}),
    T.FAILED: frozenset({T.PLANNED, T.RUNNING, T.PENDING, T.DONE, T.SKIPPED}),
    T.DONE: frozenset(),
    T.SKIPPED: frozenset(),
}

STEP_FINAL: frozenset[T] = frozenset(s for s, targets in STEP_TRANSITIONS.items() if not targets)


def move_step(step: Step, target: T) -> Step:
    """Move ``step`` to ``target`` or raise :class:`InvalidTransition`; the caller records the
    step's other fields (result, error, times) and its audit event in the same transaction."""
    current = T(step.status)
    if target not in STEP_TRANSITIONS[current]:
        allowed = ", ".join(sorted(STEP_TRANSITIONS[current])) or "none (final)"
        raise InvalidTransition(
            current, target, reason=f"allowed from here: {allowed}", what="a step"
        )
    step.status = target
    return step
