"""What an emulator was asked to do: request counts, throttles and side effects per subject.

Tests assert on it ("exactly one erasure was requested for this customer", "no request was
throttled") instead of on timing. Subjects are the processor's own ids (a Shopify customer id,
a Klaviyo profile id, a Mailchimp subscriber hash), or the identifier given when the processor
knew nobody under it. The log lives in memory only and is never written anywhere.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class CallLog:
    """Counters of one emulator, safe to update from concurrent handlers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.statuses: Counter[int] = Counter()
        self.side_effects: Counter[tuple[str, str]] = Counter()
        self.throttled = 0

    def record_request(self, method: str, template: str) -> None:
        """Count one request to a route, by its path template (``/api/profiles/{id}``)."""
        with self._lock:
            self.requests[(method.upper(), template)] += 1

    def record_status(self, status: int) -> None:
        """Count one response by status code."""
        with self._lock:
            self.statuses[status] += 1

    def record_throttle(self) -> None:
        """Count one refusal for rate (a 429, or a throttled GraphQL query)."""
        with self._lock:
            self.throttled += 1

    def record_effect(self, kind: str, subject: str) -> None:
        """Count one side effect of ``kind`` (``"erasure_requested"``) on ``subject``."""
        with self._lock:
            self.side_effects[(kind, subject)] += 1

    def count(self, method: str, template: str) -> int:
        """Requests received for one route."""
        with self._lock:
            return self.requests[(method.upper(), template)]

    def effects(self, kind: str, subject: str | None = None) -> int:
        """Side effects of ``kind``, on one ``subject`` or on all of them."""
        with self._lock:
            if subject is not None:
                return self.side_effects[(kind, subject)]
            return sum(n for (k, _), n in self.side_effects.items() if k == kind)

    @property
    def total_requests(self) -> int:
        """Requests received on every route."""
        with self._lock:
            return sum(self.requests.values())

    def reset(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self.requests.clear()
            self.statuses.clear()
            self.side_effects.clear()
            self.throttled = 0

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy, served at ``/_sandbox/calls``."""
        with self._lock:
            return {
                "requests": [
                    {"method": m, "path": p, "count": n}
                    for (m, p), n in sorted(self.requests.items())
                ],
                "statuses": {str(s): n for s, n in sorted(self.statuses.items())},
                "throttled": self.throttled,
                "side_effects": [
                    {"kind": k, "subject": s, "count": n}
                    for (k, s), n in sorted(self.side_effects.items())
                ],
            }
