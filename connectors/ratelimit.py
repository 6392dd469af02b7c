"""Client-side rate limiters: stay under each processor's published limit instead of hitting it.

A 429 costs a round trip and a pause, and under load it cascades; pacing requests on our side
keeps a burst of data-subject requests from being throttled at all. Each processor publishes a
different scheme (see ``processor-apis.md``):

- Shopify REST: a leaky bucket of 40 requests leaking 2 per second, reported back in
  ``X-Shopify-Shop-Api-Call-Limit`` (:class:`LeakyBucket`);
- Klaviyo: fixed windows per endpoint, a burst limit per second and a steady limit per minute,
  in tiers XS..XL (:class:`FixedWindows`);
- Mailchimp: at most 10 simultaneous connections per key (:class:`ConcurrencyLimit`).

All limiters are async, take an injectable ``clock`` and ``sleep`` so tests run on fake time,
and a ``time_scale`` (real seconds per nominal second, e.g. ``0.01`` runs a hundred times
faster) so a benchmark can compress the processors' windows together with an emulator.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter(Protocol):
    """Paces requests: ``acquire`` before sending, ``release`` when the exchange is over.

    ``release`` receives the response headers (case-insensitive, e.g. ``httpx.Headers``) or
    ``None`` when no response arrived, so a limiter can resync with the processor's own count.
    """

    async def acquire(self, path: str) -> None:
        """Wait until a request to ``path`` may be sent."""
        ...

    def release(self, path: str, headers: Mapping[str, str] | None) -> None:
        """Account for the end of a request to ``path``."""
        ...


class Unlimited:
    """No client-side limit: for tests and for processors without a published limit."""

    async def acquire(self, path: str) -> None:
        """Send at once."""

    def release(self, path: str, headers: Mapping[str, str] | None) -> None:
        """Nothing to account for."""


class LeakyBucket:
    """Shopify's REST limit: a bucket of ``capacity`` requests that leaks ``leak_rate`` per second.

    The processor counts a request when it *arrives*, somewhere between our send and our
    receipt of the answer; network and server delays can bunch arrivals that we spaced out.
    So a request counts here from the moment it is sent, as one unit in flight, and only starts
    to leak once its answer is back (the latest moment it can have arrived). A request is sent
    when the leaking level plus the requests in flight leave room for one more; then no
    arrival order can overflow the processor's bucket. Other clients of the same shop share
    that bucket, so ``X-Shopify-Shop-Api-Call-Limit`` (``"32/40"``) raises our figure to the
    processor's (never lowers it) and updates the capacity. GraphQL (paths matching ``exempt``)
    does not draw requests from this bucket: Shopify limits it by query cost, the same leaky
    bucket counted in points (:meth:`acquire_points`, :meth:`release_points`), which the
    Shopify connector drives itself because only it knows a query's cost.
    """

    header = "x-shopify-shop-api-call-limit"
    _header_value = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")

    def __init__(
        self,
        *,
        capacity: int = 40,
        leak_rate: float = 2.0,
        time_scale: float = 1.0,
        exempt: str | None = r"/graphql\.json$",
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if capacity < 1 or leak_rate <= 0 or time_scale <= 0:
            raise ValueError("capacity, leak_rate and time_scale must be positive")
        self.capacity = capacity
        self._rate = leak_rate / time_scale  # units per real second
        self._time_scale = time_scale
        self._reserved = 0.0  # points of GraphQL queries in flight
        self._answered = asyncio.Event()
        self._clock = clock
        self._sleep = sleep
        self._exempt = re.compile(exempt) if exempt else None
        self._level = 0.0
        self.in_flight = 0
        self._updated = clock()
        self._lock = asyncio.Lock()

    @property
    def level(self) -> float:
        """Units in the bucket: answered requests not yet leaked, plus those in flight."""
        self._leak()
        return self._level + self.in_flight

    def _leak(self) -> None:
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._updated) * self._rate)
        self._updated = now

    def _exempted(self, path: str) -> bool:
        return self._exempt is not None and self._exempt.search(path) is not None

    async def acquire(self, path: str) -> None:
        """Wait until one more request fits in the bucket, then count it as in flight."""
        if self._exempted(path):
            return
        async with self._lock:
            while True:
                self._leak()
                overflow = self._level + self.in_flight + 1 - self.capacity
                if overflow <= 1e-9:
                    self.in_flight += 1
                    return
                # Only answered units leak; with the bucket full of requests in flight, poll
                # at the pace of one leaked unit until answers come back.
                await self._sleep(max(overflow, 1.0) / self._rate)

    def release(self, path: str, headers: Mapping[str, str] | None) -> None:
        """Move the request from in flight into the leaking level; resync from the header."""
        if self._exempted(path):
            return
        self._leak()
        self.in_flight = max(0, self.in_flight - 1)
        self._level += 1
        match = self._header_value.match((headers or {}).get(self.header, ""))
        if match is None:
            return
        used, capacity = int(match.group(1)), int(match.group(2))
        if capacity >= 1:
            self.capacity = capacity
        self._level = max(self._level, float(used - self.in_flight))

    async def acquire_points(self, points: float) -> None:
        """Wait until a GraphQL query of ``points`` requested cost fits, then reserve them.

        Shopify refuses (``THROTTLED``) a query whose requested cost exceeds the points
        available, so a query waits here until the leaking level plus the points reserved by
        queries in flight leave room for its cost; a cost above the capacity waits for an empty
        bucket.
        """
        async with self._lock:
            while True:
                self._leak()
                need = min(points, self.capacity)
                if self._level + self._reserved + need - self.capacity <= 1e-9:
                    self._reserved += points
                    return
                if self._reserved > 0:
                    # Points reserved by queries in flight come back with their answers, not
                    # by leaking: wait for an answer, then look again.
                    self._answered.clear()
                    await self._answered.wait()
                    continue
                await self._sleep((self._level + need - self.capacity) / self._rate)

    def release_points(
        self,
        points: float,
        *,
        maximum: float | None = None,
        available: float | None = None,
        restore_rate: float | None = None,
    ) -> None:
        """The query is answered: drop its reservation and follow Shopify's figures.

        ``maximum``, ``available`` and ``restore_rate`` are the answer's
        ``extensions.cost.throttleStatus`` (``maximumAvailable``, ``currentlyAvailable``,
        ``restoreRate``); the bucket takes its capacity, level and leak rate from them, since
        other clients of the shop spend from the same points. Without them (no answer came
        back) the reserved points count as spent.
        """
        self._leak()
        self._reserved = max(0.0, self._reserved - points)
        self._answered.set()
        if maximum is None or available is None:
            self._level += points
            return
        if maximum >= 1:
            self.capacity = int(maximum)
        if restore_rate is not None and restore_rate > 0:
            self._rate = restore_rate / self._time_scale
        self._level = max(0.0, maximum - available)


@dataclass(frozen=True)
class Tier:
    """A Klaviyo rate-limit tier: ``burst`` requests per second, ``steady`` per minute."""

    name: str
    burst: int
    steady: int


#: Klaviyo's published tiers (processor-apis.md).
KLAVIYO_TIERS: Mapping[str, Tier] = {
    "XS": Tier("XS", 1, 15),
    "S": Tier("S", 3, 60),
    "M": Tier("M", 10, 150),
    "L": Tier("L", 75, 700),
    "XL": Tier("XL", 350, 3500),
}

#: Which Klaviyo endpoint falls in which tier; first match wins. Suppression jobs have no
#: published tier in our sources (*unconfirmed*): M is assumed.
KLAVIYO_ENDPOINTS: Sequence[tuple[str, str]] = (
    (r"^/api/profiles/[^/]+/lists/?$", "S"),
    (r"^/api/data-privacy-deletion-jobs", "S"),
    (r"^/api/profile-suppression-bulk-(create|delete)-jobs", "M"),
    (r"^/api/profile-subscription-bulk-(create|delete)-jobs", "M"),
    (r"^/api/events", "XL"),
    (r"^/api/profiles", "L"),
    (r"^/api/lists", "L"),
)


class _Endpoint:
    """One endpoint's requests in flight and the times their answers came back."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.answered: deque[float] = deque()
        self.lock = asyncio.Lock()


class FixedWindows:
    """Klaviyo's limits: per endpoint, ``burst`` requests per second and ``steady`` per minute.

    The processor counts arrivals in fixed windows on its own clock, which we cannot see, and
    a request arrives somewhere between our send and our receipt of the answer. So each
    request holds one of the window's ``limit`` places from its send until one window length
    after its answer came back. Two requests that use the same place then arrive at least one
    window apart, in different windows whatever their alignment, and no window can see more
    than ``limit`` arrivals. ``margin`` (a fraction of the window) is slack for the two clocks
    running at different rates: quartz drifts by parts per million, so 1 % of a minute (0.6 s)
    is ample, and every percent more costs a percent of the endpoint's throughput.
    Endpoints are matched by path to a tier through ``endpoints``; each matching rule is its
    own counter, as Klaviyo counts per endpoint. Unmatched paths use ``default_tier``.
    """

    burst_window = 1.0
    steady_window = 60.0

    def __init__(
        self,
        *,
        tiers: Mapping[str, Tier] = KLAVIYO_TIERS,
        endpoints: Sequence[tuple[str, str]] = KLAVIYO_ENDPOINTS,
        default_tier: str = "M",
        margin: float = 0.01,
        time_scale: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if time_scale <= 0 or margin < 0:
            raise ValueError("time_scale must be positive and margin not negative")
        unknown = {tier for _, tier in endpoints} - set(tiers) | ({default_tier} - set(tiers))
        if unknown:
            raise ValueError(f"unknown tiers: {sorted(unknown)}")
        self._tiers = tiers
        self._endpoints = [(re.compile(pattern), tier) for pattern, tier in endpoints]
        self._default = default_tier
        self._scale = time_scale * (1 + margin)
        self._clock = clock
        self._sleep = sleep
        self._state: dict[str, _Endpoint] = {}

    def tier_for(self, path: str) -> tuple[str, Tier]:
        """The counter key and tier that a request to ``path`` is charged to."""
        for pattern, tier in self._endpoints:
            if pattern.search(path):
                return pattern.pattern, self._tiers[tier]
        return "*", self._tiers[self._default]

    def _delay(self, endpoint: _Endpoint, tier: Tier, now: float) -> float:
        """Seconds until a place is free in both windows (0 when one is free now)."""
        answered = endpoint.answered
        steady = self.steady_window * self._scale
        while answered and answered[0] <= now - steady:
            answered.popleft()
        delay = 0.0
        for window, limit in ((self.burst_window * self._scale, tier.burst), (steady, tier.steady)):
            busy = [t for t in answered if t > now - window]
            free = limit - endpoint.in_flight - len(busy)
            if free >= 1:
                continue
            # The oldest answers free their places first; requests in flight free none yet.
            needed = 1 - free
            if needed <= len(busy):
                delay = max(delay, busy[needed - 1] + window - now)
            else:
                delay = max(delay, window / limit)
        return delay

    async def acquire(self, path: str) -> None:
        """Wait until the endpoint has a free place in both windows, then take it."""
        key, tier = self.tier_for(path)
        endpoint = self._state.setdefault(key, _Endpoint())
        async with endpoint.lock:
            while (delay := self._delay(endpoint, tier, self._clock())) > 0:
                await self._sleep(delay)
            endpoint.in_flight += 1

    def release(self, path: str, headers: Mapping[str, str] | None) -> None:
        """The answer is back: the place stays taken for one more window from now."""
        key, _ = self.tier_for(path)
        endpoint = self._state.setdefault(key, _Endpoint())
        endpoint.in_flight = max(0, endpoint.in_flight - 1)
        endpoint.answered.append(self._clock())


class ConcurrencyLimit:
    """Mailchimp's limit: at most ``max_in_flight`` requests open at the same time."""

    def __init__(self, max_in_flight: int = 10) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self._semaphore = asyncio.Semaphore(max_in_flight)
        self.in_flight = 0

    async def acquire(self, path: str) -> None:
        """Wait for a free slot."""
        await self._semaphore.acquire()
        self.in_flight += 1

    def release(self, path: str, headers: Mapping[str, str] | None) -> None:
        """Free the slot taken by :meth:`acquire`."""
        self.in_flight -= 1
        self._semaphore.release()
