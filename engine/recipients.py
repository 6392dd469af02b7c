"""Which recipients received this person's data: established once per request, before any
notice or manual task, from the calls the connectors make anyway (:mod:`dsar.evidence`).

The connectors whose own records decide (a newsletter list: is the person a member?) are asked
to locate the person; the shop's orders are read once for the traces they leave (payment
gateways, carriers, checkout addresses). The findings are stored, one row per recipient, and
every later step reads them: a re-run never establishes them again, so a notice already sent
can never lose the finding it was sent on. A processor that cannot be searched makes the
recipients that depend on it undetermined — staff decide — never received by default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlmodel import Session, select

from connectors.base import Subject, Tracing
from connectors.errors import ConnectorError
from dsar import lifecycle
from dsar.audit import append_event
from dsar.enums import ManualTaskStatus, StepStatus, Verdict
from dsar.errors import InputError
from dsar.evidence import Finding, Trace, judge, needs_orders
from dsar.logging import get_logger
from dsar.models import RecipientFinding, Step, utcnow
from dsar.plan import MANUAL, manual_instructions
from dsar.register import Register
from dsar.store import session_scope
from engine.context import ACTOR, connector_for, load, subject_of
from engine.progress import find_task

log = get_logger("dsar.flows")


def findings_of(session: Session, request_id: str) -> dict[str, Finding]:
    """The stored findings of a request, by recipient (empty before they are established)."""
    rows = session.exec(
        select(RecipientFinding).where(RecipientFinding.request_id == request_id)
    ).all()
    return {r.recipient: Finding(r.recipient, r.verdict, tuple(r.reasons)) for r in rows}


async def establish_recipients(request_id: str) -> dict[str, Finding]:
    """The findings of the request's recipients, established and stored on the first call."""
    loaded = load(request_id)
    with session_scope() as session:
        stored = findings_of(session, request_id)
    if stored:
        return stored
    register = loaded.register
    controller = loaded.request.controller
    subject = subject_of(loaded.request)
    searched = sorted({r.connector for r in register.recipients if r.evidence == "found"})
    answers = await asyncio.gather(*(_finds(controller, n, subject) for n in searched))
    traces = (
        await _traces(controller, register, subject) if needs_orders(register.recipients) else ()
    )
    findings = judge(
        register.recipients, found=dict(zip(searched, answers, strict=True)), traces=traces
    )
    with session_scope() as session:
        if first := findings_of(session, request_id):  # a concurrent run stored them first
            return first
        for finding in findings.values():
            session.add(
                RecipientFinding(
                    request_id=request_id,
                    recipient=finding.recipient,
                    verdict=finding.verdict,
                    reasons=list(finding.reasons),
                )
            )
        counts = {v.value: sum(f.verdict is v for f in findings.values()) for v in Verdict}
        append_event(
            session,
            action="recipients_established",
            actor=ACTOR,
            request_id=request_id,
            data=counts,
        )
    return findings


async def _finds(controller: str, name: str, subject: Subject) -> bool | None:
    """Whether connector ``name`` finds the person; ``None`` when it cannot be asked."""
    try:
        return (await connector_for(controller, name).locate(subject)).found
    except ConnectorError as exc:
        log.warning("evidence_search_failed", connector=name, error=type(exc).__name__)
        return None


async def _traces(controller: str, register: Register, subject: Subject) -> Sequence[Trace] | None:
    """The traces of the person's orders at the connectors that keep them; ``None`` when there
    is none, or one could not be read."""
    names = sorted({r.connector for r in register.recipients if r.connector != MANUAL})
    found: list[Trace] = []
    tracing = False
    for name in names:
        try:
            connector = connector_for(controller, name)
            if not isinstance(connector, Tracing):
                continue
            tracing = True
            found += await connector.traces(subject)
        except ConnectorError as exc:
            log.warning("evidence_orders_unreadable", connector=name, error=type(exc).__name__)
            return None
    return tuple(found) if tracing else None


async def decide(task_id: str, *, received: bool, note: str, actor: str) -> str:
    """Record staff's decision and, if the recipient did receive the data, send its Art. 19
    notice at once (the task then waits for the recipient's confirmation). Returns the
    request id."""
    from engine.notices import notify_manual_step

    request_id, step_id = decide_recipient(task_id, received=received, note=note, actor=actor)
    if received:
        await notify_manual_step(step_id)
    return request_id


def decide_recipient(task_id: str, *, received: bool, note: str, actor: str) -> tuple[str, str]:
    """Record staff's answer to a decision task ("did X receive this person's data?").

    Received: the finding becomes ``received`` (reason: staff's note), and the decision step
    turns into the recipient's ordinary manual step, whose notice the next run sends. Not
    received: the finding becomes ``not_received`` and the task and step are closed. Returns
    the request id and the step id.
    """
    if not note.strip():
        raise InputError("a decision needs a note: what shows the recipient did or did not get it")
    with session_scope() as session:
        request_id = find_task(session, task_id).request_id
    loaded = load(request_id)  # read before the writing transaction below, never inside it
    with session_scope() as session:
        task = find_task(session, task_id)
        step = session.exec(
            select(Step).where(
                Step.request_id == task.request_id,
                Step.recipient == task.recipient,
                Step.action == "decide",
            )
        ).first()
        if step is None or task.status is ManualTaskStatus.DONE:
            raise InputError(f"task {task_id!r} asks for no decision (or was decided already)")
        finding = session.exec(
            select(RecipientFinding).where(
                RecipientFinding.request_id == task.request_id,
                RecipientFinding.recipient == task.recipient,
            )
        ).one()
        finding.verdict = Verdict.RECEIVED if received else Verdict.NOT_RECEIVED
        finding.reasons = [f"decided by staff: {note.strip()}"]
        finding.decided_by = actor
        session.add(finding)
        if received:
            recipient = loaded.register.recipient(task.recipient)
            step.action = "manual"
            task.instructions = manual_instructions(loaded.request.kind, recipient)
        else:
            lifecycle.move_step(step, StepStatus.SKIPPED)
            step.finished_at = utcnow()
            step.result = {"received": False}
            task.status = ManualTaskStatus.DONE
            task.note = note.strip()
            task.completed_at = utcnow()
        session.add(step)
        session.add(task)
        append_event(
            session,
            action="recipient_decided",
            actor=actor,
            request_id=task.request_id,
            data={"recipient": task.recipient, "received": received},
        )
        return task.request_id, step.id
