"""The HTTP layer: error mapping, retries, Retry-After, bounds, idempotence, JSON decoding."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFound,
    PermanentError,
    ProtocolError,
    TransientError,
    ValidationFailed,
)
from connectors.http import (
    DEFAULT_TIMEOUT,
    HTTPX_ERRORS,
    ProcessorClient,
    RetryPolicy,
    build_client,
)
from connectors.responses import (
    classify_response,
    decode_json,
    map_transport_error,
    parse_retry_after,
    processor_message,
)
from tests.connectors.fakes import FakeTime

BASE = "https://api.processor.test"
EMAIL = "maria.muster@example.com"

pytestmark = pytest.mark.anyio


def _response(
    status: int, *, json: object = None, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request("GET", f"{BASE}/x")
    return httpx.Response(status, json=json, headers=headers, request=request)


def _client(
    transport: httpx.AsyncBaseTransport, policy: RetryPolicy, **kw: object
) -> ProcessorClient:
    return ProcessorClient.create(
        processor="proc",
        base_url=BASE,
        headers={},
        transport=transport,
        retry=policy,
        **kw,  # type: ignore[arg-type]
    )


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


class TestBuildClient:
    async def test_has_explicit_timeouts_and_no_redirects(self) -> None:
        """Clients connect within 5 s, read within 30 s and never follow redirects."""
        client = build_client(processor="p", base_url=BASE, headers={"X-Key": "k"})
        try:
            assert client.timeout.connect == 5.0
            assert client.timeout.read == 30.0
            assert client.follow_redirects is False
            assert client.headers["X-Key"] == "k"
        finally:
            await client.aclose()

    def test_default_timeout_is_bounded(self) -> None:
        """No timeout is left infinite."""
        assert None not in (
            DEFAULT_TIMEOUT.connect,
            DEFAULT_TIMEOUT.read,
            DEFAULT_TIMEOUT.write,
            DEFAULT_TIMEOUT.pool,
        )


class TestRetries:
    async def test_retry_after_is_honoured(
        self,
        router: respx.Router,
        transport: httpx.AsyncBaseTransport,
        policy: RetryPolicy,
        fake_time: FakeTime,
    ) -> None:
        """A 429 with Retry-After: 7 waits exactly 7 s before the next attempt."""
        route = router.get(f"{BASE}/items").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "7"}),
                httpx.Response(200, json={"ok": 1}),
            ]
        )
        client = _client(transport, policy)
        status, body = await client.request_json("GET", "/items", idempotent=True)
        assert (status, body) == (200, {"ok": 1})
        assert route.call_count == 2
        assert fake_time.sleeps == [7.0]

    async def test_retry_after_is_capped(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, fake_time: FakeTime
    ) -> None:
        """A Retry-After beyond the cap waits the cap, not the processor's figure."""
        router.get(f"{BASE}/items").mock(
            side_effect=[httpx.Response(429, headers={"Retry-After": "3600"}), httpx.Response(200)]
        )
        policy = RetryPolicy(
            retry_after_cap=30.0, max_elapsed=120.0, sleep=fake_time.sleep, clock=fake_time.clock
        )
        await _client(transport, policy).request("GET", "/items", idempotent=True)
        assert fake_time.sleeps == [30.0]

    async def test_5xx_is_retried_then_surfaces_after_max_attempts(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, fake_time: FakeTime
    ) -> None:
        """Persistent 503s are tried max_attempts times, then the TransientError surfaces."""
        route = router.get(f"{BASE}/items").mock(return_value=httpx.Response(503))
        policy = RetryPolicy(max_attempts=4, sleep=fake_time.sleep, clock=fake_time.clock)
        with pytest.raises(TransientError) as info:
            await _client(transport, policy).request("GET", "/items", idempotent=True)
        assert info.value.status == 503
        assert route.call_count == 4
        assert len(fake_time.sleeps) == 3
        assert all(0 <= s <= policy.backoff_max for s in fake_time.sleeps)

    async def test_total_time_is_bounded(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, fake_time: FakeTime
    ) -> None:
        """Retrying stops before the next wait would pass max_elapsed."""
        route = router.get(f"{BASE}/items").mock(
            return_value=httpx.Response(503, headers={"Retry-After": "10"})
        )
        policy = RetryPolicy(
            max_attempts=100, max_elapsed=35.0, sleep=fake_time.sleep, clock=fake_time.clock
        )
        with pytest.raises(TransientError):
            await _client(transport, policy).request("GET", "/items", idempotent=True)
        assert fake_time.sleeps == [10.0, 10.0, 10.0]
        assert route.call_count == 4

    async def test_non_idempotent_post_is_not_retried_after_read_timeout(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, policy: RetryPolicy
    ) -> None:
        """A POST that may have reached the processor is not sent twice."""
        route = router.post(f"{BASE}/jobs").mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(TransientError) as info:
            await _client(transport, policy).request("POST", "/jobs", json={}, idempotent=False)
        assert not info.value.replay_safe
        assert route.call_count == 1

    async def test_non_idempotent_post_is_retried_after_connect_error(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, policy: RetryPolicy
    ) -> None:
        """A POST that never left is safe to send again."""
        route = router.post(f"{BASE}/jobs").mock(
            side_effect=[httpx.ConnectError("refused"), httpx.Response(202)]
        )
        response = await _client(transport, policy).request("POST", "/jobs", idempotent=False)
        assert response.status_code == 202
        assert route.call_count == 2

    async def test_non_idempotent_post_is_retried_after_429(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, policy: RetryPolicy
    ) -> None:
        """A rate-limit refusal means nothing happened; the POST may go again."""
        route = router.post(f"{BASE}/jobs").mock(
            side_effect=[httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(202)]
        )
        await _client(transport, policy).request("POST", "/jobs", idempotent=False)
        assert route.call_count == 2

    async def test_non_idempotent_post_is_not_retried_after_5xx(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, policy: RetryPolicy
    ) -> None:
        """A 5xx may follow a side effect, so a non-idempotent call surfaces it at once."""
        route = router.post(f"{BASE}/jobs").mock(return_value=httpx.Response(502))
        with pytest.raises(TransientError):
            await _client(transport, policy).request("POST", "/jobs", idempotent=False)
        assert route.call_count == 1

    async def test_idempotent_get_is_retried_after_read_timeout(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, policy: RetryPolicy
    ) -> None:
        """Reading twice is harmless, so a read timeout on a GET is retried."""
        route = router.get(f"{BASE}/items").mock(
            side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200)]
        )
        await _client(transport, policy).request("GET", "/items", idempotent=True)
        assert route.call_count == 2

    @pytest.mark.parametrize(
        ("status", "kind"), [(401, AuthError), (404, NotFound), (422, ValidationFailed)]
    )
    async def test_permanent_errors_are_not_retried(
        self,
        router: respx.Router,
        transport: httpx.AsyncBaseTransport,
        policy: RetryPolicy,
        status: int,
        kind: type[ConnectorError],
    ) -> None:
        """Auth, not-found and validation errors raise after one attempt."""
        route = router.get(f"{BASE}/items").mock(return_value=httpx.Response(status))
        with pytest.raises(kind):
            await _client(transport, policy).request("GET", "/items", idempotent=True)
        assert route.call_count == 1

    async def test_allowed_status_is_returned(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, policy: RetryPolicy
    ) -> None:
        """A status the caller handles itself (404 = absent) comes back as a response."""
        router.get(f"{BASE}/items").mock(return_value=httpx.Response(404))
        response = await _client(transport, policy).request(
            "GET", "/items", idempotent=True, allow={404}
        )
        assert response.status_code == 404

    async def test_inspector_can_ask_for_a_retry(
        self,
        router: respx.Router,
        transport: httpx.AsyncBaseTransport,
        policy: RetryPolicy,
        fake_time: FakeTime,
    ) -> None:
        """A TransientError raised by the inspector on a 200 is retried like a 429."""
        route = router.post(f"{BASE}/graphql").mock(
            side_effect=[
                httpx.Response(200, json={"throttled": True}),
                httpx.Response(200, json={"data": {}}),
            ]
        )

        def inspect(response: httpx.Response) -> None:
            if response.json().get("throttled"):
                raise TransientError("throttled", processor="p", retry_after=2.0, replay_safe=True)

        await _client(transport, policy).request(
            "POST", "/graphql", idempotent=False, inspect=inspect
        )
        assert route.call_count == 2
        assert fake_time.sleeps == [2.0]


class TestLogging:
    async def test_retry_log_carries_no_personal_data(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, policy: RetryPolicy
    ) -> None:
        """A retried lookup by e-mail logs the processor, status and attempt, never the address."""
        router.get(f"{BASE}/search").mock(
            side_effect=[httpx.Response(503, json={"errors": f"{EMAIL} busy"}), httpx.Response(200)]
        )
        with capture_logs() as logs:
            await _client(transport, policy).request(
                "GET", "/search", params={"query": f"email:{EMAIL}"}, idempotent=True
            )
        (entry,) = logs
        assert entry["event"] == "connector_retry"
        assert (entry["processor"], entry["status"], entry["attempt"]) == ("proc", 503, 1)
        assert "@" not in repr(entry)
        assert "example" not in repr(entry)


class TestJson:
    async def test_malformed_json_is_a_protocol_error(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, policy: RetryPolicy
    ) -> None:
        """A processor answering broken JSON raises ProtocolError, not a ValueError."""
        router.get(f"{BASE}/items").mock(return_value=httpx.Response(200, content=b"{not json"))
        with pytest.raises(ProtocolError):
            await _client(transport, policy).request_json("GET", "/items", idempotent=True)

    def test_empty_body_is_none(self) -> None:
        """202/204 without a body decode to None."""
        assert decode_json(httpx.Response(202), processor="p") is None


class TestOrigin:
    async def test_links_to_another_host_are_refused(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, policy: RetryPolicy
    ) -> None:
        """Following a pagination link elsewhere would leak credentials: ProtocolError."""
        route = router.get("https://evil.test/page").mock(return_value=httpx.Response(200))
        with pytest.raises(ProtocolError):
            await _client(transport, policy).request(
                "GET", "https://evil.test/page", idempotent=True
            )
        assert route.call_count == 0

    async def test_links_on_the_same_host_are_followed(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, policy: RetryPolicy
    ) -> None:
        """Absolute links back to the processor's own origin are fine."""
        route = router.get(f"{BASE}/page").mock(return_value=httpx.Response(200))
        await _client(transport, policy).request("GET", f"{BASE}/page?cursor=2", idempotent=True)
        assert route.call_count == 1


class RecordingLimiter:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str | None]] = []

    async def acquire(self, path: str) -> None:
        self.events.append(("acquire", path, None))

    def release(self, path: str, headers: Mapping[str, str] | None) -> None:
        self.events.append(("release", path, None if headers is None else headers.get("X-Limit")))


class TestLimiterHook:
    async def test_limiter_wraps_every_attempt(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, policy: RetryPolicy
    ) -> None:
        """Each attempt, including retries and failures, acquires and releases the limiter."""
        router.get(f"{BASE}/items").mock(
            side_effect=[
                httpx.ConnectError("refused"),
                httpx.Response(200, headers={"X-Limit": "3/40"}),
            ]
        )
        limiter = RecordingLimiter()
        await _client(transport, policy, limiter=limiter).request("GET", "/items", idempotent=True)
        assert limiter.events == [
            ("acquire", "/items", None),
            ("release", "/items", None),
            ("acquire", "/items", None),
            ("release", "/items", "3/40"),
        ]
