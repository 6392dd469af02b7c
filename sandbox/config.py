"""How an emulator behaves apart from its data: time, asynchronous delays, faults, limits.

Durations in the processors' contracts (a leak rate per second, a 60-second window, a
deletion job that completes "later") are *nominal* seconds. ``time_scale`` says how many real
seconds one nominal second lasts, the same convention as the connectors' client-side limiters:
``time_scale=0.01`` runs every window, bucket and job a hundred times faster, so a benchmark can
compress time on both sides at once. Added latency from fault injection is real time.

The calendar is separate: ``wall_clock`` says what day and time it is for the emulator, which
decides which API versions a processor still serves and how old an order is. It defaults to
the real date and time; tests set a fixed moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sandbox.faults import FaultConfig

#: A source of real seconds, monotonic; tests inject a fake one.
Clock = Callable[[], float]
#: The emulator's date and time of day, timezone-aware.
WallClock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real date and time, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class EmulatorConfig:
    """One emulator's behaviour: its clock, job delay, fault injection and rate limiting."""

    async_delay: float = 1.0
    """Nominal seconds until an asynchronous job (erasure, deletion, suppression) completes."""
    time_scale: float = 1.0
    """Real seconds per nominal second."""
    faults: FaultConfig = field(default_factory=FaultConfig)
    rate_limits: bool = True
    """``False`` turns the processor's rate limits off (faults still apply)."""
    clock: Clock = time.monotonic
    wall_clock: WallClock = utc_now
    """The date and time of day (API version support, the age of orders)."""

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if self.async_delay < 0:
            raise ValueError("async_delay must not be negative")

    def now(self) -> float:
        """The current nominal time in seconds (only differences are meaningful)."""
        return self.clock() / self.time_scale

    def real_seconds(self, nominal: float) -> float:
        """How long ``nominal`` seconds last in real time."""
        return nominal * self.time_scale
