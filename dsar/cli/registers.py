"""``dsar register check``: validate a processing register and list its recipients."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dsar.cli.output import (
    JsonOpt,
    fail,
    out,
    print_json,
)

register_app = typer.Typer(help="Processing registers (Art. 30 records).", no_args_is_help=True)


@register_app.command("check")
def register_check(
    file: Annotated[Path, typer.Argument(help="A processing register (YAML).")],
    as_json: JsonOpt = False,
) -> None:
    """Validate a register; print its recipients, or the bad field and why (exit 2)."""
    from dsar.errors import RegisterError
    from dsar.register import load_register

    try:
        register = load_register(file)
    except RegisterError as exc:
        if as_json:
            print_json(
                {"ok": False, "file": exc.source, "location": exc.location, "reason": exc.reason}
            )
            raise typer.Exit(2) from None
        fail(f"{exc.source}: {exc.location or '(file)'}: {exc.reason}", 2)
    from dsar.register import missing_translations

    missing = missing_translations(register)
    if missing:
        reason = f"missing translation ({len(missing)} text(s) untranslated)"
        if as_json:
            print_json(
                {"ok": False, "file": str(file), "location": missing[0], "reason": reason,
                 "missing_translations": missing}
            )  # fmt: skip
            raise typer.Exit(2)
        fail(f"{file}: {reason}: " + ", ".join(missing), 2)
    rows = register.summary_rows()
    if as_json:
        print_json(
            {
                "ok": True,
                "file": str(file),
                "controller": register.controller.key,
                "regime": register.controller.regime.value,
                "categories": len(register.categories),
                "purposes": len(register.purposes),
                "recipients": rows,
                "retention_exceptions": len(register.retention_exceptions),
                "applicability": (
                    register.controller.applicability.model_dump(mode="json")
                    if register.controller.applicability is not None
                    else None
                ),
            }
        )
        return
    ctl = register.controller
    table = Table(
        title=f"{ctl.name} — {ctl.country}, {ctl.timezone}, {ctl.regime.value}",
        caption=(
            f"{len(register.categories)} categories · {len(register.purposes)} purposes · "
            f"{len(rows)} recipients · {len(register.retention_exceptions)} retention exceptions"
        ),
    )
    for column in ("key", "recipient", "country", "role", "connector", "categories", "notice"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["key"],
            row["name"].split(" (")[0],
            row["country"],
            row["role"].replace("_", " "),
            row["connector"],
            str(len(row["categories"].split(", "))),
            row["notice"].split(":")[0],
        )
    out.print(table)
    if ctl.applicability is not None:
        laws = ", ".join(law.value for law in ctl.applicability.laws)
        out.print(f"Laws applied: {laws} — as asserted by {ctl.applicability.asserted_by}")
