"""The Mailchimp Marketing API 3.0 emulator, for one audience.

Basic authentication with any user name and the API key as password (else 401). Routes under
``/3.0``: ``ping``, ``lists/{list_id}``, ``lists/{list_id}/members`` (GET with ``count``,
``offset``, ``status``; POST), ``lists/{list_id}/members/{subscriber_hash}`` (GET, PUT, PATCH,
DELETE = archive) and ``.../actions/delete-permanent`` (204). The path accepts the MD5
subscriber hash or, as Mailchimp does, the address itself. Errors are
``application/problem+json``. The only limit is concurrency: more than ``max_connections``
requests in flight with one key answer 429; Mailchimp sends no rate headers and no
``Retry-After``, and neither does the emulator, even for injected 429s.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from sandbox.config import EmulatorConfig
from sandbox.credentials import MAILCHIMP_API_KEY
from sandbox.emulator import Emulator, InvalidBody, json_object, json_response
from sandbox.faults import FaultInjector
from sandbox.mailchimp_state import NOT_FOUND, MailchimpProblem, MailchimpState, Member
from sandbox.ratelimit import ConcurrencyCap, Limiter, MailchimpLimits, NoLimit

__all__ = ["MailchimpState", "MailchimpVendor", "create_mailchimp_app"]

PROBLEM = "application/problem+json; charset=utf-8"
ERROR_DOCS = "https://mailchimp.com/developer/marketing/docs/errors/"
MAX_COUNT = 1000


def problem(
    status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
) -> Response:
    """A problem document as Mailchimp writes them."""
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


def _from(exc: MailchimpProblem) -> Response:
    return problem(exc.status, exc.title, exc.detail, exc.errors)


class MailchimpVendor:
    """Mailchimp's Basic authentication and problem documents."""

    def __init__(self, *, api_key: str, limits: MailchimpLimits) -> None:
        self.api_key = api_key
        self.limits = limits

    def authenticate(self, request: Request) -> tuple[Response | None, str]:
        """401 unless the Basic password is the API key; the key is the account."""
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return problem(401, "API Key Missing", "Your request did not include an API key."), ""
        try:
            _, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            password = ""
        if password != self.api_key:
            return problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            ), ""
        return None, password

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
        """429 for too many simultaneous connections (no ``Retry-After``, as Mailchimp)."""
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


def _fields(request: Request, doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Apply ``fields`` / ``exclude_fields`` (comma-separated, dotted paths)."""

    def paths(name: str) -> list[list[str]]:
        raw = request.query_params.get(name)
        if not raw:
            return []
        items = [p.strip() for p in raw.split(",") if p.strip()]
        return [
            p[len(prefix) :].split(".") if p.startswith(prefix) else p.split(".") for p in items
        ]

    def pick(node: Any, wanted: list[list[str]]) -> Any:
        if not isinstance(node, dict) or any(len(p) == 0 for p in wanted):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            rest = [p[1:] for p in wanted if p[0] == key]
            if rest:
                out[key] = value if any(not r for r in rest) else pick(value, rest)
        return out

    def drop(node: Any, unwanted: list[list[str]]) -> Any:
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            rest = [p[1:] for p in unwanted if p[0] == key]
            if any(not r for r in rest):
                continue
            out[key] = drop(value, rest) if rest else value
        return out

    wanted, unwanted = paths("fields"), paths("exclude_fields")
    result = pick(doc, wanted) if wanted else doc
    return drop(result, unwanted) if unwanted else result


def create_mailchimp_app(
    state: MailchimpState,
    config: EmulatorConfig | None = None,
    *,
    limits: MailchimpLimits | None = None,
    injector: FaultInjector | None = None,
    api_key: str = MAILCHIMP_API_KEY,
) -> Starlette:
    """The Mailchimp emulator over ``state``."""
    config = config or state.config
    state.config = config
    limits = limits or MailchimpLimits()
    limiter: Limiter = NoLimit()
    if config.rate_limits:
        limiter = ConcurrencyCap(limits.max_connections)
    emulator = Emulator(
        vendor=MailchimpVendor(api_key=api_key, limits=limits),
        config=config,
        calls=state.calls,
        injector=injector or FaultInjector(config.faults),
        limiter=limiter,
        settle=state.settle,
    )

    def our_list(request: Request) -> bool:
        return bool(request.path_params["list_id"] == state.list_id)

    def key(request: Request) -> str:
        return str(request.path_params["subscriber_hash"])

    def member(request: Request, found: Member) -> Response:
        return json_response(_fields(request, state.member_json(found)))

    async def ping(request: Request) -> Response:
        return json_response({"health_status": "Everything's Chimpy!"})

    async def show_list(request: Request) -> Response:
        if not our_list(request):
            return problem(404, "Resource Not Found", NOT_FOUND)
        return json_response(_fields(request, state.list_json()))

    async def members(request: Request) -> Response:
        if not our_list(request):
            return problem(404, "Resource Not Found", NOT_FOUND)
        try:
            count = int(request.query_params.get("count", "10"))
            offset = int(request.query_params.get("offset", "0"))
        except ValueError:
            count = offset = -1
        if not 0 <= count <= MAX_COUNT or offset < 0:
            return problem(
                400,
                "Invalid Resource",
                "count must be between 0 and 1000, offset must not be negative.",
            )
        found = state.listing(request.query_params.get("status"))
        page = found[offset : offset + count]
        body = {
            "members": [_fields(request, state.member_json(m), "members.") for m in page],
            "list_id": state.list_id,
            "total_items": len(found),
            "_links": [],
        }
        return json_response(body)

    async def body_of(request: Request) -> dict[str, Any] | Response:
        try:
            return await json_object(request)
        except InvalidBody:
            return problem(400, "JSON Schema Error", "The request body is not valid JSON.")

    async def add(request: Request) -> Response:
        if not our_list(request):
            return problem(404, "Resource Not Found", NOT_FOUND)
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        email = body.get("email_address")
        subject = state.resolve(email) if isinstance(email, str) else "invalid"
        state.calls.record_effect("member_added", subject)
        try:
            return member(request, state.add(body))
        except MailchimpProblem as exc:
            return _from(exc)

    async def show(request: Request) -> Response:
        found = state.get(key(request)) if our_list(request) else None
        if found is None:
            return problem(404, "Resource Not Found", NOT_FOUND)
        return member(request, found)

    def writer(kind: str, action: str) -> Any:
        async def handler(request: Request) -> Response:
            if not our_list(request):
                return problem(404, "Resource Not Found", NOT_FOUND)
            subject = state.resolve(key(request))
            try:
                # A side effect is counted once the change is made: a request cut off before
                # its body arrived, or refused, changed nothing.
                if action in ("archive", "delete_permanent"):
                    getattr(state, action)(key(request))
                    state.calls.record_effect(kind, subject)
                    return Response(status_code=204)
                body = await body_of(request)
                if isinstance(body, Response):
                    return body
                changed = getattr(state, action)(key(request), body)
                state.calls.record_effect(kind, subject)
                return member(request, changed)
            except MailchimpProblem as exc:
                return _from(exc)

        return handler

    one = "/3.0/lists/{list_id}/members/{subscriber_hash}"
    routes = [
        emulator.route("GET", "/3.0/ping", ping),
        emulator.route("GET", "/3.0/lists/{list_id}", show_list),
        emulator.route("GET", "/3.0/lists/{list_id}/members", members),
        emulator.route("POST", "/3.0/lists/{list_id}/members", add),
        emulator.route("GET", one, show),
        emulator.route("PUT", one, writer("member_upserted", "upsert")),
        emulator.route("PATCH", one, writer("member_updated", "update")),
        emulator.route("DELETE", one, writer("member_archived", "archive")),
        emulator.route(
            "POST",
            one + "/actions/delete-permanent",
            writer("member_deleted_permanently", "delete_permanent"),
        ),
    ]
    return emulator.app(routes)
