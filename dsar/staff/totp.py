"""The second step of an admin's sign-in: a time-based one-time code (RFC 6238, pyotp).

After the right password, a member with a TOTP secret gets a form for the code and a signed
cookie, valid for five minutes, naming who is half signed in; wrong codes count against the
same throttle as wrong passwords.
"""

from __future__ import annotations

import pyotp
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest

from dsar.accounts import active_member
from dsar.audit import append_event
from dsar.keys import session_secret
from dsar.staff.auth import CSRF_FIELD, LOGIN_CSRF_COOKIE, StaffError, secure_cookies
from dsar.staff.state import database, page, read_form, staff_state

router = APIRouter(prefix="/staff")
PENDING_COOKIE = "dsar_staff_pending"
PENDING_SECONDS = 300


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(session_secret(), salt="dsar-staff-second-factor")


def ask_code(
    request: HttpRequest, member_id: str, token: str, error: str | None = None, status: int = 200
) -> HTMLResponse:
    """The code form, and the cookie that remembers whose password was right."""
    response = page(request, "code", status, csrf=token, error=error)
    response.set_cookie(PENDING_COOKIE, _signer().dumps(member_id), max_age=PENDING_SECONDS,
                        path="/staff/login", secure=secure_cookies(request), httponly=True,
                        samesite="strict")  # fmt: skip
    return response


@router.post("/login/code", response_model=None)
async def check_code(request: HttpRequest) -> Response:
    """Finish an admin's sign-in with the code from their authenticator."""
    state = staff_state(request)
    fields = await read_form(request)
    token = fields.get(CSRF_FIELD)
    if (
        not isinstance(token, str)
        or state.csrf().check(token, request.cookies.get(LOGIN_CSRF_COOKIE)) is None
    ):
        raise StaffError(403, "the form's CSRF token is missing or invalid; reload the page")
    try:
        member_id = str(
            _signer().loads(request.cookies.get(PENDING_COOKIE, ""), max_age=PENDING_SECONDS)
        )
    except BadSignature:
        raise StaffError(401, "sign in with your password first") from None
    source = f"ip:{request.client.host if request.client else 'unknown'}"
    keys = (f"member:{member_id}", source)
    state.throttle.check(*keys)
    code = str(fields.get("code", "")).strip()

    def verify() -> bool:
        with database(request) as session:
            member = active_member(session, member_id)
            if member is None or not member.totp_secret:
                return False
            if not pyotp.TOTP(member.totp_secret).verify(code, valid_window=1):
                return False
            append_event(session, action="staff_signed_in", actor=f"staff:{member.id}")
            session.commit()
            return True

    if not await run_in_threadpool(verify):
        state.throttle.failed(*keys)
        return ask_code(request, member_id, token, state.words(request)["code_failed"], 401)
    state.throttle.succeeded(*keys)
    response = RedirectResponse("/staff/requests", status_code=303)
    state.sessions().start(response, request, member_id)
    response.delete_cookie(PENDING_COOKIE, path="/staff/login")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/staff/login")
    return response
