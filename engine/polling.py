"""Waiting on a processor's asynchronous job, and checking that it really did the work.

Some processors accept an erasure or a restriction and carry it out later (a job). A
``pending`` step is polled, with growing pauses, until the job completes or the flow's bound
runs out; an erasure then counts as done only when the processor no longer finds the person.
A step still pending after the bound is left for the deadline monitor's next poll.
"""

from __future__ import annotations

import asyncio

from connectors.base import Connector
from connectors.errors import ProtocolError, TransientError
from connectors.registry import MissingCredential
from dsar import lifecycle
from dsar.audit import append_event
from dsar.enums import StepStatus
from dsar.logging import get_logger
from dsar.models import Request, Step, utcnow
from dsar.store import session_scope
from engine.context import ACTOR, connector_for, subject_of

log = get_logger("dsar.flows")


async def poll_pending_step(step_id: str, *, deadline: float) -> str:
    """Poll an asynchronous job until it completes or ``deadline`` (loop time) passes.

    Completion is then verified by locating the person again: an erasure counts as done only
    when the processor no longer finds them. A check that fails transiently or gets an
    unreadable answer says nothing about the job: it counts as "not complete yet", and the
    step stays ``pending`` for the next poll rather than failing the run.
    """
    loop = asyncio.get_running_loop()
    delay = 0.25
    while True:
        with session_scope() as session:
            step = session.get(Step, step_id)
            assert step is not None  # noqa: S101
            if step.status is not StepStatus.PENDING or not step.external_ref:
                return step.status.value
            request = session.get(Request, step.request_id)
            assert request is not None  # noqa: S101
        try:
            connector = connector_for(request.controller, step.connector, recipient=step.recipient)
        except MissingCredential as exc:  # nothing can be asked until the shop is configured
            from engine.steps import record_failure

            record_failure(step_id, exc)
            return StepStatus.FAILED.value
        try:
            verified = await _job_verified(connector, step, request)
        except (TransientError, ProtocolError) as exc:
            log.info(
                "job_check_inconclusive",
                request_id=step.request_id,
                recipient=step.recipient,
                error=type(exc).__name__,
            )
            verified = False
        if verified:
            with session_scope() as session:
                step = session.get(Step, step_id)
                assert step is not None  # noqa: S101
                lifecycle.move_step(step, StepStatus.DONE)
                step.finished_at = utcnow()
                step.result = {**step.result, "complete": True, "verified": True}
                session.add(step)
                append_event(
                    session,
                    action="step_verified",
                    actor=ACTOR,
                    request_id=step.request_id,
                    data={"recipient": step.recipient, "action": step.action},
                )
            return StepStatus.DONE.value
        if loop.time() + delay > deadline:
            return StepStatus.PENDING.value
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


#: How often an erasure is started again for a person the processor holds again after its
#: deletion completed (a sync from the shop re-creates them until the shop's erasure is done).
MAX_REPEATED_ERASURES = 3


async def _job_verified(connector: Connector, step: Step, request: Request) -> bool:
    """Whether the step's job is complete and, for an erasure, the person is no longer found.

    The person is looked for by every identity the request carries, not only by the ids the
    job named: a processor fed by a sync (Klaviyo from Shopify) re-creates a deleted profile
    under a new id. Found again, the person is erased again (up to
    :data:`MAX_REPEATED_ERASURES` times), and the step waits on the new job.
    """
    assert step.external_ref is not None  # noqa: S101 - only pending steps with a job get here
    status = await connector.status(step.external_ref)
    if not status.complete:
        return False
    if step.action == "erase":
        subject = subject_of(request)
        if (await connector.locate(subject)).found:
            await _erase_again(connector, step, request)
            return False
    return True


async def _erase_again(connector: Connector, step: Step, request: Request) -> None:
    """Start a new erasure for a person held again, recorded before and after the call."""
    repeats = int(step.result.get("repeated_erasures", 0))
    if repeats >= MAX_REPEATED_ERASURES:
        log.warning(
            "erasure_keeps_coming_back", request_id=step.request_id, recipient=step.recipient
        )
        return
    with session_scope() as session:
        append_event(
            session,
            action="erasure_repeated",
            actor=ACTOR,
            request_id=step.request_id,
            data={
                "recipient": step.recipient,
                "reason": "held again after its deletion job completed",
                "attempt": repeats + 1,
            },
        )
    outcome = await connector.erase(subject_of(request))
    with session_scope() as session:
        stored = session.get(Step, step.id)
        assert stored is not None  # noqa: S101
        stored.result = {
            **stored.result,
            "repeated_erasures": repeats + 1,
            "count": int(stored.result.get("count", 0)) + outcome.count,
        }
        if outcome.job_ref:
            stored.external_ref = outcome.job_ref
        session.add(stored)
        append_event(
            session,
            action="erasure_job_started",
            actor=ACTOR,
            request_id=step.request_id,
            data={"recipient": step.recipient, "complete": outcome.complete},
        )
