"""The request lifecycle as Prefect flows: thin orchestration over :mod:`engine.steps`.

``process_request(request_id)`` is the one entry flow. It passes the identity gate, stores the
plan, then fans the connector steps out concurrently
across recipients (one task per step, retried on transient errors), waits a bounded time for
the processors' asynchronous jobs, notifies recipients without an API (Art. 19) and answers the
subject. Parameters are ids only: Prefect stores and shows parameters, identities never go there.

Retries, one layer per failure class:

* a processor's transient HTTP errors (timeouts, 429, 5xx) are retried by the connectors' HTTP
  layer (:mod:`connectors.http`: bounded, honouring ``Retry-After``); a ``connector-step``
  task is not retried again — what is still transient after that is recorded as a failed
  step, and the deadline monitor re-runs the request;
* an Art. 19 notice by mail has no retry below it, so ``notify-recipient`` retries the SMTP
  delivery itself.

Flows report what a request is: a :class:`~dsar.enums.RequestStatus`.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.runtime import flow_run

from dsar.enums import RequestKind, RequestStatus
from dsar.logging import get_logger
from dsar.settings import get_settings
from engine import (
    carry_out_step,
    close_connectors,
    complete_task,
    connector_groups,
    establish_recipients,
    finalize,
    identity_gate,
    kind_of,
    manual_steps,
    mark_broken,
    notify_manual_step,
    open_manual_tasks,
    pending_steps,
    poll_pending_step,
    start_and_plan,
    step_rows,
    summary,
    transmit_portability,
)
from flows.secrets import load_secret_blocks

log = get_logger("dsar.flows.process")


def _run_name() -> str:
    request_id = str(flow_run.parameters.get("request_id", ""))
    try:
        kind = kind_of(request_id).value
    except Exception:  # noqa: BLE001 - naming a run must never fail the run itself
        kind = "request"
    return f"{kind}-{request_id[:8]}"


@task(name="connector-step", task_run_name="{recipient}-{action}")
async def connector_step(step_id: str, recipient: str, action: str) -> str:
    """Run one recipient's step; an error still transient after the HTTP layer's retries is
    recorded as a failed step (the request is re-run later), not retried here again."""
    return await carry_out_step(step_id)


@task(name="await-processor-job", task_run_name="poll-{recipient}")
async def await_job(step_id: str, recipient: str, wait_seconds: float) -> str:
    """Poll one asynchronous processor job up to the configured bound, then verify it."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    return await poll_pending_step(step_id, deadline=deadline)


@task(name="notify-recipient", task_run_name="art19-{recipient}", retries=2, retry_delay_seconds=2)
async def notify_recipient(step_id: str, recipient: str) -> str:
    """Send one Art. 19 notice to a recipient without an API; staff get a manual task.

    Retried here: mail delivery has no retry layer below this task."""
    return await notify_manual_step(step_id)


@task(name="transmit-portability")
async def transmit(request_id: str) -> str | None:
    """Art. 20(2): send the portable data to the controller the subject named, if any."""
    return await transmit_portability(request_id)


@task(name="answer-subject")
def answer_subject(request_id: str) -> RequestStatus:
    """Build the package where the kind needs one, send the answer, close the request."""
    return finalize(request_id)


async def _run_group(group: list[tuple[str, str, str]]) -> list[str]:
    results = []
    for step_id, recipient, action in group:
        results.append(await connector_step(step_id, recipient, action))
    return results


async def _execute(request_id: str) -> RequestStatus:
    """Fan the connector steps out, wait for the processors' jobs, notify, answer."""
    await asyncio.gather(*(_run_group(g) for g in connector_groups(request_id)))
    wait = get_settings().async_wait_seconds
    await asyncio.gather(
        *(await_job(sid, recipient, wait) for sid, recipient in pending_steps(request_id))
    )
    await asyncio.gather(
        *(notify_recipient(sid, recipient) for sid, recipient in manual_steps(request_id))
    )
    status = answer_subject(request_id)
    if kind_of(request_id) is RequestKind.PORTABILITY and status is RequestStatus.COMPLETED:
        await transmit(request_id)
    return status


async def _publish(request_id: str, status: RequestStatus) -> None:
    """The steps table and the outcome, as two artifacts created side by side."""
    await asyncio.gather(
        acreate_table_artifact(
            key=f"steps-{request_id[:8]}",
            table=step_rows(request_id),
            description=f"Steps of request {request_id[:8]}",
        ),
        acreate_markdown_artifact(
            key=f"summary-{request_id[:8]}",
            markdown=summary(request_id),
            description=f"Outcome of request {request_id[:8]}: {status}",
        ),
    )


async def _carry_out(request_id: str, *, publish: bool) -> RequestStatus:
    """Identity gate, plan, steps, answer: one request, inside whichever flow run calls it;
    with ``publish``, its steps and outcome become artifacts of that run."""
    gate = await identity_gate(request_id)
    if not gate.passed:
        return gate.status
    await establish_recipients(request_id)
    start_and_plan(request_id)
    status = await _execute(request_id)
    if publish:
        await _publish(request_id, status)
    return status


@flow(name="process-request", flow_run_name=_run_name, persist_result=False)
async def process_request(request_id: str) -> RequestStatus:
    """Carry out one request end to end; safe to re-run, it resumes where it stopped.

    One flow run per request, whatever its kind (the run is named ``<kind>-<id>``): the kinds
    differ only in the plan, and a run of its own per kind would cost a second round of API
    calls for every request.
    """
    try:
        await load_secret_blocks()
        return await _carry_out(request_id, publish=True)
    finally:
        await close_connectors()


@flow(name="process-requests", persist_result=False)
async def process_requests(
    request_ids: list[str], concurrency: int = 1
) -> dict[str, RequestStatus]:
    """Carry out many requests in one flow run (a backlog, a nightly batch).

    Each request's steps are tasks as in ``process-request``, but the flow run, the API
    clients and the processors' connections are paid once for the batch, and one table
    artifact lists the outcomes. A request that breaks is marked ``failed`` with the reason
    (the deadline monitor re-runs failed requests) and reported so; the others go on.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    request_ids = list(dict.fromkeys(request_ids))  # a request named twice runs once
    gate = asyncio.Semaphore(concurrency)

    async def one(request_id: str) -> RequestStatus:
        async with gate:
            try:
                return await _carry_out(request_id, publish=False)
            except Exception as exc:
                log.exception("request_broke", request=request_id, error=type(exc).__name__)
                return mark_broken(request_id, exc)

    try:
        await load_secret_blocks()
        outcomes = await asyncio.gather(*(one(request_id) for request_id in request_ids))
    finally:
        await close_connectors()
    results = dict(zip(request_ids, outcomes, strict=True))
    await acreate_table_artifact(
        key="batch-outcomes",
        table=[{"request": rid[:8], "status": status} for rid, status in results.items()],
        description=f"{len(results)} requests: "
        + ", ".join(f"{s} {n}" for s, n in sorted(Counter(results.values()).items())),
    )
    return results


@flow(name="complete-manual-task", persist_result=False)
def complete_manual_task(task_id: str, note: str) -> str:
    """Staff record that a recipient without an API confirmed the action; the request closes
    once its last task is done."""
    request_id = complete_task(task_id, note=note, actor="staff:prefect-ui")
    if open_manual_tasks(request_id) == 0:
        return answer_subject(request_id)
    return "awaiting_manual"
