"""The overview: open requests by status, due this week, overdue, and over the last 90 days the
median days to complete and the share completed without any manual task, per shop and kind."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from dsar import lifecycle
from dsar.enums import RequestStatus
from dsar.models import ManualTask, Request, utcnow
from dsar.staff.auth import Member
from dsar.staff.views import today_of

WINDOW_DAYS = 90


def overview_rows(session: Session, member: Member) -> list[dict[str, Any]]:
    """One row per (controller, kind) of the member's shops that has any request to show."""
    controllers = sorted(member.controllers)
    since = utcnow() - timedelta(days=WINDOW_DAYS)
    open_requests = session.exec(
        select(Request).where(
            col(Request.controller).in_(controllers),
            col(Request.status).in_(sorted(s.value for s in lifecycle.OPEN)),
        )
    ).all()
    completed = session.exec(
        select(Request).where(
            col(Request.controller).in_(controllers),
            Request.status == RequestStatus.COMPLETED,
            col(Request.closed_at) >= since,
        )
    ).all()
    with_tasks = set(
        session.exec(
            select(ManualTask.request_id).where(
                col(ManualTask.request_id).in_([r.id for r in completed])
            )
        )
    )
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(request: Request) -> dict[str, Any]:
        key = (request.controller, request.kind.value)
        return rows.setdefault(
            key,
            {"controller": key[0], "kind": key[1], "open": {}, "due_this_week": 0, "overdue": 0,
             "days": [], "without_manual": 0},
        )  # fmt: skip

    for request in open_requests:
        entry = row(request)
        status = request.status.value
        entry["open"][status] = entry["open"].get(status, 0) + 1
        left = (request.effective_due_date - today_of(request.controller)).days
        entry["overdue"] += left < 0
        entry["due_this_week"] += 0 <= left <= 7
    for request in completed:
        entry = row(request)
        assert request.closed_at is not None  # noqa: S101 - selected on it
        entry["days"].append((request.closed_at - request.received_at).total_seconds() / 86400)
        entry["without_manual"] += request.id not in with_tasks
    result = []
    for key in sorted(rows):
        entry = rows[key]
        days = entry.pop("days")
        done = len(days)
        entry["completed_90d"] = done
        entry["median_days"] = round(statistics.median(days), 1) if days else None
        entry["share_without_manual"] = (
            round(entry.pop("without_manual") / done, 2) if done else None
        )
        result.append(entry)
    return result
