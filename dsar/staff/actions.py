"""What staff can do to a request from its page: one function each, in :data:`ACTIONS`.

Every action is a POST carrying the form's CSRF token and a ticked confirmation; those the law
asks a reason for (an extension, Art. 12(3); lifting a restriction, Art. 18(3)) refuse to run
without one. Each records the staff member's id in the audit trail, through the domain or the
engine function it calls, or here. A new action (refuse, decide an objection, approve a
package) is one more function and one more entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from dsar.accounts import store_evidence
from dsar.audit import append_event
from dsar.enums import ManualTaskStatus, RequestStatus
from dsar.errors import DsarError
from dsar.models import ManualTask, Step
from dsar.refusal import refuse_request
from dsar.register import register_for
from dsar.service import extend_request, get_request, send_extension_notice
from dsar.staff.auth import Member, StaffError
from dsar.store import session_scope
from engine import complete_task, decide, finalize, lift_restriction, open_manual_tasks


@dataclass(frozen=True)
class Upload:
    """A file sent with the form."""

    filename: str
    media_type: str
    content: bytes


@dataclass
class ActionInput:
    """One submitted action: who, on which request, with which fields."""

    member: Member
    request_id: str
    fields: dict[str, str]
    upload: Upload | None = None
    start: Callable[[str], None] = field(default=lambda _: None)

    def text(self, name: str, *, required: str | None = None) -> str:
        value = self.fields.get(name, "").strip()
        if required and not value:
            raise StaffError(400, required)
        return value


@dataclass(frozen=True)
class Action:
    """An action's function and whether it needs a reason."""

    run: Callable[[ActionInput], Awaitable[str]]
    reason_required: str | None = None


def _own_task(given: ActionInput) -> ManualTask:
    """The open manual task named in the form, when it belongs to this request."""
    task_id = given.text("task_id", required="name the task (task_id)")
    with session_scope() as session:
        task = session.get(ManualTask, task_id)
        if task is None or task.request_id != given.request_id:
            raise StaffError(404, f"this request has no task {task_id!r}")
        if task.status is not ManualTaskStatus.OPEN:
            raise StaffError(409, "this task is completed already")
        return task


def _is_decision(task: ManualTask) -> bool:
    with session_scope() as session:
        actions = session.exec(
            select(Step.action).where(
                Step.request_id == task.request_id, Step.recipient == task.recipient
            )
        ).all()
    return "decide" in actions


async def _close_when_done(request_id: str) -> str:
    if await run_in_threadpool(open_manual_tasks, request_id):
        return "task recorded"
    status = await run_in_threadpool(finalize, request_id)
    return f"request is now {RequestStatus(status).value}"


async def complete(given: ActionInput) -> str:
    """Complete a manual task with the note and, when sent, an evidence file (encrypted)."""
    task = _own_task(given)
    note = given.text("note", required="a manual task needs a note: what the recipient confirmed")
    if _is_decision(task):
        raise StaffError(
            400, "this task asks for a decision: record whether the recipient received the data"
        )
    stored = None
    if given.upload is not None and given.upload.content:
        stored = store_evidence(
            request_id=given.request_id,
            task_id=task.id,
            filename=given.upload.filename,
            media_type=given.upload.media_type,
            content=given.upload.content,
            member_id=given.member.id,
        )
    try:
        await run_in_threadpool(lambda: complete_task(task.id, note=note, actor=given.member.actor))
    except BaseException:
        if stored is not None:
            Path(stored.path).unlink(missing_ok=True)
        raise
    if stored is not None:
        with session_scope() as session:
            session.add(stored)
            append_event(
                session,
                action="evidence_attached",
                actor=given.member.actor,
                request_id=given.request_id,
                data={"task": task.id, "size": stored.size, "evidence": stored.id},
            )
    return await _close_when_done(given.request_id)


async def decide_recipient(given: ActionInput) -> str:
    """Record whether the recipient of a decision task received the person's data."""
    task = _own_task(given)
    note = given.text("note", required="a decision needs a note: what shows it")
    received = given.text("received")
    if received not in ("yes", "no"):
        raise StaffError(400, "received must be yes or no")
    if not _is_decision(task):
        raise StaffError(400, "this task asks for no decision")
    await decide(task.id, received=received == "yes", note=note, actor=given.member.actor)
    return await _close_when_done(given.request_id)


async def extend(given: ActionInput) -> str:
    """Extend the deadline and tell the subject why (Art. 12(3))."""
    reason = given.text("reason")

    def work() -> str:
        with session_scope() as session:
            request = get_request(session, given.request_id)
            register = register_for(request.controller)
            extend_request(
                session, request=request, register=register, reason=reason, actor=given.member.actor
            )
            session.commit()
            send_extension_notice(session, request=request, register=register)
            return f"now due {request.extended_due_date}"

    return await run_in_threadpool(work)


async def lift(given: ActionInput) -> str:
    """Lift a completed restriction: the subject is told first (Art. 18(3))."""
    reason = given.text("reason")
    lifted = await lift_restriction(
        given.request_id, reasons=reason, lift_on=datetime.now(UTC).date()
    )
    with session_scope() as session:
        append_event(
            session,
            action="restriction_lift_requested",
            actor=given.member.actor,
            request_id=given.request_id,
            data={"lifted": lifted},
        )
    return f"lifted at {', '.join(lifted) or 'none yet'}"


async def refuse(given: ActionInput) -> str:
    """Refuse the request on a ground its law allows, telling the subject why and which
    remedies they have (Art. 12(4)/(5); a US denial says how to appeal)."""
    ground = given.text("ground", required="choose the ground of the refusal")
    reason = given.text("reason")

    def work() -> str:
        with session_scope() as session:
            request = get_request(session, given.request_id)
            refuse_request(
                session,
                request=request,
                register=register_for(request.controller),
                ground=ground,
                reason=reason,
                actor=given.member.actor,
            )
            return f"refused: {ground}"

    return await run_in_threadpool(work)


async def run(given: ActionInput) -> str:
    """Start (or re-start) carrying out the request."""
    with session_scope() as session:
        request = get_request(session, given.request_id)
        if request.status not in (RequestStatus.RECEIVED, RequestStatus.FAILED):
            raise StaffError(409, f"a request that is {request.status.value} is not started again")
        append_event(
            session, action="run_requested", actor=given.member.actor, request_id=request.id
        )
    await run_in_threadpool(given.start, given.request_id)
    return "run started"


ACTIONS: dict[str, Action] = {
    "complete": Action(complete),
    "decide": Action(decide_recipient),
    "extend": Action(extend, reason_required="an extension needs a reason (Art. 12(3))"),
    "lift": Action(lift, reason_required="lifting a restriction needs reasons (Art. 18(3))"),
    "refuse": Action(refuse, reason_required="a refusal must tell the subject why (Art. 12(4))"),
    "run": Action(run),
}


async def perform(name: str, given: ActionInput) -> str:
    """Carry out action ``name``; domain refusals become 400s with their reason."""
    action = ACTIONS.get(name)
    if action is None:
        raise StaffError(404, f"no action {name!r}; known: {', '.join(sorted(ACTIONS))}")
    if given.fields.get("confirm") != "yes":
        raise StaffError(400, "tick the confirmation to carry out this action")
    if action.reason_required and not given.fields.get("reason", "").strip():
        raise StaffError(400, action.reason_required)
    try:
        return await action.run(given)
    except DsarError as exc:
        raise StaffError(400, str(exc)) from exc
