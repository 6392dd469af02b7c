"""The building blocks of the Shopify emulator's GraphQL answers.

Who is asking (:class:`Viewer`), global ids, Shopify's ``DateTime`` and money shapes, and cursor
connections with Shopify's page-size rules, shared by every object the emulator builds
(:mod:`sandbox.shopify_nodes`) and by its mutations.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from graphql import GraphQLError

from sandbox.calllog import CallLog
from sandbox.shopify_access import order_visible
from sandbox.shopify_model import CENT, Order
from sandbox.shopify_state import ShopifyState

MAX_PAGE = 250
_GID = re.compile(r"^gid://shopify/(\w+)/(\d+)(?:\?.*)?$")


@dataclass(frozen=True)
class Viewer:
    """Who is asking and when: the shop's state, the token's scopes, the emulator's date."""

    state: ShopifyState
    scopes: frozenset[str]
    now: datetime
    calls: CallLog

    def sees(self, order: Order) -> bool:
        """Whether this token sees ``order`` (orders older than 60 days need read_all_orders)."""
        return order_visible(order, self.scopes, self.now)


class _Identified(Protocol):
    id: int


def gid(kind: str, ident: int) -> str:
    """A global id, ``gid://shopify/<kind>/<id>``."""
    return f"gid://shopify/{kind}/{ident}"


def parse_gid(value: object, kind: str) -> int | None:
    """The number inside a global id of ``kind``; ``None`` for an id of another kind.

    A value that is no global id at all is an error, as at Shopify.
    """
    match = _GID.match(value) if isinstance(value, str) else None
    if match is None:
        raise GraphQLError(f"Invalid global id '{value}'", extensions={"code": "INVALID_ID"})
    return int(match.group(2)) if match.group(1) == kind else None


def moment(value: datetime | None) -> str | None:
    """Shopify's ``DateTime``: UTC, seconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def money(amount: Decimal, currency: str) -> dict[str, Any]:
    """A ``MoneyV2``."""
    return {"amount": str(amount.quantize(CENT)), "currencyCode": currency}


def money_bag(amount: Decimal, currency: str) -> dict[str, Any]:
    """A ``MoneyBag``: shop and presentment currency are the same in the sandbox."""
    return {"shopMoney": money(amount, currency), "presentmentMoney": money(amount, currency)}


def _cursor(ident: int) -> str:
    return base64.urlsafe_b64encode(f"id:{ident}".encode()).decode()


def _cursor_id(cursor: object) -> int | None:
    if cursor is None:
        return None
    try:
        return int(base64.urlsafe_b64decode(str(cursor).encode()).decode().split(":", 1)[1])
    except (ValueError, IndexError, binascii.Error) as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor}") from exc


def page_size(args: dict[str, Any]) -> int:
    """The page size of a connection or list, refused as Shopify refuses it."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    size = first if first is not None else last
    if not isinstance(size, int) or not 0 <= size <= MAX_PAGE:
        raise GraphQLError(f"The page size must be between 0 and {MAX_PAGE}")
    return size


def connection(
    items: Sequence[_Identified], args: dict[str, Any], node: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    """A cursor connection over ``items`` (ordered by id): ``first``/``after``, ``last``/
    ``before`` and ``reverse``, with ``edges``, ``nodes`` and ``pageInfo``."""
    size = page_size(args)
    ordered = list(reversed(items)) if args.get("reverse") else list(items)
    after, before = _cursor_id(args.get("after")), _cursor_id(args.get("before"))
    position = {item.id: i for i, item in enumerate(ordered)}
    start = position.get(after, -1) + 1 if after is not None else 0
    end = position.get(before, len(ordered)) if before is not None else len(ordered)
    window = ordered[start:end]
    forward = args.get("first") is not None
    page = window[:size] if forward else window[max(0, len(window) - size) :]
    edges = [{"cursor": _cursor(i.id), "node": node(i)} for i in page]
    more = len(window) > len(page)
    return {
        "edges": edges,
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "hasNextPage": more if forward else end < len(ordered),
            "hasPreviousPage": start > 0 if forward else more,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }
