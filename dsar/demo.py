"""The demo: one request of every kind for a shipped controller, with its statutory deadlines.

It uses the configured database (SQLite under ``./.dsar/`` by default) so that ``dsar request
list`` and ``dsar audit verify`` show what the demo did afterwards.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from dsar.db import session_scope
from dsar.enums import Channel, RequestKind
from dsar.models import RequestCreate, RequestPublic, utcnow
from dsar.service import KIND_ARTICLES, register_for, submit_request
from dsar.settings import get_settings

#: A persona the sandbox emulators know (see ``sandbox/seed.py``).
DEMO_SUBJECT = "maria.muster@example.com"


def run_demo(*, controller: str, console: Console) -> list[RequestPublic]:
    """Submit one request per kind and print a table of their deadlines."""
    register = register_for(controller)
    now = utcnow()
    stamp = now.strftime("%Y%m%dT%H%M%S")
    results: list[RequestPublic] = []
    with session_scope() as session:
        for kind in RequestKind:
            details = (
                {"changes": {"last_name": "Muster-Beispiel"}}
                if kind is RequestKind.RECTIFICATION
                else {}
            )
            create = RequestCreate(
                controller=controller,
                kind=kind,
                channel=Channel.STAFF,
                email=DEMO_SUBJECT,
                received_at=now,
                verified_by="demo: identity confirmed by the shop's customer login",
                idempotency_key=f"demo:{stamp}:{kind.value}",
                details=details,
            )
            request, _ = submit_request(
                session, create=create, register=register, actor="staff:demo"
            )
            results.append(RequestPublic.of(request))
    ctl = register.controller
    table = Table(
        title=f"{ctl.name} ({ctl.country}, {ctl.timezone}): received {now:%Y-%m-%d %H:%M} UTC"
    )
    columns = ("id", "kind", "article", "regime", "status", "due", "tell extension by")
    for column in columns:
        table.add_column(column)
    for item in results:
        table.add_row(
            item.id[:12],
            item.kind.value,
            KIND_ARTICLES[item.kind],
            item.regime.value,
            item.status.value,
            item.due_date.isoformat(),
            item.extension_notice_by.isoformat() if item.extension_notice_by else "—",
        )
    console.print(table)
    settings = get_settings()
    console.print(f"Database: {settings.effective_database_url}")
    console.print("Next: [bold]dsar request list[/], [bold]dsar audit verify[/]")
    return results
