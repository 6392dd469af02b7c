"""Mount the console on the intake service: its routes, state and refusals."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.requests import Request as HttpRequest

from dsar.logging import get_logger
from dsar.settings import ConfigurationError
from dsar.staff.auth import CsrfTokens, LoginRequired, StaffError, wants_json
from dsar.staff.entry import router as entry_router
from dsar.staff.routes import router
from dsar.staff.state import StaffState, page
from dsar.staff.totp import router as totp_router

log = get_logger("dsar.staff")


def install(app: FastAPI, *, csrf: Callable[[bytes], CsrfTokens]) -> None:
    """Serve the console under ``/staff``; ``csrf`` makes the form-token scheme from a key."""
    app.state.staff = StaffState(csrf)
    app.include_router(entry_router)  # before /requests/{id}: /requests/new is its own
    app.include_router(router)
    app.include_router(totp_router)

    @app.exception_handler(StaffError)
    async def refused(request: HttpRequest, exc: StaffError) -> Response:
        log.info("staff_refused", status=exc.status, path=request.url.path)
        if wants_json(request):
            return JSONResponse(
                {"error": "refused", "detail": exc.reason},
                status_code=exc.status,
                headers=exc.headers,
            )
        response = page(request, "error", exc.status, reason=exc.reason)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(LoginRequired)
    async def sign_in_first(request: HttpRequest, _: LoginRequired) -> Response:
        if wants_json(request):
            return JSONResponse(
                {"error": "unauthorized", "detail": "sign in at /staff/login"}, status_code=401
            )
        return RedirectResponse("/staff/login", status_code=303)

    @app.exception_handler(ConfigurationError)
    async def misconfigured(request: HttpRequest, exc: ConfigurationError) -> Response:
        log.error("staff_misconfigured", path=request.url.path)
        return JSONResponse({"error": "misconfigured", "detail": str(exc)}, status_code=503)
