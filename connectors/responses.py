"""Reading a processor's answer: which errors it means, how long to wait, its JSON.

Every connector's responses pass through here, so a 429 is a throttle and a 401 bad credentials
for every processor alike, and no message a processor sends reaches a log unscrubbed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFound,
    PermanentError,
    ProtocolError,
    TransientError,
    ValidationFailed,
)

#: 5xx statuses that say "this server will never do that", not "try later".
_PERMANENT_5XX = frozenset({501, 505, 506, 508, 510})


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (seconds or an HTTP-date); ``None`` if absent.

    A date in the past means "now" (0). Unparseable values are ignored rather than trusted.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def processor_message(response: httpx.Response) -> str:
    """The processor's own words for an error, from any of the processors' error shapes.

    Shopify ``{"errors": "..."}`` / ``{"errors": {"field": ["..."]}}``, Klaviyo
    ``{"errors": [{"title", "detail"}]}``, Mailchimp problem+json ``{"title", "detail"}``.
    The result is scrubbed of contact data by :class:`ConnectorError`.
    """
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, str):
            return errors
        if isinstance(errors, list):
            parts = [_item_message(item) for item in errors]
            return "; ".join(p for p in parts if p) or response.reason_phrase
        if isinstance(errors, dict):
            return "; ".join(
                f"{key}: {', '.join(map(str, val)) if isinstance(val, list) else val}"
                for key, val in errors.items()
            )
        if "title" in body or "detail" in body:
            return ": ".join(str(body[k]) for k in ("title", "detail") if body.get(k))
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return response.reason_phrase or "no message"


def _item_message(item: object) -> str:
    if isinstance(item, dict):
        for key in ("detail", "title", "message", "code"):
            if item.get(key):
                return str(item[key])
    return str(item) if item else ""


#: Processors that refuse a call they are throttling with a 403 and no JSON body (Mailchimp, at
#: high volume, through its edge network), where a 403 with a JSON problem document means the
#: key lacks a permission. Such a refusal is a throttle: the call never reached the API.
BODYLESS_403_THROTTLES = frozenset({"mailchimp"})


def _has_json_body(response: httpx.Response) -> bool:
    try:
        json.loads(response.content)
    except ValueError:
        return False
    return True


def classify_response(response: httpx.Response, *, processor: str) -> ConnectorError | None:
    """The connector error a response stands for, or ``None`` for a 2xx success.

    Every status lands somewhere: 1xx → ProtocolError, 3xx → PermanentError, 401/403 →
    AuthError (a body-less 403 from a processor in :data:`BODYLESS_403_THROTTLES`: a throttle),
    404/410 → NotFound, 422 → ValidationFailed, 408/425/429 → TransientError that is safe to
    replay, other 4xx → PermanentError, 5xx → TransientError (501, 505 and the like
    → PermanentError), anything outside 100–599 → ProtocolError.
    """
    status = response.status_code
    if 200 <= status < 300:
        return None
    message = processor_message(response)
    at: dict[str, Any] = {"processor": processor, "status": status}
    if 100 <= status < 200:
        return ProtocolError(f"unexpected informational response: {message}", **at)
    if 300 <= status < 400:
        return PermanentError(f"unexpected redirect: {message}", **at)
    if status == 403 and processor in BODYLESS_403_THROTTLES and not _has_json_body(response):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return TransientError(
            "throttled (403 without a body)", **at, retry_after=retry_after, replay_safe=True
        )
    if status in (401, 403):
        return AuthError(message, **at)
    if status in (404, 410):
        return NotFound(message, **at)
    if status == 422:
        return ValidationFailed(message, **at)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status in (408, 425, 429):
        return TransientError(message, **at, retry_after=retry_after, replay_safe=True)
    if 400 <= status < 500:
        return PermanentError(message, **at)
    if 500 <= status < 600:
        if status in _PERMANENT_5XX:
            return PermanentError(message, **at)
        return TransientError(message, **at, retry_after=retry_after)
    return ProtocolError(f"status code outside HTTP's range: {message}", **at)


def map_transport_error(exc: Exception, *, processor: str) -> ConnectorError:
    """The connector error for an httpx exception, most specific family first.

    Only the exception's class name is kept: httpx messages can quote the URL, whose query
    may hold an e-mail address. ``replay_safe`` is set where the request cannot have reached
    the processor (no connection, no pool slot, proxy refused).
    """
    kind = type(exc).__name__
    if isinstance(exc, httpx.HTTPStatusError):
        mapped = classify_response(exc.response, processor=processor)
        return mapped or ProtocolError(f"status error on a success ({kind})", processor=processor)
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout | httpx.ConnectError):
        return TransientError(f"could not connect ({kind})", processor=processor, replay_safe=True)
    if isinstance(exc, httpx.ProxyError):
        return TransientError(f"proxy failed ({kind})", processor=processor, replay_safe=True)
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"timed out after sending ({kind})", processor=processor)
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        return TransientError(f"connection broke ({kind})", processor=processor)
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(f"undecodable response body ({kind})", processor=processor)
    if isinstance(exc, httpx.TransportError):
        # LocalProtocolError, UnsupportedProtocol: our request is wrong; retrying repeats it.
        return PermanentError(f"request could not be sent ({kind})", processor=processor)
    if isinstance(exc, httpx.TooManyRedirects):
        return PermanentError(f"redirect loop ({kind})", processor=processor)
    # InvalidURL, CookieConflict, StreamError and any future httpx error: a local mistake.
    return PermanentError(f"client error ({kind})", processor=processor)


def decode_json(response: httpx.Response, *, processor: str) -> Any:
    """The response body as JSON (``None`` when empty); malformed JSON is a ProtocolError."""
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise ProtocolError(
            "malformed JSON in response", processor=processor, status=response.status_code
        ) from exc
