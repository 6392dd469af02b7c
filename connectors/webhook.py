"""Delivering a notice by signed webhook: one HTTP POST of a JSON body to a recipient's URL.

Some recipients take Art. 19 notices by webhook instead of e-mail (``notice.webhook`` in the
register). The body is signed with :func:`dsar.notify.signatures.sign_payload` (header
``X-DSAR-Signature: t=<ts>,v1=<hmac>``, the scheme the intake service also verifies), so the
receiver can tell the notice came from the controller and was not replayed. The POST goes
through the shared HTTP layer (:mod:`connectors.http`): explicit timeouts, error mapping and
bounded retries. Each notice carries an ``Idempotency-Key`` (the notice id), so a retried or
re-run POST lets the receiver drop the copy.

The body identifies the data subject (the recipient must find the records); neither the body
nor the URL ever reaches a log line or an error message.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from connectors.errors import PermanentError
from connectors.http import DEFAULT_TIMEOUT, ProcessorClient, RetryPolicy
from dsar.notify import SIGNATURE_HEADER, sign_payload

#: The ``processor`` name webhook errors and retries are reported under.
PROCESSOR = "webhook"

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no whitespace): the exact bytes that are signed and sent."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _split(url: str) -> tuple[str, str]:
    """(origin, path with query); HTTPS only, except loopback for local receivers and tests."""
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK
    if not parts.hostname or not (parts.scheme == "https" or loopback):
        # Personal data is in the body: it never travels over plain HTTP.
        raise PermanentError("webhook URL must use https", processor=PROCESSOR)
    path = parts.path or "/"
    return f"{parts.scheme}://{parts.netloc}", f"{path}?{parts.query}" if parts.query else path


async def post_signed(
    url: str,
    payload: Mapping[str, Any],
    *,
    secret: str,
    idempotency_key: str,
    timestamp: int | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
) -> str:
    """POST ``payload`` signed with ``secret``; return a delivery reference for the Notice row.

    The reference is the receiver's ``X-Request-Id`` when it sends one, else the signed
    timestamp and a digest of the body — evidence of what was delivered, without its content.
    Failures raise :mod:`connectors.errors` classes (transient ones after the HTTP layer's
    retries); the caller records them with :func:`dsar.notify.send.mark_failed`.
    """
    origin, path = _split(url)
    body = encode_body(payload)
    signed_at = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": idempotency_key,
        SIGNATURE_HEADER: sign_payload(secret, body, signed_at),
    }
    client = ProcessorClient.create(
        processor=PROCESSOR,
        base_url=origin,
        headers={},
        transport=transport,
        retry=retry,
        timeout=timeout,
    )
    try:
        # The Idempotency-Key makes a repeat harmless, so transient failures may be retried.
        response = await client.request(
            "POST", path, idempotent=True, content=body, headers=headers
        )
    finally:
        await client.aclose()
    receipt = response.headers.get("X-Request-Id")
    if receipt:
        return f"webhook:{receipt[:200]}"
    return f"webhook:t={signed_at}:sha256={hashlib.sha256(body).hexdigest()[:32]}"
