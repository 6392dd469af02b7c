"""Art. 12(3): an extension is decided and told within the first period, with its reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from dsar.cli import app
from dsar.enums import Channel, RequestKind
from dsar.errors import InputError
from dsar.models import Request, RequestCreate
from dsar.register import register_for
from dsar.service import extend_request, submit_request

VIENNA = ZoneInfo("Europe/Vienna")
runner = CliRunner()


def _submit(session: Session, received_at: datetime) -> Request:
    request, _ = submit_request(
        session,
        create=RequestCreate(
            controller="lunexxa",
            kind=RequestKind.ACCESS,
            channel=Channel.STAFF,
            email="maria.muster@example.com",
            received_at=received_at,
        ),
        register=register_for("lunexxa"),
        actor="test",
        now=received_at,
    )
    session.commit()
    return request


class TestExtensionLimit:
    def test_extension_after_the_first_month_is_refused_naming_the_last_allowed_day(
        self, session: Session
    ) -> None:
        """Received 2026-09-01, extended on 2026-12-04: the first month ended 2026-10-01."""
        request = _submit(session, datetime(2026, 9, 1, 10, 0, tzinfo=VIENNA))
        with pytest.raises(InputError, match="2026-10-01"):
            extend_request(
                session,
                request=request,
                register=register_for("lunexxa"),
                reason="many systems",
                actor="test",
                now=datetime(2026, 12, 4, 9, 0, tzinfo=UTC),
            )
        assert (request.extended, request.extended_due_date) == (False, None)

    def test_extension_on_the_last_day_of_the_first_month_is_allowed(
        self, session: Session
    ) -> None:
        """The last day of the first period (Vienna time) still counts."""
        request = _submit(session, datetime(2026, 9, 1, 10, 0, tzinfo=VIENNA))
        extend_request(
            session,
            request=request,
            register=register_for("lunexxa"),
            reason="many systems",
            actor="test",
            now=datetime(2026, 10, 1, 23, 30, tzinfo=VIENNA),
        )
        assert request.extended_due_date is not None
        assert request.extended_due_date.isoformat() == "2026-12-01"

    def test_cli_refuses_a_late_extension_with_exit_2_and_sends_nothing(
        self, dsar_home: Path
    ) -> None:
        """`dsar request extend` for a request received 2026-09-01 (today is past its first
        month) exits 2 naming 2026-10-01; the request stays unextended and no letter goes out."""
        result = runner.invoke(
            app,
            [
                "request", "submit", "--controller", "lunexxa", "--kind", "access",
                "--email", "maria.muster@example.com", "--received", "2026-09-01T10:00:00+02:00",
                "--json",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        request_id = json.loads(result.stdout)["id"]
        result = runner.invoke(app, ["request", "extend", request_id, "--reason", "many systems"])
        assert result.exit_code == 2
        assert "2026-10-01" in result.stderr
        assert "Traceback" not in result.stderr
        shown = json.loads(runner.invoke(app, ["request", "show", request_id, "--json"]).stdout)
        assert (shown["extended"], shown["extended_due_date"]) == (False, None)
        assert not list((dsar_home / "outbox").glob("*.eml"))

    def test_cli_extension_within_the_first_month_tells_the_reason_and_the_new_date(
        self, dsar_home: Path
    ) -> None:
        """Within the first month the extension works and the letter carries reason and date."""
        received = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        result = runner.invoke(
            app,
            [
                "request", "submit", "--controller", "lunexxa", "--kind", "access",
                "--email", "maria.muster@example.com", "--received", received,
                "--language", "en", "--json",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        request_id = json.loads(result.stdout)["id"]
        result = runner.invoke(
            app,
            ["request", "extend", request_id, "--reason", "Six systems hold your data.", "--json"],
        )
        assert result.exit_code == 0, result.stderr
        new_due = datetime.fromisoformat(json.loads(result.stdout)["extended_due_date"])
        (letter,) = (dsar_home / "outbox").glob("*.eml")
        text = letter.read_text()
        assert "Six systems hold your data." in text
        months = ["January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December"]  # fmt: skip
        assert f"{new_due.day} {months[new_due.month - 1]} {new_due.year}" in text
