"""Running flows in this process (embedded mode) for ``dsar run`` and ``dsar tasks done``."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

from flows import steps

_DONE = {"done", "skipped", "failed", "pending"}

#: Prefect's loggers whose handlers must redact (its run loggers ship records to its API).
PREFECT_LOGGERS = ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.flows")


def run_with_progress(request_id: str, *, console: Console | None) -> str:
    """Run ``process_request`` to its end; with a console, show the steps as they finish."""
    from prefect import tags

    from dsar.logging import redact_handlers
    from flows.process import process_request

    request = steps.load(request_id).request
    redact_handlers(*PREFECT_LOGGERS)

    async def go() -> str:
        with tags(request.controller, request.kind.value):
            run = asyncio.ensure_future(process_request(request_id))
        if console is None:
            return str(await run)
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps"),
            console=console,
            transient=False,
        ) as progress:
            bar = progress.add_task(f"request {request_id[:8]}", total=None)
            while not run.done():
                rows = steps.step_rows(request_id)
                finished = sum(1 for r in rows if r["status"] in _DONE)
                progress.update(bar, total=len(rows) or None, completed=finished)
                await asyncio.wait({run}, timeout=0.3)
            rows = steps.step_rows(request_id)
            progress.update(bar, total=len(rows) or 1, completed=len(rows) or 1)
        return str(run.result())

    return asyncio.run(go())


def complete_task(task_id: str, *, note: str) -> tuple[str, str]:
    """Record a manual task's evidence; the last open task of a request closes it."""
    request_id = steps.complete_task(task_id, note=note, actor="staff:cli")
    if steps.open_manual_tasks(request_id):
        return request_id, steps.load(request_id).request.status.value
    return request_id, steps.finalize(request_id)
