"""``dsar audit verify``: check the hash chain of the audit trail."""

from __future__ import annotations

import typer

from dsar.cli.output import (
    JsonOpt,
    db_session,
    domain_errors,
    err,
    out,
    print_json,
)

audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(as_json: JsonOpt = False) -> None:
    """Check the hash chain: exit 0 when intact, 1 naming the first broken sequence number."""
    from dsar.audit import verify_chain

    with domain_errors(), db_session() as session:
        result = verify_chain(session)
    if as_json:
        print_json(result.to_dict())
    elif result.ok:
        out.print(f"audit trail intact: {result.events} events")
    else:
        err.print(
            f"audit trail broken at sequence number {result.first_broken_seq}: {result.reason}"
        )
    if not result.ok:
        raise typer.Exit(1)
