"""The Shopify Admin API emulator (REST and GraphQL, any version in the path).

Routes under ``/admin/api/{version}/``: ``customers/search.json``, ``customers.json``,
``customers/{id}.json`` (GET, PUT, DELETE), ``customers/{id}/orders.json`` and
``graphql.json``. Authentication is the ``X-Shopify-Access-Token`` header. REST answers carry
``X-Shopify-Shop-Api-Call-Limit`` and share one leaky bucket; GraphQL spends cost points (see
:mod:`sandbox.shopify_graphql`). REST lists paginate with cursor ``page_info`` tokens in the
``Link`` header; the token carries the list's filters, so a client follows the URL as given.

Sandbox-only, without authentication: ``GET /_sandbox/erasures/{id}`` tells whether an
erasure is ``none``, ``pending``, ``cancelled`` or ``completed`` (Shopify has no such
endpoint; tests and the demo use it), and ``GET /_sandbox/calls`` the call log.
"""

from __future__ import annotations

import base64
import binascii
import json
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.config import EmulatorConfig
from sandbox.credentials import SHOPIFY_TOKEN
from sandbox.emulator import Emulator, InvalidBody, decimal_seconds, json_object, json_response
from sandbox.faults import FaultInjector
from sandbox.ratelimit import CostBucket, LeakyBucket, Limiter, NoLimit, ShopifyLimits
from sandbox.shopify_graphql import execute
from sandbox.shopify_model import Customer, Order
from sandbox.shopify_state import ShopifyState, ShopifyValidationError

__all__ = ["ShopifyState", "ShopifyVendor", "create_shopify_app"]

UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"
MAX_LIMIT = 250
DEFAULT_LIMIT = 50
ORDER_STATUSES = ("open", "closed", "cancelled", "any")

_Item = TypeVar("_Item", Customer, Order)


def _errors(errors: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return json_response({"errors": errors}, status=status, headers=headers)


class ShopifyVendor:
    """Shopify's token header and error bodies."""

    def __init__(self, *, token: str, limits: ShopifyLimits) -> None:
        self.token = token
        self.limits = limits

    def authenticate(self, request: Request) -> tuple[Response | None, str]:
        """401 unless ``X-Shopify-Access-Token`` is the shop's token."""
        if request.headers.get("x-shopify-access-token") != self.token:
            return _errors(UNAUTHORIZED, 401), ""
        return None, self.token

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


# --- pagination -----------------------------------------------------------------------------


class _BadParameter(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError as exc:
        raise _BadParameter("limit") from exc
    if not 1 <= value <= MAX_LIMIT:
        raise _BadParameter("limit")
    return value


def _encode(token: dict[str, Any]) -> str:
    raw = json.dumps(token, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: str) -> dict[str, Any]:
    try:
        padded = text + "=" * (-len(text) % 4)
        token = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error) as exc:
        raise _BadParameter("page_info") from exc
    if not isinstance(token, dict) or token.get("d") not in ("next", "prev"):
        raise _BadParameter("page_info")
    if not isinstance(token.get("id"), int) or not isinstance(token.get("f"), dict):
        raise _BadParameter("page_info")
    return token


def _filters(request: Request, names: tuple[str, ...]) -> tuple[dict[str, str], dict[str, Any]]:
    """The list's filters (from the request, or from ``page_info``) and the token, if any."""
    page_info = request.query_params.get("page_info")
    if page_info:
        token = _decode(page_info)
        return {k: str(v) for k, v in token["f"].items()}, token
    return {n: request.query_params[n] for n in names if n in request.query_params}, {}


def _paginate(
    request: Request, items: list[_Item], filters: dict[str, str], token: dict[str, Any]
) -> tuple[list[_Item], dict[str, str]]:
    """One page of ``items`` (sorted by id) and its ``Link`` header."""
    limit = _limit(request)
    if token.get("d") == "prev":
        before = [i for i in items if i.id < token["id"]]
        page = before[-limit:]
    else:
        after = [i for i in items if i.id > token["id"]] if token else items
        page = after[:limit]
    links = []
    if page:
        base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        fields = request.query_params.get("fields")

        def url(direction: str, boundary: int) -> str:
            params = {"limit": str(limit)}
            if fields:
                params["fields"] = fields
            params["page_info"] = _encode({"d": direction, "id": boundary, "f": filters})
            return f"{base}?{urlencode(params)}"

        if items[0].id < page[0].id:
            links.append(f'<{url("prev", page[0].id)}>; rel="previous"')
        if items[-1].id > page[-1].id:
            links.append(f'<{url("next", page[-1].id)}>; rel="next"')
    return page, ({"Link": ", ".join(links)} if links else {})


def _only(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    fields = request.query_params.get("fields")
    if not fields:
        return item
    wanted = {f.strip() for f in fields.split(",")}
    return {k: v for k, v in item.items() if k in wanted}


# --- the app ----------------------------------------------------------------------------------


def create_shopify_app(
    state: ShopifyState,
    config: EmulatorConfig | None = None,
    *,
    limits: ShopifyLimits | None = None,
    injector: FaultInjector | None = None,
    token: str = SHOPIFY_TOKEN,
) -> Starlette:
    """The Shopify emulator over ``state``; binds ``config`` to the state (clock, job delay)."""
    config = config or state.config
    state.config = config
    limits = limits or ShopifyLimits()
    vendor = ShopifyVendor(token=token, limits=limits)
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
    emulator = Emulator(
        vendor=vendor,
        config=config,
        calls=state.calls,
        injector=injector or FaultInjector(config.faults),
        limiter=rest,
        settle=state.settle,
    )

    def customer_id(request: Request) -> int:
        return int(request.path_params["customer_id"])

    def customers_page(
        request: Request, found: list[Customer], filters: dict[str, str], token: dict[str, Any]
    ) -> Response:
        page, headers = _paginate(request, found, filters, token)
        body = [_only(request, state.customer_json(c)) for c in page]
        return json_response({"customers": body}, headers=headers)

    async def search(request: Request) -> Response:
        try:
            filters, token = _filters(request, ("query",))
            found = state.search(filters.get("query", ""))
            return customers_page(request, found, filters, token)
        except _BadParameter as exc:
            return _errors({exc.name: "Invalid value."}, 400)

    async def listing(request: Request) -> Response:
        try:
            filters, token = _filters(request, ("since_id", "ids"))
            found = state.visible()
            if "since_id" in filters:
                found = [c for c in found if c.id > _int(filters["since_id"], "since_id")]
            if "ids" in filters:
                ids = {_int(i, "ids") for i in filters["ids"].split(",") if i.strip()}
                found = [c for c in found if c.id in ids]
            return customers_page(request, found, filters, token)
        except _BadParameter as exc:
            return _errors({exc.name: "Invalid value."}, 400)

    async def show(request: Request) -> Response:
        customer = state.get(customer_id(request))
        if customer is None:
            return vendor.not_found(request.url.path)
        return json_response({"customer": _only(request, state.customer_json(customer))})

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
        try:
            filters, token = _filters(request, ("status",))
            status = _order_status(filters)
            page, headers = _paginate(request, state.orders_of(cid, status=status), filters, token)
        except _BadParameter as exc:
            return _errors({exc.name: "Invalid value."}, 400)
        body = [_only(request, state.order_json(o)) for o in page]
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
        result, throttled = execute(state, bucket, state.calls, body)
        if throttled:
            state.calls.record_throttle()
        return json_response(result)

    async def erasure(request: Request) -> Response:
        cid = customer_id(request)
        return json_response({"customer_id": cid, "status": state.erasure_status(cid)})

    base = "/admin/api/{version}"
    one = base + "/customers/{customer_id:int}.json"
    routes = [
        emulator.route("GET", base + "/customers/search.json", search),
        emulator.route("GET", base + "/customers.json", listing),
        emulator.route("GET", one, show),
        emulator.route("PUT", one, update),
        emulator.route("DELETE", one, delete),
        emulator.route("GET", base + "/customers/{customer_id:int}/orders.json", orders),
        emulator.route("POST", base + "/graphql.json", graphql, limited=False),
        Route("/_sandbox/erasures/{customer_id:int}", erasure, methods=["GET"]),
    ]
    return emulator.app(routes)


def _order_status(filters: dict[str, str]) -> str:
    status = filters.setdefault("status", "open")
    if status not in ORDER_STATUSES:
        raise _BadParameter("status")
    return status


def _int(text: str, name: str) -> int:
    try:
        return int(text.strip())
    except ValueError as exc:
        raise _BadParameter(name) from exc
