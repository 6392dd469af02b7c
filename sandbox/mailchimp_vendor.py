"""What Mailchimp does differently along the emulators' shared pipeline: how it authenticates,
how its errors read (``application/problem+json``) and how it throttles."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.emulator import json_response
from sandbox.mailchimp_state import NOT_FOUND, MailchimpProblem
from sandbox.ratelimit import MailchimpLimits

PROBLEM = "application/problem+json; charset=utf-8"
ERROR_DOCS = "https://mailchimp.com/developer/marketing/docs/errors/"


def problem(
    status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
) -> Response:
    """A problem document as Mailchimp writes them (RFC 9457, plus its ``errors`` array)."""
    body: dict[str, Any] = {
        "type": ERROR_DOCS,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    if errors:
        body["errors"] = errors
    return json_response(body, status=status, media_type=PROBLEM)


def from_problem(exc: MailchimpProblem) -> Response:
    """The answer to a :class:`MailchimpProblem`."""
    return problem(exc.status, exc.title, exc.detail, exc.errors)


class MailchimpVendor:
    """Mailchimp's authentication, problem documents and throttling.

    The API key is accepted the ways the contract names (``auth_schemes``): as the password of
    HTTP Basic authentication with any user name, which is how Mailchimp's own clients send
    it, or as a Bearer token. ``bodyless_403`` is asked at each refusal whether to throttle as
    Mailchimp's edge network does at high volume, with a 403 and no body, rather than with a
    429 problem document.
    """

    def __init__(
        self,
        *,
        api_key: str,
        limits: MailchimpLimits,
        auth_schemes: frozenset[str],
        bodyless_403: Callable[[], bool] = lambda: False,
    ) -> None:
        self.api_key = api_key
        self.limits = limits
        self.auth_schemes = auth_schemes
        self.bodyless_403 = bodyless_403

    def authenticate(self, request: Request) -> tuple[Response | None, str]:
        """401 unless the request carries the API key in a scheme the contract accepts."""
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        scheme = scheme.lower()
        if scheme not in self.auth_schemes or not credential.strip():
            return problem(401, "API Key Missing", "Your request did not include an API key."), ""
        key = credential.strip()
        if scheme == "basic":
            try:
                _, _, key = base64.b64decode(key, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        if key != self.api_key:
            return problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            ), ""
        return None, key

    def limit_key(self, method: str, template: str, account: str) -> str:
        """Connections are counted per API key."""
        return account

    def server_error(self, status: int) -> Response:
        """A 5xx problem."""
        return problem(
            status,
            HTTPStatus(status).phrase,
            "An unexpected internal error has "
            "occurred. Please contact Support for more information.",
        )

    def throttled(self, retry_after: float, headers: dict[str, str]) -> Response:
        """429 for too many simultaneous connections (no ``Retry-After``, as Mailchimp), or
        the edge network's body-less 403."""
        if self.bodyless_403():
            return Response(status_code=403)
        return problem(
            429,
            "Too Many Requests",
            "You have exceeded the limit of "
            f"{self.limits.max_connections} simultaneous connections.",
        )

    def not_found(self, path: str) -> Response:
        """404 Resource Not Found."""
        return problem(404, "Resource Not Found", NOT_FOUND)

    def method_not_allowed(self, path: str) -> Response:
        """405 for a known path with the wrong method."""
        return problem(
            405,
            "Method Not Allowed",
            "The requested method and resource are not "
            "compatible. See the Allow header for this resource's available methods.",
        )
