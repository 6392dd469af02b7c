"""Which Admin API versions the Shopify emulator serves, and which one answers a request.

Shopify releases a version every quarter (``YYYY-01``, ``-04``, ``-07``, ``-10``) and supports
each for twelve months. A request names its version in the path (``/admin/api/2026-10/...``);
one for a version Shopify no longer (or not yet) serves is answered by the oldest supported
version instead, and every answer names the version that served it in
``X-Shopify-API-Version``, so a client can notice that it fell forward. The emulator can only
serve versions whose schema it holds (``sandbox/contracts/shopify/``), on the date its
:attr:`~sandbox.config.EmulatorConfig.wall_clock` says it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Where the description-free schemas derived from Shopify's contracts live.
CONTRACTS = Path(__file__).resolve().parent / "contracts" / "shopify"
#: Shopify supports a version for twelve months from its release.
SUPPORT_MONTHS = 12
HEADER = "X-Shopify-API-Version"
#: Where a request's served version is kept in the ASGI scope's ``state``.
STATE_KEY = "shopify_api_version"

_VERSION = re.compile(r"^(\d{4})-(01|04|07|10)$")
_PATH = re.compile(r"^/admin/api/([^/]+)(/.*)?$")


def stored_versions() -> tuple[str, ...]:
    """The versions whose schema the emulator holds, oldest first."""
    names = (p.name.removeprefix("admin_").removesuffix(".graphql.gz") for p in CONTRACTS.iterdir())
    return tuple(sorted(n for n in names if _VERSION.match(n)))


def support_window(version: str) -> tuple[date, date]:
    """The first day a version is served and the first day it is not any more."""
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(f"{version!r} is not an Admin API version (YYYY-01, -04, -07 or -10)")
    year, month = int(match.group(1)), int(match.group(2))
    released = date(year, month, 1)
    return released, date(year + SUPPORT_MONTHS // 12, month, 1)


def supported_versions(today: date) -> tuple[str, ...]:
    """The stored versions Shopify serves on ``today``, oldest first."""
    windows = ((v, support_window(v)) for v in stored_versions())
    return tuple(v for v, (start, end) in windows if start <= today < end)


def serve_version(asked: str, today: date) -> str | None:
    """The version that answers a request for ``asked`` on ``today``.

    The version itself while it is supported; otherwise (retired, not yet released, or
    ``unstable``, which the emulator does not hold) the oldest supported version. ``None``
    when ``asked`` is not a version at all or no stored version is supported on ``today``.
    """
    if asked != "unstable" and _VERSION.match(asked) is None:
        return None
    supported = supported_versions(today)
    if asked in supported:
        return asked
    return supported[0] if supported else None


class VersionRouting:
    """ASGI middleware: resolve the served version of every ``/admin/api/{version}/`` request.

    The served version goes into the request's state (``request.state.shopify_api_version``)
    and into the ``X-Shopify-API-Version`` header of the answer, whatever the answer is. A path
    whose version is not a version gets Shopify's 404; so does any request when no stored
    version is supported on the emulator's date, with a body that says so.
    """

    def __init__(self, app: ASGIApp, *, today: Callable[[], date]) -> None:
        self.app = app
        self.today = today

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        today = self.today()
        served = serve_version(match.group(1), today)
        if served is None:
            reason = "Not Found"
            if _VERSION.match(match.group(1)) and not supported_versions(today):
                reason = f"Not Found: the sandbox holds no API version supported on {today}"
            await _not_found(send, reason)
            return
        scope.setdefault("state", {})[STATE_KEY] = served

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    h
                    for h in message.get("headers", [])
                    if h[0].lower() != b"x-shopify-api-version"
                ]
                headers.append((HEADER.lower().encode(), served.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_version)


async def _not_found(send: Send, reason: str) -> None:
    body = json.dumps({"errors": reason}).encode()
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": body})
