"""``dsar tasks``: manual tasks for recipients without an API, and their evidence."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dsar.cli.output import (
    JsonOpt,
    db_session,
    domain_errors,
    out,
    print_json,
)
from dsar.enums import ManualTaskStatus

tasks_app = typer.Typer(help="Manual tasks for recipients without an API.", no_args_is_help=True)


@tasks_app.command("list")
def tasks_list(
    all_tasks: Annotated[bool, typer.Option("--all", help="Include completed tasks.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Manual tasks, soonest due first."""
    from sqlmodel import col, select

    from dsar.models import ManualTask

    with domain_errors(), db_session() as session:
        query = select(ManualTask).order_by(col(ManualTask.due_date), col(ManualTask.created_at))
        if not all_tasks:
            query = query.where(ManualTask.status == ManualTaskStatus.OPEN)
        rows = [
            {
                "id": t.id,
                "request_id": t.request_id,
                "recipient": t.recipient,
                "due_date": t.due_date.isoformat(),
                "status": t.status,
                "instructions": t.instructions,
            }
            for t in session.exec(query)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} manual task(s)")
    for column in ("id", "request", "recipient", "due", "status"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"][:12], row["request_id"][:12], row["recipient"], row["due_date"], row["status"]
        )
    out.print(table)


@tasks_app.command("done")
def tasks_done(
    task_id: Annotated[str, typer.Argument(help="Task id (or a unique prefix of 6+).")],
    note: Annotated[str, typer.Option(help="Evidence: what the recipient confirmed, and when.")],
    as_json: JsonOpt = False,
) -> None:
    """Complete a manual task; the last one of a request sends the answer and closes it."""
    from dsar.settings import get_settings
    from flows.runtime import prepare_prefect_env

    with domain_errors():
        prepare_prefect_env(get_settings().home)
        from flows.embedded import complete_task

        request_id, status = complete_task(task_id, note=note)
    if as_json:
        print_json({"task_id": task_id, "request_id": request_id, "request_status": status})
        return
    out.print(f"Task done. Request {request_id[:12]} is now {status}.")


@tasks_app.command("decide")
def tasks_decide(
    task_id: Annotated[str, typer.Argument(help="Decision task id.")],
    note: Annotated[str, typer.Option(help="Evidence: what shows the recipient got it or not.")],
    received: Annotated[
        bool,
        typer.Option(
            "--received/--not-received",
            help="Whether the recipient received this person's data.",
            show_default=False,
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Answer a decision task: did this recipient receive the person's data?

    Received sends the recipient its Art. 19 notice now and leaves the task open for its
    confirmation; not received closes the task and sends nothing.
    """
    from dsar.settings import get_settings
    from flows.runtime import prepare_prefect_env

    with domain_errors():
        prepare_prefect_env(get_settings().home)
        from flows.embedded import decide_task

        request_id, status = decide_task(task_id, received=received, note=note)
    if as_json:
        print_json(
            {
                "task_id": task_id,
                "received": received,
                "request_id": request_id,
                "request_status": status,
            }
        )
        return
    verdict = "received: notice sent" if received else "not received: nothing sent"
    out.print(f"Decided ({verdict}). Request {request_id[:12]} is now {status}.")
