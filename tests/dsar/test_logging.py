"""Log redaction: no subject's e-mail, phone, IBAN or name ever reaches a rendered log line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from dsar.logging import REDACTED, configure_logging, get_logger, redact_text

EMAIL = "maria.muster@example.com"
PHONE = "+43 660 1234567"
IBAN = "AT61 1904 3002 3457 3201"
CARD = "4111 1111 1111 1111"


@pytest.fixture
def stream() -> io.StringIO:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf, extra_loggers=("prefect",))
    return buf


def _assert_clean(output: str) -> None:
    # Fragments carry their spaces so a timestamp's digits can never match by chance.
    for secret in (EMAIL, "1234567", "3002 3457", "1111 1111", "Maria"):
        assert secret not in output, f"{secret!r} leaked into {output!r}"


class TestRedaction:
    def test_personal_data_in_any_field_or_nesting_is_masked(self, stream: io.StringIO) -> None:
        """E-mail, phone, IBAN and card numbers vanish from top-level and nested values."""
        get_logger("dsar.test").info(
            "step_completed",
            request_id="r1",
            detail=f"sent to {EMAIL}",
            nested={"list": [f"call {PHONE}", {"deep": IBAN}], "pay": CARD},
        )
        line = json.loads(stream.getvalue().splitlines()[0])
        _assert_clean(stream.getvalue())
        assert line["request_id"] == "r1"
        assert line["detail"] == f"sent to {REDACTED}"

    def test_deny_listed_keys_are_masked_whatever_their_value(self, stream: io.StringIO) -> None:
        """A value under `name`, `email`, `phone`, `address` is masked even if it looks harmless."""
        get_logger().info("x", name="Maria Muster", address={"city": "Wien"}, email="x", phone="1")
        line = json.loads(stream.getvalue())
        assert {line[k] for k in ("name", "address", "email", "phone")} == {REDACTED}

    def test_exception_messages_and_tracebacks_are_masked(self, stream: io.StringIO) -> None:
        """An exception whose message holds an e-mail is logged without it."""
        log = get_logger()
        try:
            raise ValueError(f"no customer {EMAIL} at {PHONE}")
        except ValueError:
            log.exception("lookup_failed")
        log.info("failed", error=ValueError(f"bad {EMAIL}"))
        _assert_clean(stream.getvalue())
        assert "ValueError" in stream.getvalue()

    def test_foreign_stdlib_loggers_go_through_the_same_redaction(
        self, stream: io.StringIO
    ) -> None:
        """Prefect's run loggers (stdlib) are rendered by the same redacting chain."""
        logging.getLogger("prefect.flow_runs").warning("contacting %s", EMAIL)
        logging.getLogger("prefect.task_runs").error("phone %s", PHONE, extra={"email": EMAIL})
        _assert_clean(stream.getvalue())
        assert stream.getvalue().count(REDACTED) >= 2

    @pytest.mark.parametrize(
        "text",
        ["2026-03-05", "2026-03-05T10:00:00", "request 3f2a9c1d", "count 12", "HTTP 429"],
    )
    def test_ordinary_facts_are_left_alone(self, text: str) -> None:
        """Dates, ids and small numbers are not mistaken for phone numbers."""
        assert redact_text(text) == text


def test_percent_encoded_addresses_in_urls_are_masked() -> None:
    """Request URLs carry e-mails as %40; they are masked like any other address."""
    url = "GET /admin/api/2025-07/customers/search.json?query=email:maria.muster%40example.com"
    assert "muster" not in redact_text(url)


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("from jürgen.müller@beispiel.de today", "jürgen"),
        ("call 0664 1234567.", "1234567"),
        ("fax +43 (0) 1 234 56 78 90 12 34", "90 12 34"),
    ],
    ids=["internationalised address", "number before a full stop", "long grouped number"],
)
def test_the_one_scrubber_masks_what_either_of_the_old_two_caught(text: str, leak: str) -> None:
    """Logs and connector error messages share one scrubber; it keeps the stronger patterns."""
    from connectors.errors import scrub

    assert leak not in redact_text(text)
    assert leak not in scrub(text)
