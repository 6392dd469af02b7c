"""The appeal form behind the link in every US denial: the consumer appeals a denied request.

Only the consumer can appeal: the reference and the e-mail address the request was made with
must match, and a mismatch looks exactly like an unknown reference. The appeal is stored with
its own deadline under the state's law (:mod:`dsar.appeals`); a second post (a double click)
shows the appeal already stored. Refusals answer 400 with the reason and store nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest

from dsar.appeal_records import Appeal
from dsar.appeals import open_appeal
from dsar.errors import InputError, NotFoundError
from dsar.intake import page
from dsar.intake.forms import parse_fields
from dsar.intake.guard import FORM, read_capped, require_media_type
from dsar.intake.state import LIMITED, IntakeState, html, state_of
from dsar.intake.store import ACTOR_PAGE, write_session
from dsar.intake.web import _with_csrf_cookie
from dsar.register import register_for
from dsar.service import get_request

APPEAL_PATH = "/privacy-request/appeal"
_MAX_FIELD = 4000

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Appeal a decision on your privacy request",
        "intro": "If we refused your request, you may ask us to review that decision. Give the "
        "reference from our letter, the e-mail address you made the request with, and why you "
        "disagree. We answer in writing within the period your state's law sets.",
        "reference": "Reference of your request",
        "email": "E-mail address you made the request with",
        "reason": "Why do you disagree with our decision?",
        "submit": "Send appeal",
        "not_found": "We found no request with this reference and e-mail address.",
        "reason_missing": "Please tell us why you disagree.",
        "csrf": "This form has expired. Please send it again.",
        "received_title": "We have received your appeal",
        "received_text": "We will decide on your appeal and tell you our decision and our "
        "reasons in writing by",
        "appeal_reference": "Reference of your appeal",
    },
    "de": {
        "title": "Einspruch gegen eine Entscheidung zu Ihrer Datenschutzanfrage",
        "intro": "Haben wir Ihre Anfrage abgelehnt, können Sie uns bitten, die Entscheidung zu "
        "überprüfen. Geben Sie das Zeichen aus unserem Schreiben an, die E-Mail-Adresse Ihrer "
        "Anfrage und Ihre Gründe. Wir antworten schriftlich binnen der gesetzlichen Frist.",
        "reference": "Zeichen Ihrer Anfrage",
        "email": "E-Mail-Adresse Ihrer Anfrage",
        "reason": "Warum sind Sie mit unserer Entscheidung nicht einverstanden?",
        "submit": "Einspruch senden",
        "not_found": "Zu diesem Zeichen und dieser E-Mail-Adresse gibt es keine Anfrage.",
        "reason_missing": "Bitte nennen Sie Ihre Gründe.",
        "csrf": "Dieses Formular ist abgelaufen. Bitte senden Sie es erneut.",
        "received_title": "Wir haben Ihren Einspruch erhalten",
        "received_text": "Wir entscheiden über Ihren Einspruch und teilen Ihnen Entscheidung und "
        "Gründe schriftlich mit bis spätestens",
        "appeal_reference": "Zeichen Ihres Einspruchs",
    },
}


def _words(lang: str) -> dict[str, str]:
    return WORDS.get(lang, WORDS[page.DEFAULT_LANGUAGE])


def _form(
    state: IntakeState, lang: str, values: dict[str, Any], error: str | None = None
) -> HTMLResponse:
    token = state.csrf.issue()
    body = page.render(
        "appeal",
        lang,
        w=_words(lang),
        csrf=token,
        action=f"{APPEAL_PATH}?lang={lang}",
        values={k: v for k, v in values.items() if isinstance(v, str)},
        general_error=error,
    )
    return _with_csrf_cookie(html(body, 400 if error else 200), state, token, path=APPEAL_PATH)


def _received(lang: str, appeal: Appeal) -> HTMLResponse:
    due = page.long_date(appeal.effective_due_date, lang)
    return html(page.render("appeal_received", lang, w=_words(lang), reference=appeal.id, due=due))


def _appeal(state: IntakeState, fields: dict[str, Any], lang: str) -> HTMLResponse:
    words = _words(lang)
    reference = str(fields.get("reference") or "").strip()[:64]
    address = str(fields.get("email") or "").strip().casefold()[:320]
    reason = str(fields.get("reason") or "").strip()[:_MAX_FIELD]
    if not reason:
        return _form(state, lang, fields, words["reason_missing"])
    try:
        with write_session(state.engine) as session:
            request = get_request(session, reference) if len(reference) == 32 else None
            if request is None or request.email.casefold() != address:
                return _form(state, lang, fields, words["not_found"])
            stored = session.exec(select(Appeal).where(Appeal.request_id == request.id)).first()
            if stored is None:
                stored = open_appeal(
                    session,
                    request=request,
                    register=register_for(request.controller),
                    reason=reason,
                    actor=ACTOR_PAGE,
                )
            return _received(lang, stored)
    except NotFoundError:
        return _form(state, lang, fields, words["not_found"])
    except InputError as exc:
        return _form(state, lang, fields, str(exc))


def install(app: FastAPI) -> None:
    """Add the appeal form and its post."""

    @app.get(APPEAL_PATH, response_class=HTMLResponse)
    async def appeal_form(
        request: HttpRequest,
        reference: Annotated[str | None, Query(max_length=64)] = None,
        lang: Annotated[str | None, Query(max_length=16)] = None,
    ) -> HTMLResponse:
        """The form, with the reference from the denial letter's link filled in."""
        language = page.page_language(lang, request.headers.get("accept-language"))
        state = state_of(request)
        values = {"reference": reference or ""}
        return await run_in_threadpool(lambda: _form(state, language, values))

    @app.post(APPEAL_PATH, response_class=HTMLResponse, dependencies=[LIMITED])
    async def appeal_post(
        request: HttpRequest, lang: Annotated[str | None, Query(max_length=16)] = None
    ) -> HTMLResponse:
        """Store the appeal; answer with its reference and due date, or the form with the reason."""
        state = state_of(request)
        require_media_type(request, FORM)
        fields = parse_fields(await read_capped(request), FORM)
        language = page.page_language(lang, request.headers.get("accept-language"))
        nonce = state.csrf.check(fields.get(page.CSRF_FIELD), request.cookies.get(page.CSRF_COOKIE))
        if nonce is None:
            return _form(state, language, fields, _words(language)["csrf"])
        return await run_in_threadpool(_appeal, state, fields, language)
