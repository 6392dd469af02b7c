"""Where a request's steps stand, read from the database, and the status they add up to.

The flows ask this module what to do next — which connector steps to run (grouped by
recipient), which wait on a processor's asynchronous job, which recipients without an API
still need their Art. 19 notice, how many manual tasks staff have open — and :func:`settle`
moves the request on from ``in_progress`` accordingly. Staff close a manual task with the
evidence of what the recipient confirmed (:func:`complete_task`). Rows returned here carry
ids, keys, statuses and counts, never personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from dsar import lifecycle
from dsar.audit import append_event
from dsar.enums import ManualTaskStatus, RequestKind, RequestStatus, StepStatus
from dsar.errors import DsarError, InputError, NotFoundError
from dsar.models import ManualTask, Request, Step, utcnow
from dsar.plan import MANUAL, steps_of
from dsar.store import session_scope
from engine.context import ACTOR, load


def connector_groups(request_id: str) -> list[list[tuple[str, str, str]]]:
    """Connector steps ``(id, recipient, action)`` grouped by recipient, in plan order.

    Recipients run concurrently; within one recipient steps run in order (an erasure's
    restriction of retained records comes before the erasure itself).
    """
    groups: dict[str, list[tuple[str, str, str]]] = {}
    with session_scope() as session:
        for step in steps_of(session, request_id):
            if step.connector != MANUAL:
                groups.setdefault(step.recipient, []).append((step.id, step.recipient, step.action))
    return list(groups.values())


def pending_steps(request_id: str) -> list[tuple[str, str]]:
    """``(id, recipient)`` of connector steps waiting on a processor's asynchronous job."""
    with session_scope() as session:
        return [
            (s.id, s.recipient)
            for s in steps_of(session, request_id)
            if s.status is StepStatus.PENDING and s.connector != MANUAL
        ]


def manual_steps(request_id: str) -> list[tuple[str, str]]:
    """``(id, recipient)`` of steps for recipients without an API that are not yet notified."""
    with session_scope() as session:
        return [
            (s.id, s.recipient)
            for s in steps_of(session, request_id)
            if s.connector == MANUAL
            and s.action != "decide"  # nothing is sent before staff decide
            and s.status in (StepStatus.PLANNED, StepStatus.RUNNING)
        ]


def open_manual_tasks(request_id: str) -> int:
    """How many manual tasks of the request staff still have to complete."""
    with session_scope() as session:
        return _open_tasks(session, request_id)


def _open_tasks(session: Session, request_id: str) -> int:
    return len(
        session.exec(
            select(ManualTask).where(
                ManualTask.request_id == request_id, ManualTask.status == ManualTaskStatus.OPEN
            )
        ).all()
    )


def find_task(session: Session, task_id: str) -> ManualTask:
    """The manual task with ``task_id``, or the one whose id starts with it (6+ characters)."""
    task = session.get(ManualTask, task_id)
    if task is None:
        matches = session.exec(
            select(ManualTask).where(col(ManualTask.id).startswith(task_id)).limit(2)
        ).all()
        task = matches[0] if len(matches) == 1 and len(task_id) >= 6 else None
    if task is None:
        raise NotFoundError(f"no manual task with id {task_id!r}")
    return task


def complete_task(task_id: str, *, note: str, actor: str) -> str:
    """Record staff's evidence for a manual task and mark its step done; returns the request id."""
    if not note.strip():
        raise DsarError("a manual task needs a note: the evidence of what the recipient confirmed")
    with session_scope() as session:
        task = find_task(session, task_id)
        if task.status is ManualTaskStatus.DONE:
            return task.request_id
        task.status = ManualTaskStatus.DONE
        task.note = note.strip()
        task.completed_at = utcnow()
        session.add(task)
        step = session.exec(
            select(Step).where(
                Step.request_id == task.request_id,
                Step.recipient == task.recipient,
                Step.connector == MANUAL,
            )
        ).first()
        if step is not None and step.action == "decide":
            raise InputError(
                f"task {task.id[:12]} asks whether {task.recipient} received the data: "
                "decide it (dsar tasks decide) instead of completing it"
            )
        if step is not None:
            lifecycle.move_step(step, StepStatus.DONE)
            step.finished_at = utcnow()
            session.add(step)
        append_event(
            session,
            action="manual_task_done",
            actor=actor,
            request_id=task.request_id,
            data={"recipient": task.recipient},
        )
        return task.request_id


def settle(request_id: str) -> RequestStatus:
    """Move the request on from ``in_progress`` according to its steps; returns the status.

    * any step failed → ``failed`` (staff look, then re-run);
    * open manual tasks → ``awaiting_manual`` (no process waits);
    * otherwise the request is ready to be answered (status stays ``in_progress``).
    """
    with session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None  # noqa: S101
        steps = steps_of(session, request_id)
        failed = [s for s in steps if s.status is StepStatus.FAILED]
        if failed and request.status is RequestStatus.IN_PROGRESS:
            names = ", ".join(sorted({f"{s.recipient}:{s.action}" for s in failed}))
            lifecycle.transition(
                session,
                request=request,
                target=RequestStatus.FAILED,
                actor=ACTOR,
                reason=f"steps failed: {names}",
            )
        elif _open_tasks(session, request_id) and request.status is RequestStatus.IN_PROGRESS:
            lifecycle.transition(
                session, request=request, target=RequestStatus.AWAITING_MANUAL, actor=ACTOR
            )
        return request.status


def mark_broken(request_id: str, error: BaseException) -> RequestStatus:
    """Record that carrying out the request broke and return the status it is now in.

    ``failed`` with the reason where the lifecycle allows it (the monitor re-runs failed
    requests); a request that broke before it started stays where it was (the monitor re-runs
    unstarted ones). The reason names the error's type only: its text may carry personal data.
    """
    reason = f"processing broke: {type(error).__name__}"
    with session_scope() as session:
        request = session.get(Request, request_id)
        if request is None:
            return RequestStatus.FAILED  # nothing stored: it cannot have been carried out
        if RequestStatus.FAILED in lifecycle.TRANSITIONS[request.status]:
            lifecycle.transition(
                session, request=request, target=RequestStatus.FAILED, actor=ACTOR, reason=reason
            )
        return request.status


def kind_of(request_id: str) -> RequestKind:
    """The kind of a stored request."""
    return load(request_id).request.kind


def now() -> datetime:
    """The current time (one seam for tests)."""
    return utcnow()


def step_rows(request_id: str) -> list[dict[str, Any]]:
    """The steps as plain rows (no personal data) for artifacts and the CLI."""
    with session_scope() as session:
        return [
            {
                "recipient": s.recipient,
                "action": s.action,
                "status": s.status.value,
                "count": s.result.get("count", ""),
                "retention": s.retention_ground or "",
            }
            for s in steps_of(session, request_id)
        ]


def failed_step_ids(request_id: str) -> list[str]:
    """Steps that failed and may be retried by a re-run."""
    with session_scope() as session:
        return [
            s.id
            for s in session.exec(
                select(Step).where(
                    Step.request_id == request_id, col(Step.status) == StepStatus.FAILED
                )
            )
        ]
