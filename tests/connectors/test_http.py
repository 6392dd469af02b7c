"""The HTTP layer: client settings, retries, Retry-After, bounds, idempotence, JSON decoding.

How an answer is classified is in ``test_responses.py``."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFound,
    ProtocolError,
    TransientError,
    ValidationFailed,
)
from connectors.http import (
    DEFAULT_TIMEOUT,
    ProcessorClient,
    RetryPolicy,
    build_client,
)
from connectors.responses import decode_json
from tests.connectors.fakes import FakeTime

BASE = "https://api.processor.test"
EMAIL = "maria.muster@example.com"

pytestmark = pytest.mark.anyio


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
