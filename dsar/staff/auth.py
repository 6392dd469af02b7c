"""Who is signed in: signed session cookies, CSRF tokens, the login throttle and refusals.

The session is a cookie signed with :func:`dsar.keys.session_secret` (itsdangerous), HttpOnly,
SameSite=Strict, Secure except on loopback addresses, with an absolute expiry. It carries the
member's id and the CSRF token every form of the console must echo (the intake page's signed,
expiring tokens, see :class:`CsrfTokens`); the member is re-read on every request, so a
disabled account is signed out at once. Five wrong passwords within a minute, for one address
or from one source, lock the login for :data:`LOCKOUT_SECONDS`.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request as HttpRequest

SESSION_COOKIE = "dsar_staff"
LOGIN_CSRF_COOKIE = "dsar_staff_csrf"
CSRF_FIELD = "csrf_token"
FAILURES_ALLOWED = 5
FAILURE_WINDOW_SECONDS = 60.0
LOCKOUT_SECONDS = 300.0
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


class CsrfTokens(Protocol):
    """Signed, expiring form tokens (the intake page's :class:`~dsar.intake.CsrfGuard`)."""

    def issue(self) -> str: ...

    def check(self, field: str | None, cookie: str | None) -> str | None: ...


class StaffError(Exception):
    """A refusal with an HTTP status and a reason said in words."""

    def __init__(self, status: int, reason: str, *, headers: dict[str, str] | None = None):
        self.status = status
        self.reason = reason
        self.headers = headers or {}
        super().__init__(f"{status} {reason}")


class LoginRequired(Exception):
    """No valid session: HTML is sent to the login page, JSON gets 401."""


@dataclass(frozen=True)
class Member:
    """The signed-in staff member."""

    id: str
    email: str
    role: str
    controllers: frozenset[str]
    csrf: str

    @property
    def actor(self) -> str:
        """How the audit trail names this member."""
        return f"staff:{self.id}"


def wants_json(request: HttpRequest) -> bool:
    """Whether the client asked for JSON rather than a page."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def secure_cookies(request: HttpRequest) -> bool:
    """Cookies are Secure except when the console is reached on a loopback address."""
    return (request.url.hostname or "") not in _LOOPBACK


class Sessions:
    """Signs and reads session cookies."""

    def __init__(self, secret: bytes, *, hours: float, csrf: CsrfTokens) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="dsar-staff-session")
        self.lifetime = int(hours * 3600)
        self.csrf = csrf

    def cookie_value(self, member_id: str, *, expires: float, csrf: str) -> str:
        return self._serializer.dumps({"m": member_id, "x": int(expires), "c": csrf})

    def read(self, value: str | None) -> dict[str, Any] | None:
        """The session's contents while signature and expiry hold."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.lifetime)
        except BadSignature:
            return None
        if not isinstance(data, dict) or float(data.get("x", 0)) <= time.time():
            return None
        return data

    def start(self, response: Response, request: HttpRequest, member_id: str) -> None:
        """Sign the member in on ``response``."""
        expires = time.time() + self.lifetime
        self.write(response, request, member_id, expires=expires, csrf=self.csrf.issue())

    def write(
        self, response: Response, request: HttpRequest, member_id: str, *, expires: float, csrf: str
    ) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self.cookie_value(member_id, expires=expires, csrf=csrf),
            max_age=max(1, int(expires - time.time())),
            path="/staff",
            secure=secure_cookies(request),
            httponly=True,
            samesite="strict",
        )

    def refresh_csrf(self, data: dict[str, Any]) -> str | None:
        """A fresh CSRF token when the session's has expired, else ``None``."""
        token = str(data.get("c", ""))
        return None if self.csrf.check(token, token) else self.csrf.issue()


def csrf_key(secret: bytes) -> bytes:
    """The key of the console's form tokens, derived from the session secret."""
    return hmac.new(secret, b"dsar-staff-csrf", hashlib.sha256).digest()


class LoginThrottle:
    """Wrong passwords per e-mail address and per source address, in this process."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, *keys: str) -> None:
        """Raise 429 with ``Retry-After`` while any of ``keys`` is locked out."""
        with self._lock:
            now = self._clock()
            waits = [until - now for key in keys if (until := self._locked.get(key, 0)) > now]
        if waits:
            seconds = max(1, int(max(waits)) + 1)
            raise StaffError(
                429,
                f"too many wrong passwords; sign-in is locked for {seconds} s",
                headers={"Retry-After": str(seconds)},
            )

    def failed(self, *keys: str) -> None:
        """Count a wrong password; the fifth within the window locks the keys out."""
        with self._lock:
            now = self._clock()
            for key in keys:
                recent = self._failures.setdefault(key, deque())
                recent.append(now)
                while recent and recent[0] <= now - FAILURE_WINDOW_SECONDS:
                    recent.popleft()
                if len(recent) >= FAILURES_ALLOWED:
                    self._locked[key] = now + LOCKOUT_SECONDS
                    recent.clear()
            if len(self._failures) > 10_000:
                self._failures = {k: v for k, v in self._failures.items() if v}

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
