"""The running intake service's shared state, and the helpers every route uses.

One :class:`IntakeState` lives on ``app.state.intake``: the settings the app was built with,
its database engine (opened on first use, not at import), the dispatcher that starts
processing, the per-address rate limiter and the CSRF keys of the request page.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import Depends
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Engine
from starlette.requests import Request as HttpRequest

from dsar.intake import page
from dsar.intake.guard import RateLimit, TokenBucket
from dsar.logging import get_logger
from dsar.settings import Settings
from dsar.store import get_engine, init_db

log = get_logger("dsar.intake.app")

#: Sent with every page: tokens travel in URLs, so no page may leak them as a referrer.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class Dispatcher(Protocol):
    """Starts processing of a stored request; must return quickly and never raise for a
    request that merely cannot start yet (the deadline monitor picks up what waits)."""

    def dispatch(self, request_id: str) -> None: ...


class NoopDispatcher:
    """Starts nothing: stored requests wait for the deadline monitor."""

    def dispatch(self, request_id: str) -> None:
        log.info("dispatch_skipped", request_id=request_id)


class IntakeState:
    """The application's state: settings, database, dispatcher, rate limiter, CSRF keys."""

    def __init__(self, settings: Settings, dispatcher: Dispatcher, rate_limit: RateLimit) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self.limiter = TokenBucket(rate_limit)
        self.csrf = page.CsrfGuard.for_secret(settings.webhook_secret.get_secret_value())
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """The configured database, its tables created on first use."""
        if self._engine is None:
            self._engine = get_engine(self.settings.effective_database_url)
            init_db(self._engine)
        return self._engine

    def start(self, request_id: str | None) -> None:
        """Hand a stored request to the dispatcher; a failure leaves it for the monitor.

        The request is already committed and the sender is told so: a dispatcher that fails
        must not turn an accepted request into an error response.
        """
        if request_id is None:
            return
        try:
            self.dispatcher.dispatch(request_id)
        except Exception:
            log.exception("dispatch_failed", request_id=request_id)


def state_of(request: HttpRequest) -> IntakeState:
    """The state of the application serving ``request``."""
    state: IntakeState = request.app.state.intake
    return state


def _rate_limited(request: HttpRequest) -> None:
    source = request.client.host if request.client else "unknown"
    state_of(request).limiter.check(source)


#: Route dependency: 429 with ``Retry-After`` once the source address has used its tokens.
LIMITED = Depends(_rate_limited)


def html(body: str, status: int = 200) -> HTMLResponse:
    """An HTML page with the headers every page carries."""
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)
