"""``dsar run``: carry requests out now, in this process, with a progress view."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.table import Table

from dsar.cli.output import (
    JsonOpt,
    db_session,
    domain_errors,
    out,
    print_json,
)
from dsar.cli.requests import request_payload
from dsar.enums import RequestStatus


def run_request(
    request_ids: Annotated[
        list[str],
        typer.Argument(help="Request id(s), or unique prefixes of 6+; several run as one batch."),
    ],
    concurrency: Annotated[
        int, typer.Option(min=1, max=32, help="Requests of a batch carried out at once.")
    ] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Carry out requests now, in this process (embedded Prefect), with a progress view.

    One id runs ``process-request``; several run together in one ``process-requests`` flow
    run, which pays Prefect's per-run cost and the processors' connections once.
    """
    from dsar.service import get_request
    from dsar.settings import get_settings

    with domain_errors():
        with db_session() as session:
            ids = list(dict.fromkeys(get_request(session, rid).id for rid in request_ids))
        from flows.runtime import prepare_prefect_env

        prepare_prefect_env(get_settings().home)
        from flows import embedded

        console = None if as_json else out
        if len(ids) == 1:
            outcomes = {ids[0]: embedded.run_with_progress(ids[0], console=console)}
        else:
            outcomes = embedded.run_batch_with_progress(
                ids, concurrency=concurrency, console=console
            )
        with db_session() as session:
            payloads = [request_payload(get_request(session, rid), session) for rid in ids]
    if as_json:
        print_json(payloads[0] if len(ids) == 1 else payloads)
    elif len(ids) == 1:
        _print_steps(payloads[0])
    else:
        _print_outcomes(payloads, outcomes)
    if any(status == RequestStatus.FAILED for status in outcomes.values()):
        raise typer.Exit(1)


def _print_outcomes(payloads: list[dict[str, Any]], outcomes: Mapping[str, RequestStatus]) -> None:
    table = Table(title=f"{len(payloads)} requests")
    for column in ("request", "kind", "status", "steps"):
        table.add_column(column)
    for payload in payloads:
        status = outcomes.get(payload["id"], payload["status"])
        table.add_row(payload["id"][:12], payload["kind"], status, str(len(payload["steps"])))
    out.print(table)


def _print_steps(payload: dict[str, Any]) -> None:
    table = Table(title=f"{payload['kind']} request {payload['id'][:12]}: {payload['status']}")
    for column in ("recipient", "action", "status"):
        table.add_column(column)
    for step in payload.get("steps", []):
        table.add_row(step["recipient"], step["action"], step["status"])
    out.print(table)
    if payload.get("export_path"):
        out.print(f"Package: {payload['export_path']}")
