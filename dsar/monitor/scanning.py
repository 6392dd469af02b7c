"""One read-only pass of the deadline monitor: what is due, counted where the requests are.

The database counts: one grouped statement per rule family (:class:`~dsar.monitor.rules.Family`)
walks that family's index range and sums, per rule, the requests it applies to and those
already handled; only the sums leave the database, one row per family and controller.
Rows become objects only where a person or a flow needs them: the first ``max_rows`` items
shown (soonest due first, a page at a time), the requests to re-run, and the processor jobs
to poll. So the time a pass takes follows the index entries inside the rules' ranges, and its
memory stays flat however many requests are open.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, and_, case, func, or_, union_all
from sqlalchemy import select as core_select
from sqlalchemy.sql import visitors
from sqlalchemy.sql.util import ClauseAdapter
from sqlmodel import Session, col

from dsar.enums import RequestStatus, StepStatus
from dsar.errors import InputError
from dsar.logging import get_logger
from dsar.models import Request, Step
from dsar.monitor.report import DueItem, MonitorReport
from dsar.monitor.rules import (
    DATES,
    OPEN_STATUSES,
    RERUN_REASONS,
    DueKind,
    Family,
    MonitorPolicy,
    Rule,
    bitmask,
    bits,
    family_range,
    needs_rerun,
    owes_acknowledgement,
    rules_for,
)
from dsar.plan import MANUAL

log = get_logger("dsar.monitor.purge")


def _batches(session: Session, statement: Any, report: MonitorReport) -> Iterator[Sequence[Any]]:
    """Stream ``statement`` in partitions of ``batch_size`` rows, counting what was held.

    Leaving the loop early closes the statement: the database stops where the reader stopped.
    """
    size = report.policy.batch_size
    result = session.connection().execute(statement.execution_options(yield_per=size))
    try:
        for part in result.partitions(size):
            report.batches += 1
            report.largest_batch = max(report.largest_batch, len(part))
            report.rows_scanned += len(part)
            yield part
    finally:
        result.close()


def scan(session: Session, *, today: date, now: datetime, policy: MonitorPolicy) -> MonitorReport:
    """Classify every open request that needs something today; read-only.

    The counts per rule (and per controller, for the digest) are sums the database computes
    over each rule family's index range; the items shown are read soonest due first, a page at
    a time, until ``max_rows``; the requests to re-run and the pending processor jobs are read
    in full (they are the work of the pass).
    """
    if now.utcoffset() is None:
        raise InputError("now must be timezone-aware")
    report = MonitorReport(today=today, now=now, policy=policy)
    chosen = rules_for(today, now, policy)
    totals, new = _tally(session, chosen, report)
    _list_items(session, chosen, report)
    # Never below zero: on PostgreSQL each statement sees the requests as committed when it
    # starts, so a request changed in between may be counted but not shown, or the reverse.
    report.truncated = max(0, sum(totals) - len(report.items))
    report.requeue = list(_requeue(session, chosen, report))
    for rule, total, fresh in zip(chosen, totals, new, strict=True):
        if total:
            report.totals[rule.kind] += total
        if fresh:
            report.new[rule.kind] += fresh
    _scan_pending_jobs(session, report)
    report.items.sort(key=lambda item: (item.on, item.request_id, item.kind))
    log.info(
        "monitor_scanned",
        rows=report.rows_scanned,
        batches=report.batches,
        **{f"new_{kind}": count for kind, count in report.new.items() if count},
    )
    return report


def _tally(
    session: Session, chosen: Sequence[Rule], report: MonitorReport
) -> tuple[list[int], list[int]]:
    """Per rule, how many open requests it applies to and how many of those are new; adds the
    new staff items per controller to ``report.staff_new``. The database returns one row of
    sums per rule family and controller."""
    totals, new = [0] * len(chosen), [0] * len(chosen)
    for family in Family:
        members = [i for i, rule in enumerate(chosen) if rule.family is family]
        where = family_range(family, report.today, report.now, report.policy)
        members_rules = [chosen[i] for i in members]
        statement = (
            _group_sums(members_rules, where)
            if family is Family.DUE
            else _row_sums(members_rules, where)
        )
        for part in _batches(session, statement, report):
            for controller, *counts in part:
                for i, total, done in zip(members, counts[::2], counts[1::2], strict=True):
                    fresh = int(total) - int(done)
                    totals[i] += int(total)
                    new[i] += fresh
                    if fresh and chosen[i].tells_staff:
                        report.staff_new[controller, str(chosen[i].purpose)] += fresh
    return totals, new


def _row_sums(members: Sequence[Rule], where: Any) -> Any:
    """Per controller and rule: requests it applies to, and those already handled; each
    request of the family's range tested on its own (the small families)."""
    flags = []
    for k, rule in enumerate(members):
        flags.append(case((rule.where, 1), else_=0).label(f"applies_{k}"))
        flags.append(case((and_(rule.where, rule.done), 1), else_=0).label(f"done_{k}"))
    rows = _picked(core_select(col(Request.controller), *flags).where(where))
    sums = (func.sum(rows.c[flag.name]) for flag in flags)
    return core_select(rows.c.controller, *sums).group_by(rows.c.controller)


def _group_sums(members: Sequence[Rule], where: Any) -> Any:
    """What :func:`_row_sums` returns, for the many requests near their deadline.

    The requests are grouped by every column the rules' conditions read, in the order of
    ``ix_request_monitor_due``, which holds them all: the database counts each group as it
    walks the index, without sorting or reading the table, and the outer statement tests which
    rules apply once per group. What was already handled (a notice sent) can only be looked up
    request by request, for the rules that apply to it.
    """
    columns = _grouping([rule.where for rule in members])
    done = (
        func.sum(case((and_(rule.where, rule.done), 1), else_=0)).label(f"done_{k}")
        for k, rule in enumerate(members)
    )
    groups = (
        core_select(*columns, func.count().label("requests"), *done)
        .where(where)
        .group_by(*columns)
        .subquery("due_groups")
    )
    adapter = ClauseAdapter(groups)
    sums = []
    for k, rule in enumerate(members):
        applies = adapter.traverse(rule.where)
        sums.append(func.sum(case((applies, groups.c.requests), else_=0)))
        sums.append(func.sum(groups.c[f"done_{k}"]))
    return core_select(groups.c.controller, *sums).group_by(groups.c.controller)


def _grouping(conditions: Sequence[Any]) -> list[Any]:
    """Status, due date, controller and every other request column ``conditions`` read, in
    the order of ``ix_request_monitor_due`` (columns it lacks last)."""
    table = Request.__table__  # type: ignore[attr-defined]
    read: dict[str, Any] = {
        c.name: c for c in (table.c.status, table.c.effective_due_date, table.c.controller)
    }
    for condition in conditions:
        for element in visitors.iterate(condition):
            if isinstance(element, Column) and element.table is table:
                read.setdefault(element.name, element)
    (index,) = (ix for ix in table.indexes if ix.name == "ix_request_monitor_due")
    order = [c.name for c in index.columns]
    return sorted(read.values(), key=lambda c: order.index(c.name) if c.name in order else 99)


def _picked(statement: Any) -> Any:
    """``statement``'s rows, chosen through the index ranges of its ``WHERE`` alone.

    A materialised common table expression fences the choice off from the ordering or grouping
    around it: otherwise the planner may walk an index in the wanted order instead, and test
    every open request on the way.
    """
    return statement.cte("picked").prefix_with("MATERIALIZED")


def _list_items(session: Session, chosen: Sequence[Rule], report: MonitorReport) -> None:
    """The first ``max_rows`` items: the requests of every rule, soonest due first (ties by
    id), each request's items in rule order.

    Every due-date item lies within the horizon, so those requests come first, a page at a
    time from the due-date index (one ordered range per status, merged); the receipts owed and
    the re-runs due later follow.
    """
    policy = report.policy
    horizon = policy.horizon(report.today)
    status, request_id = col(Request.status), col(Request.id)
    columns = (
        request_id,
        col(Request.controller),
        status,
        *DATES,
        bitmask([r.where for r in chosen]).label("flags"),
        bitmask([and_(r.where, r.done) for r in chosen]).label("sent"),
    )
    requeue = bits(chosen, lambda r: r.kind is DueKind.REQUEUE)
    after: tuple[date, str] | None = None
    while not report.full:
        limit = min(policy.batch_size, policy.max_rows - len(report.items))
        page = _due_page(horizon, after, limit)
        statement = (
            core_select(*columns)
            .join(page, request_id == page.c.id)
            .order_by(page.c.due, page.c.id)
        )
        read = 0
        for part in _batches(session, statement, report):
            for row in part:
                read += 1
                after = (row[3], row[0])
                _show_items(report, chosen, row, requeue)
        if read < limit:
            break
    if report.full:
        return
    owed = owes_acknowledgement()
    # The receipts owed are found by id in their covering index first: asked for every column
    # at once, a planner with statistics may judge reading the whole table cheaper.
    owing = core_select(request_id).where(status.in_(OPEN_STATUSES), owed)
    rows = _picked(  # two disjoint parts, each read through its own index ranges
        union_all(
            core_select(*columns).where(request_id.in_(owing)),
            core_select(*columns).where(needs_rerun(report.now - policy.stuck_after), ~owed),
        )
    )
    later = core_select(rows).order_by(rows.c.effective_due_date, rows.c.id)
    for part in _batches(session, later, report):
        for row in part:
            if row[3] > horizon:  # those within the horizon were read above
                _show_items(report, chosen, row, requeue)
            if report.full:
                return


def _due_page(horizon: date, after: tuple[date, str] | None, limit: int) -> Any:
    """The next ``limit`` open requests due by ``horizon``, after ``after`` in (due date, id)
    order: one ordered index range per status, merged, so the database stops at ``limit``."""
    status, due, request_id = col(Request.status), col(Request.effective_due_date), col(Request.id)
    arms: list[Any] = []
    for value in OPEN_STATUSES:
        arm: Any = core_select(due.label("due"), request_id.label("id")).where(
            status == value, due <= horizon
        )
        if after is not None:
            arm = arm.where(due >= after[0], or_(due > after[0], request_id > after[1]))
        arms.append(arm)
    return union_all(*arms).order_by("due", "id").limit(limit).subquery("page")


def _show_items(
    report: MonitorReport, chosen: Sequence[Rule], row: Sequence[Any], requeue: int
) -> None:
    """Show the items of one request (``flags``: the rules that apply, ``sent``: those already
    handled), in rule order, while there is room."""
    request_id, controller, status, *dates, flags, sent = row
    while flags and not report.full:
        bit = flags & -flags
        flags ^= bit
        rule = chosen[bit.bit_length() - 1]
        report.items.append(
            DueItem(
                request_id=request_id,
                controller=controller,
                kind=rule.kind,
                on=dates[rule.on],
                status=RequestStatus(status).value,
                purpose=rule.purpose,
                done=bool(sent & bit),
                detail=rule.detail or (RequestStatus(status).value if bit & requeue else ""),
            )
        )


def _requeue(
    session: Session, chosen: Sequence[Rule], report: MonitorReport
) -> Iterator[tuple[str, str]]:
    """The requests to re-run now, soonest due first, with the reason of each."""
    rule = next(rule for rule in chosen if rule.kind is DueKind.REQUEUE)
    rows = _picked(
        core_select(col(Request.id), col(Request.status), col(Request.effective_due_date)).where(
            rule.where, ~rule.done
        )
    )
    statement = core_select(rows.c.id, rows.c.status).order_by(rows.c.effective_due_date, rows.c.id)
    for part in _batches(session, statement, report):
        for request_id, status in part:
            yield request_id, RERUN_REASONS[RequestStatus(status)]


def _scan_pending_jobs(session: Session, report: MonitorReport) -> None:
    """Processor jobs whose run stopped waiting for them, soonest due first (counted, listed
    as items while there is room, and kept in full as the pass's polling work)."""
    statement = (
        core_select(
            col(Step.id),
            col(Step.request_id),
            col(Step.recipient),
            col(Step.action),
            col(Request.controller),
            col(Request.status),
            col(Request.effective_due_date),
        )
        .join(Request, col(Request.id) == col(Step.request_id))
        .where(
            col(Step.status) == StepStatus.PENDING,
            col(Step.connector) != MANUAL,
            col(Step.external_ref).is_not(None),
            col(Step.started_at) <= report.now - report.policy.poll_after,
            col(Request.status).in_(OPEN_STATUSES),
        )
        .order_by(col(Request.effective_due_date), col(Step.id))
    )
    for part in _batches(session, statement, report):
        for step_id, request_id, recipient, action, controller, status, due in part:
            item = DueItem(
                request_id=request_id,
                controller=controller,
                kind=DueKind.PENDING_JOB,
                on=due,
                status=RequestStatus(status).value,
                detail=f"{recipient}:{action}",
                step_id=step_id,
            )
            report.keep(item)
            report.pending_jobs.append(item)
