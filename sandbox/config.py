"""How an emulator behaves apart from its data: time, asynchronous delays, faults, limits.

Durations in the processors' contracts (a leak rate per second, a 60-second window, a
deletion job that completes "later") are *nominal* seconds. ``time_scale`` says how many real
seconds one nominal second lasts, the same convention as the connectors' client-side limiters:
``time_scale=0.01`` runs every window, bucket and job a hundred times faster, so a benchmark can
compress time on both sides at once. Added latency from fault injection is real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.faults import FaultConfig

#: A source of real seconds, monotonic; tests inject a fake one.
Clock = Callable[[], float]


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
