"""The running intake service's shared state, and the helpers every route uses.

One :class:`IntakeState` lives on ``app.state.intake``: the settings the app was built with,
its database engine (opened on first use, not at import), the dispatcher that starts
processing, the per-address rate limiter and the CSRF keys of the request page. It also says
which shop's secrets a delivery is checked with (:meth:`IntakeState.controller_settings`,
:meth:`IntakeState.shopify_controller`): a delivery for one shop never passes with another's.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import Depends
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Engine
from starlette.requests import Request as HttpRequest

from dsar.intake import page
from dsar.intake.guard import IntakeRejection, RateLimit, TokenBucket
from dsar.logging import get_logger
from dsar.register import explicit_register, served_controllers
from dsar.settings import ControllerSettings, Settings
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
        self.csrf = page.CsrfGuard.for_secret(_csrf_secret(settings))
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """The configured database, its tables created on first use."""
        if self._engine is None:
            self._engine = get_engine(self.settings.effective_database_url)
            init_db(self._engine)
        return self._engine

    def controller_settings(self, controller: str | None) -> ControllerSettings:
        """The settings a delivery for ``controller`` is checked with (``None``: the register a
        delivery naming none goes to — ``DSAR_REGISTER``, or the only one served).

        While every shop shares the unprefixed settings, those; otherwise the controller's own,
        and a delivery that names no served controller is refused (422) before its signature
        could be checked with anybody's secret.
        """
        served = served_controllers()
        key = controller or _default_controller(served)
        if key is None and self.settings.shares_unprefixed_settings():
            return self.settings.unprefixed()
        if key is not None and (key in served or self.settings.shares_unprefixed_settings()):
            return self.settings.for_controller(key, served)
        message = (
            "unknown controller"
            if key is not None
            else f"this service serves several registers; name one of: {', '.join(sorted(served))}"
        )
        raise IntakeRejection(422, "invalid_fields", [{"field": "controller", "message": message}])

    def shopify_controller(
        self, domain: str, named: str | None
    ) -> tuple[str | None, ControllerSettings]:
        """The controller a Shopify compliance webhook is for, and its settings.

        The shop whose ``DSAR_CONTROLLERS__<KEY>__SHOPIFY_SHOP_DOMAIN`` is the delivery's
        ``X-Shopify-Shop-Domain``; where no shop states its domain, the webhook URL's
        ``?controller=`` or the default register, as before. A domain no shop served here
        has, or one that belongs to another controller than the URL names, is refused (401).
        """
        served = served_controllers()
        shops = {
            settings.shopify_shop_domain: key
            for key in served
            if (settings := self.settings.for_controller(key, served)).shopify_shop_domain
        }
        owner = shops.get(domain.strip().lower())
        if owner is not None and named in (None, owner):
            return owner, self.settings.for_controller(owner, served)
        if owner is not None:
            raise IntakeRejection(
                401, "unknown_shop", "X-Shopify-Shop-Domain belongs to another controller"
            )
        key = named or _default_controller(served)
        if shops and (key is None or key in shops.values()):
            raise IntakeRejection(
                401, "unknown_shop", "X-Shopify-Shop-Domain names no shop this service serves"
            )
        return named, self.controller_settings(named)

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


def _default_controller(served: dict[str, str]) -> str | None:
    """Where a delivery naming no controller goes: ``DSAR_REGISTER``, or the only register."""
    explicit = explicit_register()
    if explicit is not None:
        return explicit.controller.key
    return next(iter(served)) if len(served) == 1 else None


def _csrf_secret(settings: Settings) -> str:
    """What keys the request page's CSRF tokens, the same in every worker: the webhook secret,
    or all the shops' together (none: a key per process). The page serves every shop."""
    secrets = [settings.webhook_secret.get_secret_value()]
    secrets += [
        own.value("webhook_secret") or "" for _, own in sorted(settings.controllers.items())
    ]
    return "\n".join(secret for secret in secrets if secret)


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
