"""The console's routes under ``/staff``: sign-in, the inbox, a request's page and its actions.

Pages answer HTML (English or German, ``?lang=``), or JSON to a client that asks only for
JSON. Without a session every route sends a page to ``/staff/login`` and answers JSON with 401;
every POST must carry the session's CSRF token before anything is read or changed.
"""

from __future__ import annotations

import io
import zipfile
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request as HttpRequest

from dsar import lifecycle
from dsar.accounts import active_member, authenticate
from dsar.audit import append_event
from dsar.enums import RequestKind
from dsar.keys import upload_limit
from dsar.staff.actions import ActionInput, Upload, perform
from dsar.staff.auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    LoginRequired,
    Member,
    StaffError,
    secure_cookies,
    wants_json,
)
from dsar.staff.state import (
    FORM_LIMIT,
    StaffState,
    database,
    language,
    page,
    read_form,
    staff_state,
)
from dsar.staff.totp import ask_code
from dsar.staff.views import inbox_rows, package_path, refresh_index, request_page, visible_request

router = APIRouter(prefix="/staff")


async def current_member(request: HttpRequest) -> Member:
    """The signed-in member, or :class:`LoginRequired`."""
    state = staff_state(request)
    data = state.sessions().read(request.cookies.get("dsar_staff"))
    if data is None:
        raise LoginRequired

    def load() -> Member | None:
        with database(request) as session:
            found = active_member(session, str(data.get("m", "")))
            if found is None:
                return None
            fresh = state.sessions().refresh_csrf(data)
            if fresh is not None:
                request.state.staff_refresh = (found.id, float(data["x"]), fresh)
            return Member(
                found.id,
                found.email,
                found.role,
                frozenset(found.controllers),
                fresh or str(data.get("c", "")),
            )

    member = await run_in_threadpool(load)
    if member is None:
        raise LoginRequired
    return member


Signed = Annotated[Member, Depends(current_member)]


def render_page(http: HttpRequest, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = page(http, name, status, **context)
    refresh = getattr(http.state, "staff_refresh", None)
    if refresh is not None:
        member_id, expires, token = refresh
        staff_state(http).sessions().write(response, http, member_id, expires=expires, csrf=token)
    return response


def check_csrf(state: StaffState, member: Member, fields: dict[str, Any]) -> None:
    token = fields.get(CSRF_FIELD)
    if not isinstance(token, str) or state.csrf().check(token, member.csrf) is None:
        raise StaffError(403, "the form's CSRF token is missing or invalid; reload the page")


# --------------------------------------------------------------------------------------------
# Signing in and out
# --------------------------------------------------------------------------------------------


def _login_page(request: HttpRequest, error: str | None = None, status: int = 200) -> HTMLResponse:
    token = staff_state(request).csrf().issue()
    response = page(request, "login", status, csrf=token, error=error)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=7200,
        path="/staff/login",
        secure=secure_cookies(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: HttpRequest) -> HTMLResponse:
    """The sign-in form: ``email``, ``password``, ``csrf_token``."""
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
async def login(request: HttpRequest) -> Response:
    """Sign in; five wrong passwords within a minute lock the login (429)."""
    state = staff_state(request)
    fields = await read_form(request)
    token = fields.get(CSRF_FIELD)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not isinstance(token, str) or state.csrf().check(token, cookie) is None:
        raise StaffError(403, "the form's CSRF token is missing or invalid; reload the page")
    email = str(fields.get("email", "")).strip().lower()[:320]
    password = str(fields.get("password", ""))[:1024]
    source = f"ip:{request.client.host if request.client else 'unknown'}"
    keys = (f"email:{email}", source)
    state.throttle.check(*keys)

    def check() -> tuple[str, bool] | None:
        with database(request) as session:
            member = authenticate(session, email, password)
            if member is None:
                return None
            if not member.totp_secret:
                append_event(session, action="staff_signed_in", actor=f"staff:{member.id}")
            session.commit()
            return member.id, bool(member.totp_secret)

    checked = await run_in_threadpool(check)
    if checked is None:
        state.throttle.failed(*keys)
        words = state.words(request)
        return _login_page(request, words["login_failed"], 401)
    member_id, second_factor = checked
    if second_factor:  # the password was right; the code comes next (dsar.staff.totp)
        return ask_code(request, member_id, token)
    state.throttle.succeeded(*keys)
    response = RedirectResponse("/staff/requests", status_code=303)
    state.sessions().start(response, request, member_id)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/staff/login")
    return response


@router.post("/logout")
async def logout(request: HttpRequest, member: Signed) -> Response:
    """Sign out."""
    check_csrf(staff_state(request), member, await read_form(request))
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie("dsar_staff", path="/staff")
    return response


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


@router.get("", include_in_schema=False)
@router.get("/", include_in_schema=False)
async def home(member: Signed) -> Response:
    return RedirectResponse("/staff/requests", status_code=303)


@router.get("/requests", response_model=None)
async def inbox(
    request: HttpRequest,
    member: Signed,
    controller: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    flagged: Annotated[str | None, Query(max_length=8)] = None,
    q: Annotated[str | None, Query(max_length=320)] = None,
) -> Response:
    """Open requests of the member's shops by effective due date, with days left."""

    def read() -> list[dict[str, Any]]:
        with database(request) as session:
            refresh_index(session)
            session.commit()
            return inbox_rows(
                session,
                member,
                controller=controller or None,
                kind=kind or None,
                status=status or None,
                flagged=bool(flagged),
                query=q,
            )

    rows = await run_in_threadpool(read)
    if wants_json(request):
        return JSONResponse(rows)
    return render_page(
        request,
        "inbox",
        member=member,
        rows=rows,
        kinds=[k.value for k in RequestKind],
        statuses=sorted(s.value for s in lifecycle.OPEN),
        chosen={
            "controller": controller or "",
            "kind": kind or "",
            "status": status or "",
            "flagged": bool(flagged),
            "q": q or "",
        },
    )


@router.get("/requests/{request_id}", response_model=None)
async def show(request: HttpRequest, request_id: str, member: Signed) -> Response:
    """One request: deadline, timeline, steps, notices, manual tasks, actions."""

    def read() -> dict[str, Any]:
        with database(request) as session:
            found = visible_request(session, member, request_id)
            return request_page(session, member, found, language(request))

    data = await run_in_threadpool(read)
    if wants_json(request):
        found = data["request"]
        payload = {k: v for k, v in data.items() if k != "request"}
        payload.update(
            id=found.id,
            controller=found.controller,
            kind=found.kind.value,
            status=found.status.value,
            due_date=found.effective_due_date.isoformat(),
        )
        return JSONResponse(payload)
    return render_page(
        request, "request", member=member, done=request.query_params.get("done"), **data
    )


@router.get("/requests/{request_id}/package", response_class=HTMLResponse)
async def package(request: HttpRequest, request_id: str, member: Signed) -> HTMLResponse:
    """The report of the request's package, as the person sees it."""

    def read() -> str:
        with database(request) as session:
            visible_request(session, member, request_id)
            path = package_path(session, request_id)
        if path is None:
            raise StaffError(404, "this request has no package (yet, or any more)")
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
            return archive.read("report.html").decode("utf-8")

    body = await run_in_threadpool(read)
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "no-store",
        },
    )


@router.post("/requests/{request_id}/actions/{name}", response_model=None)
async def act(request: HttpRequest, request_id: str, name: str, member: Signed) -> Response:
    """Carry out one action on the request (CSRF token, confirmation, reason where needed)."""
    state = staff_state(request)
    fields = await read_form(request, upload_limit() + FORM_LIMIT)
    check_csrf(state, member, fields)
    await run_in_threadpool(_visible, request, member, request_id)
    upload = await _upload(fields.get("evidence"))
    texts = {k: v for k, v in fields.items() if isinstance(v, str)}
    given = ActionInput(member, request_id, texts, upload, request.app.state.intake.start)
    message = await perform(name, given)
    if wants_json(request):
        return JSONResponse({"ok": True, "action": name, "result": message})
    return RedirectResponse(f"/staff/requests/{request_id}?done={name}", status_code=303)


def _visible(request: HttpRequest, member: Member, request_id: str) -> None:
    with database(request) as session:
        visible_request(session, member, request_id)


async def _upload(value: Any) -> Upload | None:
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    limit = upload_limit()
    content = await value.read(limit + 1)
    if len(content) > limit:
        raise StaffError(413, f"the evidence file may be at most {limit} bytes")
    return Upload(value.filename, value.content_type or "application/octet-stream", content)
