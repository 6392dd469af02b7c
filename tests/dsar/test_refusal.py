"""Refusing a request (Art. 12(4)/(5)) and flagging repeats to staff, through the CLI."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
from typer.testing import CliRunner

from dsar.cli import app
from dsar.settings import get_settings

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def submit(*extra: str, email: str = "maria.muster@example.com") -> dict[str, Any]:
    code, out, err = run(
        "request", "submit", "--kind", "access", "--email", email, "--json", *extra
    )
    assert code == 0, err
    return cast("dict[str, Any]", json.loads(out))


def show(request_id: str) -> dict[str, Any]:
    code, out, err = run("request", "show", request_id, "--json")
    assert code == 0, err
    return cast("dict[str, Any]", json.loads(out))


def letters(home: Path) -> list[EmailMessage]:
    return [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted((home / "outbox").glob("*.eml"))
    ]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(message["Subject"]) + "\n" + cast("EmailMessage", body).get_content()


class TestRefusal:
    @pytest.mark.parametrize(
        ("language", "words"),
        [
            ("en", ["excessive (Art. 12(5) GDPR)", "judicial remedy", "Art. 79 GDPR"]),
            ("de", ["exzessiv", "gerichtlichen Rechtsbehelf", "Art. 79 DSGVO"]),
        ],
    )
    def test_refused_request_ends_rejected_and_the_letter_names_authority_and_court(
        self, dsar_home: Path, language: str, words: list[str]
    ) -> None:
        """`refuse --ground excessive` records the ground, ends `rejected` and the letter
        names the Österreichische Datenschutzbehörde with its address and the court remedy."""
        request = submit("--controller", "lunexxa", "--language", language)
        code, out, err = run(
            "request", "refuse", request["id"], "--ground", "excessive",
            "--reason", "This is your ninth identical request this month.", "--json",
        )  # fmt: skip
        assert code == 0, err
        refused = json.loads(out)
        assert (refused["status"], refused["refusal_ground"]) == ("rejected", "excessive")
        assert refused["status_reason"] == "This is your ninth identical request this month."
        (letter,) = letters(dsar_home)
        assert letter["To"] == "maria.muster@example.com"
        text = text_of(letter)
        assert "This is your ninth identical request this month." in text
        assert "Österreichische Datenschutzbehörde" in text
        assert "Barichgasse 40-42, 1030 Wien" in text
        for word in words:
            assert word in text
        actions = [event["action"] for event in show(request["id"])["audit"]]
        assert "request_refused" in actions

    def test_manifestly_unfounded_is_said_as_such(self, dsar_home: Path) -> None:
        """The letter says which Art. 12(5) ground the refusal rests on."""
        request = submit("--controller", "lunexxa")
        code, _, err = run(
            "request", "refuse", request["id"], "--ground", "manifestly-unfounded",
            "--reason", "You told us you only want to disrupt our business.",
        )  # fmt: skip
        assert code == 0, err
        (letter,) = letters(dsar_home)
        assert "manifestly unfounded (Art. 12(5) GDPR)" in text_of(letter)

    @pytest.mark.parametrize(
        ("args", "fragment"),
        [
            (["--ground", "annoying", "--reason", "x"], "not a ground"),
            (["--ground", "excessive", "--reason", "   "], "--reason"),
            (["--ground", "unverifiable", "--reason", "x"], "not a ground"),
        ],
        ids=["unknown-ground", "empty-reason", "us-ground-for-gdpr"],
    )
    def test_bad_refusals_exit_2_and_change_nothing(
        self, dsar_home: Path, args: list[str], fragment: str
    ) -> None:
        """An unknown ground or an empty reason is refused with a reason; nothing changes."""
        request = submit("--controller", "lunexxa")
        before = show(request["id"])
        code, _, err = run("request", "refuse", request["id"], *args)
        assert code == 2
        assert fragment in err
        assert "Traceback" not in err
        assert show(request["id"]) == before
        assert letters(dsar_home) == []

    def test_refusing_a_closed_request_exits_2_and_changes_nothing(self, dsar_home: Path) -> None:
        """A withdrawn request cannot be refused afterwards."""
        request = submit("--controller", "lunexxa")
        assert run("request", "withdraw", request["id"])[0] == 0
        before = show(request["id"])
        code, _, err = run(
            "request", "refuse", request["id"], "--ground", "excessive", "--reason", "x"
        )
        assert code == 2
        assert "closed" in err
        assert show(request["id"]) == before
        assert letters(dsar_home) == []

    def test_refusing_twice_exits_2_and_sends_one_letter(self, dsar_home: Path) -> None:
        """A refused request is closed: a second refusal changes nothing."""
        request = submit("--controller", "lunexxa")
        args = ("request", "refuse", request["id"], "--ground", "excessive", "--reason", "x")
        assert run(*args)[0] == 0
        assert run(*args)[0] == 2
        assert len(letters(dsar_home)) == 1

    def test_us_grounds_are_those_of_us_law(self) -> None:
        """A Luma-Flux (CCPA) request cannot be refused as 'manifestly unfounded'."""
        request = submit("--controller", "luma-flux", "--residence", "US-CA")
        code, _, err = run(
            "request", "refuse", request["id"], "--ground", "manifestly-unfounded",
            "--reason", "x",
        )  # fmt: skip
        assert code == 2
        assert "excessive, unverifiable, exempt" in err


class TestRepeatedRequests:
    def test_a_repeat_within_the_window_is_flagged_never_refused(self) -> None:
        """The same person's second request is flagged possibly excessive; it stays open."""
        first = submit("--controller", "lunexxa")
        second = submit("--controller", "lunexxa", email="Maria.Muster@example.com")
        other = submit("--controller", "lunexxa", email="someone.else@example.com")
        assert first["possibly_excessive"] is None
        assert second["possibly_excessive"] == {"earlier": [first["id"]], "window_days": 90}
        assert second["status"] == "received"
        assert other["possibly_excessive"] is None
        actions = [event["action"] for event in show(second["id"])["audit"]]
        assert "flagged_possibly_excessive" in actions

    def test_a_repeat_outside_the_window_is_not_flagged(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The window is configurable: DSAR_REPEAT_REQUEST_WINDOW_DAYS."""
        monkeypatch.setenv("DSAR_REPEAT_REQUEST_WINDOW_DAYS", "10")
        get_settings.cache_clear()
        submit("--controller", "lunexxa", "--received", "2026-09-01T10:00:00+02:00")
        later = submit("--controller", "lunexxa", "--received", "2026-09-20T10:00:00+02:00")
        assert later["possibly_excessive"] is None
        again = submit("--controller", "lunexxa", "--received", "2026-09-25T10:00:00+02:00")
        assert again["possibly_excessive"] == {"earlier": [later["id"]], "window_days": 10}
