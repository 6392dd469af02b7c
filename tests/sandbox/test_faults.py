"""Fault injection: reproducible from a seed, shaped like each processor's own failures."""

from __future__ import annotations

import json

import httpx
import pytest

from sandbox import MARIA, FaultConfig, FaultInjector, Sandbox
from sandbox.faults import FaultKind
from tests.sandbox.conftest import (
    KLAVIYO_HEADERS,
    MAILCHIMP_AUTH,
    SHOP,
    SHOPIFY_HEADERS,
    FakeClock,
    client,
)

pytestmark = pytest.mark.anyio

CUSTOMER = f"{SHOP}/customers/{MARIA.shopify_customer_id}.json"


async def statuses(box: Sandbox, count: int) -> list[int]:
    async with client(box.shopify_app, "http://shop.test", headers=SHOPIFY_HEADERS) as c:
        return [(await c.get(CUSTOMER)).status_code for _ in range(count)]


def faulty(clock: FakeClock, **faults: object) -> Sandbox:
    return Sandbox.create(customers=5, clock=clock, rate_limits=False,
                          faults=FaultConfig(**faults))  # type: ignore[arg-type]  # fmt: skip


class TestReproducibility:
    async def test_same_seed_gives_the_same_faults(self, clock: FakeClock) -> None:
        """Two emulators with one fault seed answer the same request sequence identically."""
        first = await statuses(faulty(clock, seed=7, error_rate=0.3), 40)
        second = await statuses(faulty(clock, seed=7, error_rate=0.3), 40)
        other = await statuses(faulty(clock, seed=8, error_rate=0.3), 40)
        assert first == second
        assert first != other
        assert {502, 503, 504} & set(first)
        assert 200 in first

    def test_draws_do_not_depend_on_earlier_faults(self) -> None:
        """Every request draws the same amount of randomness, so forcing a throttle does not
        shift the faults of later requests."""
        plain = FaultInjector(FaultConfig(seed=3, error_rate=0.5))
        forced = FaultInjector(FaultConfig(seed=3, error_rate=0.5))
        forced.force_throttle(2)
        a = [plain.draw().kind for _ in range(12)]
        b = [forced.draw().kind for _ in range(12)]
        assert b[:2] == [FaultKind.THROTTLE, FaultKind.THROTTLE]
        assert a[2:] == b[2:]

    def test_rates_that_sum_above_one_are_refused(self) -> None:
        """A configuration cannot promise more than one fault per request."""
        with pytest.raises(ValueError, match="sum"):
            FaultConfig(error_rate=0.6, drop_rate=0.6)


class TestFaultShapes:
    async def test_server_errors_carry_each_processors_error_body(self, clock: FakeClock) -> None:
        """A 5xx looks like the processor's: Shopify string, Klaviyo JSON:API, Mailchimp
        problem."""
        box = faulty(clock, error_rate=1.0, error_statuses=(503,))
        async with client(box.shopify_app, "http://s.test", headers=SHOPIFY_HEADERS) as c:
            shopify = await c.get(CUSTOMER)
        async with client(box.klaviyo_app, "http://k.test", headers=KLAVIYO_HEADERS) as c:
            klaviyo = await c.get("/api/lists")
        async with client(box.mailchimp_app, "http://m.test", auth=MAILCHIMP_AUTH) as c:
            mailchimp = await c.get("/3.0/ping")
        assert (shopify.status_code, shopify.json()) == (503, {"errors": "Service Unavailable"})
        assert klaviyo.status_code == 503
        assert klaviyo.json()["errors"][0]["status"] == 503
        assert mailchimp.status_code == 503
        assert mailchimp.json()["status"] == 503

    async def test_dropped_connection_raises_a_transport_error(self, clock: FakeClock) -> None:
        """A dropped connection surfaces as httpx.RemoteProtocolError, in-process too."""
        box = faulty(clock, drop_rate=1.0)
        async with client(box.shopify_app, "http://s.test", headers=SHOPIFY_HEADERS) as c:
            with pytest.raises(httpx.RemoteProtocolError):
                await c.get(CUSTOMER)

    async def test_malformed_json_keeps_the_status_but_does_not_parse(
        self, clock: FakeClock
    ) -> None:
        """A malformed answer is a 200 whose body is cut short."""
        box = faulty(clock, malformed_rate=1.0)
        async with client(box.shopify_app, "http://s.test", headers=SHOPIFY_HEADERS) as c:
            response = await c.get(CUSTOMER)
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)

    async def test_forced_throttle_answers_the_next_requests_with_429(
        self, clock: FakeClock
    ) -> None:
        """``force_throttle(2)``: two 429 with Retry-After and the processor's body, then 200."""
        box = faulty(clock, throttle_retry_after=2.0)
        box.injector("klaviyo").force_throttle(2)
        async with client(box.klaviyo_app, "http://k.test", headers=KLAVIYO_HEADERS) as c:
            responses = [await c.get("/api/lists") for _ in range(3)]
        assert [r.status_code for r in responses] == [429, 429, 200]
        assert responses[0].headers["Retry-After"] == "2"
        assert responses[0].json()["errors"][0]["code"] == "throttled"
        assert box.klaviyo.calls.throttled == 2

    async def test_random_throttle_bursts_last_the_configured_length(
        self, clock: FakeClock
    ) -> None:
        """A burst that starts runs for ``throttle_burst`` requests in a row."""
        box = faulty(clock, seed=1, throttle_rate=0.1, throttle_burst=3)
        seen = await statuses(box, 60)
        runs = "".join("x" if s == 429 else "." for s in seen).split(".")
        assert {len(r) % 3 for r in runs if r} == {0}
        assert 429 in seen
