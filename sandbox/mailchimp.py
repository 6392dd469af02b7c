"""The Mailchimp Marketing API 3.0 emulator: one account with several audiences.

Every route is an operation of Mailchimp's published contract (:mod:`sandbox.mailchimp_contract`)
and every request is checked against it before anything happens: undeclared or malformed query
parameters, a missing ``query`` on ``search-members``, a body that is not JSON or breaks its
schema (a ``status`` outside the enum) get Mailchimp's ``application/problem+json`` answer.
Authentication is the API key as Basic password (any user name) or as Bearer token, else 401.

Routes under ``/3.0``: ``ping``; ``lists`` (the audiences; ``email`` keeps those the address
belongs to); ``lists/{list_id}``; ``lists/{list_id}/members`` (GET with ``count``, ``offset``,
``status``; POST); ``lists/{list_id}/members/{subscriber_hash}`` (GET, PUT, PATCH,
DELETE = archive) and ``.../actions/delete-permanent`` (204); ``search-members`` across every
audience or one (``list_id``), each match naming its ``list_id``. The path accepts the MD5
subscriber hash or, as Mailchimp does, the address itself. Parameters the contract declares but
the emulator does not act on (``sort_field``, ``since_last_changed``, ...) are answered 501
rather than ignored, so no test passes on a filter that never ran. Read operations honour
``fields`` and ``exclude_fields``.

The only limit is concurrency: more than ``max_connections`` requests in flight with one key
answer 429 (Mailchimp sends no rate headers and no ``Retry-After``, and neither does the
emulator, even for injected 429s), or, with ``state.bodyless_403_throttle`` set, a 403 without
a body, as Mailchimp's edge network throttles at high volume.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Set
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.config import EmulatorConfig
from sandbox.credentials import MAILCHIMP_API_KEY
from sandbox.emulator import Emulator, json_response
from sandbox.faults import FaultInjector
from sandbox.mailchimp_contract import load_contract
from sandbox.mailchimp_documents import list_json, member_json, search_json, select_fields
from sandbox.mailchimp_state import MailchimpProblem, MailchimpState, Member
from sandbox.mailchimp_vendor import MailchimpVendor, from_problem, problem
from sandbox.ratelimit import ConcurrencyCap, Limiter, MailchimpLimits, NoLimit

__all__ = ["MailchimpState", "MailchimpVendor", "create_mailchimp_app"]

MAX_COUNT = 1000
#: Parameters every read operation acts on.
SHAPING = frozenset({"fields", "exclude_fields"})
MEMBER = "/3.0/lists/{list_id}/members/{subscriber_hash}"

Body = dict[str, Any] | None
Handler = Callable[[Request, Body], Awaitable[Response]]


def _page(request: Request) -> tuple[int, int]:
    """``count`` and ``offset``; a negative offset or count is refused as Mailchimp does."""
    count = int(request.query_params.get("count", "10"))
    offset = int(request.query_params.get("offset", "0"))
    if not 0 <= count <= MAX_COUNT or offset < 0:
        raise MailchimpProblem(
            400,
            "Invalid Resource",
            "count must be between 0 and 1000, offset must not be negative.",
        )
    return count, offset


def _required(body: Body) -> dict[str, Any]:
    """The body of an operation whose contract requires one (checked before, so never absent)."""
    if body is None:
        raise MailchimpProblem(400, "Invalid Resource", "The request has no body.")
    return body


def _shaped(request: Request, document: dict[str, Any]) -> Response:
    params = request.query_params
    return json_response(
        select_fields(document, params.get("fields"), params.get("exclude_fields"))
    )


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
    contract = load_contract()
    limiter: Limiter = NoLimit()
    if config.rate_limits:
        limiter = ConcurrencyCap(limits.max_connections)
    vendor = MailchimpVendor(
        api_key=api_key,
        limits=limits,
        auth_schemes=contract.auth_schemes,
        bodyless_403=lambda: state.bodyless_403_throttle,
    )
    emulator = Emulator(
        vendor=vendor,
        config=config,
        calls=state.calls,
        injector=injector or FaultInjector(config.faults),
        limiter=limiter,
        settle=state.settle,
    )
    web_ids = {list_id: 100_001 + i for i, list_id in enumerate(state.audiences)}

    def route(
        method: str, template: str, handler: Handler, acts_on: Set[str] = frozenset()
    ) -> Route:
        """The route of one contract operation: checked against the contract, then handled."""
        operation = contract.operation(method, template)

        async def checked(request: Request) -> Response:
            try:
                body = contract.check(
                    operation, request.query_params.multi_items(), await request.body()
                )
                idle = sorted(set(request.query_params) - acts_on)
                if idle:
                    return problem(
                        501,
                        "Not Implemented",
                        f"The sandbox does not emulate the parameter '{idle[0]}'.",
                    )
                return await handler(request, body)
            except MailchimpProblem as exc:
                return from_problem(exc)

        return emulator.route(method, template, checked)

    def list_id(request: Request) -> str:
        return str(request.path_params["list_id"])

    def key(request: Request) -> str:
        return str(request.path_params["subscriber_hash"])

    def member(request: Request, found: Member) -> Response:
        return _shaped(request, member_json(found, list_id(request)))

    async def ping(request: Request, body: Body) -> Response:
        return json_response({"health_status": "Everything's Chimpy!"})

    async def lists(request: Request, body: Body) -> Response:
        count, offset = _page(request)
        email = request.query_params.get("email")
        with state.lock:
            wanted = {i for i, _ in state.memberships(email)} if email else set(state.audiences)
            audiences = [a for a in state.audiences.values() if a.id in wanted]
            page = [list_json(a, web_ids.get(a.id, 0)) for a in audiences[offset : offset + count]]
        return _shaped(request, {"lists": page, "total_items": len(audiences), "_links": []})

    async def show_list(request: Request, body: Body) -> Response:
        with state.lock:
            audience = state.audience(list_id(request))
            return _shaped(request, list_json(audience, web_ids.get(audience.id, 0)))

    async def members(request: Request, body: Body) -> Response:
        count, offset = _page(request)
        found = state.listing(request.query_params.get("status"), list_id(request))
        document = {
            "members": [member_json(m, list_id(request)) for m in found[offset : offset + count]],
            "list_id": list_id(request),
            "total_items": len(found),
            "_links": [],
        }
        return _shaped(request, document)

    async def add(request: Request, body: Body) -> Response:
        created = state.add(_required(body), list_id=list_id(request))
        state.calls.record_effect("member_added", created.id)
        return member(request, created)

    async def show(request: Request, body: Body) -> Response:
        state.audience(list_id(request))
        found = state.get(key(request), list_id(request))
        if found is None:
            return vendor.not_found(request.url.path)
        return member(request, found)

    def writer(kind: str, action: str) -> Handler:
        async def handler(request: Request, body: Body) -> Response:
            subject = state.resolve(key(request))
            # A side effect is counted once the change is made: a request refused by the
            # contract or cut off before its body arrived changed nothing.
            if action == "archive":
                state.archive(key(request), list_id(request))
            elif action == "delete_permanent":
                state.delete_permanent(key(request), list_id(request))
            else:
                changed = getattr(state, action)(key(request), _required(body), list_id(request))
                state.calls.record_effect(kind, subject)
                return member(request, changed)
            state.calls.record_effect(kind, subject)
            return Response(status_code=204)

        return handler

    async def search(request: Request, body: Body) -> Response:
        params = request.query_params
        exact, partial = state.search(params["query"], params.get("list_id"))
        return _shaped(request, search_json(exact, partial))

    paging = SHAPING | {"count", "offset"}
    routes = [
        route("GET", "/3.0/ping", ping),
        route("GET", "/3.0/lists", lists, paging | {"email", "include_total_contacts"}),
        route("GET", "/3.0/lists/{list_id}", show_list, SHAPING | {"include_total_contacts"}),
        route("GET", "/3.0/lists/{list_id}/members", members, paging | {"status"}),
        route("POST", "/3.0/lists/{list_id}/members", add, {"skip_merge_validation"}),
        route("GET", MEMBER, show, SHAPING),
        route("PUT", MEMBER, writer("member_upserted", "upsert"), {"skip_merge_validation"}),
        route("PATCH", MEMBER, writer("member_updated", "update"), {"skip_merge_validation"}),
        route("DELETE", MEMBER, writer("member_archived", "archive")),
        route(
            "POST",
            MEMBER + "/actions/delete-permanent",
            writer("member_deleted_permanently", "delete_permanent"),
        ),
        route("GET", "/3.0/search-members", search, SHAPING | {"query", "list_id"}),
    ]
    return emulator.app(routes)
