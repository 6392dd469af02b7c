"""The console's state on ``app.state.staff`` and how its pages are rendered."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi.responses import HTMLResponse
from sqlmodel import Session
from starlette.requests import Request as HttpRequest

from dsar.keys import session_secret, staff_settings
from dsar.staff.auth import CSRF_FIELD, CsrfTokens, LoginThrottle, Sessions, StaffError, csrf_key
from dsar.staff.words import LANGUAGES, texts

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
FORM_LIMIT = 64 * 1024

#: Sent with every page of the console.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class StaffState:
    """Keys (read on first use, so a missing production secret stops only the console), the
    login throttle, and the CSRF token scheme handed in by the service."""

    def __init__(self, guard: Callable[[bytes], CsrfTokens]) -> None:
        self._guard = guard
        self._sessions: Sessions | None = None
        self.throttle = LoginThrottle()

    def sessions(self) -> Sessions:
        if self._sessions is None:
            secret = session_secret()
            hours = staff_settings().staff_session_hours
            self._sessions = Sessions(secret, hours=hours, csrf=self._guard(csrf_key(secret)))
        return self._sessions

    def csrf(self) -> CsrfTokens:
        return self.sessions().csrf

    def words(self, request: HttpRequest) -> dict[str, Any]:
        return texts(language(request))


def staff_state(request: HttpRequest) -> StaffState:
    state: StaffState = request.app.state.staff
    return state


def language(request: HttpRequest) -> str:
    """``?lang=`` when the console has it, else the browser's first language it has."""
    asked = (request.query_params.get("lang") or "").strip().lower()[:2]
    if asked in LANGUAGES:
        return asked
    for item in request.headers.get("accept-language", "").split(","):
        primary = item.strip().lower()[:2]
        if primary in LANGUAGES:
            return primary
    return "en"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page(http: HttpRequest, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``<name>.html.j2`` in the language of ``http``."""
    lang = language(http)
    body = (
        _environment()
        .get_template(f"{name}.html.j2")
        .render(lang=lang, t=texts(lang), csrf_field=CSRF_FIELD, **context)
    )
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def database(request: HttpRequest) -> Session:
    return Session(request.app.state.intake.engine, expire_on_commit=False)


async def read_form(request: HttpRequest, limit: int = FORM_LIMIT) -> dict[str, Any]:
    """The posted form, read with a hard cap (413 beyond ``limit`` bytes)."""
    declared = request.headers.get("content-length", "")
    too_large = StaffError(413, f"the form may be at most {limit} bytes with its file")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise too_large
    body = bytes(received)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await HttpRequest(request.scope, replay).form()
    return dict(form.items())
