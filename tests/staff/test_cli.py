"""`dsar staff add|list|disable`: accounts with Argon2 hashes, the password read from stdin."""

from __future__ import annotations

import json

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from dsar.accounts import StaffMember, authenticate
from dsar.cli import app

runner = CliRunner()


def test_add_reads_one_line_of_stdin_without_its_newline_and_stores_only_a_hash(
    engine: Engine,
) -> None:
    result = runner.invoke(
        app,
        ["staff", "add", "Agent@Lunexxa.example", "--controller", "lunexxa", "--controller",
         "luma-flux", "--role", "admin", "--password-stdin", "--json"],
        input="correct horse battery\nsecond line ignored\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["controllers"] == ["luma-flux", "lunexxa"]
    assert shown["role"] == "admin"
    with Session(engine) as session:
        member = session.exec(select(StaffMember)).one()
        assert member.password_hash.startswith("$argon2")
        assert "correct horse" not in member.password_hash
        assert authenticate(session, "agent@lunexxa.example", "correct horse battery") is not None
        assert authenticate(session, "agent@lunexxa.example", "correct horse battery\n") is None


def test_add_refuses_bad_input_with_exit_code_2(engine: Engine) -> None:
    cases = [
        (["--controller", "nowhere", "--password-stdin"], "a long enough password\n", "unknown"),
        (["--controller", "lunexxa", "--password-stdin"], "short\n", "10 characters"),
        (["--controller", "lunexxa", "--role", "owner", "--password-stdin"], "long password x\n",
         "role"),
        (["--controller", "lunexxa"], "", "--password-stdin"),
    ]  # fmt: skip
    for options, stdin, reason in cases:
        result = runner.invoke(app, ["staff", "add", "a@lunexxa.example", *options], input=stdin)
        assert result.exit_code == 2, options
        assert reason in result.output, options
    with Session(engine) as session:
        assert session.exec(select(StaffMember)).all() == []


def test_list_and_disable(engine: Engine) -> None:
    added = runner.invoke(
        app,
        ["staff", "add", "a@lunexxa.example", "--controller", "lunexxa", "--password-stdin"],
        input="a long enough password\n",
    )
    assert added.exit_code == 0, added.output
    assert runner.invoke(app, ["staff", "disable", "a@lunexxa.example"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["staff", "list", "--json"]).output)
    assert [(m["email"], m["disabled"]) for m in listed] == [("a@lunexxa.example", True)]
    with Session(engine) as session:
        assert authenticate(session, "a@lunexxa.example", "a long enough password") is None
    assert runner.invoke(app, ["staff", "disable", "nobody@example.com"]).exit_code == 2
