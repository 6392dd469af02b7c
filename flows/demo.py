"""The demo: a full DSAR lifecycle for Lunexxa against the local emulators.

It starts the Shopify, Klaviyo and Mailchimp emulators in this process, points the connectors
at them, submits one request of every kind for personas the emulators know, carries each out
with the real flows (embedded Prefect, SQLite), completes the manual tasks as staff would, and
prints where everything is: the database, the access package, the e-mails in the outbox.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlmodel import select

from dsar.db import session_scope
from dsar.enums import Channel, RequestKind
from dsar.models import ManualTask, RequestCreate, utcnow
from dsar.service import KIND_ARTICLES, register_for, submit_request
from dsar.settings import get_settings

#: Who asks for what: personas seeded in the emulators (see ``sandbox/seed.py``). The erasure
#: comes last, so the earlier requests still find the person.
SCRIPT: tuple[tuple[RequestKind, str, dict[str, Any]], ...] = (
    (RequestKind.ACCESS, "maria.muster@example.com", {}),
    (RequestKind.PORTABILITY, "maria.muster@example.com", {}),
    (
        RequestKind.RECTIFICATION,
        "Jonas.Beispiel@Example.com",
        {"changes": {"last_name": "Beispiel-Neu"}},
    ),
    (RequestKind.RESTRICTION, "Jonas.Beispiel@Example.com", {}),
    (RequestKind.OBJECTION, "newsletter.only@example.com", {}),
    (RequestKind.ERASURE, "maria.muster@example.com", {}),
)


def run_demo(
    *, controller: str, console: Console, port_base: int | None = None
) -> list[dict[str, Any]]:
    """Run the whole story and print a table of outcomes; returns the outcome rows."""
    from sandbox.server import running_sandbox

    with running_sandbox(port_base=port_base, async_delay=1.0) as sandbox:
        for key, value in sandbox.describe()["env"].items():
            os.environ[key] = str(value)
        get_settings.cache_clear()
        console.print(
            f"Emulators: Shopify {sandbox.shopify_url} · Klaviyo {sandbox.klaviyo_url} · "
            f"Mailchimp {sandbox.mailchimp_url}"
        )
        return _story(controller=controller, console=console)


def _story(*, controller: str, console: Console) -> list[dict[str, Any]]:
    from flows.embedded import complete_task, run_with_progress
    from flows.runtime import prepare_prefect_env

    settings = get_settings()
    prepare_prefect_env(settings.home)
    register = register_for(controller)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    ids: list[tuple[RequestKind, str]] = []
    with session_scope() as session:
        for kind, email, details in SCRIPT:
            create = RequestCreate(
                controller=controller,
                kind=kind,
                channel=Channel.STAFF,
                email=email,
                verified_by="demo: identity confirmed through the shop's customer login",
                idempotency_key=f"demo:{stamp}:{kind.value}",
                details=details,
            )
            request, _ = submit_request(
                session, create=create, register=register, actor="staff:demo"
            )
            ids.append((kind, request.id))
    rows: list[dict[str, Any]] = []
    for kind, request_id in ids:
        console.rule(f"{kind.value} ({KIND_ARTICLES[kind]})")
        status = run_with_progress(request_id, console=console)
        with session_scope() as session:
            tasks = session.exec(
                select(ManualTask).where(
                    ManualTask.request_id == request_id, ManualTask.status == "open"
                )
            ).all()
        for task in tasks:
            _, status = complete_task(
                task.id, note=f"demo: {task.recipient} confirmed by e-mail reply"
            )
        if tasks:
            console.print(f"Staff completed {len(tasks)} manual task(s); request is {status}.")
        rows.append(_outcome(request_id))
    _print_outcomes(console, rows, settings.home)
    return rows


def _outcome(request_id: str) -> dict[str, Any]:
    from sqlmodel import col

    from dsar.models import Export, Notice, Request, Step

    with session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None  # noqa: S101
        steps = session.exec(select(Step).where(Step.request_id == request_id)).all()
        notices = session.exec(
            select(Notice).where(Notice.request_id == request_id, Notice.purpose == "art19")
        ).all()
        export = session.exec(
            select(Export).where(Export.request_id == request_id).order_by(col(Export.created_at))
        ).first()
        return {
            "id": request.id,
            "kind": request.kind.value,
            "status": request.status.value,
            "due": request.effective_due_date.isoformat(),
            "api_steps": sum(1 for s in steps if s.connector != "manual"),
            "notices": len(notices),
            "retained": sorted({s.recipient for s in steps if s.retention_ground}),
            "export_path": export.path if export else None,
        }


def _print_outcomes(console: Console, rows: list[dict[str, Any]], home: Path) -> None:
    table = Table(title="Outcomes")
    for column in (
        "request",
        "kind",
        "status",
        "due",
        "API steps",
        "Art. 19 notices",
        "kept (Art. 17(3))",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"][:12],
            row["kind"],
            row["status"],
            row["due"],
            str(row["api_steps"]),
            str(row["notices"]),
            ", ".join(row["retained"]) or "—",
        )
    console.print(table)
    settings = get_settings()
    for row in rows:
        if row["export_path"]:
            console.print(f"{row['kind'].capitalize()} package: {row['export_path']}")
    console.print(f"E-mails (outbox): {settings.outbox_dir.resolve()}")
    console.print(f"Database: {settings.effective_database_url}")
    console.print("Inspect: .venv/bin/dsar request list · .venv/bin/dsar audit verify")
