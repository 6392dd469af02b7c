"""What every command shares: the consoles, exit codes for errors, JSON output, parsing.

Only the CLI turns domain errors into exit codes: bad input → message on stderr, exit 2; a
failure → exit 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from dsar.errors import DsarError, InputError, NotFoundError

if TYPE_CHECKING:
    from sqlmodel import Session


out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code`` (2: bad input, 1: failure)."""
    err.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)


@contextmanager
def domain_errors() -> Iterator[None]:
    """Translate domain errors into the CLI's exit codes, never a traceback."""
    try:
        yield
    except (InputError, NotFoundError) as exc:
        fail(str(exc), 2)
    except DsarError as exc:
        fail(str(exc), 1)


def print_json(payload: Any) -> None:
    """Write JSON to stdout without Rich's wrapping or markup."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n")


def parse_aware_datetime(value: str, *, option: str) -> datetime:
    """Parse an ISO-8601 date-time that must carry a UTC offset (``Z`` allowed)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{option}: {value!r} is not an ISO-8601 date-time (e.g. 2026-03-05T10:00:00+01:00)"
        ) from None
    if parsed.utcoffset() is None:
        raise InputError(
            f"{option}: {value!r} has no UTC offset; write e.g. 2026-03-05T10:00:00+01:00"
        )
    return parsed


@contextmanager
def db_session() -> Iterator[Session]:
    """A committed-or-rolled-back session on the configured database."""
    from dsar.store import session_scope

    with session_scope() as session:
        yield session


def iso_date(value: date | None) -> str:
    return value.isoformat() if value else "—"
