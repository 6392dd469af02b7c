"""Running flows in this process (embedded mode) for ``dsar run`` and ``dsar tasks done``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from sqlmodel import col, select

from dsar.enums import ManualTaskStatus, RequestStatus
from dsar.models import Request
from dsar.store import session_scope
from engine import complete_task as record_task_done
from engine import decide, finalize, load, open_manual_tasks, step_rows

_DONE = {"done", "skipped", "failed", "pending"}
_UNSETTLED = (RequestStatus.RECEIVED, RequestStatus.IN_PROGRESS)

#: Prefect's loggers whose handlers must redact (its run loggers ship records to its API).
PREFECT_LOGGERS = ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.flows")


@asynccontextmanager
async def prefect_clients() -> AsyncIterator[None]:
    """One Prefect API client of each kind for everything run inside.

    Without it, every flow run builds its own async client, its sync client and two more for
    reading the server's default result storage, each with a TLS context loaded from the CA
    bundle (~20 ms of CPU apiece, about 80 ms a request). Inside a flow run, Prefect's own
    clients are already there and are reused.
    """
    from prefect.context import AsyncClientContext, SyncClientContext

    with SyncClientContext.get_or_create():
        async with AsyncClientContext.get_or_create():
            yield


async def run_request(request_id: str) -> RequestStatus:
    """``process_request`` in this process, as ``dsar run``, ``dsar serve`` and ``dsar demo``
    start it: redacting handlers on Prefect's loggers, the run tagged with the controller and
    the kind, one set of API clients."""
    from prefect import tags

    from dsar.logging import redact_handlers
    from flows.process import process_request

    request = load(request_id).request
    redact_handlers(*PREFECT_LOGGERS)
    async with prefect_clients():
        with tags(request.controller, request.kind.value):
            return RequestStatus(await process_request(request_id))


async def run_requests(
    request_ids: Sequence[str], *, concurrency: int = 1
) -> dict[str, RequestStatus]:
    """``process_requests``: many requests in one flow run, each request's outcome by id."""
    from dsar.logging import redact_handlers
    from flows.process import process_requests

    redact_handlers(*PREFECT_LOGGERS)
    async with prefect_clients():
        return dict(await process_requests(list(request_ids), concurrency=concurrency))


def _settled(request_ids: Sequence[str]) -> int:
    """How many of the requests are no longer waiting to run or running."""
    with session_scope() as session:
        return len(
            session.exec(
                select(Request.id).where(
                    col(Request.id).in_(request_ids),
                    col(Request.status).not_in(_UNSETTLED),
                )
            ).all()
        )


def _progress(console: Console, unit: str) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn(f"{{task.completed}}/{{task.total}} {unit}"),
        console=console,
        transient=False,
    )


def run_batch_with_progress(
    request_ids: Sequence[str], *, concurrency: int, console: Console | None
) -> dict[str, RequestStatus]:
    """Run ``process_requests`` to its end; with a console, count the requests as they settle."""

    async def go() -> dict[str, RequestStatus]:
        run = asyncio.ensure_future(run_requests(request_ids, concurrency=concurrency))
        if console is None:
            return await run
        with _progress(console, "requests") as progress:
            bar = progress.add_task("batch", total=len(request_ids))
            while not run.done():
                progress.update(bar, completed=_settled(request_ids))
                await asyncio.wait({run}, timeout=0.5)
            progress.update(bar, completed=len(request_ids))
        return run.result()

    return asyncio.run(go())


def run_with_progress(request_id: str, *, console: Console | None) -> RequestStatus:
    """Run ``process_request`` to its end; with a console, show the steps as they finish."""

    async def go() -> RequestStatus:
        run = asyncio.ensure_future(run_request(request_id))
        if console is None:
            return RequestStatus(await run)
        with _progress(console, "steps") as progress:
            bar = progress.add_task(f"request {request_id[:8]}", total=None)
            while not run.done():
                rows = step_rows(request_id)
                finished = sum(1 for r in rows if r["status"] in _DONE)
                progress.update(bar, total=len(rows) or None, completed=finished)
                await asyncio.wait({run}, timeout=0.3)
            rows = step_rows(request_id)
            progress.update(bar, total=len(rows) or 1, completed=len(rows) or 1)
        return RequestStatus(run.result())

    return asyncio.run(go())


def decide_task(task_id: str, *, received: bool, note: str) -> tuple[str, RequestStatus]:
    """Record staff's decision on whether a recipient received the data; a recipient that did
    gets its Art. 19 notice now, and the request closes once no task is left open."""
    request_id = asyncio.run(decide(task_id, received=received, note=note, actor="staff:cli"))
    if open_manual_tasks(request_id):
        return request_id, load(request_id).request.status
    return request_id, finalize(request_id)


def settle_open_tasks(
    request_id: str, *, note: str, received: bool = False
) -> tuple[int, RequestStatus]:
    """Staff's open work on a request in one go, as the demo and the tests do it: every decision
    task answered ``received`` and every other task completed, each with ``note``. Returns the
    number of tasks and the request's status."""
    from dsar.models import ManualTask, Step

    with session_scope() as session:
        tasks = session.exec(
            select(ManualTask).where(
                ManualTask.request_id == request_id,
                ManualTask.status == ManualTaskStatus.OPEN,
            )
        ).all()
        deciding = {
            s.recipient
            for s in session.exec(select(Step).where(Step.request_id == request_id))
            if s.action == "decide"
        }
    status = load(request_id).request.status
    for task in tasks:
        if task.recipient in deciding:
            _, status = decide_task(task.id, received=received, note=note)
        else:
            _, status = complete_task(task.id, note=note)
    return len(tasks), status


def complete_task(task_id: str, *, note: str) -> tuple[str, RequestStatus]:
    """Record a manual task's evidence; the last open task of a request closes it."""
    request_id = record_task_done(task_id, note=note, actor="staff:cli")
    if open_manual_tasks(request_id):
        return request_id, load(request_id).request.status
    return request_id, finalize(request_id)
