"""The request pipeline every emulator shares, and the few response helpers they all use.

Each request to a processor route passes the same stations, in the order a real API gateway
applies them: count it in the :class:`~sandbox.calllog.CallLog`, draw its fault, check the
credentials (and Klaviyo's ``revision``), charge the rate limiter, wait the injected latency,
answer with an injected fault if one was drawn, run the asynchronous jobs that are due, and
only then call the route's handler. What differs per processor (error bodies, where the key
sits, what the limiter counts) is a :class:`Vendor`.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.calllog import CallLog
from sandbox.config import EmulatorConfig
from sandbox.faults import DroppedResponse, FaultInjector, FaultKind, malformed
from sandbox.ratelimit import Admission, Limiter

Handler = Callable[[Request], Awaitable[Response]]

JSON = "application/json; charset=utf-8"


def json_response(
    content: Any,
    *,
    status: int = 200,
    media_type: str = JSON,
    headers: dict[str, str] | None = None,
) -> Response:
    """A compact JSON response with the processor's content type."""
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content=body, status_code=status, media_type=media_type, headers=headers)


class InvalidBody(ValueError):
    """The request body is not the JSON object the route expects."""


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or :class:`InvalidBody`."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError as exc:
        raise InvalidBody("body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise InvalidBody("body must be a JSON object")
    return body


def decimal_seconds(seconds: float) -> str:
    """``Retry-After`` as Shopify writes it (``"2.0"``), keeping sub-second precision."""
    text = f"{max(seconds, 0.001):.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def whole_seconds(seconds: float) -> str:
    """``Retry-After`` in integer seconds, at least one, as Klaviyo writes it."""
    return str(max(1, math.ceil(seconds - 1e-9)))


class Vendor(Protocol):
    """What one processor does differently along the shared pipeline."""

    def authenticate(self, request: Request) -> tuple[Response | None, str]:
        """A refusal (401, Klaviyo's 400 without ``revision``) or ``None``, and the account key."""
        ...

    def limit_key(self, method: str, template: str, account: str) -> str:
        """What the rate limiter counts this request against."""
        ...

    def server_error(self, status: int) -> Response:
        """An injected 5xx with the processor's error body."""
        ...

    def throttled(self, retry_after: float, headers: dict[str, str]) -> Response:
        """A 429 with the processor's body; ``retry_after`` in real seconds."""
        ...

    def not_found(self, path: str) -> Response:
        """The processor's answer to an unknown path."""
        ...

    def method_not_allowed(self, path: str) -> Response:
        """The processor's answer to a known path with the wrong method."""
        ...


@dataclass
class Emulator:
    """One processor's pipeline: builds routes around handlers and the app around routes."""

    vendor: Vendor
    config: EmulatorConfig
    calls: CallLog
    injector: FaultInjector
    limiter: Limiter
    settle: Callable[[], None]

    def route(self, method: str, template: str, handler: Handler, *, limited: bool = True) -> Route:
        """A route whose requests go through the whole pipeline before reaching ``handler``.

        ``template`` is a Starlette path; the call log and the limiter see it without
        convertors (``/customers/{customer_id}.json`` for ``{customer_id:int}``).
        """

        name = re.sub(r":\w+}", "}", template)

        async def endpoint(request: Request) -> Response:
            self.calls.record_request(method, name)
            response = await self._answer(request, method, name, handler, limited=limited)
            self.calls.record_status(response.status_code)
            return response

        return Route(template, endpoint, methods=[method])

    async def _answer(
        self, request: Request, method: str, template: str, handler: Handler, *, limited: bool
    ) -> Response:
        fault = self.injector.draw()
        denial, account = self.vendor.authenticate(request)
        if denial is not None:
            return denial
        admission = (
            self.limiter.admit(self.vendor.limit_key(method, template, account))
            if limited
            else Admission(allowed=True)
        )
        try:
            if not admission.allowed:
                self.calls.record_throttle()
                return self.vendor.throttled(admission.retry_after, admission.headers)
            if fault.latency > 0:
                await asyncio.sleep(fault.latency)
            if fault.kind is FaultKind.THROTTLE:
                self.calls.record_throttle()
                wait = self.config.real_seconds(self.injector.config.throttle_retry_after)
                return self.vendor.throttled(wait, {})
            if fault.kind is FaultKind.ERROR:
                return self.vendor.server_error(fault.status)
            if fault.kind is FaultKind.DROP:
                return DroppedResponse()
            self.settle()
            response = await handler(request)
            response.headers.update(admission.headers)
            if fault.kind is FaultKind.MALFORMED:
                return malformed(response)
            return response
        finally:
            if admission.release is not None:
                admission.release()

    def app(self, routes: Sequence[BaseRoute]) -> Starlette:
        """The ASGI app: the routes, ``GET /_sandbox/calls``, and the processor's 404/405."""

        async def calls(request: Request) -> Response:
            return json_response(self.calls.snapshot())

        async def http_error(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            if status == 405:
                return self.vendor.method_not_allowed(request.url.path)
            return self.vendor.not_found(request.url.path)

        app = Starlette(
            routes=[*routes, Route("/_sandbox/calls", calls, methods=["GET"])],
            exception_handlers={404: http_error, 405: http_error},
        )
        app.router.redirect_slashes = False
        return app
