"""``dsar demo``: the whole story against the local emulators."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from dsar.cli.output import (
    domain_errors,
    out,
)


def demo(
    controller: Annotated[str, typer.Option(help="Register key to run the demo for.")] = "lunexxa",
    keep: Annotated[
        bool,
        typer.Option(
            "--keep", help="Leave one manual task to complete in the staff console; keep running."
        ),
    ] = False,
) -> None:
    """Carry out one request of every kind against the local emulators and show the outcomes."""
    from dsar.settings import get_settings
    from flows.runtime import prepare_prefect_env

    with domain_errors():
        prepare_prefect_env(get_settings().home)
        from flows.demo import run_demo

        # Piped output (CI logs, files) has no width of its own: give the tables room.
        console = out if out.is_terminal else Console(highlight=False, width=120)
        rows = run_demo(controller=controller, console=console, keep=keep)
    left = {"completed", "awaiting_manual"} if keep else {"completed"}
    if any(row["status"] not in left for row in rows):
        raise typer.Exit(1)
