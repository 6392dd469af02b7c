"""Fault injection: the ways a processor's API misbehaves, on demand and reproducibly.

Each emulator owns one :class:`FaultInjector`. For every request it draws one :class:`Fault`
from a seeded RNG, so the same configuration and the same sequence of requests give the same
faults on every run:

- **5xx**: 502/503/504 with the processor's own error body;
- **latency**: a fixed delay plus uniform jitter (real seconds), spent while the request
  holds its connection slot, so it also drives Mailchimp's concurrency cap;
- **dropped connection**: the status line and headers go out with a ``Content-Length`` that
  the body never reaches, then the connection is closed. Under uvicorn the client sees the
  peer close mid-body (``httpx.RemoteProtocolError``). ASGI has no way to close a socket
  before the response starts: uvicorn would answer 500 instead. The exception raised,
  :class:`DroppedConnection`, *is* an ``httpx.RemoteProtocolError``, so a client driving the
  app in-process through ``httpx.ASGITransport`` sees the same exception class as over a socket;
- **throttling**: bursts of 429 with ``Retry-After``, at random or forced with
  :meth:`FaultInjector.force_throttle`;
- **malformed JSON**: the real response body cut in half (a complete HTTP message whose JSON
  does not parse).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from enum import StrEnum

import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send


@dataclass(frozen=True)
class FaultConfig:
    """Rates are probabilities per request; they are tried in the order of the fields."""

    seed: int = 0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (502, 503, 504)
    drop_rate: float = 0.0
    malformed_rate: float = 0.0
    throttle_rate: float = 0.0
    """Probability that a request starts a burst of ``throttle_burst`` 429 responses."""
    throttle_burst: int = 3
    throttle_retry_after: float = 1.0
    """Nominal seconds announced in ``Retry-After`` on injected 429s."""
    latency: float = 0.0
    latency_jitter: float = 0.0

    def __post_init__(self) -> None:
        rates = (self.error_rate, self.drop_rate, self.malformed_rate, self.throttle_rate)
        if any(rate < 0 for rate in rates) or sum(rates) > 1:
            raise ValueError("fault rates must be non-negative and sum to at most 1")
        if not self.error_statuses or any(not 500 <= s <= 599 for s in self.error_statuses):
            raise ValueError("error_statuses must be 5xx codes")
        if self.throttle_burst < 1 or self.latency < 0 or self.latency_jitter < 0:
            raise ValueError("throttle_burst must be positive, latencies non-negative")

    @property
    def active(self) -> bool:
        """Whether this configuration injects anything at all."""
        rates = (self.error_rate, self.drop_rate, self.malformed_rate, self.throttle_rate)
        return any(rates) or self.latency > 0 or self.latency_jitter > 0


class FaultKind(StrEnum):
    """What goes wrong with one request."""

    NONE = "none"
    ERROR = "error"
    DROP = "drop"
    MALFORMED = "malformed"
    THROTTLE = "throttle"


@dataclass(frozen=True)
class Fault:
    """The fault drawn for one request: its kind, 5xx status and added latency."""

    kind: FaultKind = FaultKind.NONE
    status: int = 0
    latency: float = 0.0


NO_FAULT = Fault()


class FaultInjector:
    """Draws each request's fault from a seeded RNG; thread-safe."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self._rng = random.Random(self.config.seed)
        self._forced = 0
        self._lock = threading.Lock()
        self.drawn: dict[FaultKind, int] = dict.fromkeys(FaultKind, 0)

    def force_throttle(self, requests: int) -> None:
        """Answer the next ``requests`` requests with 429, whatever the rates say."""
        if requests < 0:
            raise ValueError("requests must not be negative")
        with self._lock:
            self._forced = requests

    def draw(self) -> Fault:
        """The fault for the next request.

        Three numbers are drawn per request whatever happens, so one request's fault never
        shifts the sequence seen by the following ones.
        """
        cfg = self.config
        with self._lock:
            roll, pick, jitter = self._rng.random(), self._rng.random(), self._rng.random()
            latency = cfg.latency + cfg.latency_jitter * jitter
            kind = FaultKind.NONE
            status = 0
            if self._forced > 0:
                self._forced -= 1
                kind = FaultKind.THROTTLE
            else:
                edge = cfg.error_rate
                if roll < edge:
                    kind = FaultKind.ERROR
                    statuses = cfg.error_statuses
                    status = statuses[min(int(pick * len(statuses)), len(statuses) - 1)]
                elif roll < (edge := edge + cfg.drop_rate):
                    kind = FaultKind.DROP
                elif roll < (edge := edge + cfg.malformed_rate):
                    kind = FaultKind.MALFORMED
                elif roll < edge + cfg.throttle_rate:
                    kind = FaultKind.THROTTLE
                    self._forced = cfg.throttle_burst - 1
            self.drawn[kind] += 1
        return Fault(kind=kind, status=status, latency=latency)


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised by the app to make the server close the connection in the middle of a response."""

    def __init__(self) -> None:
        super().__init__("sandbox fault: connection dropped mid-response")


class DroppedResponse(Response):
    """Starts a response, sends part of the promised body, then drops the connection."""

    def __init__(self) -> None:
        super().__init__(status_code=200, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send headers promising 64 bytes, deliver 8 of them, then raise."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"64"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b'{"data":', "more_body": True})
        raise DroppedConnection


def malformed(response: Response) -> Response:
    """The same response with its body cut in half, so it no longer parses as JSON.

    Responses without a body (202, 204) are returned unchanged: there is nothing to corrupt.
    """
    body = bytes(response.body)
    if not body:
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(
        content=body[: len(body) // 2],
        status_code=response.status_code,
        headers=headers,
    )
