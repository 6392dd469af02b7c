"""The pages a person's browser opens: the request form, identity confirmation, downloads.

Everything here answers in HTML (English or German), never JSON: these pages are read by the
data subject, and Art. 12(1) asks for concise, intelligible information in plain language.
A link that cannot be used — unknown, used, expired — always gets the same 404 page, so trying
links teaches nothing about which ones exist. Opening the confirmation link only shows a button:
mail scanners and link previews fetch links before the requester sees them, and a fetch that
used up the link would leave the requester with a dead one.

Every database transaction here opens through :func:`~dsar.intake.store.write_session`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest

from dsar.enums import Channel
from dsar.errors import IdentityError, NotFoundError
from dsar.export import resolve_download
from dsar.identity import check_token, verify_code, verify_token
from dsar.intake import page
from dsar.intake.corrections import (
    CORRECTABLE,
    check_corrections,
    form_corrections,
    needs_corrections,
    store_corrections,
)
from dsar.intake.forms import parse_fields
from dsar.intake.gpc import gpc_signalled, record_gpc_opt_out
from dsar.intake.guard import (
    FORM,
    JSON,
    IntakeRejection,
    body_digest,
    read_capped,
    require_media_type,
)
from dsar.intake.state import LIMITED, IntakeState, html, state_of
from dsar.intake.store import ACTOR_PAGE, once, submit_contact, write_session
from dsar.register import register_for, served_controllers
from dsar.uslaw import is_us

#: Longer tokens are not ours; they are answered without a database look-up.
_MAX_TOKEN = 200
_VERIFY_ACTOR = "intake:verification"


def _gone(lang: str) -> HTMLResponse:
    return html(page.render("gone", lang), 404)


def install(app: FastAPI) -> None:
    """Add the request page, the verification link and code, and the download route."""
    _install_page(app)
    _install_links(app)


# --------------------------------------------------------------------------------------------
# The request page
# --------------------------------------------------------------------------------------------


def _scope(controller: str | None) -> tuple[list[tuple[str, str]], bool]:
    """The shops the page offers and whether it speaks to a US business's consumers: one shop
    when ``controller`` names a served one (its website links to its own page), else all."""
    served = sorted(served_controllers().items())
    chosen = [(key, name) for key, name in served if key == controller] or served
    us = bool(chosen) and all(
        all(is_us(regime) for regime in register_for(key).controller.regimes) for key, _ in chosen
    )
    return chosen, us


def _form_page(
    state: IntakeState,
    lang: str,
    *,
    controller: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    general_error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    token = state.csrf.issue()
    controllers, us = _scope(controller or (values or {}).get("controller"))
    body = page.render(
        "request",
        lang,
        us=us,
        csrf=token,
        controllers=controllers,
        kinds=page.kind_choices(lang, us=us),
        values={k: v for k, v in (values or {}).items() if isinstance(v, str)},
        errors=errors or {},
        general_error=general_error,
    )
    return _with_csrf_cookie(html(body, status), state, token, path="/privacy-request")


def _with_csrf_cookie(
    response: HTMLResponse, state: IntakeState, token: str, *, path: str
) -> HTMLResponse:
    """``response`` carrying the form's CSRF token as a cookie for the form's own path."""
    response.set_cookie(
        page.CSRF_COOKIE,
        token,
        max_age=page.CSRF_TTL_SECONDS,
        path=path,
        secure=state.settings.public_url.startswith("https://"),
        httponly=True,
        samesite="strict",
    )
    return response


def _install_page(app: FastAPI) -> None:
    @app.get("/privacy-request", response_class=HTMLResponse)
    async def request_page(
        request: HttpRequest,
        lang: Annotated[str | None, Query(max_length=16)] = None,
        controller: Annotated[str | None, Query(max_length=64)] = None,
    ) -> HTMLResponse:
        """The request form, in English or German (``?lang=`` or Accept-Language); for one
        shop with ``?controller=``, in US terms for a US business."""
        language = page.page_language(lang, request.headers.get("accept-language"))
        state = state_of(request)
        return await run_in_threadpool(lambda: _form_page(state, language, controller=controller))

    @app.post("/privacy-request", response_class=HTMLResponse, dependencies=[LIMITED])
    async def submit_page(
        request: HttpRequest, lang: Annotated[str | None, Query(max_length=16)] = None
    ) -> HTMLResponse:
        """Store a request from the page; answer with its reference, or the form with errors."""
        state = state_of(request)
        require_media_type(request, FORM)
        body = await read_capped(request)
        fields = parse_fields(body, FORM)
        language = page.page_language(
            fields.get("language") or lang, request.headers.get("accept-language")
        )
        _, us = _scope(str(fields.get("controller") or "") or None)
        words = page.texts(language, us=us)
        nonce = state.csrf.check(fields.get(page.CSRF_FIELD), request.cookies.get(page.CSRF_COOKIE))
        gpc = gpc_signalled(request.headers)

        def work() -> HTMLResponse:
            if nonce is None:
                return _form_page(
                    state, language, values=fields, general_error=words["csrf_error"], status=400
                )
            try:
                receipt = once(
                    state.engine,
                    lambda s: submit_contact(
                        s,
                        fields=fields,
                        key=f"page:{nonce}",
                        digest=body_digest(body),
                        channel=Channel.WEB_PAGE,
                        actor=ACTOR_PAGE,
                    ),
                )
            except IntakeRejection as exc:
                if exc.status == 409:
                    return _form_page(
                        state, language, values=fields, general_error=words["conflict_error"],
                        status=409,
                    )  # fmt: skip
                problems = exc.detail if isinstance(exc.detail, list) else []
                failed = [str(p.get("field", "")) for p in problems if isinstance(p, dict)]
                errors = page.field_messages(language, failed or ["body"])
                return _form_page(state, language, values=fields, errors=errors, status=400)
            if receipt.start:
                state.start(receipt.request_id)
            if gpc:  # the browser's opt-out preference signal (11 CCR § 7025)
                opted = once(
                    state.engine,
                    lambda s: record_gpc_opt_out(
                        s, fields=fields, key=f"page:{nonce}", digest=body_digest(body),
                        channel=Channel.WEB_PAGE, actor=ACTOR_PAGE,
                    ),
                )  # fmt: skip
                if opted is not None and opted.start:
                    state.start(opted.request_id)
            due = receipt.body["due_date"]
            return html(
                page.render(
                    "confirmation",
                    language,
                    us=us,
                    reference=receipt.body["id"],
                    due_date=page.long_date(date.fromisoformat(due), language),
                )
            )

        return await run_in_threadpool(work)


# --------------------------------------------------------------------------------------------
# Links from the engine's e-mails: verification and downloads
# --------------------------------------------------------------------------------------------


def _waiting(state: IntakeState, token: str) -> tuple[str, str, bool] | None:
    """The id and language of the request ``token`` would verify, and whether it still has to
    say what to correct; ``None`` if it would not verify."""
    if len(token) > _MAX_TOKEN:
        return None
    try:
        with write_session(state.engine) as session:
            waiting = check_token(session, token=token)
            return waiting.id, _lang(waiting.language), needs_corrections(waiting)
    except IdentityError:
        return None


def _confirm_page(
    state: IntakeState,
    token: str,
    waiting: tuple[str, str, bool],
    *,
    general_error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    request_id, language, ask = waiting
    csrf = state.csrf.issue()
    body = page.render(
        "confirm",
        language,
        csrf=csrf,
        action=f"/verify/{token}",
        reference=request_id,
        general_error=general_error,
        corrections=CORRECTABLE if ask else (),
    )
    return _with_csrf_cookie(html(body, status), state, csrf, path="/verify")


def _install_links(app: FastAPI) -> None:
    @app.get("/verify/{token}", response_class=HTMLResponse, dependencies=[LIMITED])
    async def confirm_link(request: HttpRequest, token: str) -> HTMLResponse:
        """The page behind the e-mail's link: a button that confirms; opening it changes nothing.

        Unknown, used and expired links all answer the same 404 page (no hint which).
        """
        state = state_of(request)
        language = page.page_language(None, request.headers.get("accept-language"))

        def work() -> HTMLResponse:
            waiting = _waiting(state, token)
            if waiting is None:
                return _gone(language)
            return _confirm_page(state, token, waiting)

        return await run_in_threadpool(work)

    @app.post("/verify/{token}", response_class=HTMLResponse, dependencies=[LIMITED])
    async def verify_link(request: HttpRequest, token: str) -> HTMLResponse:
        """Confirm control of the e-mail address and start processing the waiting request.

        Only the button of the page this service showed confirms (its CSRF token in the form
        and the cookie); anything else gets the button again (400) and verifies nothing.
        """
        state = state_of(request)
        require_media_type(request, FORM)
        fields = parse_fields(await read_capped(request), FORM)
        language = page.page_language(None, request.headers.get("accept-language"))
        nonce = state.csrf.check(fields.get(page.CSRF_FIELD), request.cookies.get(page.CSRF_COOKIE))

        def work() -> HTMLResponse:
            if nonce is None:
                waiting = _waiting(state, token)
                if waiting is None:
                    return _gone(language)
                error = page.texts(waiting[1])["confirm_error"]
                return _confirm_page(state, token, waiting, general_error=error, status=400)
            waiting = _waiting(state, token)
            if waiting is None:
                return _gone(language)
            try:  # a rectification says what to correct before it is confirmed (Art. 16)
                changes = check_corrections(form_corrections(fields)) if waiting[2] else {}
            except ValueError:
                changes = {}
            if waiting[2] and not changes:
                error = page.texts(waiting[1])["corrections_error"]
                return _confirm_page(state, token, waiting, general_error=error, status=400)
            try:
                with write_session(state.engine) as session:
                    verified = verify_token(session, token=token)
                    request_id, lang = verified.id, verified.language
                    if changes:
                        store_corrections(
                            session, request=verified, changes=changes, actor=_VERIFY_ACTOR
                        )
            except IdentityError:
                return _gone(language)
            state.start(request_id)
            return html(page.render("verified", _lang(lang), reference=request_id))

        return await run_in_threadpool(work)

    @app.get("/verify", response_class=HTMLResponse)
    async def code_page(
        request: HttpRequest, lang: Annotated[str | None, Query(max_length=16)] = None
    ) -> HTMLResponse:
        """The form for the 6-digit code, for when the link in the e-mail does not work."""
        language = page.page_language(lang, request.headers.get("accept-language"))
        return html(page.render("code", language, request_id="", general_error=None))

    @app.post("/verify", response_class=HTMLResponse, dependencies=[LIMITED])
    async def verify_with_code(
        request: HttpRequest, lang: Annotated[str | None, Query(max_length=16)] = None
    ) -> HTMLResponse:
        """Confirm with ``request_id`` and ``code`` (form or JSON); every failure looks alike."""
        state = state_of(request)
        kind = require_media_type(request, FORM, JSON)
        fields = parse_fields(await read_capped(request), kind)
        language = page.page_language(lang, request.headers.get("accept-language"))
        request_id = str(fields.get("request_id") or "").strip()[:64]
        code = str(fields.get("code") or "")[:32]

        def work() -> HTMLResponse:
            try:
                with write_session(state.engine) as session:
                    verified = verify_code(session, request_id=request_id, code=code)
                    lang_of_request = verified.language
            except IdentityError:
                words = page.texts(language)
                body = page.render(
                    "code", language, request_id=request_id, general_error=words["code_error"]
                )
                return html(body, 400)
            state.start(request_id)
            return html(page.render("verified", _lang(lang_of_request), reference=request_id))

        return await run_in_threadpool(work)

    @app.get("/exports/{token}", dependencies=[LIMITED], response_model=None)
    async def download(request: HttpRequest, token: str) -> Response:
        """Stream an access or portability package; unknown, expired and used-up links 404."""
        state = state_of(request)
        language = page.page_language(None, request.headers.get("accept-language"))

        def work() -> Path | None:
            try:
                with write_session(state.engine) as session:
                    return Path(resolve_download(session, token=token).path)
            except NotFoundError:
                return None

        path = await run_in_threadpool(work)
        if path is None:
            return _gone(language)
        return FileResponse(
            path,
            media_type="application/zip",
            filename=path.name,
            content_disposition_type="attachment",
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                     "X-Content-Type-Options": "nosniff"},
        )  # fmt: skip


def _lang(language: str) -> str:
    primary = (language or "").lower()[:2]
    return primary if primary in page.LANGUAGES else page.DEFAULT_LANGUAGE
