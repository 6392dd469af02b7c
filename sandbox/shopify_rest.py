"""REST pagination as Shopify's Admin API does it: cursor ``page_info`` tokens in ``Link``.

A list answers one page of at most ``limit`` (1 to 250, default 50) items and links
``rel="next"`` and ``rel="previous"`` pages with opaque ``page_info`` tokens; a token carries
the list's filters, so a client follows the URL as given and may only add ``limit`` and
``fields``. ``fields`` cuts every item to the keys it names.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request

from sandbox.shopify_model import Customer, Order

MAX_LIMIT = 250
DEFAULT_LIMIT = 50
ORDER_STATUSES = ("open", "closed", "cancelled", "any")

_Item = TypeVar("_Item", Customer, Order)


class BadParameter(ValueError):
    """A query parameter Shopify would refuse with 400 ``{"errors": {name: "Invalid value."}}``."""

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
        raise BadParameter("limit") from exc
    if not 1 <= value <= MAX_LIMIT:
        raise BadParameter("limit")
    return value


def _encode(token: dict[str, Any]) -> str:
    raw = json.dumps(token, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: str) -> dict[str, Any]:
    try:
        padded = text + "=" * (-len(text) % 4)
        token = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error) as exc:
        raise BadParameter("page_info") from exc
    if not isinstance(token, dict) or token.get("d") not in ("next", "prev"):
        raise BadParameter("page_info")
    if not isinstance(token.get("id"), int) or not isinstance(token.get("f"), dict):
        raise BadParameter("page_info")
    return token


def filters(request: Request, names: tuple[str, ...]) -> tuple[dict[str, str], dict[str, Any]]:
    """The list's filters (from the request, or from ``page_info``) and the token, if any."""
    page_info = request.query_params.get("page_info")
    if page_info:
        token = _decode(page_info)
        return {k: str(v) for k, v in token["f"].items()}, token
    return {n: request.query_params[n] for n in names if n in request.query_params}, {}


def paginate(
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


def only(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    fields = request.query_params.get("fields")
    if not fields:
        return item
    wanted = {f.strip() for f in fields.split(",")}
    return {k: v for k, v in item.items() if k in wanted}


def order_status(found: dict[str, str]) -> str:
    """The ``status`` filter of an order list (default ``open``), or :class:`BadParameter`."""
    status = found.setdefault("status", "open")
    if status not in ORDER_STATUSES:
        raise BadParameter("status")
    return status


def integer(text: str, name: str) -> int:
    """An integer parameter, or :class:`BadParameter` naming it."""
    try:
        return int(text.strip())
    except ValueError as exc:
        raise BadParameter(name) from exc
