"""``dsar staff``: the accounts of the support staff who use the console under ``/staff``."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from dsar.cli.output import JsonOpt, db_session, domain_errors, fail, out, print_json

staff_app = typer.Typer(help="Staff accounts for the console (/staff).", no_args_is_help=True)


def _read_password() -> str:
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


@staff_app.command("add")
def staff_add(
    email: Annotated[str, typer.Argument(help="The staff member's e-mail address (their login).")],
    controller: Annotated[
        list[str], typer.Option("--controller", help="A controller they may see (repeatable).")
    ],
    role: Annotated[str, typer.Option(help="agent or admin.")] = "agent",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a staff member who sees only the controllers granted."""
    from dsar.accounts import add_member
    from dsar.register import served_controllers

    if not password_stdin:
        fail("pass the password on stdin with --password-stdin (never as an argument)")
    password = _read_password().rstrip("\r")
    with domain_errors(), db_session() as session:
        member = add_member(
            session,
            email=email,
            password=password,
            role=role,
            controllers=controller,
            known=set(served_controllers()),
            actor="staff:cli",
        )
        payload = {
            "id": member.id,
            "email": member.email,
            "role": member.role,
            "controllers": member.controllers,
        }
    if as_json:
        print_json(payload)
        return
    out.print(f"Added {payload['email']} ({role}) for {', '.join(payload['controllers'])}.")


@staff_app.command("list")
def staff_list(as_json: JsonOpt = False) -> None:
    """Every staff member, their role, controllers and whether they are disabled."""
    from dsar.accounts import list_members

    with domain_errors(), db_session() as session:
        rows: list[dict[str, Any]] = [
            {
                "id": m.id,
                "email": m.email,
                "role": m.role,
                "controllers": m.controllers,
                "disabled": m.disabled_at is not None,
            }
            for m in list_members(session)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} staff member(s)")
    for column in ("email", "role", "controllers", "state"):
        table.add_column(column)
    for row in rows:
        state = "disabled" if row["disabled"] else "active"
        table.add_row(row["email"], row["role"], ", ".join(row["controllers"]), state)
    out.print(table)


@staff_app.command("disable")
def staff_disable(
    email: Annotated[str, typer.Argument(help="The staff member's e-mail address.")],
    as_json: JsonOpt = False,
) -> None:
    """Disable a staff member: their sessions end and they cannot sign in again."""
    from dsar.accounts import disable_member

    with domain_errors(), db_session() as session:
        member = disable_member(session, email=email, actor="staff:cli")
        payload = {"id": member.id, "email": member.email, "disabled": True}
    if as_json:
        print_json(payload)
        return
    out.print(f"Disabled {payload['email']}.")


@staff_app.command("totp")
def staff_totp(
    email: Annotated[str, typer.Argument(help="An admin's e-mail address.")],
    as_json: JsonOpt = False,
) -> None:
    """Give an admin a second factor: prints the secret and the URI for an authenticator app."""
    import pyotp

    from dsar.accounts import enable_totp

    with domain_errors(), db_session() as session:
        member, secret = enable_totp(session, email=email, actor="staff:cli")
        uri = pyotp.TOTP(secret).provisioning_uri(name=member.email, issuer_name="dsar")
    if as_json:
        print_json({"email": member.email, "secret": secret, "uri": uri})
        return
    out.print(f"Second factor on for {member.email}. Add to the authenticator app: {uri}")
