"""The processors' rate limits, enforced server-side as the processors document them.

- Shopify REST: a leaky bucket per shop, 40 requests leaking 2 per second, reported in
  ``X-Shopify-Shop-Api-Call-Limit``; GraphQL: a bucket of cost points (:class:`CostBucket`).
- Klaviyo: per account and per endpoint, fixed windows of one second (burst) and one minute
  (steady), with limits by tier XS..XL (:class:`FixedWindows`).
- Mailchimp: at most 10 requests in flight per API key (:class:`ConcurrencyCap`).

Every limiter reads nominal time from its :class:`~sandbox.config.EmulatorConfig`, so
``time_scale`` compresses windows and leak rates, and reports waits in real seconds.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sandbox.config import EmulatorConfig


@dataclass
class Admission:
    """A limiter's verdict on one request.

    ``headers`` go on the response either way; ``retry_after`` (real seconds) matters when
    refused; ``release`` must be called when the request ends, if set.
    """

    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float = 0.0
    release: Callable[[], None] | None = None


class Limiter(Protocol):
    """Admits or refuses one request charged to ``key``."""

    def admit(self, key: str) -> Admission:
        """Count the request if it fits, else refuse it."""
        ...


class NoLimit:
    """Admits everything: rate limits switched off."""

    def admit(self, key: str) -> Admission:
        """Always admitted, no headers."""
        return Admission(allowed=True)


# --- Shopify -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopifyLimits:
    """Shopify's Standard-plan limits (Advanced leaks 4/s, Plus 20/s)."""

    bucket_capacity: int = 40
    leak_rate: float = 2.0
    graphql_capacity: float = 2000.0
    graphql_restore_rate: float = 100.0


class LeakyBucket:
    """Shopify REST: each request adds one unit; the bucket leaks ``leak_rate`` per second."""

    header = "X-Shopify-Shop-Api-Call-Limit"

    def __init__(self, *, capacity: int, leak_rate: float, config: EmulatorConfig) -> None:
        if capacity < 1 or leak_rate <= 0:
            raise ValueError("capacity and leak_rate must be positive")
        self.capacity = capacity
        self.leak_rate = leak_rate
        self._config = config
        self._level = 0.0
        self._updated = config.now()
        self._lock = threading.Lock()

    def _leak(self) -> None:
        now = self._config.now()
        self._level = max(0.0, self._level - (now - self._updated) * self.leak_rate)
        self._updated = now

    @property
    def level(self) -> float:
        """Requests currently in the bucket."""
        with self._lock:
            self._leak()
            return self._level

    def admit(self, key: str) -> Admission:
        """Admit if one more request fits; a refusal says when one unit will have leaked."""
        with self._lock:
            self._leak()
            overflow = self._level + 1 - self.capacity
            if overflow > 1e-9:
                wait = self._config.real_seconds(overflow / self.leak_rate)
                used = f"{self.capacity}/{self.capacity}"
                return Admission(allowed=False, headers={self.header: used}, retry_after=wait)
            self._level += 1
            used = f"{max(1, math.floor(self._level + 1e-9))}/{self.capacity}"
            return Admission(allowed=True, headers={self.header: used})


class CostBucket:
    """Shopify GraphQL: queries spend cost points that are restored at a steady rate."""

    def __init__(
        self,
        *,
        capacity: float,
        restore_rate: float,
        config: EmulatorConfig,
        enforced: bool = True,
    ) -> None:
        if capacity <= 0 or restore_rate <= 0:
            raise ValueError("capacity and restore_rate must be positive")
        self.enforced = enforced
        self.capacity = capacity
        self.restore_rate = restore_rate
        self._config = config
        self._available = capacity
        self._updated = config.now()
        self._lock = threading.Lock()

    def _restore(self) -> None:
        now = self._config.now()
        restored = (now - self._updated) * self.restore_rate
        self._available = min(self.capacity, self._available + restored)
        self._updated = now

    def spend(self, cost: float) -> bool:
        """Take ``cost`` points if available; ``False`` (nothing taken) when throttled.

        When not ``enforced`` (rate limits off) every query passes and costs nothing.
        """
        if not self.enforced:
            return True
        with self._lock:
            self._restore()
            if cost > self._available + 1e-9:
                return False
            self._available -= cost
            return True

    def throttle_status(self) -> dict[str, float]:
        """``extensions.cost.throttleStatus`` as Shopify reports it."""
        with self._lock:
            self._restore()
            return {
                "maximumAvailable": float(self.capacity),
                "currentlyAvailable": float(math.floor(self._available)),
                "restoreRate": float(self.restore_rate),
            }


# --- Klaviyo -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    """Requests allowed per burst window (1 s) and per steady window (60 s)."""

    burst: int
    steady: int


KLAVIYO_TIERS: Mapping[str, Tier] = {
    "XS": Tier(1, 15),
    "S": Tier(3, 60),
    "M": Tier(10, 150),
    "L": Tier(75, 700),
    "XL": Tier(350, 3500),
}

#: Tier per route template. Suppression and subscription jobs have no published tier in our
#: sources (*unconfirmed*): M is assumed, as the connectors assume.
KLAVIYO_ENDPOINT_TIERS: Mapping[str, str] = {
    "/api/profiles": "L",
    "/api/profiles/{profile_id}": "L",
    "/api/profiles/{profile_id}/lists": "S",
    "/api/lists": "L",
    "/api/events": "XL",
    "/api/data-privacy-deletion-jobs": "S",
    "/api/profile-suppression-bulk-create-jobs": "M",
    "/api/profile-suppression-bulk-create-jobs/{job_id}": "M",
    "/api/profile-suppression-bulk-delete-jobs": "M",
    "/api/profile-suppression-bulk-delete-jobs/{job_id}": "M",
    "/api/profile-subscription-bulk-delete-jobs": "M",
}


@dataclass(frozen=True)
class KlaviyoLimits:
    """Klaviyo's tiers, which endpoint uses which, and the two window lengths."""

    tiers: Mapping[str, Tier] = field(default_factory=lambda: dict(KLAVIYO_TIERS))
    endpoint_tiers: Mapping[str, str] = field(default_factory=lambda: dict(KLAVIYO_ENDPOINT_TIERS))
    default_tier: str = "M"
    burst_window: float = 1.0
    steady_window: float = 60.0

    def tier_for(self, template: str) -> Tier:
        """The tier a route template is charged to."""
        return self.tiers[self.endpoint_tiers.get(template, self.default_tier)]


class FixedWindows:
    """Klaviyo: per endpoint, counters that reset at the end of each fixed window."""

    def __init__(self, *, limits: KlaviyoLimits, config: EmulatorConfig) -> None:
        self.limits = limits
        self._config = config
        self._counts: dict[tuple[str, float], tuple[int, int]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str) -> Admission:
        """Admit ``key`` (``"GET /api/profiles"``) if both of its windows have room."""
        template = key.split(" ", 1)[-1]
        tier = self.limits.tier_for(template)
        now = self._config.now()
        verdicts = []
        with self._lock:
            for window, limit in (
                (self.limits.burst_window, tier.burst),
                (self.limits.steady_window, tier.steady),
            ):
                index = math.floor(now / window)
                start, count = self._counts.get((key, window), (index, 0))
                if start != index:
                    start, count = index, 0
                reset = (index + 1) * window - now
                verdicts.append((window, limit, count, reset))
            full = [v for v in verdicts if v[2] >= v[1]]
            if full:
                wait = max(reset for _, _, _, reset in full)
                return Admission(allowed=False, retry_after=self._config.real_seconds(wait))
            for window, _, count, _ in verdicts:
                self._counts[(key, window)] = (math.floor(now / window), count + 1)
        tightest = min(verdicts, key=lambda v: (v[1] - v[2] - 1, v[0]))
        _, limit, count, reset = tightest
        headers = {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(max(0, limit - count - 1)),
            "RateLimit-Reset": str(math.ceil(self._config.real_seconds(reset))),
        }
        return Admission(allowed=True, headers=headers)


# --- Mailchimp -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MailchimpLimits:
    """Mailchimp's only published limit: simultaneous connections per API key."""

    max_connections: int = 10


class ConcurrencyCap:
    """Mailchimp: refuse a request when ``max_in_flight`` others with its key are still open."""

    def __init__(self, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    def in_flight(self, key: str) -> int:
        """Requests with ``key`` currently being answered."""
        with self._lock:
            return self._in_flight.get(key, 0)

    def admit(self, key: str) -> Admission:
        """Take a slot for ``key``; the admission's ``release`` frees it."""
        with self._lock:
            current = self._in_flight.get(key, 0)
            if current >= self.max_in_flight:
                return Admission(allowed=False)
            self._in_flight[key] = current + 1

        def release() -> None:
            with self._lock:
                self._in_flight[key] -= 1

        return Admission(allowed=True, release=release)
