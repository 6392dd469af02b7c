"""The intake service's gate: what a delivery must pass before anything is read into a request.

Every check here runs before a byte is stored: rate limit per source address, media type, a
body read with a hard cap (the ``Content-Length`` header is a claim, not a limit), and the
sender's signature — the ``X-DSAR-Signature`` scheme of :mod:`dsar.notify.send` for the website's
contact form, Shopify's base64 HMAC for its compliance webhooks. A refusal is an
:class:`IntakeRejection`, which the service turns into ``{"error": ..., "detail": ...}`` with
its status; it never names the person a delivery is about.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request as HttpRequest

from dsar.notify import SignatureError, verify_signature

#: Largest body any endpoint reads (64 KiB): a data-subject request is a few fields.
MAX_BODY = 64 * 1024

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

#: What an ``Idempotency-Key`` or ``X-Shopify-Webhook-Id`` may look like.
_DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class IntakeRejection(Exception):
    """A delivery the service refuses: HTTP ``status``, a stable ``error`` code and a ``detail``.

    This is the edge's own refusal and carries HTTP semantics on purpose; domain modules raise
    :class:`~dsar.errors.DsarError` instead and the service translates them.
    """

    def __init__(
        self,
        status: int,
        error: str,
        detail: Any = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}
        super().__init__(f"{status} {error}")

    def body(self) -> dict[str, Any]:
        """The JSON body sent for this refusal."""
        return {"error": self.error, "detail": self.detail}


# --------------------------------------------------------------------------------------------
# Body and media type
# --------------------------------------------------------------------------------------------


def media_type(request: HttpRequest) -> str:
    """The request's media type without parameters, lower case (``""`` when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_media_type(request: HttpRequest, *allowed: str) -> str:
    """The request's media type, or 415 when it is not one of ``allowed``."""
    found = media_type(request)
    if found not in allowed:
        raise IntakeRejection(
            415, "unsupported_media_type", f"send the body as {' or '.join(allowed)}"
        )
    return found


def _too_large(limit: int) -> IntakeRejection:
    return IntakeRejection(413, "body_too_large", f"the body may be at most {limit} bytes")


async def read_capped(request: HttpRequest, limit: int = MAX_BODY) -> bytes:
    """The body, read chunk by chunk and refused (413) as soon as it passes ``limit`` bytes.

    A declared ``Content-Length`` above the limit is refused without reading; a missing or
    understated one changes nothing, because the count is of bytes actually received.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise _too_large(limit)
    return bytes(received)


# --------------------------------------------------------------------------------------------
# Signatures
# --------------------------------------------------------------------------------------------


def check_contact_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    setting: str = "DSAR_WEBHOOK_SECRET",
) -> None:
    """Verify a contact-form delivery (``X-DSAR-Signature``, 300 s replay window).

    Without a configured secret every delivery is refused (503): accepting unsigned posts would
    let anyone file requests in a subject's name and start the statutory clock. ``setting``
    names the variable that would configure it (the controller's own, with several shops).
    """
    if not secret:
        raise IntakeRejection(
            503,
            "webhook_secret_missing",
            f"{setting} is not configured; deliveries are refused until it is set",
        )
    try:
        verify_signature(secret, header, body, now=now)
    except SignatureError as exc:
        raise IntakeRejection(401, "invalid_signature", exc.reason) from exc


def shopify_hmac(secret: str, body: bytes) -> str:
    """Shopify's webhook signature: base64 of HMAC-SHA256 over the raw body with the app secret."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def check_shopify_hmac(
    secret: str, header: str | None, body: bytes, *, setting: str = "DSAR_SHOPIFY_APP_SECRET"
) -> None:
    """Verify ``X-Shopify-Hmac-Sha256`` in constant time; Shopify requires 401 on a mismatch."""
    if not secret:
        raise IntakeRejection(
            503,
            "shopify_secret_missing",
            f"{setting} is not configured; deliveries are refused until it is set",
        )
    if not header or not header.strip():
        raise IntakeRejection(401, "invalid_signature", "missing header")
    expected = shopify_hmac(secret, body).encode("ascii")
    if not hmac.compare_digest(expected, header.strip().encode("utf-8", "replace")):
        raise IntakeRejection(401, "invalid_signature", "signature does not match")


# --------------------------------------------------------------------------------------------
# Delivery keys (idempotency)
# --------------------------------------------------------------------------------------------


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:48]


def delivery_key(prefix: str, delivery_id: str | None, fallback: str) -> str:
    """The idempotency key of a delivery: ``<prefix>:<id>``, or a hash of ``fallback``.

    ``delivery_id`` is the sender's own id (``Idempotency-Key``, ``X-Shopify-Webhook-Id``);
    without one, the signature stands in — a re-sent delivery carries the same one.
    """
    if delivery_id is None:
        return f"{prefix}:sig:{_fingerprint(fallback)}"
    candidate = delivery_id.strip()
    if not _DELIVERY_ID.fullmatch(candidate):
        raise IntakeRejection(
            400, "invalid_delivery_id", "1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'"
        )
    return f"{prefix}:{candidate}"


def body_digest(body: bytes) -> str:
    """SHA-256 of a raw body: what tells a replay from a different delivery under the same key."""
    return hashlib.sha256(body).hexdigest()


# --------------------------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """Per source address: ``burst`` requests at once, refilled at ``per_minute``."""

    per_minute: float = 60.0
    burst: int = 20

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")


class TokenBucket:
    """An in-memory token bucket per source address (one process; a proxy may add its own).

    Buckets that have refilled completely carry no information and are dropped when the table
    grows past ``max_sources``, so a scan from many addresses cannot exhaust memory.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_sources: int = 10_000,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._max_sources = max_sources
        self._rate = limit.per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}  # source -> (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, source: str) -> float:
        """Spend one token of ``source``: 0 when allowed, else the seconds until one is back."""
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(source, (float(self.limit.burst), now))
            tokens = min(float(self.limit.burst), tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[source] = (tokens - 1.0, now)
                self._prune(now)
                return 0.0
            self._buckets[source] = (tokens, now)
            return (1.0 - tokens) / self._rate

    def _prune(self, now: float) -> None:
        if len(self._buckets) <= self._max_sources:
            return
        full = self.limit.burst / self._rate
        for source, (_, last) in list(self._buckets.items()):
            if now - last >= full:
                del self._buckets[source]
        if len(self._buckets) > self._max_sources:  # all busy: forget the longest idle half
            by_age = sorted(self._buckets, key=lambda s: self._buckets[s][1])
            for source in by_age[: len(by_age) // 2]:
                del self._buckets[source]

    def check(self, source: str) -> None:
        """Raise 429 with ``Retry-After`` when ``source`` has no token left."""
        wait = self.take(source)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise IntakeRejection(
                429,
                "rate_limited",
                f"too many requests; retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
