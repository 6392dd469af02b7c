"""The connectors' exceptions, one tree so a caller picks the level it handles.

::

    ConnectorError                the processor could not do what was asked
    ├── TransientError            worth retrying: timeouts, connection errors, 408, 429, 5xx
    ├── PermanentError            retrying changes nothing
    │   ├── AuthError             401 / 403: bad or under-scoped credentials
    │   ├── NotFound              404 where the connector expected the resource to exist
    │   ├── ValidationFailed      422: the processor rejected the request body
    │   └── ProtocolError         the processor answered something we cannot read (bad JSON, 1xx)
    └── Unsupported               the processor offers no such capability
        └── UnknownConnector      no connector is registered under a name

Every error names the ``processor``, the HTTP ``status`` (``None`` when no response arrived) and
the processor's own message. A processor's error body or an echoed URL can contain the data
subject's e-mail address or phone number; :func:`scrub` removes both from every message before it
is stored, because exception messages end up in logs, task states and audit notes, where personal
data must not go (Art. 5(1)(c) and (f) GDPR). Request URLs are never part of a message.
"""

from __future__ import annotations

from dsar.logging import redact_text

#: Longest processor message kept; error bodies can be whole HTML pages.
MAX_DETAIL = 300


def scrub(text: str) -> str:
    """Mask personal data with the logs' own redaction (one scrubber for the whole engine)
    and cap the length."""
    cleaned = redact_text(text)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > MAX_DETAIL:
        cleaned = cleaned[: MAX_DETAIL - 1] + "…"
    return cleaned


class ConnectorError(Exception):
    """Base class of every connector error.

    ``detail`` is the processor's own message, already scrubbed of e-mail addresses and phone
    numbers; ``str(error)`` is ``"<processor>: HTTP <status>: <detail>"``.
    """

    def __init__(self, detail: str, *, processor: str, status: int | None = None) -> None:
        self.processor = processor
        self.status = status
        self.detail = scrub(detail)
        prefix = f"{processor}: HTTP {status}" if status is not None else processor
        super().__init__(f"{prefix}: {self.detail}")


class TransientError(ConnectorError):
    """A failure that may go away: the HTTP layer retries it within its bounds.

    ``retry_after`` is the processor's requested pause in seconds (``Retry-After``, GraphQL
    throttle figures), ``None`` when it gave none. ``replay_safe`` is true when the processor
    cannot have acted on the request (it never arrived, or was refused by a rate limit), which
    is the only case in which a non-idempotent call may be sent again.
    """

    def __init__(
        self,
        detail: str,
        *,
        processor: str,
        status: int | None = None,
        retry_after: float | None = None,
        replay_safe: bool = False,
    ) -> None:
        super().__init__(detail, processor=processor, status=status)
        self.retry_after = retry_after
        self.replay_safe = replay_safe


class PermanentError(ConnectorError):
    """A failure that repeating the same request will not fix; a person has to look."""


class AuthError(PermanentError):
    """The processor refused the credentials (401) or their scope (403)."""


class NotFound(PermanentError):
    """A resource the connector expected to exist is not there (404)."""


class ValidationFailed(PermanentError):
    """The processor rejected the request's content (422, GraphQL ``userErrors``)."""


class ProtocolError(PermanentError):
    """The processor's answer breaks its own contract: malformed JSON, an unexpected shape."""


class Unsupported(ConnectorError):
    """The processor offers no API for the requested capability; plan a manual task instead."""


class UnknownConnector(Unsupported):
    """No connector is registered under the name a register refers to."""
