"""Klaviyo as a vendor: its key header, its revisions and their lifetime, its JSON:API errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import Response

from sandbox.emulator import whole_seconds
from sandbox.klaviyo_documents import (
    error,
    invalid,
    not_found,
)

_REVISION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.pre)?$")


#: Klaviyo retires a revision two years after its release.
REVISION_LIFETIME_MONTHS = 24


#: The first revision whose ``GET /api/events`` takes ``page[size]`` (absent up to 2025-10-15).
EVENTS_PAGE_SIZE_SINCE = "2026-01-15"


def revision_problem(revision: str, today: date) -> str | None:
    """Why Klaviyo would refuse ``revision`` on ``today``, or ``None`` if it serves it.

    A revision is served from its release date until two years after it; an unreleased or
    retired one is refused. (A revision newer than the newest contract on file is served as
    that newest one.)
    """
    match = _REVISION.match(revision)
    if match is None:
        return "Missing or invalid revision header (expected e.g. 2026-07-15)."
    try:
        released = date.fromisoformat(revision[:10])
    except ValueError:
        return f"Invalid revision {revision!r}."
    if released > today:
        return f"Invalid revision {revision!r}: no such revision has been released."
    month = released.month - 1 + REVISION_LIFETIME_MONTHS
    retired = date(released.year + month // 12, month % 12 + 1, released.day)
    if retired <= today:
        return (
            f"Revision {revision!r} was retired on {retired.isoformat()}; use a supported revision."
        )
    return None


class KlaviyoVendor:
    """Klaviyo's key header, ``revision`` header and JSON:API errors."""

    def __init__(self, *, api_key: str, today: Callable[[], date] | None = None) -> None:
        self.api_key = api_key
        self.today = today or (lambda: datetime.now(UTC).date())

    def authenticate(self, request: Request) -> tuple[Response | None, str]:
        """401 without the right private key; 400 without a valid ``revision``."""
        header = request.headers.get("authorization")
        if not header:
            return error(
                401,
                "not_authenticated",
                "Authentication credentials were not provided.",
                "Missing or invalid private key.",
            ), ""
        if header != f"Klaviyo-API-Key {self.api_key}":
            return error(
                401,
                "authentication_failed",
                "Incorrect authentication credentials.",
                "Incorrect authentication credentials.",
            ), ""
        problem = revision_problem((request.headers.get("revision") or "").strip(), self.today())
        if problem is not None:
            return invalid(problem, parameter="revision"), ""
        return None, self.api_key

    def limit_key(self, method: str, template: str, account: str) -> str:
        """Klaviyo counts per account and endpoint."""
        return f"{method} {template}"

    def server_error(self, status: int) -> Response:
        """A 5xx JSON:API error."""
        phrase = HTTPStatus(status).phrase
        return error(status, "error", f"{phrase}.", "A server error occurred.")

    def throttled(self, retry_after: float, headers: dict[str, str]) -> Response:
        """429 ``throttled`` with ``Retry-After`` in whole seconds."""
        seconds = whole_seconds(retry_after)
        unit = "second" if seconds == "1" else "seconds"
        return error(
            429,
            "throttled",
            "Request was throttled.",
            f"Request was throttled. Expected available in {seconds} {unit}.",
            headers={**headers, "Retry-After": seconds},
        )

    def not_found(self, path: str) -> Response:
        """404 for an unknown path."""
        return not_found("The requested resource could not be found.")

    def method_not_allowed(self, path: str) -> Response:
        """405 for a known path with the wrong method."""
        return error(
            405,
            "method_not_allowed",
            "Method not allowed.",
            "Method not allowed for this endpoint.",
        )
