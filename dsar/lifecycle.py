"""The status machine of a request, and the one function that moves a request along it.

::

    received ──> verifying ──> in_progress ──> awaiting_manual ──> completed
       │            │             │    ▲            │
       │            │             ▼    │            │
       │            │           failed ┘            │
       └────────────┴──> rejected / withdrawn <─────┘

``extended`` is a flag, not a status (Art. 12(3): the deadline moves, the work goes on).
``completed``, ``rejected`` and ``withdrawn`` are final. Every transition appends an audit event
in the same transaction as the status change, so the trail and the state never disagree.
"""

from __future__ import annotations

from sqlmodel import Session

from dsar.audit import append_event
from dsar.enums import RequestStatus as S
from dsar.errors import InvalidTransition
from dsar.models import Request, utcnow

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
