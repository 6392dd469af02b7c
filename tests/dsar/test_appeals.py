"""Appeals of denied US requests: deadlines per state, staff decisions, the letters' words."""

from __future__ import annotations

import email
import json
from datetime import date
from email.message import EmailMessage
from email.policy import default

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from dsar import lifecycle
from dsar.appeal_records import Appeal
from dsar.enums import RequestStatus
from dsar.notify import render
from dsar.register import load_register
from dsar.service import get_request
from dsar.settings import get_settings
from dsar.store import engine_from_settings, session_scope
from tests.conftest import LUMA_FLUX

runner = CliRunner()
LUMA = load_register(LUMA_FLUX)

#: Words no letter to a US consumer may contain.
GDPR_WORDS = ("GDPR", "Art. ", "Member State", "supervisory authority", "PLACEHOLDER")


def assert_us_words(text: str) -> None:
    found = [word for word in GDPR_WORDS if word.lower() in text.lower()]
    assert found == [], f"GDPR vocabulary in a US letter: {found}\n{text}"


def run(*args: str) -> tuple[int, str, str]:
    from dsar.cli import app

    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def submit(
    residence: str, kind: str = "access", received: str = "2026-03-02T10:00:00-08:00"
) -> str:
    code, out, err = run(
        "request", "submit", "--controller", "luma-flux", "--kind", kind,
        "--email", "consumer@example.com", "--residence", residence,
        "--received", received, "--json",
    )  # fmt: skip
    assert code == 0, err
    return str(json.loads(out)["id"])


def deny(
    request_id: str, reason: str = "We could not verify that the request came from you."
) -> None:
    with session_scope(engine_from_settings()) as session:
        request = get_request(session, request_id)
        lifecycle.transition(
            session, request=request, target=RequestStatus.REJECTED, actor="staff:test",
            reason=reason,
        )  # fmt: skip


def appeals() -> list[Appeal]:
    with session_scope(engine_from_settings()) as session:
        return list(session.exec(select(Appeal)))


def refusal_letter(request_id: str, language: str = "en") -> tuple[str, str]:
    with session_scope(engine_from_settings()) as session:
        request = get_request(session, request_id)
        return render(
            "refusal_us",
            language,
            controller=LUMA.controller,
            reference=request.id,
            kind=request.kind.value,
            received_on=request.received_on,
            reasons=request.status_reason or "",
            regime=request.regime.value,
        )


def outbox() -> list[EmailMessage]:
    folder = get_settings().outbox_dir
    return [
        email.message_from_bytes(path.read_bytes(), policy=default)
        for path in sorted(folder.glob("*.eml"))
    ]


class TestOpenAppeal:
    def test_denied_virginia_request_opens_an_appeal_due_60_days_later(self) -> None:
        """Va. Code § 59.1-577(C): decided within 60 days of receiving the appeal."""
        request_id = submit("US-VA")
        deny(request_id)
        code, out, err = run(
            "request", "appeal", request_id, "--reason", "I sent the code in time.",
            "--received", "2026-03-16T09:00:00-07:00", "--json",
        )  # fmt: skip
        assert code == 0, err
        payload = json.loads(out)
        assert set(payload) >= {
            "id", "request_id", "status", "received_on", "due_date", "effective_due_date",
        }  # fmt: skip
        assert (payload["request_id"], payload["status"]) == (request_id, "open")
        assert (payload["received_on"], payload["due_date"]) == ("2026-03-16", "2026-05-15")
        assert payload["effective_due_date"] == "2026-05-15"

    def test_the_denial_letter_told_the_consumer_how_to_appeal(self) -> None:
        """The Virginia denial names the appeal, its form, its 60 days and the Attorney General."""
        request_id = submit("US-VA")
        deny(request_id)
        subject, body = refusal_letter(request_id)
        assert "Va. Code § 59.1-577(C)" in body
        assert f"/privacy-request/appeal?reference={request_id}" in body
        assert "within 60 days" in body
        assert "Attorney General of Virginia" in body
        assert "We could not verify" in body
        assert "Virginia Consumer Data Protection Act (Va. Code § 59.1-577(A)(1))" in body
        assert "will not discriminate" in body
        assert_us_words(subject + body)

    def test_colorado_appeal_is_due_in_45_days_and_may_be_extended_by_60(self) -> None:
        """C.R.S. § 6-1-1306(3): 45 days, extendable once by 60."""
        from dsar.appeals import extend_appeal, get_appeal

        request_id = submit("US-CO")
        deny(request_id)
        code, out, err = run(
            "request", "appeal", request_id, "--reason", "Please look again.",
            "--received", "2026-03-16T09:00:00-06:00", "--json",
        )  # fmt: skip
        assert code == 0, err
        payload = json.loads(out)
        assert payload["due_date"] == "2026-04-30"
        with session_scope(engine_from_settings()) as session:
            appeal = extend_appeal(
                session, appeal=get_appeal(session, payload["id"]), reason="many records",
                actor="staff:test",
            )  # fmt: skip
            assert appeal.effective_due_date == date(2026, 6, 29)

    def test_colorado_denial_letter_gives_the_extension(self) -> None:
        """The consumer learns the 45 days and the possible 60 more."""
        request_id = submit("US-CO")
        deny(request_id)
        _subject, body = refusal_letter(request_id)
        assert "within 45 days" in body
        assert "60 further days" in body
        assert_us_words(body)

    def test_californian_denial_names_the_agency_and_no_appeal(self) -> None:
        """The CCPA knows no appeal: the letter names the California agency instead."""
        request_id = submit("US-CA")
        deny(request_id)
        _subject, body = refusal_letter(request_id)
        assert "appeal" not in body.lower()
        assert "California Privacy Protection Agency" in body
        assert "Cal. Civ. Code §§ 1798.110, 1798.115" in body
        assert "Cal. Civ. Code § 1798.125" in body
        assert_us_words(body)


class TestBadAppeals:
    def test_appeal_of_a_request_not_denied_exits_2_and_stores_nothing(self) -> None:
        """Only a denial can be appealed."""
        request_id = submit("US-VA")
        code, _out, err = run("request", "appeal", request_id, "--reason", "why not")
        assert code == 2
        assert "only a denied" in err
        assert appeals() == []

    def test_appeal_under_the_ccpa_exits_2(self) -> None:
        """California's law provides no appeal; nothing is stored."""
        request_id = submit("US-CA")
        deny(request_id)
        code, _out, err = run("request", "appeal", request_id, "--reason", "why not")
        assert code == 2
        assert "no appeal" in err
        assert appeals() == []

    def test_appeal_without_a_reason_exits_2(self) -> None:
        request_id = submit("US-VA")
        deny(request_id)
        code, _out, _err = run("request", "appeal", request_id, "--reason", "  ")
        assert code == 2
        assert appeals() == []

    def test_second_appeal_exits_2_and_keeps_the_first(self) -> None:
        request_id = submit("US-VA")
        deny(request_id)
        assert run("request", "appeal", request_id, "--reason", "first")[0] == 0
        code, _out, err = run("request", "appeal", request_id, "--reason", "second")
        assert code == 2
        assert "already been appealed" in err
        assert [a.reason for a in appeals()] == ["first"]

    def test_unknown_request_exits_2(self) -> None:
        code, _out, err = run("request", "appeal", "nope-nope", "--reason", "x")
        assert code == 2
        assert "no request" in err


class TestDecision:
    def _appeal(self, residence: str = "US-VA") -> tuple[str, str]:
        request_id = submit(residence)
        deny(request_id)
        _code, out, _err = run("request", "appeal", request_id, "--reason", "look again", "--json")
        return request_id, str(json.loads(out)["id"])

    def test_denied_appeal_tells_the_consumer_how_to_reach_the_attorney_general(self) -> None:
        """Va. Code § 59.1-577(C): on denial, a way to contact the Attorney General."""
        _request_id, appeal_id = self._appeal()
        code, out, err = run(
            "request", "appeal-decide", appeal_id, "--deny",
            "--reason", "The identity could not be confirmed on appeal either.", "--json",
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["status"] == "denied"
        [letter] = outbox()
        text = str(letter["Subject"]) + letter.get_content()
        assert "Attorney General of Virginia" in text
        assert "https://www.oag.state.va.us/consumer-protection/" in text
        assert "could not be confirmed on appeal" in text
        assert "our decision stands" in text
        assert_us_words(text)

    def test_granted_appeal_records_the_request_again(self) -> None:
        """Reversing the denial carries the request out under a new reference."""
        request_id, appeal_id = self._appeal()
        code, out, err = run(
            "request", "appeal-decide", appeal_id, "--grant",
            "--reason", "Your code arrived in time after all.", "--json",
        )  # fmt: skip
        assert code == 0, err
        payload = json.loads(out)
        assert payload["status"] == "granted"
        with session_scope(engine_from_settings()) as session:
            again = get_request(session, payload["new_request_id"])
            assert again.details["appeal_of"] == request_id
            assert again.status is RequestStatus.RECEIVED
        [letter] = outbox()
        text = letter.get_content()
        assert payload["new_request_id"] in text
        assert "Attorney General" not in text
        assert_us_words(text)

    def test_an_appeal_is_decided_once(self) -> None:
        _request_id, appeal_id = self._appeal()
        assert run("request", "appeal-decide", appeal_id, "--deny", "--reason", "no")[0] == 0
        code, _out, err = run("request", "appeal-decide", appeal_id, "--grant", "--reason", "yes")
        assert code == 2
        assert "already been decided" in err

    @pytest.mark.parametrize("language", ["en", "de"])
    def test_decision_letters_carry_no_gdpr_words(self, language: str) -> None:
        for decision in ("granted", "denied"):
            subject, body = render(
                "appeal_decision", language, controller=LUMA.controller, reference="abc123",
                kind="erasure", decision=decision, reasons="r", appeal_received_on=date(2026, 3, 2),
                new_reference="def456", regime="vcdpa",
            )  # fmt: skip
            assert_us_words(subject + body)


class TestAppealList:
    def test_open_appeals_are_listed_soonest_due_first_and_overdue_marked(self) -> None:
        """Colorado's 45 days come before Virginia's 60; a past date is overdue."""
        virginia, colorado = submit("US-VA"), submit("US-CO", kind="erasure")
        deny(virginia)
        deny(colorado)
        for request_id in (virginia, colorado):
            code, _out, err = run(
                "request", "appeal", request_id, "--reason", "look again",
                "--received", "2026-03-16T09:00:00-07:00",
            )  # fmt: skip
            assert code == 0, err
        code, out, err = run("request", "appeals", "--open", "--json")
        assert code == 0, err
        listed = json.loads(out)
        assert [a["request_id"] for a in listed] == [colorado, virginia]
        assert [a["due_date"] for a in listed] == ["2026-04-30", "2026-05-15"]
        assert all(a["overdue"] for a in listed)


class TestAppealExtension:
    def test_colorado_appeal_extended_by_60_days_and_the_consumer_told(self) -> None:
        """C.R.S. § 6-1-1306(3): 45 days + 60, with the reasons told to the consumer."""
        request_id = submit("US-CO")
        deny(request_id)
        _code, out, _err = run(
            "request", "appeal", request_id, "--reason", "look again",
            "--received", "2026-03-16T09:00:00-06:00", "--json",
        )  # fmt: skip
        appeal_id = json.loads(out)["id"]
        code, out, err = run(
            "request", "appeal-extend", appeal_id, "--reason", "We are checking old orders.",
            "--json",
        )  # fmt: skip
        assert code == 0, err
        payload = json.loads(out)
        assert (payload["due_date"], payload["effective_due_date"]) == ("2026-04-30", "2026-06-29")
        [letter] = outbox()
        text = letter.get_content()
        assert "29 June 2026" in text
        assert "We are checking old orders." in text
        assert_us_words(text)

    def test_virginia_appeal_cannot_be_extended(self) -> None:
        request_id = submit("US-VA")
        deny(request_id)
        _code, out, _err = run("request", "appeal", request_id, "--reason", "x", "--json")
        code, _out, err = run(
            "request", "appeal-extend", json.loads(out)["id"], "--reason", "more time"
        )
        assert code == 2
        assert "allows no extension" in err
        assert outbox() == []
