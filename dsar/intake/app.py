"""The intake service: the official channels through which requests reach the controller.

``create_app()`` builds a FastAPI application with the contact-form webhook, Shopify's mandatory
compliance webhooks, a request page for people, the identity-confirmation link and code, the
download of access packages, and a health check. The statutory clock starts when a request
reaches one of these channels (EDPB 01/2022 §159), so a request is committed before the sender
hears "accepted", and every refusal happens before anything is stored.

Processing is started through an injected :class:`Dispatcher`: the domain never imports Prefect
or the flows; ``flows.dispatch`` provides an in-process and a deployment-backed dispatcher, and
without one a stored request waits for the deadline monitor.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request as HttpRequest

from dsar.enums import Channel
from dsar.intake import appeal_page
from dsar.intake import page as intake_page
from dsar.intake import web as intake_web
from dsar.intake.forms import contact_form_openapi, parse_fields
from dsar.intake.gpc import gpc_signalled, record_gpc_opt_out
from dsar.intake.guard import (
    FORM,
    JSON,
    IntakeRejection,
    RateLimit,
    body_digest,
    check_contact_signature,
    check_shopify_hmac,
    delivery_key,
    read_capped,
    require_media_type,
)
from dsar.intake.state import LIMITED, Dispatcher, IntakeState, NoopDispatcher, state_of
from dsar.intake.store import (
    ACTOR_CONTACT_FORM,
    SHOPIFY_SHOP_REDACT,
    Receipt,
    once,
    record_shop_redact,
    submit_contact,
    submit_shopify,
)
from dsar.logging import get_logger
from dsar.notify import SIGNATURE_HEADER
from dsar.register import served_controllers
from dsar.settings import Settings, get_settings
from dsar.staff import install as install_staff_console

log = get_logger("dsar.intake.app")


# --------------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------------


def create_app(
    *,
    settings: Settings | None = None,
    dispatcher: Dispatcher | None = None,
    rate_limit: RateLimit | None = None,
) -> FastAPI:
    """The intake service. ``dispatcher`` starts processing (default: none, the monitor will);
    ``rate_limit`` bounds requests per source address (default: 20 at once, 60 a minute).

    Settings that would mix up the shops served raise
    :class:`~dsar.settings.ConfigurationError` here, before any delivery is taken.
    """
    app = FastAPI(
        title="dsar intake",
        summary="Data-subject requests in: contact form, Shopify compliance webhooks, a page.",
        version="0.1.0",
    )
    settings = settings or get_settings()
    settings.check_controllers(served_controllers())
    app.state.intake = IntakeState(
        settings, dispatcher or NoopDispatcher(), rate_limit or RateLimit()
    )
    _install_error_handlers(app)
    _install_webhooks(app)
    intake_web.install(app)
    appeal_page.install(app)
    install_staff_console(app, csrf=intake_page.CsrfGuard)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(IntakeRejection)
    async def rejected(_: HttpRequest, exc: IntakeRejection) -> JSONResponse:
        log.info("intake_rejected", error=exc.error, status=exc.status)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: HttpRequest, exc: StarletteHTTPException) -> JSONResponse:
        error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": error, "detail": exc.detail},
            status_code=exc.status_code,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: HttpRequest, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg"))}
            for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid_request", "detail": detail}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: HttpRequest, exc: Exception) -> JSONResponse:
        log.error("intake_failed", path=request.url.path, exc_info=exc)
        return JSONResponse({"error": "internal_error", "detail": None}, status_code=500)


def named_controller(body: bytes, kind: str) -> str | None:
    """The ``controller`` a contact-form body names, read before its signature is checked so
    that the right shop's secret checks it (``None``: it names none, or cannot be read)."""
    try:
        value = parse_fields(body, kind).get("controller")
    except IntakeRejection:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # as the form model reads numbers
    return value.strip() or None if isinstance(value, str) else None


def _gpc_opt_out(state: IntakeState, body: bytes, kind: str, key: str) -> None:
    """Store (and start) the opt-out a contact-form post's ``Sec-GPC: 1`` asks for."""
    fields = parse_fields(body, kind)
    opted = once(
        state.engine,
        lambda session: record_gpc_opt_out(
            session, fields=fields, key=key, digest=body_digest(body),
            channel=Channel.CONTACT_FORM, actor=ACTOR_CONTACT_FORM,
        ),
    )  # fmt: skip
    if opted is not None and opted.start:
        state.start(opted.request_id)


def _install_webhooks(app: FastAPI) -> None:
    @app.post(
        "/webhooks/contact-form",
        status_code=202,
        dependencies=[LIMITED],
        openapi_extra=contact_form_openapi(SIGNATURE_HEADER),
        responses={
            202: {"description": "Stored: {id, status, due_date, regime}"},
            401: {"description": "Bad, stale or missing signature"},
            409: {"description": "Delivery key reused for another body"},
            413: {"description": "Body over 64 KiB"},
            415: {"description": "Neither JSON nor form-encoded"},
            422: {"description": "Invalid fields"},
            429: {"description": "Rate limited"},
        },
    )
    async def contact_form(request: HttpRequest) -> JSONResponse:
        """Store a request from the website's contact form (signed with X-DSAR-Signature)."""
        state = state_of(request)
        kind = require_media_type(request, JSON, FORM)
        body = await read_capped(request)
        signature = request.headers.get(SIGNATURE_HEADER)
        own = state.controller_settings(named_controller(body, kind))
        check_contact_signature(
            own.value("webhook_secret") or "",
            signature,
            body,
            setting=" or ".join(own.variables("webhook_secret")),
        )
        key = delivery_key("webhook", request.headers.get("idempotency-key"), signature or "")

        def work() -> Receipt:
            fields = parse_fields(body, kind)
            return once(
                state.engine,
                lambda session: submit_contact(
                    session,
                    fields=fields,
                    key=key,
                    digest=body_digest(body),
                    channel=Channel.CONTACT_FORM,
                    actor=ACTOR_CONTACT_FORM,
                ),
            )

        receipt = await run_in_threadpool(work)
        if receipt.start:
            await run_in_threadpool(state.start, receipt.request_id)
        if gpc_signalled(request.headers):  # forwarded from the visitor's browser (§ 7025)
            await run_in_threadpool(_gpc_opt_out, state, body, kind, key)
        return JSONResponse(receipt.body, status_code=202)

    @app.post(
        "/webhooks/shopify",
        dependencies=[LIMITED],
        responses={
            401: {"description": "Bad HMAC, or a shop domain this service does not serve"},
            422: {"description": "Invalid payload"},
        },
    )
    async def shopify(
        request: HttpRequest,
        controller: Annotated[str | None, Query(max_length=64)] = None,
    ) -> JSONResponse:
        """Shopify's mandatory compliance webhooks: customers/data_request, customers/redact,
        shop/redact (X-Shopify-Hmac-Sha256 with the shop's app secret, the shop found by
        X-Shopify-Shop-Domain; idempotent by X-Shopify-Webhook-Id)."""
        state = state_of(request)
        require_media_type(request, JSON)
        body = await read_capped(request)
        hmac_header = request.headers.get("x-shopify-hmac-sha256")
        domain = request.headers.get("x-shopify-shop-domain", "")
        controller, own = state.shopify_controller(domain, controller)
        check_shopify_hmac(
            own.value("shopify_app_secret") or "",
            hmac_header,
            body,
            setting=" or ".join(own.variables("shopify_app_secret")),
        )
        key = delivery_key(
            "shopify", request.headers.get("x-shopify-webhook-id"), hmac_header or ""
        )
        topic = request.headers.get("x-shopify-topic", "").strip()

        def work() -> Receipt:
            data = parse_fields(body, JSON)
            if topic == SHOPIFY_SHOP_REDACT:
                return once(state.engine, lambda s: record_shop_redact(s, data=data, key=key))
            return once(
                state.engine,
                lambda s: submit_shopify(
                    s,
                    topic=topic,
                    data=data,
                    key=key,
                    digest=body_digest(body),
                    controller=controller,
                ),
            )

        receipt = await run_in_threadpool(work)
        if receipt.start:
            await run_in_threadpool(state.start, receipt.request_id)
        return JSONResponse(receipt.body, status_code=200)

    @app.get("/healthz")
    async def healthz(request: HttpRequest) -> JSONResponse:
        """Liveness and the database: 200 ``{"status": "ok"}``, 503 when the database fails."""
        state = state_of(request)

        def probe() -> None:
            with state.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(probe)
        except (SQLAlchemyError, OSError):
            log.warning("healthz_database_unavailable")
            return JSONResponse({"status": "error", "database": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})
