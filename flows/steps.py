"""The work a request's flow orchestrates, as plain functions with no Prefect in them.

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
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from connectors.base import Capability, Changes, Connector, Outcome, Subject
from connectors.errors import ConnectorError, ProtocolError, TransientError
from dsar import lifecycle
from dsar.audit import append_event
from dsar.db import claim_step, session_scope
from dsar.enums import RequestKind, RequestStatus, StepStatus
from dsar.errors import DsarError, InputError, NotFoundError
from dsar.logging import get_logger
from dsar.models import ManualTask, Notice, Request, Step, utcnow
from dsar.plan import MANUAL, build_plan, steps_of, store_plan
from dsar.register import Register
from dsar.service import register_for
from dsar.settings import get_settings

log = get_logger("dsar.flows")

#: What an Art. 19 notice asks of a recipient, by request kind.
ART19_ACTION: dict[RequestKind, str] = {
    RequestKind.RECTIFICATION: "rectify",
    RequestKind.ERASURE: "erase",
    RequestKind.RESTRICTION: "restrict",
    RequestKind.OBJECTION: "stop_marketing",
}

#: Actor name written into the audit trail for work done by flows.
ACTOR = "flow"


# ------------------------------------------------------------------------------------------
# Connectors, cached per event loop (their HTTP clients and rate limiters belong to one loop)
# ------------------------------------------------------------------------------------------

_connectors: dict[tuple[int, str], Connector] = {}


def connector_for(name: str) -> Connector:
    """The process's connector for ``name`` on the running loop, built from settings once."""
    from connectors.registry import build_connector

    key = (id(asyncio.get_running_loop()), name)
    if key not in _connectors:
        _connectors[key] = build_connector(name, get_settings())
    return _connectors[key]


async def close_connectors() -> None:
    """Close the connectors of the running loop (end of a flow run or of ``dsar run``)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _connectors if k[0] == loop_id]:
        await _connectors.pop(key).aclose()


def subject_of(request: Request) -> Subject:
    """Every identity the request carries, for the connectors to key on."""
    ids = {"shopify": request.customer_id} if request.customer_id else {}
    return Subject(
        emails=(request.email,),
        phones=(request.phone,) if request.phone else (),
        customer_ids=ids,
        name=request.name,
    )


# ------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """A request with its register, read in one short transaction."""

    request: Request
    register: Register


def load(request_id: str) -> Loaded:
    """The request and its controller's register."""
    with session_scope() as session:
        request = session.get(Request, request_id)
        if request is None:
            raise NotFoundError(f"no request with id {request_id!r}")
    return Loaded(request=request, register=register_for(request.controller))


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
            register=loaded.register, kind=request.kind, received_on=request.received_on
        )
        steps = store_plan(session, request=request, plan=plan)
        for step in steps:
            if step.status is StepStatus.FAILED:  # a re-run retries what failed before
                step.status = StepStatus.PLANNED
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
            step.status = StepStatus.SKIPPED
            step.error = f"request is {request.status.value}"
            session.add(step)
            return None
        interrupted = step.status is StepStatus.RUNNING
        step.status = StepStatus.RUNNING
        step.attempts += 1
        step.started_at = utcnow()
        session.add(step)
        return step, request, interrupted


def _finish(step_id: str, outcome: Outcome | None, *, result: dict[str, Any]) -> Step:
    with session_scope() as session:
        step = session.get(Step, step_id)
        assert step is not None  # noqa: S101 - read in _begin
        pending = outcome is not None and not outcome.complete
        step.status = StepStatus.PENDING if pending else StepStatus.DONE
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
        step.status = StepStatus.FAILED
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
    begun = _begin(step_id)
    if begun is None:
        with session_scope() as session:
            step = session.get(Step, step_id)
            assert step is not None  # noqa: S101
            return step.status.value
    step, request, interrupted = begun
    try:
        if interrupted and step.action == "erase" and await _already_gone(step, request):
            gone = Outcome(
                processor=step.connector,
                action=Capability.ERASE,
                complete=True,
                count=0,
                note="already erased by an interrupted earlier attempt",
            )
            return _finish(step_id, gone, result=_outcome_result(gone)).status.value
        outcome, result = await _call(step, request)
    except TransientError:
        raise
    except (ConnectorError, DsarError) as exc:
        record_failure(step_id, exc)
        return StepStatus.FAILED.value
    return _finish(step_id, outcome, result=result).status.value


async def _already_gone(step: Step, request: Request) -> bool:
    """Whether the processor no longer holds the subject (reconciling an interrupted erase)."""
    located = await connector_for(step.connector).locate(subject_of(request))
    return not located.found


async def _call(step: Step, request: Request) -> tuple[Outcome | None, dict[str, Any]]:
    """The one connector operation a step stands for, and what to record of it."""
    connector = connector_for(step.connector)
    subject = subject_of(request)
    if step.action == "export":
        data = await connector.export(subject)
        records = [
            {"category": r.category, "source": r.source, "data": r.data} for r in data.records
        ]
        return None, {"count": len(records), "records": records}
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
        connector = connector_for(step.connector)
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
                step.status = StepStatus.DONE
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


async def _job_verified(connector: Connector, step: Step, request: Request) -> bool:
    """Whether the step's job is complete and, for an erasure, the person is no longer found."""
    assert step.external_ref is not None  # noqa: S101 - only pending steps with a job get here
    status = await connector.status(step.external_ref)
    if not status.complete:
        return False
    if step.action == "erase":
        return not (await connector.locate(subject_of(request))).found
    return True


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
            if s.connector == MANUAL and s.status in (StepStatus.PLANNED, StepStatus.RUNNING)
        ]


def open_manual_tasks(request_id: str) -> int:
    """How many manual tasks of the request staff still have to complete."""
    with session_scope() as session:
        return _open_tasks(session, request_id)


def _open_tasks(session: Session, request_id: str) -> int:
    return len(
        session.exec(
            select(ManualTask).where(
                ManualTask.request_id == request_id, ManualTask.status == "open"
            )
        ).all()
    )


def settle(request_id: str) -> str:
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
        return request.status.value


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


# ------------------------------------------------------------------------------------------
# Identity gate (EDPB 01/2022 §§65-79)
# ------------------------------------------------------------------------------------------


async def _located_anywhere(request: Request, register: Register) -> bool:
    """Whether any connected processor holds the request's e-mail address on file."""
    names = sorted({r.connector for r in register.recipients if r.connector != MANUAL})
    subject = Subject(emails=(request.email,))
    results = await asyncio.gather(*(connector_for(n).locate(subject) for n in names))
    return any(r.found for r in results)


async def identity_gate(request_id: str) -> str:
    """``"verified"`` when processing may go on; otherwise the status the request now waits in.

    No data leaves and nothing changes before the requester proves control of a contact point
    already on file: a single-use link and code go to the address as the processors hold it —
    never to another address named in the request. Staff verification and authenticated
    channels (Shopify compliance webhooks) pass with the reason recorded. When no processor
    holds the address there is nothing to disclose or change: the request is answered "no data
    held" and closed.
    """
    from dsar import identity

    loaded = load(request_id)
    request = loaded.request
    if request.status in lifecycle.FINAL:
        return request.status.value
    if (
        request.status
        in (
            RequestStatus.IN_PROGRESS,
            RequestStatus.AWAITING_MANUAL,
            RequestStatus.FAILED,
        )
        or request.verified_at is not None
        or identity.is_authenticated_channel(request)
    ):
        return "verified"
    if request.status is RequestStatus.VERIFYING:
        return request.status.value  # a challenge is out; the verify link resumes processing
    if not await _located_anywhere(request, loaded.register):
        answer_no_data(request_id)
        return RequestStatus.COMPLETED.value
    contact = identity.contact_on_file(request.email, [request.email])
    assert contact is not None  # noqa: S101 - located above under this very address
    with session_scope() as session:
        stored = session.get(Request, request_id)
        assert stored is not None  # noqa: S101
        challenge, token, code = identity.issue_challenge(
            session, request=stored, tz=loaded.register.controller.timezone
        )
    _send_to_subject(
        request_id,
        purpose="verification",
        template="verification",
        to=contact,
        context={
            "verify_url": identity.verification_url(get_settings().public_url, token),
            "code": code,
            "expires_at": challenge.expires_at,
        },
    )
    return RequestStatus.VERIFYING.value


# ------------------------------------------------------------------------------------------
# Notices and answers
# ------------------------------------------------------------------------------------------


def _mailer() -> Any:
    from dsar.notify import mailer_from_settings

    return mailer_from_settings(get_settings())


def _base_context(request: Request, register: Register) -> dict[str, Any]:
    return {
        "controller": register.controller,
        "reference": request.id,
        "regime": request.regime.value,
        "kind": request.kind.value,
    }


def _send_to_subject(
    request_id: str, *, purpose: str, template: str, to: str, context: dict[str, Any]
) -> None:
    from dsar.notify import render, send_notice

    loaded = load(request_id)
    ctx = {**_base_context(loaded.request, loaded.register), **context}
    subject, body = render(template, loaded.request.language, **ctx)
    with session_scope() as session:
        send_notice(
            session,
            request_id=request_id,
            recipient="subject",
            purpose=purpose,
            to=to,
            subject=subject,
            body=body,
            mailer=_mailer(),
            commit=True,
        )


async def notify_manual_step(step_id: str) -> str:
    """Send the Art. 19 notice of a manual step to its recipient and leave the task to staff.

    The register names the channel: e-mail to the recipient's privacy contact, or a signed
    webhook (``X-DSAR-Signature``) to its endpoint. Either way the Notice row is recorded
    before and after the delivery.
    """
    from dsar.notify import render, send_notice

    with session_scope() as session:
        step = session.get(Step, step_id)
        if step is None:
            raise NotFoundError(f"no step with id {step_id!r}")
        if step.status not in (StepStatus.PLANNED, StepStatus.RUNNING):
            return step.status.value
    loaded = load(step.request_id)
    recipient = loaded.register.recipient(step.recipient)
    categories = [loaded.register.category(c).name for c in step.categories]
    if recipient.notice.channel == "webhook":
        notice_id, status = await _notify_by_webhook(loaded, recipient.key, categories)
    else:
        ctx = {
            **_base_context(loaded.request, loaded.register),
            "action": ART19_ACTION[loaded.request.kind],
            "categories": categories,
            "recipient_name": recipient.name,
            "subject_email": loaded.request.email,
            "changes": loaded.request.details.get("changes", {}),
        }
        subject, body = render("art19", "en", **ctx)
        with session_scope() as session:
            notice = send_notice(
                session,
                request_id=step.request_id,
                recipient=recipient.key,
                purpose="art19",
                to=recipient.notice.address,
                subject=subject,
                body=body,
                mailer=_mailer(),
                commit=True,
            )
            notice_id, status = notice.id, notice.status
    with session_scope() as session:
        stored = session.get(Step, step_id)
        assert stored is not None  # noqa: S101
        stored.status = StepStatus.PENDING
        stored.external_ref = f"notice:{notice_id}"
        stored.result = {"notice": status}
        session.add(stored)
    return StepStatus.PENDING.value


async def _notify_by_webhook(
    loaded: Loaded, recipient_key: str, categories: list[str]
) -> tuple[str, str]:
    """Deliver an Art. 19 notice as a signed JSON webhook; returns (notice id, status)."""
    from connectors.webhook import post_signed
    from dsar.notify import art19_webhook_payload, claim_notice, mark_failed, mark_sent

    request, register = loaded.request, loaded.register
    recipient = register.recipient(recipient_key)
    with session_scope() as session:
        notice = claim_notice(
            session,
            request_id=request.id,
            recipient=recipient.key,
            purpose="art19",
            channel="webhook",
        )
        if notice.status == "sent":
            return notice.id, notice.status
        notice_id = notice.id
    payload = art19_webhook_payload(
        notice_id=notice_id,
        reference=request.id,
        kind=request.kind.value,
        action=ART19_ACTION[request.kind],
        categories=categories,
        subject_email=request.email,
        controller=register.controller.name,
        changes=request.details.get("changes", {}),
    )
    try:
        reference = await post_signed(
            recipient.notice.address,
            payload,
            secret=get_settings().webhook_secret.get_secret_value(),
            idempotency_key=f"art19:{notice_id}",
        )
    except ConnectorError as exc:
        with session_scope() as session:
            stored = session.get(Notice, notice_id)
            assert stored is not None  # noqa: S101
            mark_failed(session, notice=stored, error=str(exc))
        raise
    with session_scope() as session:
        stored = session.get(Notice, notice_id)
        assert stored is not None  # noqa: S101
        mark_sent(session, notice=stored, message_id=reference, actor=ACTOR)
        return stored.id, stored.status


async def transmit_portability(request_id: str) -> str | None:
    """Art. 20(2): send the portable data straight to the controller the subject named.

    Only to an ``https`` URL (plain ``http`` on loopback, for tests) given in the request
    (``details["transmit_to"]``), and only once the package exists, so after identity
    verification. Recorded as a Notice; sent once.
    """
    import json
    import zipfile

    from connectors.webhook import post_signed
    from dsar.models import Export
    from dsar.notify import claim_notice, mark_failed, mark_sent

    loaded = load(request_id)
    target = str(loaded.request.details.get("transmit_to") or "")
    local = target.startswith(("http://127.0.0.1", "http://localhost"))
    if loaded.request.kind is not RequestKind.PORTABILITY or not (
        target.startswith("https://") or local
    ):
        return None
    with session_scope() as session:
        export = session.exec(
            select(Export).where(Export.request_id == request_id).order_by(col(Export.created_at))
        ).first()
        if export is None:
            return None
        notice = claim_notice(
            session,
            request_id=request_id,
            recipient="transmission",
            purpose="portability",
            channel="webhook",
        )
        if notice.status == "sent":
            return notice.status
        notice_id, path = notice.id, export.path
    with zipfile.ZipFile(path) as package:
        data = json.loads(package.read("data.json"))
    try:
        reference = await post_signed(
            target,
            {"type": "dsar.portability", "reference": request_id, "data": data},
            secret=get_settings().webhook_secret.get_secret_value(),
            idempotency_key=f"portability:{notice_id}",
        )
    except ConnectorError as exc:
        with session_scope() as session:
            stored = session.get(Notice, notice_id)
            assert stored is not None  # noqa: S101
            mark_failed(session, notice=stored, error=str(exc))
        return "failed"
    with session_scope() as session:
        stored = session.get(Notice, notice_id)
        assert stored is not None  # noqa: S101
        mark_sent(session, notice=stored, message_id=reference, actor=ACTOR)
        return stored.status


def answer_no_data(request_id: str) -> None:
    """Close a request for which no processor holds the address: nothing to disclose or change."""
    _send_to_subject(
        request_id,
        purpose="answer",
        template="answer_no_data",
        to=load(request_id).request.email,
        context={},
    )
    with session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None  # noqa: S101
        lifecycle.transition(
            session, request=request, target=RequestStatus.IN_PROGRESS, actor=ACTOR
        )
        lifecycle.transition(
            session,
            request=request,
            target=RequestStatus.COMPLETED,
            actor=ACTOR,
            reason="no personal data held under this address",
        )


def complete_task(task_id: str, *, note: str, actor: str) -> str:
    """Record staff's evidence for a manual task and mark its step done; returns the request id."""
    if not note.strip():
        raise DsarError("a manual task needs a note: the evidence of what the recipient confirmed")
    with session_scope() as session:
        task = session.get(ManualTask, task_id)
        if task is None:
            matches = session.exec(
                select(ManualTask).where(col(ManualTask.id).startswith(task_id)).limit(2)
            ).all()
            task = matches[0] if len(matches) == 1 and len(task_id) >= 6 else None
        if task is None:
            raise NotFoundError(f"no manual task with id {task_id!r}")
        if task.status == "done":
            return task.request_id
        task.status = "done"
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
        if step is not None:
            step.status = StepStatus.DONE
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


def _export_results(request_id: str, register: Register) -> list[Any]:
    from dsar.export import ExportedRecord, SourceResult

    results = []
    with session_scope() as session:
        for step in steps_of(session, request_id):
            if step.action != "export":
                continue
            records = tuple(
                ExportedRecord(category=r["category"], source=r["source"], data=r["data"])
                for r in step.result.get("records", [])
            )
            status = {
                StepStatus.DONE: "exported" if records else "not_found",
            }.get(step.status, "failed")
            results.append(SourceResult(recipient=step.recipient, status=status, records=records))
    return results


def _forget_exported_records(request_id: str) -> None:
    """Once packaged, the copies of exported data leave the database (Art. 5(1)(c))."""
    with session_scope() as session:
        for step in steps_of(session, request_id):
            if step.action == "export" and "records" in step.result:
                step.result = {"count": step.result.get("count", 0)}
                session.add(step)


def finalize(request_id: str) -> str:
    """Answer the subject and close the request once every step has finished.

    Returns the request's status: ``failed`` or ``awaiting_manual`` when it cannot close yet,
    ``in_progress`` while a processor's job is still pending (the deadline monitor polls it),
    ``completed`` after the answer went out.
    """
    status = settle(request_id)
    if status in (RequestStatus.FAILED.value, *[s.value for s in lifecycle.FINAL]):
        return status
    if open_manual_tasks(request_id):
        return RequestStatus.AWAITING_MANUAL.value
    if pending_steps(request_id):
        return RequestStatus.IN_PROGRESS.value
    loaded = load(request_id)
    request, register = loaded.request, loaded.register
    notified = _notified(request_id, register)
    context = {"notified_recipients": notified, **_answer_facts(request, register)}
    if request.kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
        context.update(_package(request, register, notified=notified))
    _send_to_subject(
        request_id,
        purpose="answer",
        template=f"answer_{request.kind.value}",
        to=request.email,
        context=context,
    )
    with session_scope() as session:
        stored = session.get(Request, request_id)
        assert stored is not None  # noqa: S101
        if stored.status is RequestStatus.AWAITING_MANUAL:
            lifecycle.transition(
                session, request=stored, target=RequestStatus.IN_PROGRESS, actor=ACTOR
            )
        lifecycle.transition(session, request=stored, target=RequestStatus.COMPLETED, actor=ACTOR)
        return stored.status.value


def _package(request: Request, register: Register, *, notified: list[str]) -> dict[str, Any]:
    from dsar.export import build_package, download_url, issue_download

    settings = get_settings()
    package = build_package(
        request_id=request.id,
        kind=request.kind,
        language=request.language,
        register=register,
        results=_export_results(request.id, register),
        out_dir=settings.exports_dir,
        now=utcnow(),
        notified=notified,
    )
    with session_scope() as session:
        export, token = issue_download(session, request_id=request.id, package=package)
        append_event(
            session,
            action="package_built",
            actor=ACTOR,
            request_id=request.id,
            data={"sha256": package.sha256, "files": list(package.files), "export_id": export.id},
        )
    _forget_exported_records(request.id)
    return {
        "download_url": download_url(token, settings.public_url),
        "download_expires": export.expires_at,
    }


def _answer_facts(request: Request, register: Register) -> dict[str, Any]:
    """What the answer to the subject reports, per kind, from the stored steps."""
    with session_scope() as session:
        done = [
            s
            for s in steps_of(session, request.id)
            if s.status in (StepStatus.DONE, StepStatus.PENDING)
        ]

    def name(key: str) -> str:
        return register.recipient(key).name

    def items(action: str) -> list[dict[str, Any]]:
        return [
            {
                "recipient": name(s.recipient),
                "categories": [register.category(c).name for c in s.categories],
                "ground": s.retention_ground,
                "until": s.retention_until,
            }
            for s in done
            if s.action == action
        ]

    kind = request.kind
    if kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
        return {"recipients": [{"name": r.name, "country": r.country} for r in register.recipients]}
    if kind is RequestKind.ERASURE:
        return {"erased": items("erase"), "kept": [i for i in items("restrict") if i["ground"]]}
    if kind is RequestKind.RESTRICTION:
        return {"restricted": items("restrict")}
    if kind is RequestKind.OBJECTION:
        return {"stopped": list(dict.fromkeys(name(s.recipient) for s in done))}
    fields = sorted(request.details.get("changes", {}))
    return {"fields": fields, "recipients": list(dict.fromkeys(name(s.recipient) for s in done))}


def _notified(request_id: str, register: Register) -> list[str]:
    """Recipients told of the action (Art. 19 sentence 2): by API or by notice."""
    with session_scope() as session:
        keys = [
            s.recipient
            for s in steps_of(session, request_id)
            if s.action != "export" and s.status in (StepStatus.DONE, StepStatus.PENDING)
        ]
    return [register.recipient(k).name for k in dict.fromkeys(keys)]


def summary(request_id: str) -> str:
    """A markdown summary of a request's outcome, with ids and counts only."""
    loaded = load(request_id)
    request = loaded.request
    lines = [
        f"# {request.kind.value} request {request.id[:8]}",
        "",
        f"- controller: {request.controller}",
        f"- regime: {request.regime.value}",
        f"- status: {request.status.value}",
        f"- due: {request.effective_due_date.isoformat()}",
        "",
        "| recipient | action | status | count |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['recipient']} | {r['action']} | {r['status']} | {r['count']} |"
        for r in step_rows(request_id)
    ]
    return "\n".join(lines)


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
    _send_to_subject(
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
