"""The deadline monitor as a Prefect flow: one pass of :mod:`dsar.monitor`, orchestrated.

``deadline_monitor`` runs daily on a schedule and on demand (``dsar monitor`` →
:func:`run_monitor`). Each pass:

1. rejects requests whose identity challenge expired unanswered and tells the requesters
   (Art. 12(4));
2. scans the open requests and sends what is new — the staff digest per controller and the
   CCPA receipt confirmations;
3. polls the processors' pending asynchronous jobs and answers the requests whose last job
   finished;
4. re-runs failed or stuck requests as ``process-request`` subflows, one after the other: the
   connectors are cached per event loop and ``process_request`` closes them when it ends, so two
   runs side by side in one loop would close each other's clients. A work pool that should
   spread re-runs over workers can call ``run_deployment`` instead;
5. pseudonymises closed requests past the evidence-retention period and deletes expired
   packages;
6. publishes a table artifact of what is due: ids, kinds, dates and states, no personal data.

Deploy it with one run at a time (``concurrency_limit=1``): the notices make a repeated pass
harmless, but two passes at once could both claim the same day's digest.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, datetime
from typing import Any

from prefect import flow, task
from prefect.artifacts import acreate_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dsar.errors import InputError
from dsar.models import utcnow
from dsar.monitor import DueItem, MonitorPolicy, MonitorReport
from engine import close_connectors, monitoring
from flows.process import answer_subject, await_job, process_request
from flows.secrets import load_secret_blocks

#: The key of the artifact each pass publishes (the latest one is what is due now).
ARTIFACT_KEY = "deadline-monitor"
#: When the scheduled deployment runs: every morning, before staff start.
DAILY_CRON = "0 6 * * *"


def _run_name() -> str:
    return f"monitor-{flow_run.parameters.get('today') or 'today'}"


@task(name="expire-challenges", cache_policy=NO_CACHE)
def expire_challenges(now: datetime) -> int:
    """Reject requests whose identity challenge expired, and tell each requester why."""
    return monitoring.expire_challenges(now)


@task(name="scan-deadlines", cache_policy=NO_CACHE)
def scan_deadlines(today: date, now: datetime) -> MonitorReport:
    """Classify the open requests (one streamed query per rule family)."""
    return monitoring.scan_deadlines(today, now)


@task(name="notify-due", cache_policy=NO_CACHE)
def notify_due(report: MonitorReport) -> dict[str, int]:
    """Send the staff digests and the receipt confirmations that are new."""
    return monitoring.notify_due(report)


@task(name="record-requeue", cache_policy=NO_CACHE)
def record_requeue(request_id: str, reason: str) -> None:
    """Count the re-run before it starts, so a run that crashes still uses up an attempt."""
    monitoring.record_requeue(request_id, reason)


@task(name="purge-closed", cache_policy=NO_CACHE)
def purge(now: datetime, retention_days: int) -> dict[str, int]:
    """Pseudonymise closed requests past retention; delete expired packages from disk."""
    return monitoring.purge(now, retention_days)


@task(name="purge-retained", cache_policy=NO_CACHE)
def purge_retained(today: date) -> dict[str, int]:
    """Destroy the retention vault's records whose period has ended."""
    return monitoring.purge_retained(today)


async def _poll_jobs(jobs: list[DueItem], policy: MonitorPolicy) -> Counter[str]:
    """Poll each pending job (bounded), then answer the requests with no job left pending."""
    gate = asyncio.Semaphore(policy.poll_concurrency)

    async def poll(job: DueItem) -> str:
        assert job.step_id is not None  # noqa: S101 - pending-job items name their step
        async with gate:
            recipient = job.detail.partition(":")[0]
            return str(await await_job(job.step_id, recipient, policy.poll_wait_seconds))

    try:
        states = await asyncio.gather(*(poll(job) for job in jobs))
    finally:
        await close_connectors()
    counts: Counter[str] = Counter(f"jobs_{state}" for state in states)
    finished = {job.request_id for job, state in zip(jobs, states, strict=True) if state == "done"}
    for request_id in sorted(finished):
        if monitoring.every_step_ran(request_id):
            counts[f"answered_{answer_subject(request_id)}"] += 1
    return counts


async def _requeue(requests: list[tuple[str, str]]) -> Counter[str]:
    """Re-run each request as a subflow, one after the other; count them by the status reached."""
    counts: Counter[str] = Counter()
    for request_id, reason in requests:
        record_requeue(request_id, reason)
        state = await process_request(request_id, return_state=True)
        if state.is_completed():
            counts[f"rerun_{await state.aresult()}"] += 1
        else:
            counts["rerun_crashed"] += 1
    return counts


def _description(report: MonitorReport) -> str:
    totals = ", ".join(f"{kind} {count}" for kind, count in sorted(report.totals.items()))
    actions = ", ".join(f"{name} {count}" for name, count in sorted(report.actions.items()))
    return (
        f"Deadline monitor {report.today.isoformat()}: {totals or 'nothing due'}."
        f" Done: {actions or 'nothing'}."
    )


@flow(name="deadline-monitor", flow_run_name=_run_name, persist_result=False)
async def deadline_monitor(today: str | None = None) -> dict[str, Any]:
    """One pass of the deadline monitor; ``today`` (ISO date) defaults to the UTC date.

    Returns the report as a dict: counts per kind, what was done, and the rows shown.
    """
    now = utcnow()
    try:
        day = date.fromisoformat(today) if today else now.date()
    except ValueError:
        raise InputError(f"today: {today!r} is not a date (YYYY-MM-DD)") from None
    await load_secret_blocks()
    policy = MonitorPolicy.from_settings()
    rejected = expire_challenges(now)
    report = scan_deadlines(day, now)
    report.actions.update(notify_due(report))
    report.actions["rejected"] += rejected
    if report.pending_jobs:
        report.actions.update(await _poll_jobs(report.pending_jobs, policy))
    report.actions.update(await _requeue(report.requeue))
    report.actions.update(purge(now, policy.evidence_retention_days))
    report.actions.update(purge_retained(day))
    report.actions = +report.actions  # drop the zero counts
    await acreate_table_artifact(
        key=ARTIFACT_KEY, table=report.table_rows(), description=_description(report)
    )
    return report.to_dict()


# --------------------------------------------------------------------------------------------
# The CLI's entry point
# --------------------------------------------------------------------------------------------


def run_monitor(*, today: date | None = None, console: Console | None = None) -> MonitorReport:
    """Run one pass in this process (``dsar monitor``); with a console, print what is due."""
    from dsar.logging import redact_handlers
    from flows.embedded import PREFECT_LOGGERS

    redact_handlers(*PREFECT_LOGGERS)
    data = asyncio.run(deadline_monitor(today=today.isoformat() if today else None))
    report = MonitorReport.from_dict(data)
    if console is not None:
        print_report(report, console=console)
    return report


_STATE_STYLE = {"new": "bold", "done": "dim"}
_KIND_STYLE = {"overdue": "red", "needs_staff": "red", "reminder": "yellow"}
_COLUMNS = ("request", "controller", "kind", "date", "days", "status", "detail", "state")


def print_report(report: MonitorReport, *, console: Console) -> None:
    """The report as a Rich table, soonest first, with a line of totals and actions."""
    table = Table(title=f"Deadline monitor {report.today.isoformat()}")
    for column in _COLUMNS:
        table.add_column(column.capitalize(), justify="right" if column == "days" else "left")
    for row in report.table_rows():
        table.add_row(
            row["request"][:12],
            row["controller"],
            Text(row["kind"], style=_KIND_STYLE.get(row["kind"], "")),
            row["date"],
            str(row["days"]),
            row["status"],
            row["detail"],
            Text(row["state"], style=_STATE_STYLE[row["state"]]),
        )
    console.print(table)
    if report.truncated:
        console.print(f"… and {report.truncated} more items not shown")
    console.print(_description(report))
