"""Client-side rate limiters keep bursts under each processor's limit, on fake time."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from connectors.ratelimit import KLAVIYO_TIERS, ConcurrencyLimit, FixedWindows, LeakyBucket
from tests.connectors.fakes import FakeTime

pytestmark = pytest.mark.anyio


async def send(limiter: LeakyBucket | FixedWindows, path: str, fake_time: FakeTime) -> float:
    """One request answered at once: acquire, note the send time, release."""
    await limiter.acquire(path)
    sent = fake_time.now
    limiter.release(path, None)
    return sent


async def spin(rounds: int = 50) -> None:
    """Let other tasks run (fake sleeps advance fake time without real waiting)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def _server_bucket_peak(sent: list[float], *, leak_rate: float) -> float:
    """The fill level a server-side leaky bucket reaches for these send times."""
    level, last, peak = 0.0, sent[0], 0.0
    for t in sent:
        level = max(0.0, level - (t - last) * leak_rate) + 1
        last = t
        peak = max(peak, level)
    return peak


class TestLeakyBucket:
    async def test_burst_never_overflows_the_processors_bucket(self, fake_time: FakeTime) -> None:
        """100 back-to-back requests never fill Shopify's 40-request bucket past capacity."""
        bucket = LeakyBucket(
            capacity=40, leak_rate=2.0, clock=fake_time.clock, sleep=fake_time.sleep
        )
        sent = [
            await send(bucket, "/admin/api/2025-07/customers.json", fake_time) for _ in range(100)
        ]
        assert _server_bucket_peak(sent, leak_rate=2.0) <= 40 + 1e-6

    async def test_first_capacity_requests_go_at_once(self, fake_time: FakeTime) -> None:
        """An empty bucket lets 40 requests through; the 41st waits one leak interval."""
        bucket = LeakyBucket(
            capacity=40, leak_rate=2.0, clock=fake_time.clock, sleep=fake_time.sleep
        )
        for _ in range(40):
            await send(bucket, "/x", fake_time)
        assert fake_time.sleeps == []
        await send(bucket, "/x", fake_time)
        assert fake_time.sleeps == [pytest.approx(0.5)]

    async def test_requests_in_flight_do_not_leak(self, fake_time: FakeTime) -> None:
        """A request may arrive as late as its answer, so it leaks only once answered."""
        bucket = LeakyBucket(
            capacity=2, leak_rate=2.0, clock=fake_time.clock, sleep=fake_time.sleep
        )
        await bucket.acquire("/x")
        await bucket.acquire("/x")
        third = asyncio.create_task(bucket.acquire("/x"))
        await spin()
        assert not third.done()
        answered_at = fake_time.now
        bucket.release("/x", None)
        await spin()
        assert third.done()
        assert fake_time.now >= answered_at + 0.5

    async def test_call_limit_header_resyncs_the_level(self, fake_time: FakeTime) -> None:
        """A shop reporting 39/40 (other clients) makes the next request wait."""
        bucket = LeakyBucket(
            capacity=40, leak_rate=2.0, clock=fake_time.clock, sleep=fake_time.sleep
        )
        await bucket.acquire("/x")
        bucket.release("/x", httpx.Headers({"X-Shopify-Shop-Api-Call-Limit": "40/40"}))
        await send(bucket, "/x", fake_time)
        assert fake_time.sleeps == [pytest.approx(0.5)]

    async def test_header_never_lowers_the_level(self, fake_time: FakeTime) -> None:
        """A stale, lower server figure does not free room our in-flight requests use."""
        bucket = LeakyBucket(
            capacity=40, leak_rate=2.0, clock=fake_time.clock, sleep=fake_time.sleep
        )
        for _ in range(10):
            await bucket.acquire("/x")
        bucket.release("/x", httpx.Headers({"X-Shopify-Shop-Api-Call-Limit": "1/40"}))
        assert bucket.level == pytest.approx(10)
        assert bucket.in_flight == 9

    async def test_time_scale_compresses_waits(self, fake_time: FakeTime) -> None:
        """time_scale=0.01 makes the leak a hundred times faster in real seconds."""
        bucket = LeakyBucket(
            capacity=1, leak_rate=2.0, time_scale=0.01, clock=fake_time.clock, sleep=fake_time.sleep
        )
        await send(bucket, "/x", fake_time)
        await send(bucket, "/x", fake_time)
        assert fake_time.sleeps == [pytest.approx(0.005)]

    async def test_graphql_does_not_draw_from_the_rest_bucket(self, fake_time: FakeTime) -> None:
        """GraphQL is limited by query cost, so a full REST bucket does not delay it."""
        bucket = LeakyBucket(capacity=1, clock=fake_time.clock, sleep=fake_time.sleep)
        await bucket.acquire("/admin/api/2025-07/customers.json")
        for _ in range(5):
            await send(bucket, "/admin/api/2025-07/graphql.json", fake_time)
        assert fake_time.sleeps == []

    def test_rejects_nonsense_parameters(self) -> None:
        """A bucket without capacity or leak cannot pace anything."""
        with pytest.raises(ValueError, match="positive"):
            LeakyBucket(capacity=0)


def _max_in_fixed_windows(sent: list[float], window: float, offset: float) -> int:
    counts: dict[int, int] = {}
    for t in sent:
        index = math.floor((t - offset) / window)
        counts[index] = counts.get(index, 0) + 1
    return max(counts.values())


class TestFixedWindows:
    async def test_burst_stays_within_every_one_second_window(self, fake_time: FakeTime) -> None:
        """20 deletion-job posts (tier S, 3/s) never put more than 3 in any 1 s window."""
        limiter = FixedWindows(margin=0.0, clock=fake_time.clock, sleep=fake_time.sleep)
        sent = [
            await send(limiter, "/api/data-privacy-deletion-jobs", fake_time) for _ in range(20)
        ]
        for offset in (0.0, 0.25, 0.5, 0.75, 0.999):
            assert _max_in_fixed_windows(sent, 1.0, offset) <= 3

    async def test_steady_limit_holds_per_minute(self, fake_time: FakeTime) -> None:
        """130 tier-S requests never put more than 60 in any 60 s window."""
        limiter = FixedWindows(margin=0.0, clock=fake_time.clock, sleep=fake_time.sleep)
        sent = [await send(limiter, "/api/profiles/01ABC/lists", fake_time) for _ in range(130)]
        for offset in (0.0, 13.0, 29.5, 59.9):
            assert _max_in_fixed_windows(sent, 60.0, offset) <= 60

    async def test_endpoints_count_separately(self, fake_time: FakeTime) -> None:
        """Profiles (tier L) are not slowed by a busy deletion endpoint (tier S)."""
        limiter = FixedWindows(clock=fake_time.clock, sleep=fake_time.sleep)
        for _ in range(3):
            await send(limiter, "/api/data-privacy-deletion-jobs", fake_time)
        for _ in range(50):
            await send(limiter, "/api/profiles", fake_time)
        assert fake_time.sleeps == []

    async def test_a_place_is_held_until_a_window_after_the_answer(
        self, fake_time: FakeTime
    ) -> None:
        """Three deletion jobs in flight block a fourth until one window after an answer."""
        limiter = FixedWindows(margin=0.0, clock=fake_time.clock, sleep=fake_time.sleep)
        path = "/api/data-privacy-deletion-jobs"
        for _ in range(3):
            await limiter.acquire(path)
        fourth = asyncio.create_task(limiter.acquire(path))
        await spin()
        assert not fourth.done()
        answered_at = fake_time.now
        limiter.release(path, None)
        await spin()
        assert fourth.done()
        assert fake_time.now >= answered_at + 1.0

    @pytest.mark.parametrize(
        ("path", "tier"),
        [
            ("/api/profiles", "L"),
            ("/api/profiles/01ABC", "L"),
            ("/api/profiles/01ABC/lists", "S"),
            ("/api/events", "XL"),
            ("/api/data-privacy-deletion-jobs", "S"),
            ("/api/profile-suppression-bulk-create-jobs", "M"),
            ("/api/something-new", "M"),
        ],
    )
    def test_tier_is_chosen_by_path(self, path: str, tier: str) -> None:
        """Each endpoint is charged to Klaviyo's published tier."""
        assert FixedWindows().tier_for(path)[1] == KLAVIYO_TIERS[tier]

    async def test_time_scale_compresses_windows(self, fake_time: FakeTime) -> None:
        """time_scale=0.01 shortens the one-second window to 10 ms."""
        limiter = FixedWindows(
            margin=0.0, time_scale=0.01, clock=fake_time.clock, sleep=fake_time.sleep
        )
        for _ in range(4):
            await send(limiter, "/api/data-privacy-deletion-jobs", fake_time)
        assert fake_time.sleeps == [pytest.approx(0.01)]

    def test_unknown_tier_is_refused(self) -> None:
        """A rule naming a tier that does not exist is a configuration error."""
        with pytest.raises(ValueError, match="unknown tiers"):
            FixedWindows(endpoints=[("^/api/x", "XXL")])


class TestConcurrencyLimit:
    async def test_never_more_than_ten_in_flight(self) -> None:
        """Fifty concurrent requests never have more than ten open at once."""
        limiter = ConcurrencyLimit(10)
        peak = 0

        async def one() -> None:
            nonlocal peak
            await limiter.acquire("/3.0/lists")
            try:
                peak = max(peak, limiter.in_flight)
                await asyncio.sleep(0)
                await asyncio.sleep(0)
            finally:
                limiter.release("/3.0/lists", None)

        await asyncio.gather(*(one() for _ in range(50)))
        assert peak == 10
        assert limiter.in_flight == 0
