"""The Shopify Admin API emulator: GraphQL, and the REST resources custom apps still get.

Routes under ``/admin/api/{version}/``: ``graphql.json`` (the Admin GraphQL API, checked and run
against the schema of the version that serves the request, see :mod:`sandbox.shopify_graphql`)
and the legacy REST resources ``customers/search.json``, ``customers.json``,
``customers/{id}.json`` (GET, PUT, DELETE) and ``customers/{id}/orders.json``. The version in
the path is resolved first (:mod:`sandbox.shopify_versions`): an unsupported one falls forward
to the oldest supported version, and ``X-Shopify-API-Version`` names the served version on
every answer.

Authentication is the ``X-Shopify-Access-Token`` header; each token the shop accepts carries
access scopes (:attr:`ShopifyState.tokens`, :mod:`sandbox.shopify_access`): a REST call outside
them is a 403, a GraphQL field ``ACCESS_DENIED``, and orders older than 60 days exist only for
tokens with ``read_all_orders``. REST answers carry ``X-Shopify-Shop-Api-Call-Limit`` and share
one leaky bucket; GraphQL spends cost points. REST lists paginate with ``page_info`` cursors in
the ``Link`` header (:mod:`sandbox.shopify_rest`).

Sandbox-only, without authentication: ``GET /_sandbox/erasures/{id}`` tells whether an
erasure is ``none``, ``pending``, ``cancelled`` or ``completed`` (Shopify has no such
endpoint; tests and the demo use it), ``GET /_sandbox/graphql-cost`` the points GraphQL requests
were charged so far (:class:`CostLedger`), and ``GET /_sandbox/calls`` the call log.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.config import EmulatorConfig
from sandbox.emulator import (
    Emulator,
    Handler,
    InvalidBody,
    decimal_seconds,
    json_object,
    json_response,
)
from sandbox.faults import FaultInjector
from sandbox.ratelimit import CostBucket, LeakyBucket, Limiter, NoLimit, ShopifyLimits
from sandbox.shopify_access import REST_SCOPES, order_visible, rest_denied_message
from sandbox.shopify_graphql import execute
from sandbox.shopify_model import Customer
from sandbox.shopify_rest import BadParameter, filters, integer, only, order_status, paginate
from sandbox.shopify_state import ShopifyState, ShopifyValidationError
from sandbox.shopify_versions import STATE_KEY, VersionRouting

__all__ = ["ShopifyState", "ShopifyVendor", "create_shopify_app"]

UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"
BASE = "/admin/api/{version}"


def _errors(errors: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return json_response({"errors": errors}, status=status, headers=headers)


class CostLedger:
    """The running total of the cost points GraphQL requests were charged.

    Every request that ran is charged its ``actualQueryCost`` (queries and mutations alike);
    a throttled, invalid or too costly request is charged nothing. Served at
    ``/_sandbox/graphql-cost``, so that a client can compare what it spent with the bucket.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.points = 0
        self.requests = 0

    def charge(self, answer: dict[str, Any]) -> None:
        """Add the actual cost an answer reports in ``extensions.cost``, if it ran."""
        extensions = answer.get("extensions")
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        actual = cost.get("actualQueryCost") if isinstance(cost, dict) else None
        if isinstance(actual, int):
            with self._lock:
                self.points += actual
                self.requests += 1

    def snapshot(self) -> dict[str, int]:
        """``{"points": ..., "requests": ...}`` charged so far."""
        with self._lock:
            return {"points": self.points, "requests": self.requests}


class ShopifyVendor:
    """Shopify's token header and error bodies."""

    def __init__(self, *, state: ShopifyState, limits: ShopifyLimits) -> None:
        self.state = state
        self.limits = limits

    def scopes(self, request: Request) -> frozenset[str]:
        """The access scopes of the request's token (empty for an unknown token)."""
        token = request.headers.get("x-shopify-access-token") or ""
        with self.state.lock:
            return self.state.tokens.get(token, frozenset())

    def authenticate(self, request: Request) -> tuple[Response | None, str]:
        """401 unless ``X-Shopify-Access-Token`` is a token the shop accepts."""
        token = request.headers.get("x-shopify-access-token") or ""
        with self.state.lock:
            known = token in self.state.tokens
        if not known:
            return _errors(UNAUTHORIZED, 401), ""
        return None, token

    def limit_key(self, method: str, template: str, account: str) -> str:
        """One bucket per shop."""
        return "shop"

    def server_error(self, status: int) -> Response:
        """``{"errors": "<reason>"}``."""
        return _errors(HTTPStatus(status).phrase, status)

    def throttled(self, retry_after: float, headers: dict[str, str]) -> Response:
        """429 with Shopify's text and ``Retry-After`` in (decimal) seconds."""
        message = (
            f"Exceeded {self.limits.leak_rate:g} calls per second for api client. "
            "Reduce request rates to resume uninterrupted service."
        )
        return _errors(message, 429, {**headers, "Retry-After": decimal_seconds(retry_after)})

    def not_found(self, path: str) -> Response:
        """``{"errors": "Not Found"}``."""
        return _errors("Not Found", 404)

    def method_not_allowed(self, path: str) -> Response:
        """405 in Shopify's error shape."""
        return _errors("Method Not Allowed", 405)


def create_shopify_app(
    state: ShopifyState,
    config: EmulatorConfig | None = None,
    *,
    limits: ShopifyLimits | None = None,
    injector: FaultInjector | None = None,
) -> Starlette:
    """The Shopify emulator over ``state``; binds ``config`` to the state (clocks, job delay).

    The tokens it accepts, and their scopes, are the state's (:meth:`ShopifyState.grant`).
    """
    config = config or state.config
    state.config = config
    limits = limits or ShopifyLimits()
    vendor = ShopifyVendor(state=state, limits=limits)
    rest: Limiter = NoLimit()
    if config.rate_limits:
        rest = LeakyBucket(
            capacity=limits.bucket_capacity, leak_rate=limits.leak_rate, config=config
        )
    bucket = CostBucket(
        capacity=limits.graphql_capacity,
        restore_rate=limits.graphql_restore_rate,
        config=config,
        enforced=config.rate_limits,
    )
    ledger = CostLedger()
    emulator = Emulator(
        vendor=vendor,
        config=config,
        calls=state.calls,
        injector=injector or FaultInjector(config.faults),
        limiter=rest,
        settle=state.settle,
    )

    def scoped(method: str, suffix: str, handler: Handler) -> Route:
        """A REST route that answers 403 to tokens without the scope it needs."""
        scope = REST_SCOPES[(method, suffix)]

        async def guarded(request: Request) -> Response:
            if scope not in vendor.scopes(request):
                return _errors(rest_denied_message(scope), 403)
            return await handler(request)

        return emulator.route(
            method, BASE + suffix.replace("{customer_id}", "{customer_id:int}"), guarded
        )

    def customer_id(request: Request) -> int:
        return int(request.path_params["customer_id"])

    def customers_page(
        request: Request, found: list[Customer], given: dict[str, str], token: dict[str, Any]
    ) -> Response:
        page, headers = paginate(request, found, given, token)
        body = [only(request, state.customer_json(c)) for c in page]
        return json_response({"customers": body}, headers=headers)

    async def search(request: Request) -> Response:
        try:
            given, token = filters(request, ("query",))
            return customers_page(request, state.search(given.get("query", "")), given, token)
        except BadParameter as exc:
            return _errors({exc.name: "Invalid value."}, 400)

    async def listing(request: Request) -> Response:
        try:
            given, token = filters(request, ("since_id", "ids"))
            found = state.visible()
            if "since_id" in given:
                found = [c for c in found if c.id > integer(given["since_id"], "since_id")]
            if "ids" in given:
                ids = {integer(i, "ids") for i in given["ids"].split(",") if i.strip()}
                found = [c for c in found if c.id in ids]
            return customers_page(request, found, given, token)
        except BadParameter as exc:
            return _errors({exc.name: "Invalid value."}, 400)

    async def show(request: Request) -> Response:
        customer = state.get(customer_id(request))
        if customer is None:
            return vendor.not_found(request.url.path)
        return json_response({"customer": only(request, state.customer_json(customer))})

    async def update(request: Request) -> Response:
        try:
            body = await json_object(request)
        except InvalidBody:
            body = {}
        changes = body.get("customer")
        if not isinstance(changes, dict):
            return _errors({"customer": "Required parameter missing or invalid"}, 400)
        cid = customer_id(request)
        state.calls.record_effect("customer_updated", str(cid))
        try:
            customer = state.update(cid, changes)
        except ShopifyValidationError as exc:
            return _errors(exc.errors, 422)
        if customer is None:
            return vendor.not_found(request.url.path)
        return json_response({"customer": state.customer_json(customer)})

    async def delete(request: Request) -> Response:
        cid = customer_id(request)
        state.calls.record_effect("customer_deleted", str(cid))
        try:
            done = state.delete(cid)
        except ShopifyValidationError as exc:
            return _errors(exc.errors, 422)
        if done is None:
            return vendor.not_found(request.url.path)
        return json_response({})

    async def orders(request: Request) -> Response:
        cid = customer_id(request)
        if state.get(cid) is None:
            return vendor.not_found(request.url.path)
        scopes, now = vendor.scopes(request), config.wall_clock()
        try:
            given, token = filters(request, ("status",))
            every = state.orders_of(cid, status=order_status(given))
            visible = [o for o in every if order_visible(o, scopes, now)]
            page, headers = paginate(request, visible, given, token)
        except BadParameter as exc:
            return _errors({exc.name: "Invalid value."}, 400)
        body = [only(request, state.order_json(o)) for o in page]
        return json_response({"orders": body}, headers=headers)

    async def graphql(request: Request) -> Response:
        if request.headers.get("content-type", "").startswith("application/graphql"):
            body: dict[str, Any] = {"query": (await request.body()).decode(errors="replace")}
        else:
            try:
                body = await json_object(request)
            except InvalidBody:
                body = {}
        if not isinstance(body.get("query"), str) or not body["query"].strip():
            return _errors({"query": "Required parameter missing or invalid"}, 400)
        result, throttled = execute(
            state,
            bucket,
            state.calls,
            body,
            version=request.scope["state"][STATE_KEY],
            scopes=vendor.scopes(request),
            now=config.wall_clock(),
        )
        if throttled:
            state.calls.record_throttle()
        ledger.charge(result)
        return json_response(result)

    async def erasure(request: Request) -> Response:
        cid = customer_id(request)
        return json_response({"customer_id": cid, "status": state.erasure_status(cid)})

    async def graphql_cost(request: Request) -> Response:
        return json_response(ledger.snapshot())

    routes = [
        scoped("GET", "/customers/search.json", search),
        scoped("GET", "/customers.json", listing),
        scoped("GET", "/customers/{customer_id}.json", show),
        scoped("PUT", "/customers/{customer_id}.json", update),
        scoped("DELETE", "/customers/{customer_id}.json", delete),
        scoped("GET", "/customers/{customer_id}/orders.json", orders),
        emulator.route("POST", BASE + "/graphql.json", graphql, limited=False),
        Route("/_sandbox/erasures/{customer_id:int}", erasure, methods=["GET"]),
        Route("/_sandbox/graphql-cost", graphql_cost, methods=["GET"]),
    ]
    app = emulator.app(routes)
    app.add_middleware(VersionRouting, today=lambda: config.wall_clock().date())
    return app
