"""Reading a processor's answer: status → error class, transport errors, Retry-After, messages."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFound,
    PermanentError,
    ProtocolError,
    TransientError,
    ValidationFailed,
)
from connectors.http import HTTPX_ERRORS
from connectors.responses import (
    BODYLESS_403_THROTTLES,
    classify_response,
    map_transport_error,
    parse_retry_after,
    processor_message,
)

BASE = "https://api.processor.test"
EMAIL = "maria.muster@example.com"


def _response(
    status: int,
    *,
    json: object = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    request = httpx.Request("GET", f"{BASE}/x")
    if content is not None:
        return httpx.Response(status, content=content, headers=headers, request=request)
    return httpx.Response(status, json=json, headers=headers, request=request)


class TestClassifyResponse:
    def test_every_status_lands_somewhere(self) -> None:
        """Each status 100–599 is a success (2xx only) or a ConnectorError subclass."""
        for status in range(100, 600):
            error = classify_response(_response(status), processor="proc")
            if 200 <= status < 300:
                assert error is None, status
            else:
                assert isinstance(error, ConnectorError), status
                assert (error.status, error.processor) == (status, "proc")

    @pytest.mark.parametrize(
        ("status", "kind"),
        [
            (101, ProtocolError),
            (302, PermanentError),
            (400, PermanentError),
            (401, AuthError),
            (403, AuthError),
            (404, NotFound),
            (409, PermanentError),
            (422, ValidationFailed),
            (408, TransientError),
            (429, TransientError),
            (500, TransientError),
            (502, TransientError),
            (503, TransientError),
            (504, TransientError),
            (501, PermanentError),
            (600, ProtocolError),
        ],
    )
    def test_status_maps_to_its_error_class(self, status: int, kind: type[ConnectorError]) -> None:
        """Auth, not-found, validation and transient statuses map to their own classes."""
        error = classify_response(_response(status), processor="proc")
        assert type(error) is kind

    def test_429_is_replay_safe_with_retry_after(self) -> None:
        """A 429 was refused, not processed: safe to resend, after the processor's pause."""
        error = classify_response(_response(429, headers={"Retry-After": "3"}), processor="p")
        assert isinstance(error, TransientError)
        assert error.replay_safe
        assert error.retry_after == 3.0

    def test_5xx_is_not_replay_safe(self) -> None:
        """A 5xx may come after the processor acted, so only idempotent calls repeat it."""
        error = classify_response(_response(503), processor="p")
        assert isinstance(error, TransientError)
        assert not error.replay_safe

    @pytest.mark.parametrize(
        ("content", "headers"),
        [(b"", {}), (b"<html>Access Denied</html>", {"Content-Type": "text/html"})],
    )
    def test_mailchimps_403_without_a_json_body_is_a_replay_safe_throttle(
        self, content: bytes, headers: dict[str, str]
    ) -> None:
        """Mailchimp's edge refuses high volume with a 403 and no JSON: it never reached the
        API, so any call may be sent again after a pause."""
        assert "mailchimp" in BODYLESS_403_THROTTLES
        response = _response(403, content=content, headers=headers)
        error = classify_response(response, processor="mailchimp")
        assert isinstance(error, TransientError)
        assert error.replay_safe
        assert error.status == 403

    def test_a_403_with_a_problem_document_stays_a_permission_error(self) -> None:
        """A 403 that explains itself is the key lacking a permission, for Mailchimp too."""
        body = {"type": "about:blank", "title": "Forbidden", "status": 403, "detail": "no",
                "instance": "x"}  # fmt: skip
        error = classify_response(_response(403, json=body), processor="mailchimp")
        assert isinstance(error, AuthError)
        assert "Forbidden" in str(error)

    def test_other_processors_bodyless_403_is_a_permission_error(self) -> None:
        """Only processors known to throttle that way get the benefit of the doubt."""
        error = classify_response(_response(403, content=b""), processor="klaviyo")
        assert isinstance(error, AuthError)

    def test_processor_message_never_carries_an_email(self) -> None:
        """An error body echoing the subject's e-mail and phone is scrubbed."""
        body = {
            "errors": {"email": [f"{EMAIL} has already been taken"], "phone": ["+49 170 1234567"]}
        }
        error = classify_response(_response(422, json=body), processor="shopify")
        assert error is not None
        assert EMAIL not in str(error)
        assert "1234567" not in str(error)
        assert "has already been taken" in str(error)


def _instances() -> list[Exception]:
    request = httpx.Request("GET", BASE)
    found: list[Exception] = []
    for name in dir(httpx):
        cls = getattr(httpx, name)
        if not (inspect.isclass(cls) and issubclass(cls, Exception)):
            continue
        if not issubclass(cls, HTTPX_ERRORS):
            continue
        if cls is httpx.HTTPStatusError:
            found.append(
                cls("boom", request=request, response=httpx.Response(503, request=request))
            )
        else:
            try:
                found.append(cls("boom"))
            except TypeError:  # stream errors take no message
                found.append(cls())
    return found


class TestMapTransportError:
    def test_every_httpx_exception_is_covered_by_the_families(self) -> None:
        """Every exception class httpx exports belongs to one of the families the layer catches."""
        exported = [
            getattr(httpx, n)
            for n in dir(httpx)
            if inspect.isclass(getattr(httpx, n)) and issubclass(getattr(httpx, n), Exception)
        ]
        assert exported
        assert all(issubclass(cls, HTTPX_ERRORS) for cls in exported)

    @pytest.mark.parametrize("exc", _instances(), ids=lambda e: type(e).__name__)
    def test_every_httpx_exception_maps_to_a_connector_error(self, exc: Exception) -> None:
        """Each httpx exception becomes a ConnectorError naming the processor."""
        error = map_transport_error(exc, processor="proc")
        assert isinstance(error, ConnectorError)
        assert error.processor == "proc"

    @pytest.mark.parametrize(
        ("cls", "transient", "replay_safe"),
        [
            (httpx.ConnectError, True, True),
            (httpx.ConnectTimeout, True, True),
            (httpx.PoolTimeout, True, True),
            (httpx.ProxyError, True, True),
            (httpx.ReadTimeout, True, False),
            (httpx.WriteTimeout, True, False),
            (httpx.ReadError, True, False),
            (httpx.RemoteProtocolError, True, False),
            (httpx.LocalProtocolError, False, False),
            (httpx.UnsupportedProtocol, False, False),
            (httpx.DecodingError, False, False),
            (httpx.TooManyRedirects, False, False),
            (httpx.InvalidURL, False, False),
        ],
    )
    def test_only_failures_before_sending_are_replay_safe(
        self, cls: type[Exception], transient: bool, replay_safe: bool
    ) -> None:
        """Connection failures are safe to resend; failures after sending are not."""
        error = map_transport_error(cls("boom"), processor="proc")
        assert isinstance(error, TransientError) is transient
        assert getattr(error, "replay_safe", False) is replay_safe

    def test_message_does_not_quote_the_url(self) -> None:
        """httpx messages may quote a URL holding an e-mail; only the class name is kept."""
        error = map_transport_error(
            httpx.ConnectError(f"failed for {BASE}/?email={EMAIL}"), processor="p"
        )
        assert "email" not in str(error).lower().replace("[redacted]", "")
        assert BASE not in str(error)


class TestParseRetryAfter:
    def test_seconds(self) -> None:
        """An integer Retry-After is seconds."""
        assert parse_retry_after("12") == 12.0

    def test_http_date(self) -> None:
        """An HTTP-date Retry-After is the time until that date."""
        now = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
        assert (
            parse_retry_after(format_datetime(now + timedelta(seconds=20), usegmt=True), now=now)
            == 20.0
        )

    def test_past_date_means_now(self) -> None:
        """A date in the past asks for no wait."""
        now = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
        assert (
            parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now=now)
            == 0.0
        )

    @pytest.mark.parametrize("value", [None, "", "soon", "-"])
    def test_missing_or_garbage_is_none(self, value: str | None) -> None:
        """Absent or unreadable values give no instruction."""
        assert parse_retry_after(value) is None


class TestProcessorMessage:
    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ({"errors": "Not Found"}, "Not Found"),
            ({"errors": {"base": ["has orders"]}}, "base: has orders"),
            ({"errors": [{"title": "Bad", "detail": "bad filter"}]}, "bad filter"),
            ({"title": "Resource Not Found", "detail": "gone"}, "Resource Not Found: gone"),
            ({"message": "nope"}, "nope"),
        ],
    )
    def test_reads_each_processors_error_shape(self, body: object, expected: str) -> None:
        """Shopify, Klaviyo and Mailchimp error bodies yield their message."""
        assert processor_message(_response(400, json=body)) == expected
