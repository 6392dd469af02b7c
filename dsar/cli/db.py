"""``dsar db``: the configured database's schema, moved through its migrations.

Registered on the main app as ``dsar db``. Errors follow :mod:`dsar.cli.output`: a bad revision
is bad input (exit 2), an unreachable database or a failed migration a failure (exit 1), each as one
line on stderr. Database URLs are shown with the password masked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from dsar.cli.output import domain_errors, fail, out, print_json

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


@contextmanager
def _edge() -> Iterator[None]:
    """Domain errors as everywhere in the CLI; database errors as exit 1 without their SQL."""
    from sqlalchemy.exc import SQLAlchemyError

    with domain_errors():
        try:
            yield
        except SQLAlchemyError as exc:
            # Only the driver's own first line: the full text carries statements and parameters.
            reason = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
            fail(f"database error: {reason}", 1)


def _database() -> tuple[str, str]:
    """The configured URL, and the same with its password masked for display."""
    from sqlalchemy.engine import make_url

    from dsar.settings import get_settings

    url = get_settings().effective_database_url
    return url, make_url(url).render_as_string(hide_password=True)


def _describe(revision: str | None) -> str:
    from dsar.store import head

    newest = head()
    if revision == newest:
        return f"revision {revision} (head)"
    behind = f"head is {newest}: run 'dsar db upgrade'"
    return f"no revision ({behind})" if revision is None else f"revision {revision} ({behind})"


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision: an id, or 'head'.")] = "head",
) -> None:
    """Apply migrations up to a revision (default: the newest)."""
    from dsar.store import upgrade

    url, shown = _database()
    with _edge():
        now = upgrade(url, revision)
        out.print(f"{shown} is at {_describe(now)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision: an id, '-1', or 'base'.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Undo migrations down to a revision; 'base' drops every table and the data in it."""
    from dsar.store import downgrade

    url, shown = _database()
    if not yes:
        typer.confirm(
            f"Downgrading {shown} to {revision} can drop tables and their data. Continue?",
            abort=True,
        )
    with _edge():
        now = downgrade(url, revision)
        out.print(f"{shown} is at {_describe(now)}")


@db_app.command("current")
def db_current(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Show the database's revision and whether it is the newest this version knows."""
    from dsar.store import current, head

    url, shown = _database()
    with _edge():
        revision, newest = current(url), head()
    if as_json:
        print_json({"current": revision, "head": newest, "up_to_date": revision == newest})
    else:
        out.print(f"{shown} is at {_describe(revision)}")


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Argument(help="What the migration changes, in a few words.")],
) -> None:
    """Write the next migration from the models' changes (for developers, in a checkout)."""
    from dsar.store import revision

    with _edge():
        path = revision(message)
    out.print(f"wrote {path}; read it, then run the migration tests")
