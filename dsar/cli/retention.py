"""``dsar retention list|purge``: the retention vault's records, without their content."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

import typer
from sqlmodel import Session

from dsar.cli.output import JsonOpt, db_session, domain_errors, fail, out, print_json

retention_app = typer.Typer(
    help="Records kept under a statutory retention duty after an erasure (never their content).",
    no_args_is_help=True,
)

TodayOpt = Annotated[
    str | None,
    typer.Option("--today", help="Purge as on this day (YYYY-MM-DD); default: today (UTC)."),
]


@contextmanager
def _existing_store() -> Iterator[Session]:
    """A session on the configured database, refusing (exit 2) one that does not exist yet."""
    from sqlalchemy.exc import OperationalError

    from dsar.settings import get_settings

    url = get_settings().effective_database_url
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        from pathlib import Path

        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            fail(f"no database at {path}: nothing is retained (set DSAR_HOME or DSAR_DATABASE_URL)")
    try:
        with db_session() as session:
            yield session
    except OperationalError as exc:
        fail(f"the database cannot be read: {type(exc.orig).__name__}")


@retention_app.command("list")
def retention_list(as_json: JsonOpt = False) -> None:
    """Each retained record: id, request, category, ground and the day it is kept until."""
    from rich.table import Table

    from dsar.vault import listing

    with domain_errors(), _existing_store() as session:
        rows = listing(session)
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Retention vault: {len(rows)} records")
    for column in ("id", "request_id", "category", "ground", "retain_until"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(row[c] for c in ("id", "request_id", "category", "ground", "retain_until")))
    out.print(table)


@retention_app.command("purge")
def retention_purge(today: TodayOpt = None) -> None:
    """Destroy the records whose retention ended before today, as the deadline monitor does.

    The vault key must open a stored record first: a wrong ``DSAR_VAULT_KEY`` purges nothing.
    """
    from dsar.errors import InputError
    from dsar.models import utcnow
    from dsar.vault import purge_due, vault_key

    with domain_errors():
        try:
            day = date.fromisoformat(today) if today else utcnow().date()
        except ValueError:
            raise InputError(f"--today: {today!r} is not a date (YYYY-MM-DD)") from None
        with _existing_store() as session:
            key = vault_key(create=False)
            purged = purge_due(session, today=day, actor="cli", key=key)
    out.print(f"purged {purged} retained record(s) whose retention ended before {day.isoformat()}")
