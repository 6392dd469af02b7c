"""``dsar demo --keep``: the story leaves one manual task of the erasure open and keeps the
emulators, the mail sink and the intake service running, so the reader completes it in the
staff console; Ctrl-C stops everything."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from sqlmodel import select

from dsar.enums import ManualTaskStatus, RequestStatus
from dsar.models import ManualTask, Request, Step
from dsar.store import session_scope


def settle_all_but_one(request_id: str, *, note: str) -> tuple[int, RequestStatus]:
    """Settle every open task of the request but one that asks for evidence (not a decision):
    decisions are answered "not received", other tasks completed with ``note``."""
    from flows.embedded import complete_task, decide_task

    with session_scope() as session:
        tasks = session.exec(
            select(ManualTask).where(
                ManualTask.request_id == request_id, ManualTask.status == ManualTaskStatus.OPEN
            )
        ).all()
        deciding = {
            s.recipient
            for s in session.exec(select(Step).where(Step.request_id == request_id))
            if s.action == "decide"
        }
    kept = next((t for t in tasks if t.recipient not in deciding), None)
    settled = 0
    for task in tasks:
        if task is kept:
            continue
        if task.recipient in deciding:
            decide_task(task.id, received=False, note=note)
        else:
            complete_task(task.id, note=note)
        settled += 1
    return settled, _status(request_id)


def _status(request_id: str) -> RequestStatus:
    with session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None  # noqa: S101
        return request.status


def keep_for_reader(
    console: Console,
    public_url: str,
    rows: list[dict[str, Any]],
    *,
    outcome: Callable[[str], dict[str, Any]],
    poll: float = 1.0,
) -> list[dict[str, Any]]:
    """Wait while the reader completes the open task in the console (or presses Ctrl-C);
    returns the rows with the request's outcome as it then stands."""
    waiting = [r for r in rows if r["status"] == RequestStatus.AWAITING_MANUAL]
    if not waiting:
        return rows
    request_id = waiting[0]["id"]
    console.rule("your turn")
    console.print(
        f"One manual task of the {waiting[0]['kind']} request is left for you: open "
        f"{public_url}/staff/requests/{request_id}, sign in with the demo login above and "
        "complete it with a note and an evidence file. Ctrl-C stops everything."
    )
    try:
        while _status(request_id) is RequestStatus.AWAITING_MANUAL:
            time.sleep(poll)
    except KeyboardInterrupt:
        console.print("Stopped; the task stays open (dsar serve shows it again).")
    else:
        console.print(f"Request {request_id[:8]} is now {_status(request_id).value}.")
    return [outcome(r["id"]) if r["id"] == request_id else r for r in rows]
