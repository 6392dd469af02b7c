"""Webhook signatures: the ``X-DSAR-Signature`` scheme, both ways (the Stripe scheme).

Recipients that take Art. 19 notices by webhook get a JSON body signed with
:func:`sign_payload` (:mod:`connectors.webhook` posts it), and the intake service checks
incoming contact-form posts with :func:`verify_signature`: an HMAC-SHA256 over
``"<timestamp>.<body>"``, with a timestamp that bounds replays (processor-apis.md).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

from dsar.errors import DsarError

#: The signature header of webhook notices and contact-form posts (processor-apis.md).
SIGNATURE_HEADER = "X-DSAR-Signature"
#: Seconds a signed timestamp may lie in the future (clock skew between two hosts).
FUTURE_SKEW = 30


class SignatureError(DsarError):
    """A webhook signature is missing, malformed, stale or wrong; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"webhook signature rejected: {reason}")


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign_payload(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-DSAR-Signature`` value: ``t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>``."""
    if not secret:
        raise SignatureError("no signing secret is configured")
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def _parse_signature(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError("unparseable header")
        if key == "t":
            if timestamp is not None or not value.isdigit():
                raise SignatureError("unparseable header")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value.lower())
    if timestamp is None:
        raise SignatureError("no timestamp")
    if not signatures:
        raise SignatureError("no v1 signature")
    return timestamp, signatures


def verify_signature(
    secret_or_secrets: str | Iterable[str],
    header: str | None,
    body: bytes,
    now: float | None = None,
    tolerance: int = 300,
) -> int:
    """Check a signed body; return its timestamp or raise :class:`SignatureError` with a reason.

    Several secrets (rotation: the new one and the old one) and several ``v1`` values are
    accepted; any secret matching any ``v1`` passes. Comparison is constant-time. A timestamp
    older than ``tolerance`` seconds is a replay; one more than 30 s ahead is refused too.
    """
    keys = [secret_or_secrets] if isinstance(secret_or_secrets, str) else list(secret_or_secrets)
    keys = [key for key in keys if key]
    if not keys:
        raise SignatureError("no signing secret is configured")
    if not header or not header.strip():
        raise SignatureError("missing header")
    timestamp, signatures = _parse_signature(header)
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise SignatureError("timestamp too old")
    if timestamp > current + FUTURE_SKEW:
        raise SignatureError("timestamp in the future")
    matched = False
    for key in keys:
        expected = _mac(key, timestamp, body).encode("ascii")
        for candidate in signatures:
            matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    if not matched:
        raise SignatureError("signature does not match")
    return timestamp
