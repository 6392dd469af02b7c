"""The work a request's flow orchestrates, as plain functions with no Prefect in them.

This module stores a request's plan, carries out its connector steps (and, later, the lifting
of a restriction), and is the one place :mod:`flows.process`, tests and benchmarks import the
step functions from: the identity gate (:mod:`engine.gate`), polling processors' jobs
(:mod:`engine.polling`), notices (:mod:`engine.notices`), where the steps stand
(:mod:`engine.progress`) and the answer (:mod:`engine.answers`) are re-exported here.

Each function does one unit — run one step against one connector, poll one asynchronous job,
notify one recipient, build the package, answer the subject — and records what it did before
and after in the database, so that a crashed or repeated run resumes where it stopped:

* a step already ``done`` or ``skipped`` is never run again;
* a ``pending`` step (an asynchronous processor job) is polled, not started again;
* a ``running`` step (a run that died mid-call) is run again, which the connectors' idempotent
  operations make safe (erasing what is gone is a no-op that reports ``count=0``).

:mod:`flows.process` wraps these functions in Prefect tasks; tests and benchmarks can call them
directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlmodel import Session

from connectors.base import Capability, Changes, Outcome
from connectors.errors import ConnectorError, TransientError
from dsar import lifecycle
from dsar.audit import append_event
from dsar.enums import RequestKind, RequestStatus, StepStatus
from dsar.errors import DsarError, InputError
from dsar.models import Request, Step, utcnow
from dsar.plan import MANUAL, build_plan, steps_of, store_plan
from dsar.register import register_for
from dsar.settings import get_settings
from dsar.store import claim_step, session_scope
from engine.context import ACTOR, close_connectors, connector_for, load, subject_of
from engine.notices import send_to_subject
from engine.offload import off_loop
from engine.recipients import findings_of
from engine.retention import Kept, erase_blocked, retained, store

# ------------------------------------------------------------------------------------------
# Planning
# ------------------------------------------------------------------------------------------


def start_and_plan(request_id: str) -> list[str]:
    """Move a verified request to ``in_progress`` and store its plan; return the step ids.

    Idempotent: an ``in_progress`` request keeps its stored plan.
    """
    loaded = load(request_id)
    with session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None  # noqa: S101 - loaded above in the same process
        if request.status in (
            RequestStatus.RECEIVED,
            RequestStatus.VERIFYING,
            RequestStatus.FAILED,
        ):
            lifecycle.transition(
                session, request=request, target=RequestStatus.IN_PROGRESS, actor=ACTOR
            )
        plan = build_plan(
            register=loaded.register,
            kind=request.kind,
            received_on=request.received_on,
            findings=findings_of(session, request_id),
        )
        steps = store_plan(session, request=request, plan=plan)
        for step in steps:
            if step.status is StepStatus.FAILED:  # a re-run retries what failed before
                lifecycle.move_step(step, StepStatus.PLANNED)
                session.add(step)
        if steps and not any(e.action == "plan_stored" for e in _events(session, request_id)):
            append_event(
                session,
                action="plan_stored",
                actor=ACTOR,
                request_id=request_id,
                data={"steps": len(steps)},
            )
        return [s.id for s in steps]


def _events(session: Session, request_id: str) -> Sequence[Any]:
    from dsar.audit import events_for

    return events_for(session, request_id)


# ------------------------------------------------------------------------------------------
# Running one connector step
# ------------------------------------------------------------------------------------------

#: Between two looks for a subject whose interrupted erasure may be under way.
RECONCILE_POLL_SECONDS = 0.25

_CAPABILITY = {
    "export": Capability.EXPORT,
    "rectify": Capability.RECTIFY,
    "erase": Capability.ERASE,
    "restrict": Capability.RESTRICT,
    "lift_restriction": Capability.LIFT_RESTRICTION,
}


def _begin(step_id: str) -> tuple[Step, Request, bool] | None:
    """Record that a step starts; ``None`` when it needs no run (done, skipped, pending).

    The flag says whether an earlier attempt was interrupted mid-call (the step was left
    ``running``): the processor may already have acted on it.
    """
    with session_scope() as session:
        step = claim_step(session, step_id)
        if step is None:
            return None  # another worker holds the step right now
        request = session.get(Request, step.request_id)
        assert request is not None  # noqa: S101 - foreign key
        if step.status in (StepStatus.DONE, StepStatus.SKIPPED, StepStatus.PENDING):
            return None
        if request.status in lifecycle.FINAL and step.action != "lift_restriction":
            lifecycle.move_step(step, StepStatus.SKIPPED)
            step.error = f"request is {request.status.value}"
            session.add(step)
            return None
        interrupted = step.status is StepStatus.RUNNING
        lifecycle.move_step(step, StepStatus.RUNNING)
        step.attempts += 1
        step.started_at = utcnow()
        session.add(step)
        return step, request, interrupted


def _finish(
    step_id: str, outcome: Outcome | None, *, result: dict[str, Any], kept: Sequence[Kept] = ()
) -> Step:
    with session_scope() as session:
        step = session.get(Step, step_id)
        assert step is not None  # noqa: S101 - read in _begin
        if kept:  # the vault's copy commits with the step, or neither does
            result = {**result, "vaulted": store(session, step, list(kept))}
        pending = outcome is not None and not outcome.complete
        lifecycle.move_step(step, StepStatus.PENDING if pending else StepStatus.DONE)
        step.external_ref = outcome.job_ref if outcome is not None else step.external_ref
        step.result = result
        step.error = None
        step.finished_at = None if pending else utcnow()
        session.add(step)
        append_event(
            session,
            action="step_pending" if pending else "step_done",
            actor=ACTOR,
            request_id=step.request_id,
            data={
                "recipient": step.recipient,
                "action": step.action,
                "count": result.get("count", 0),
            },
        )
        return step


def record_failure(step_id: str, error: BaseException) -> None:
    """Mark a step failed with a message free of personal data."""
    message = str(error) if isinstance(error, ConnectorError | DsarError) else type(error).__name__
    with session_scope() as session:
        step = session.get(Step, step_id)
        if step is None:
            return
        lifecycle.move_step(step, StepStatus.FAILED)
        step.error = message[:2000]
        step.finished_at = utcnow()
        session.add(step)
        append_event(
            session,
            action="step_failed",
            actor=ACTOR,
            request_id=step.request_id,
            data={"recipient": step.recipient, "action": step.action},
        )


async def run_connector_step(step_id: str) -> str:
    """Carry out one connector step and record its outcome; returns the step's status.

    Transient errors propagate (the task layer retries them, then :func:`record_failure`);
    permanent ones mark the step failed at once.
    """
    begun = await off_loop(_begin, step_id)
    if begun is None:
        return await off_loop(_status_of, step_id)
    step, request, interrupted = begun
    if await off_loop(_blocked, step_id):
        error = DsarError("the records the law keeps are not in the vault yet: restrict first")
        await off_loop(record_failure, step_id, error)
        return StepStatus.FAILED.value
    try:
        if interrupted and step.action == "erase" and await _already_gone(step, request):
            gone = Outcome(
                processor=step.connector,
                action=Capability.ERASE,
                complete=True,
                count=0,
                note="already erased by an interrupted earlier attempt",
            )
            finished = await off_loop(_finish, step_id, gone, result=_outcome_result(gone))
            return finished.status.value
        kept = (
            await retained(
                step,
                request,
                register_for(request.controller),
                connector_for(request.controller, step.connector, recipient=step.recipient),
                subject_of(request),
            )
            if step.action == "restrict" and step.retention_ground
            else []
        )
        outcome, result = await _call(step, request)
    except TransientError:
        raise
    except (ConnectorError, DsarError) as exc:
        await off_loop(record_failure, step_id, exc)
        return StepStatus.FAILED.value
    return (await off_loop(_finish, step_id, outcome, result=result, kept=kept)).status.value


def _blocked(step_id: str) -> bool:
    with session_scope() as session:
        step = session.get(Step, step_id)
        return step is not None and erase_blocked(session, step)


def _status_of(step_id: str) -> str:
    with session_scope() as session:
        step = session.get(Step, step_id)
        assert step is not None  # noqa: S101
        return step.status.value


async def carry_out_step(step_id: str) -> str:
    """Run one connector step as a flow does; returns its status.

    Transient processor errors are retried by the HTTP layer below; one that is still
    transient after those retries fails the step (recorded) — the request is re-run later.
    """
    try:
        return await run_connector_step(step_id)
    except TransientError as exc:
        record_failure(step_id, exc)
        return StepStatus.FAILED.value


async def _already_gone(step: Step, request: Request) -> bool:
    """Whether the processor no longer holds the subject (reconciling an interrupted erase).

    The interrupted attempt may have started an erasure that completes asynchronously
    (Klaviyo's deletion jobs, Shopify's erasure requests): the processor still holds the
    subject for a while and keeps no record of the job that can be asked for. So the subject
    is looked for again until ``reconcile_wait_seconds`` have passed; only one still held then
    is erased again (a second job for the same subject changes nothing more at the processor).
    """
    connector = connector_for(request.controller, step.connector, recipient=step.recipient)
    subject = subject_of(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + get_settings().reconcile_wait_seconds
    while (await connector.locate(subject)).found:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(RECONCILE_POLL_SECONDS)
    return True


async def _call(step: Step, request: Request) -> tuple[Outcome | None, dict[str, Any]]:
    """The one connector operation a step stands for, and what to record of it."""
    connector = connector_for(request.controller, step.connector, recipient=step.recipient)
    subject = subject_of(request)
    if step.action == "export":
        data = await connector.export(subject)
        records = [
            {"category": r.category, "source": r.source, "data": r.data} for r in data.records
        ]
        # what the processor could not give (e.g. orders older than its token may read)
        incomplete = list(data.incomplete)
        return None, {"count": len(records), "records": records, "incomplete": incomplete}
    if step.action == "rectify":
        changes: Changes = request.details.get("changes", {})
        outcome = await connector.rectify(subject, changes)
    elif step.action in _CAPABILITY:
        outcome = await getattr(connector, step.action)(subject)
    else:
        raise DsarError(f"step action {step.action!r} has no connector operation")
    return outcome, _outcome_result(outcome)


def _outcome_result(outcome: Outcome) -> dict[str, Any]:
    return {
        "count": outcome.count,
        "complete": outcome.complete,
        "note": outcome.note,
        "refs": list(outcome.refs),
    }


# ------------------------------------------------------------------------------------------
# Lifting a restriction (Art. 18(3))
# ------------------------------------------------------------------------------------------


async def lift_restriction(request_id: str, *, reasons: str, lift_on: date) -> list[str]:
    """Tell the subject first (Art. 18(3)), then lift the restriction at every connector.

    Applies to a completed restriction request. The notice is recorded before any processor
    is touched; each lift is a step of its own, so a repeated call lifts nothing twice. With
    ``lift_on`` in the future only the notice goes out; calling again on that day lifts.
    Returns the recipients lifted.
    """
    loaded = load(request_id)
    request, register = loaded.request, loaded.register
    if request.kind is not RequestKind.RESTRICTION or request.status is not RequestStatus.COMPLETED:
        raise InputError("only a completed restriction request can be lifted")
    if not reasons.strip():
        raise InputError("lifting a restriction needs reasons, told to the subject (Art. 18(3))")
    with session_scope() as session:
        restricted = [
            s
            for s in steps_of(session, request_id)
            if s.action == "restrict" and s.connector != MANUAL
        ]
    categories = sorted({register.category(c).name for s in restricted for c in s.categories})
    send_to_subject(
        request_id,
        purpose="lift_notice",
        template="lift_restriction",
        to=request.email,
        context={"categories": categories, "lift_on": lift_on, "reasons": reasons.strip()},
    )
    with session_scope() as session:
        position = len(steps_of(session, request_id))
        existing = {
            s.recipient for s in steps_of(session, request_id) if s.action == "lift_restriction"
        }
        for offset, step in enumerate(s for s in restricted if s.recipient not in existing):
            session.add(
                Step(
                    request_id=request_id,
                    position=position + offset,
                    recipient=step.recipient,
                    connector=step.connector,
                    action="lift_restriction",
                    categories=list(step.categories),
                )
            )
        append_event(
            session,
            action="restriction_lift_notified",
            actor=ACTOR,
            request_id=request_id,
            data={"lift_on": lift_on.isoformat()},
        )
    with session_scope() as session:
        lifts = [s.id for s in steps_of(session, request_id) if s.action == "lift_restriction"]
    if lift_on > utcnow().date():
        return []  # told in advance; a call on or after ``lift_on`` carries the lift out
    try:
        await asyncio.gather(*(run_connector_step(step_id) for step_id in lifts))
    finally:
        await close_connectors()
    with session_scope() as session:
        return [
            s.recipient
            for s in steps_of(session, request_id)
            if s.action == "lift_restriction" and s.status is StepStatus.DONE
        ]
