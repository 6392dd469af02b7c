"""The ``dsar`` command line: the staff's edge onto the engine.

This module assembles the command groups, one module each (:mod:`dsar.cli.requests`,
:mod:`dsar.cli.run`, ...), which share :mod:`dsar.cli.output`. Commands that run no flow
import neither Prefect nor the database layer unless they need it, so ``dsar deadline``
answers in a fraction of a second.
"""

from __future__ import annotations

import typer

from dsar.cli import appeals as _appeals  # noqa: F401 - adds `request appeal`, `appeal-decide`
from dsar.cli import audit, deadline, demo, monitor, registers, requests, run, sandbox, serve, tasks
from dsar.cli import refusals as refusals  # attaches `request refuse` to its group
from dsar.cli import usrequests as _usrequests  # noqa: F401 - adds `request verify`, `agent`
from dsar.cli.db import db_app
from dsar.cli.output import fail
from dsar.cli.retention import retention_app
from dsar.cli.staff import staff_app

app = typer.Typer(
    name="dsar",
    help="Carry out data-subject requests (GDPR, UK GDPR, CCPA) end to end.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(tasks.tasks_app, name="tasks")
app.add_typer(db_app, name="db")
app.add_typer(registers.register_app, name="register")
app.add_typer(requests.request_app, name="request")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(sandbox.sandbox_app, name="sandbox")
app.add_typer(staff_app, name="staff")
app.add_typer(retention_app, name="retention")
app.command()(deadline.deadline)
app.command("run")(run.run_request)
app.command()(monitor.monitor)
app.command()(serve.serve)
app.command()(demo.demo)


@app.callback()
def _configure() -> None:
    """Validate the configuration and route logs through the redacting chain."""
    from dsar.logging import configure_logging
    from dsar.settings import get_settings

    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        fail(f"invalid configuration: {exc}", 2)
    configure_logging(level=settings.log_level, fmt=settings.log_format)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
