"""``dsar monitor``: one pass of the deadline monitor, now."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from dsar.cli.output import (
    JsonOpt,
    domain_errors,
    out,
    print_json,
)
from dsar.errors import InputError


def monitor(
    today: Annotated[
        str | None, typer.Option(help="Run as of this day, YYYY-MM-DD (default: today).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """One deadline-monitor pass now: reminders, escalations, acknowledgements, re-runs, purge."""
    from dsar.settings import get_settings
    from flows.runtime import prepare_prefect_env

    with domain_errors():
        try:
            day = date.fromisoformat(today) if today else None
        except ValueError:
            raise InputError(f"--today: {today!r} is not a date (YYYY-MM-DD)") from None
        prepare_prefect_env(get_settings().home)
        from flows.monitor import run_monitor

        report = run_monitor(today=day, console=None if as_json else out)
    if as_json:
        print_json(report.to_dict())
